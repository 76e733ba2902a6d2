// Reverse-mode autograd over a graph of GradNodes.
//
// Every op that runs with grad enabled on an input that requires grad records a GradNode: its name, its own handles
// on its inputs, and a backward rule. Backward rules are written with the same differentiable ops as everything else,
// so running them with createGraph records new nodes, and gradients of gradients come out of the same machinery
// (JAX's "one rule per primitive"). No op has a second, hand-fused gradient kernel that autograd cannot see through.

import { EngineError } from './runtime/engine.js';
import { Tensor, adopt, isGradEnabled, keep, scope, withGrad } from './tensor.js';

/**
 * A backward rule: given the gradient of the op's output and the op's inputs, return the gradient for each input
 * (null where `needs[i]` is false or the input has no gradient). Shapes must equal the inputs' shapes.
 */
export type BackwardRule = (g: Tensor, inputs: readonly Tensor[], needs: readonly boolean[]) => (Tensor | null)[];

export class GradNode {
  /** handles on the inputs, owned by the node; null once the graph was freed by backward() */
  inputs: Tensor[] | null;
  private refs = 1;
  constructor(
    readonly name: string,
    inputs: readonly Tensor[],
    readonly rule: BackwardRule,
    /** a short description of shapes for error messages */
    readonly desc: string,
  ) {
    this.inputs = inputs.map(graphHandle);
  }

  retain(): void {
    this.refs++;
  }

  /** Drop one reference; the last one frees the node's input handles (and so, transitively, the graph above). */
  release(): void {
    if (--this.refs === 0) this.free();
  }

  /** Free the handles this node holds (called when unreferenced, or by backward() without retainGraph). */
  free(): void {
    const ins = this.inputs;
    this.inputs = null;
    if (ins) for (const t of ins) t.dispose();
  }
}

/** A graph-owned handle on t: same storage, same graph position (node or leaf), not tracked by scopes. */
function graphHandle(t: Tensor): Tensor {
  const h = keep(t.view(t.shape));
  h.requiresGrad = t.requiresGrad;
  if (t.node) {
    t.node.retain();
    h.node = t.node;
  } else if (t.requiresGrad) {
    h.leaf = t.leaf ?? t;
  }
  return h;
}

/**
 * Record `out = name(inputs)` for autograd. Called by every differentiable op after its forward launch. Does nothing
 * when grad is disabled or no input requires grad.
 */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], rule: BackwardRule): Tensor {
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) return out;
  const desc = `${name}(${inputs.map((t) => `[${t.shape.join(',')}]`).join(', ')})`;
  out.node = new GradNode(name, inputs, rule, desc);
  out.requiresGrad = true;
  return out;
}

export interface BackwardOptions {
  /** gradient of the output (default: ones, allowed only for one-element outputs) */
  gradient?: Tensor;
  /** keep the graph so that backward can run through it again (default: createGraph; false frees its memory) */
  retainGraph?: boolean;
  /** record the backward computation itself, so the gradients can be differentiated again (default false) */
  createGraph?: boolean;
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[];
  /** default: createGraph (a graph of gradients still runs through the forward graph) */
  retainGraph?: boolean;
  createGraph?: boolean;
  /** return null for inputs the outputs do not depend on, instead of throwing */
  allowUnused?: boolean;
}

type Target = { node: GradNode | null; leaf: Tensor | null };

function identity(t: Tensor): Target {
  if (t.node) return { node: t.node, leaf: null };
  return { node: null, leaf: t.leaf ?? t };
}

/**
 * Accumulate d(root)/d(leaf) into the .grad of every leaf that requires grad. `ones` makes the default seed.
 */
export function backward(root: Tensor, ones: (shape: readonly number[]) => Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new EngineError(`backward(): tensor #${root.id} [${root.shape.join(', ')}] does not require grad (no input of it requires grad)`);
  let seed = opts.gradient;
  if (!seed) {
    if (root.size !== 1) throw new EngineError(`backward(): a gradient is needed for a non-scalar output of shape [${root.shape.join(', ')}]; pass { gradient }`);
    seed = ones(root.shape);
  } else if (seed.shape.join() !== root.shape.join()) {
    throw new EngineError(`backward(): gradient shape [${seed.shape.join(', ')}] does not match output shape [${root.shape.join(', ')}]`);
  }
  run([root], [seed], null, opts.retainGraph ?? !!opts.createGraph, opts.createGraph ?? false, !opts.gradient);
}

/** Gradients of sum(outputs · gradOutputs) with respect to each input, returned (nothing is written to .grad). */
export function grad(outputs: Tensor[], inputs: Tensor[], ones: (shape: readonly number[]) => Tensor, opts: GradOptions = {}): (Tensor | null)[] {
  const seeds: Tensor[] = [];
  const owned: boolean[] = [];
  outputs.forEach((o, i) => {
    if (!o.requiresGrad) throw new EngineError(`grad(): output ${i} [${o.shape.join(', ')}] does not require grad`);
    const g = opts.gradOutputs?.[i];
    if (g) {
      if (g.shape.join() !== o.shape.join()) throw new EngineError(`grad(): gradOutputs[${i}] shape [${g.shape.join(', ')}] does not match output shape [${o.shape.join(', ')}]`);
      seeds.push(g);
      owned.push(false);
    } else {
      if (o.size !== 1) throw new EngineError(`grad(): output ${i} has shape [${o.shape.join(', ')}]; non-scalar outputs need gradOutputs`);
      seeds.push(ones(o.shape));
      owned.push(true);
    }
  });
  inputs.forEach((t, i) => {
    if (!t.requiresGrad) throw new EngineError(`grad(): input ${i} [${t.shape.join(', ')}] does not require grad`);
  });
  const result = run(outputs, seeds, inputs.map(identity), opts.retainGraph ?? !!opts.createGraph, opts.createGraph ?? false, owned);
  return result!.map((g, i) => {
    if (!g && !opts.allowUnused) throw new EngineError(`grad(): input ${i} [${inputs[i]!.shape.join(', ')}] was not used to compute the outputs (pass allowUnused: true to get null)`);
    return g;
  });
}

