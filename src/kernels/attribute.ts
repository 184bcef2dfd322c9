import { onnx } from 'onnx-proto';
import { KernelGraph } from './graph';
import { KernelPlan } from './fusion';

export interface OptimizedNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
}

/** The nodes of the graph onnxruntime runs (its optimized model), as the profiler names them. */
export function readOptimizedGraph(bytes: Uint8Array): OptimizedNode[] {
  const m = onnx.ModelProto.decode(bytes);
  return (m.graph?.node ?? []).map((n) => ({
    name: n.name ?? '', opType: n.opType ?? '', domain: n.domain ?? '', inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])],
  }));
}

export interface Attribution {
  /** Optimized (executed) node key (optimizedKeys) -> planned kernel id. */
  byNode: Map<string, string>;
  /** Planned reorders that onnxruntime did not insert. */
  missedReorders: string[];
  /** Reorders onnxruntime inserted that the plan did not predict (their time goes to a neighbour). */
  extraReorders: string[];
  /** Planned kernels whose layout (blocked or not) differs from what onnxruntime ran. */
  layoutMismatches: string[];
}

/**
 * The name onnxruntime's profiler reports a node by. Nodes it creates without a name (the ops of
 * an inlined function, e.g. HardSwish as HardSigmoid + Mul) are reported as `<opType>_<internal
 * index>`, which the saved graph does not show: they are keyed `<opType>#<k>`, the k-th unnamed
 * node of that op type, in execution order (see eventKeys).
 */
export function optimizedKeys(optimized: OptimizedNode[]): string[] {
  const seen = new Map<string, number>();
  return optimized.map((o) => {
    if (o.name) return o.name;
    const k = seen.get(o.opType) ?? 0;
    seen.set(o.opType, k + 1);
    return `${o.opType}#${k}`;
  });
}

/** Keys of one run's profiler events, matching optimizedKeys: unknown `<opType>_<n>` names become `<opType>#<k>`. */
export function eventKeys(run: { name: string; opType: string }[], known: ReadonlyMap<string, unknown>): string[] {
  const seen = new Map<string, number>();
  return run.map((ev) => {
    if (known.has(ev.name) || !ev.name.startsWith(`${ev.opType}_`) || !/_\d+$/.test(ev.name)) return ev.name;
    const k = seen.get(ev.opType) ?? 0;
    seen.set(ev.opType, k + 1);
    return `${ev.opType}#${k}`;
  });
}

/**
 * Maps every node onnxruntime executes to the planned kernel it belongs to, so profiled kernel
 * times land on the plan's kernels (the same units prediction sums):
 *  - reorders by the tensor they convert (planned ones) or to the neighbour that needs them;
 *  - NCHWc nodes (`<tensor>_nchwc`) by the original tensor they compute;
 *  - fused nodes (`<node>/MatMulAddFusion`, `fused <node>`, `<node>_new_reshape`) by the original node they came from;
 *  - kept nodes by name; generated helpers (Gemm reshapes, inlined functions) by the original
 *    tensor they produce, else their consumer.
 */
