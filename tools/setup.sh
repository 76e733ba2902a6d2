#!/usr/bin/env bash
# One-time (and idempotent) set-up for dtvnet-webgpu on Linux:
#   1. npm dependencies (npm ci), when node_modules is missing or older than package-lock.json;
#   2. a WebGPU adapter: where Dawn finds none, Mesa's lavapipe (CPU Vulkan driver) from Debian
#      bookworm-backports. Stock bookworm Mesa (22.3) is too old for this Dawn; 25.x works.
#      Where a real adapter already exists, nothing is installed.
# As non-root it prints the exact command instead of running it. A second run takes well under a second.
# Usage: tools/setup.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0; [ "${1:-}" = "--quiet" ] && quiet=1
say() { [ $quiet = 1 ] || echo "setup: $*"; }
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"   # silences a lavapipe warning

# 1. npm dependencies
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
else
  say "npm dependencies up to date"
fi

# 2. WebGPU adapter
if probe=$(node tools/probe-adapter.mjs 2>/dev/null); then
  say "WebGPU adapter: $probe"
  exit 0
fi
code=$?
if [ $code = 4 ]; then echo "setup: $probe" >&2; exit 1; fi
say "no WebGPU adapter found ($probe); Mesa lavapipe from bookworm-backports is needed"

if ! grep -qs 'bookworm' /etc/os-release; then
  echo "setup: this is not Debian bookworm. Install a Vulkan driver with Mesa >= 24 (lavapipe: mesa-vulkan-drivers) and libvulkan1, then run again." >&2
  exit 1
fi
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || uri="http://deb.debian.org/debian"
cmd="echo 'deb $uri bookworm-backports main' > /etc/apt/sources.list.d/backports.list && apt-get update && apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1"
if [ "$(id -u)" != 0 ]; then
  echo "setup: installing the driver needs root. Run this as root, then run 'npm test' again:" >&2
  echo "  sudo sh -c \"$cmd\"" >&2
  exit 1
fi
say "installing: $cmd"
if [ $quiet = 1 ]; then sh -c "$cmd" >/tmp/dtvnet-setup-apt.log 2>&1 || { cat /tmp/dtvnet-setup-apt.log >&2; exit 1; }
else sh -c "$cmd"; fi
if probe=$(node tools/probe-adapter.mjs 2>/dev/null); then
  say "WebGPU adapter: $probe"
else
  echo "setup: the driver is installed but Dawn still finds no adapter: $probe" >&2
  exit 1
fi