function run(
  roots: Tensor[],
  seeds: Tensor[],
  targets: Target[] | null,
  retainGraph: boolean,
  createGraph: boolean,
  seedOwned: boolean | boolean[],
): (Tensor | null)[] | null {
  // Nodes reachable from the roots, in topological order (parents after children when reversed).
  const order: GradNode[] = [];
  const state = new Map<GradNode, number>(); // 1 visiting, 2 done
  const visit = (n: GradNode) => {
    const stack: [GradNode, number][] = [[n, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      if (i === 0) {
        if (state.get(node)) {
          stack.pop();
          continue;
        }
        if (!node.inputs) throw new EngineError(`backward through ${node.desc}: its graph was already freed by an earlier backward(); pass { retainGraph: true } to the first call`);
        state.set(node, 1);
      }
      const ins = node.inputs!;
      if (i < ins.length) {
        top[1]++;
        const child = ins[i]!.node;
        if (child && !state.get(child)) stack.push([child, 0]);
      } else {
        state.set(node, 2);
        order.push(node);
        stack.pop();
      }
    }
  };
  for (const r of roots) if (r.node) visit(r.node);

  // Which nodes lead to something that receives a gradient (a target, or any leaf in backward mode)?
  const leads = new Map<GradNode, boolean>();
  const targetNodes = new Set(targets?.map((t) => t.node).filter((n): n is GradNode => !!n));
  const targetLeaves = new Set(targets?.map((t) => t.leaf).filter((n): n is Tensor => !!n));
  const edgeNeeded = (t: Tensor): boolean => {
    if (!t.requiresGrad) return false;
    if (t.node) return leads.get(t.node) ?? false;
    return targets ? targetLeaves.has(t.leaf ?? t) : true;
  };
  for (const n of order) leads.set(n, targetNodes.has(n) || n.inputs!.some(edgeNeeded));

  for (const n of order) n.retain(); // keep every node alive while we walk, whatever backward frees
  const grads = new Map<GradNode, Tensor>();
  const leafGrads = new Map<Tensor, Tensor>();
  const add = (prev: Tensor | undefined, g: Tensor): Tensor => {
    if (!prev) return g;
    const s = withGrad(createGraph, () => addTensors(prev, g));
    prev.dispose();
    g.dispose();
    return keep(s);
  };
  const deliver = (t: Tensor, g: Tensor) => {
    if (t.node) grads.set(t.node, add(grads.get(t.node), g));
    else {
      const leaf = t.leaf ?? t;
      leafGrads.set(leaf, add(leafGrads.get(leaf), g));
    }
  };
  roots.forEach((r, i) => {
    const owned = Array.isArray(seedOwned) ? seedOwned[i] : seedOwned;
    // a caller's seed keeps its place in the graph, so gradients can flow into it (d/d gradOutputs)
    const s = owned ? keep(seeds[i]!) : graphHandle(seeds[i]!);
    deliver(r, s);
  });

  const captured = new Map<GradNode, Tensor>();
  try {
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k]!;
      const g = grads.get(node);
      grads.delete(node);
      if (!g) continue;
      if (targetNodes.has(node)) captured.set(node, keep(g.view(g.shape)));
      const ins = node.inputs!;
      const needs = ins.map(edgeNeeded);
      if (needs.some(Boolean)) {
        const gin = withGrad(createGraph, () => scope(() => node.rule(g, ins, needs)));
        gin.forEach((gi, i) => {
          if (!gi) return;
          if (gi === g) gi = g.view(g.shape); // a rule that passes g through must not hand over the handle we free
          if (!needs[i]) {
            gi.dispose();
            return;
          }
          const want = ins[i]!.shape;
          if (gi.shape.join() !== want.join()) {
            throw new EngineError(`backward rule of ${node.desc} returned a gradient of shape [${gi.shape.join(', ')}] for input ${i} of shape [${want.join(', ')}]`);
          }
          deliver(ins[i]!, keep(gi));
        });
      }
      g.dispose();
      if (!retainGraph) node.free();
    }
  } finally {
    for (const g of grads.values()) g.dispose();
    for (const n of order) n.release();
  }

  if (targets) {
    const out = targets.map((t) => {
      if (t.node) return captured.get(t.node) ?? null;
      return leafGrads.get(t.leaf!) ?? null;
    });
    for (const [leaf, g] of leafGrads) if (!targetLeaves.has(leaf)) g.dispose();
    // a leaf asked for twice shares one gradient: give each caller its own handle
    const seen = new Set<Tensor>();
    return out.map((g) => {
      if (!g) return null;
      if (seen.has(g)) return g.view(g.shape);
      seen.add(g);
      return adopt(g);
    });
  }
  for (const [leaf, g] of leafGrads) {
    if (leaf.isDisposed) {
      g.dispose();
      continue;
    }
    if (leaf.grad) {
      const sum = withGrad(createGraph, () => addTensors(leaf.grad!, g));
      leaf.grad.dispose();
      g.dispose();
      leaf.grad = keep(sum);
    } else leaf.grad = g;
  }
  return null;
}

// The one op autograd itself needs; installed by the ops module to avoid an import cycle.
let addTensors: (a: Tensor, b: Tensor) => Tensor = () => {
  throw new EngineError('autograd used before the ops module was loaded');
};
/** @internal */
export function installAutogradOps(add: (a: Tensor, b: Tensor) => Tensor): void {
  addTensors = add;
}
