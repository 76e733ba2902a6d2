// The timing loop every peer shares: one untimed (cold) run, then at least 3 and at most 20 timed runs within the
// budget; prints one JSON line with the median per call and frames per second (32 frames per video).
export async function timePeer(peer, batch, seconds, run) {
  const t0 = performance.now();
  await run();
  const cold = performance.now() - t0;
  const times = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < seconds * 1000 && times.length < 20)) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const med = times[times.length >> 1];
  console.log(JSON.stringify({ peer, batch, median_ms: +med.toFixed(1), fps: +((32 * batch) / (med / 1000)).toFixed(2), cold_ms: +cold.toFixed(0), runs: times.length }));
}