export function attributeOptimized(g: KernelGraph, plan: KernelPlan, optimized: OptimizedNode[]): Attribution {
  const kernelOfNode = new Map<string, string>();
  for (const k of plan.kernels) for (const n of k.nodes) kernelOfNode.set(n, k.id);
  const planned = new Set(plan.kernels.filter((k) => k.type === 'reorder').map((k) => k.id));
  const kernelOfTensor = (t: string): string | undefined => {
    const p = g.producer.get(t);
    return p ? kernelOfNode.get(p.name) : undefined;
  };
  const byNode = new Map<string, string>();
  const extraReorders: string[] = [];
  const matchedReorders = new Set<string>();
  const pending: OptimizedNode[] = [];
  const keys = optimizedKeys(optimized);
  const keyOf = new Map(optimized.map((o, i) => [o, keys[i]]));

  for (const o of optimized) {
    let id: string | undefined;
    if (o.opType === 'ReorderInput' || o.opType === 'ReorderOutput') {
      const dir = o.opType === 'ReorderInput' ? 'ReorderInput' : 'ReorderOutput';
      let tensor = dir === 'ReorderInput' ? o.inputs[0] : o.outputs[0];
      // onnxruntime may rename a tensor it rebuilt (Reshape fusion): name_token_N
      if (!planned.has(`${dir}:${tensor}`) && planned.has(`${dir}:${tensor.replace(/_token_\d+$/, '')}`)) tensor = tensor.replace(/_token_\d+$/, '');
      if (planned.has(`${dir}:${tensor}`)) {
        id = `${dir}:${tensor}`;
        matchedReorders.add(id);
      } else {
        // a ReorderOutput producing an original tensor may stand in for its node (Transpose to NHWC)
        const replaced = dir === 'ReorderOutput' ? kernelOfTensor(tensor) : undefined;
        if (replaced && plan.kernels.find((k) => k.id === replaced)?.type === 'transpose') id = replaced;
        else extraReorders.push(`${dir}:${tensor}`);
      }
    } else {
      const nchwc = /^(.*?)(_bn)?_nchwc(_token_\d+)?$/.exec(o.name);
      const slash = o.name.indexOf('/');
      if (nchwc) id = kernelOfTensor(nchwc[1]) ?? kernelOfNode.get(nchwc[1]);
      if (!id && slash > 0) id = kernelOfNode.get(o.name.slice(0, slash));
      if (!id && o.name.startsWith('fused ')) id = kernelOfNode.get(o.name.slice('fused '.length));
      // a Reshape merged with the one onnxruntime puts around a Gemm keeps its name: <node>_new_reshape
      if (!id && o.name.endsWith('_new_reshape')) id = kernelOfNode.get(o.name.slice(0, -'_new_reshape'.length));
      if (!id) id = kernelOfNode.get(o.name);
      if (!id) for (const t of o.outputs) id ??= kernelOfTensor(t);
    }
    if (id) byNode.set(keyOf.get(o)!, id);
    else pending.push(o);
  }
  // Helpers with generated outputs: their consumer's kernel (forward), else their producer's.
  const consumersOf = new Map<string, OptimizedNode[]>();
  const producerOf = new Map<string, OptimizedNode>();
  for (const o of optimized) {
    for (const t of o.inputs) if (t) (consumersOf.get(t) ?? consumersOf.set(t, []).get(t)!).push(o);
    for (const t of o.outputs) if (t) producerOf.set(t, o);
  }
  // a helper feeding a ReorderOutput belongs to the node that produced the reordered tensor (an
  // inlined HardSwish runs blocked, then its result is reordered back), not to the reorder
  const through = (c: OptimizedNode) => (c.opType === 'ReorderOutput' ? kernelOfTensor(c.outputs[0]) : undefined);
  for (let pass = 0; pass < 8 && pending.length; pass++) {
    for (let i = pending.length - 1; i >= 0; i--) {
      const o = pending[i];
      let id: string | undefined;
      for (const t of o.outputs) for (const c of consumersOf.get(t) ?? []) id ??= through(c) ?? byNode.get(keyOf.get(c)!);
      if (!id && pass >= 4) for (const t of o.inputs) id ??= (producerOf.get(t) && byNode.get(keyOf.get(producerOf.get(t)!)!)) || kernelOfTensor(t);
      if (id) {
        byNode.set(keyOf.get(o)!, id);
        pending.splice(i, 1);
      }
    }
  }
  const blockedKernels = new Set<string>();
  for (const o of optimized) if (o.domain === 'com.microsoft.nchwc' && !o.opType.startsWith('Reorder') && byNode.has(keyOf.get(o)!)) blockedKernels.add(byNode.get(keyOf.get(o)!)!);
  // Concat and element-wise ops keep their ONNX op when onnxruntime runs them blocked: they read reordered tensors
  const blockedInputs = new Set<string>();
  for (const o of optimized) if (o.inputs.some((t) => /^reorder/.test(t)) && byNode.has(keyOf.get(o)!)) blockedInputs.add(byNode.get(keyOf.get(o)!)!);
  const layoutMismatches = plan.kernels
    .filter((k) => k.type !== 'reorder' && k.type !== 'transpose')
    .filter((k) => k.nchwc !== (blockedKernels.has(k.id) || blockedInputs.has(k.id)))
    .map((k) => k.id);
  return {
    byNode,
    missedReorders: [...planned].filter((r) => !matchedReorders.has(r)),
    extraReorders,
    layoutMismatches,
  };
}
