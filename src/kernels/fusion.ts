import { GraphNode, KernelGraph, volume } from './graph';

/**
 * What onnxruntime's CPU provider executes for a model, derived from the ONNX graph alone (pure):
 *  - nodes it folds away at load (constants, Shape of static tensors, Identity, Dropout, an
 *    Expand to its own shape, a zero Pad of H/W that becomes the padding of the Conv or pool
 *    reading it);
 *  - fused groups, the way its graph optimizer fuses them: Conv (+BN) (+constant Add/Mul)
 *    (+residual Add) (+activation); Gemm / MatMul+bias (+activation); MatMul (+scale);
 *    the Erf form of GELU; everything else one node per kernel;
 *  - the NCHWc layout pass (level "all"): which convs, pools, element-wise ops, concats and
 *    resizes run in the blocked layout, and where ReorderInput/ReorderOutput kernels go at the
 *    boundaries. The block size (8 with AVX2 kernels, 16 with AVX-512) is a device property found
 *    by the kernel profiler.
 * Each group and each reorder is one predicted kernel. The rules follow onnxruntime's
 * nchwc_transformer and fusion passes; the profiler checks them against the graph onnxruntime
 * actually runs and records the agreement.
 */

export type KernelType =
  | 'conv' | 'dwconv' | 'fc' | 'matmul' | 'pool' | 'gpool' | 'eltwise' | 'act' | 'concat' | 'resize'
  | 'transpose' | 'reshape' | 'softmax' | 'norm' | 'reduce' | 'memory' | 'reorder';

export const KERNEL_TYPES: readonly KernelType[] = [
  'conv', 'dwconv', 'fc', 'matmul', 'pool', 'gpool', 'eltwise', 'act', 'concat', 'resize',
  'transpose', 'reshape', 'softmax', 'norm', 'reduce', 'memory', 'reorder',
];

export interface PlannedKernel {
  /** The main node's name, or `ReorderInput:<tensor>` / `ReorderOutput:<tensor>`. */
  id: string;
  type: KernelType;
  /** Original nodes this kernel executes (empty for reorders, which onnxruntime inserts). */
  nodes: string[];
  main: GraphNode | null;
  /** Runs in the NCHWc blocked layout. */
  nchwc: boolean;
  /** Fused activation (op type), if any. */
  act: string | null;
  /** A residual Add fused into the convolution (its other input). */
  fusedAdd: boolean;
  /** Reorders: the tensor converted, its NCHW shape and direction. */
  tensor?: string;
  shape?: number[];
  direction?: 'in' | 'out';
  /** Output tensors of the group (the last node's outputs). */
  outputs: string[];
}

export interface KernelPlan {
  blockSize: number;
  kernels: PlannedKernel[];
  /** Nodes onnxruntime removes at load: no kernel, no time. */
  folded: { node: string; opType: string; reason: string }[];
  /** Nodes without a kernel type (op not modelled, or shapes unknown). */
  unsupported: { node: string; opType: string; reason: string }[];
}

export interface PlanOptions {
  /** NCHWc block size of the device's MLAS kernels. */
  blockSize: number;
  /** Channel alignment NCHWc convolutions accept (onnxruntime pads channels up to the block). */
  channelAlign?: number;
}

const CONV_ACTS = new Set(['Relu', 'Clip', 'Sigmoid', 'Tanh', 'HardSigmoid', 'LeakyRelu', 'HardSwish']);
const GEMM_ACTS = new Set(['Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'HardSigmoid']);
const NCHWC_ACTS = new Set(['Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish']);
const BN_ACTS = new Set(['Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish']);
const ELIMINATED = new Set(['Identity', 'Dropout']);
const ALWAYS_FOLDED = new Set(['Constant', 'Shape', 'Size']);

const SINGLE: Record<string, KernelType> = {};
const register = (type: KernelType, ops: string[]) => ops.forEach((op) => (SINGLE[op] = type));
register('act', ['Relu', 'Sigmoid', 'Tanh', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Clip', 'Elu', 'Selu', 'Softplus', 'Softsign',
  'Erf', 'Gelu', 'Exp', 'Log', 'Sqrt', 'Reciprocal', 'Neg', 'Abs', 'Floor', 'Ceil', 'Sin', 'Cos', 'Not', 'Cast']);
register('eltwise', ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Less', 'Greater', 'And', 'Or', 'Where', 'PRelu']);
register('pool', ['MaxPool', 'AveragePool']);
register('gpool', ['GlobalAveragePool', 'GlobalMaxPool']);
register('reduce', ['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ArgMax', 'ArgMin']);
register('concat', ['Concat']);
register('resize', ['Resize', 'Upsample']);
register('transpose', ['Transpose']);
register('reshape', ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);
register('softmax', ['Softmax', 'LogSoftmax']);
register('norm', ['BatchNormalization', 'LayerNormalization', 'InstanceNormalization']);
register('memory', ['Slice', 'Split', 'Pad', 'Gather', 'Expand', 'Tile', 'ConstantOfShape', 'Range']);
register('fc', ['Gemm']);
register('matmul', ['MatMul']);

export function planKernels(g: KernelGraph, options: PlanOptions): KernelPlan {
  const B = options.blockSize;
  const A = options.channelAlign ?? 4;
  const constant = new Set<string>(g.constants.keys());
  const folded: KernelPlan['folded'] = [];
  const unsupported: KernelPlan['unsupported'] = [];
  const done = new Set<GraphNode>();
  const groups: PlannedKernel[] = [];
  const isConst = (t: string) => !t || constant.has(t);
  const single = (t: string) => (g.consumers.get(t)?.length ?? 0) === 1 && !g.graphOutputs.has(t);
  const next = (t: string) => (single(t) ? g.consumers.get(t)![0] : undefined);
  const otherInput = (n: GraphNode, t: string) => n.inputs.find((x, i) => x !== t || n.inputs.indexOf(t) !== i) ?? '';
  /** Outputs of removed nodes -> the tensor their readers read instead. */
  const aliases = new Map<string, string>();

  for (const n of g.nodes) {
    if (done.has(n)) continue;
    // ---- folded at load
    if (ELIMINATED.has(n.opType)) {
      done.add(n);
      folded.push({ node: n.name, opType: n.opType, reason: 'removed by onnxruntime (no-op at inference)' });
      continue;
    }
    if (ALWAYS_FOLDED.has(n.opType) || (n.inputs.some(Boolean) && n.inputs.every(isConst)) || (n.opType !== 'Constant' && n.inputs.every((x) => !x))) {
      done.add(n);
      n.outputs.forEach((o) => o && constant.add(o));
      folded.push({ node: n.name, opType: n.opType, reason: 'constant-folded by onnxruntime at load' });
      continue;
    }
    if (n.outShapes.some((s) => s === null) || n.macs === null) {
      done.add(n);
      unsupported.push({ node: n.name, opType: n.opType, reason: n.note ?? 'shapes unknown' });
      continue;
    }
    const padChild = n.opType === 'Pad' ? padFusedInto(g, n, isConst, single) : null;
    if (padChild || (n.opType === 'Expand' && sameShape(n.inShapes[0], n.outShapes[0]))) {
      done.add(n);
      aliases.set(n.outputs[0], aliases.get(n.inputs[0]) ?? n.inputs[0]);
      folded.push({
        node: n.name, opType: n.opType,
        reason: padChild ? `merged into the padding of ${padChild.opType} "${padChild.name}" by onnxruntime` : 'removed by onnxruntime (expands to its own shape)',
      });
      continue;
    }
    const group = (type: KernelType, nodes: GraphNode[], extra: Partial<PlannedKernel> = {}): PlannedKernel => {
      nodes.forEach((x) => done.add(x));
      const k: PlannedKernel = {
        id: n.name, type, nodes: nodes.map((x) => x.name), main: n, nchwc: false, act: null, fusedAdd: false,
        outputs: nodes[nodes.length - 1].outputs.filter(Boolean), ...extra,
      };
      groups.push(k);
      return k;
    };

    if (n.opType === 'Conv' && isConst(n.inputs[1])) {
      const members = [n];
      let cur = n.outputs[0];
      let act: string | null = null;
      let fusedAdd = false;
      let addOther = '';
      for (;;) {
        const c = next(cur);
        if (!c || done.has(c) || c.outShapes[0] === null) break;
        if (!act && !fusedAdd && c.opType === 'BatchNormalization' && c.inputs.slice(1).every(isConst)) {
          members.push(c);
        } else if (!act && !fusedAdd && (c.opType === 'Add' || c.opType === 'Mul') && isConst(otherInput(c, cur))) {
          members.push(c);
        } else if (!act && !fusedAdd && c.opType === 'Add' && sameShape(c.inShapes[0], c.inShapes[1])) {
          members.push(c);
          fusedAdd = true;
          addOther = otherInput(c, cur);
        } else if (!act && CONV_ACTS.has(c.opType) && (!fusedAdd || c.opType === 'Relu') && c.inputs.slice(1).every(isConst)) {
          members.push(c);
          act = c.opType;
        } else break;
        cur = c.outputs[0];
        if (act) break;
      }
      const w = g.constants.get(n.inputs[1])!.dims;
      const groups_ = n.attrs.int('group', 1);
      const depthwise = groups_ > 1 && w[1] === 1 && w[0] === groups_;
      const k = group(depthwise ? 'dwconv' : 'conv', members, { act, fusedAdd });
      (k as PlannedKernel & { addOther?: string }).addOther = addOther;
      continue;
    }
    if (n.opType === 'Gemm') {
      const members = [n];
      const c = next(n.outputs[0]);
      let act: string | null = null;
      if (c && !done.has(c) && GEMM_ACTS.has(c.opType)) {
        members.push(c);
        act = c.opType;
      }
      group('fc', members, { act });
      continue;
    }
    if (n.opType === 'MatMul') {
      const members = [n];
      const weight = isConst(n.inputs[1]) && (g.constants.get(n.inputs[1])?.dims.length ?? 0) === 2;
      const c = next(n.outputs[0]);
      let act: string | null = null;
      if (weight) {
        if (c && !done.has(c) && c.opType === 'Add' && isConst(otherInput(c, n.outputs[0]))) {
          members.push(c);
          const c2 = next(c.outputs[0]);
          if ((n.inShapes[0]?.length ?? 0) === 2 && c2 && !done.has(c2) && GEMM_ACTS.has(c2.opType)) {
            members.push(c2);
            act = c2.opType;
          }
        }
        group('fc', members, { act });
      } else {
        if (c && !done.has(c) && (c.opType === 'Mul' || c.opType === 'Div') && isConst(otherInput(c, n.outputs[0])) && volume(c.inShapes[1]) <= 1 && volume(c.inShapes[0]) >= 1) {
          members.push(c);
        }
        group('matmul', members);
      }
      continue;
    }
    // x * sigmoid(x) (SiLU / Swish): onnxruntime fuses it into one QuickGelu kernel
    if (n.opType === 'Sigmoid') {
      const m = next(n.outputs[0]);
      if (m && !done.has(m) && m.opType === 'Mul' && m.inputs.includes(n.inputs[0]) && m.inputs.includes(n.outputs[0])) {
        group('act', [n, m], { act: 'Silu' });
        continue;
      }
    }
    const erf = n.opType === 'Div' || n.opType === 'Mul' ? next(n.outputs[0]) : undefined;
    if (erf?.opType === 'Erf') {
      const gelu = geluPattern(g, erf, isConst, done);
      if (gelu) {
        gelu.forEach((x) => done.add(x));
        groups.push({ id: gelu[0].name, type: 'act', nodes: gelu.map((x) => x.name), main: gelu[0], nchwc: false, act: 'Gelu', fusedAdd: false, outputs: gelu[gelu.length - 1].outputs });
        continue;
      }
    }
    const type = SINGLE[n.opType];
    if (!type) {
      done.add(n);
      unsupported.push({ node: n.name, opType: n.opType, reason: `no kernel model for ${n.opType}` });
      continue;
    }
    group(type, [n]);
  }

  return { blockSize: B, kernels: layout(g, orderGroups(g, groups, aliases), constant, aliases, B, A), folded, unsupported };
}

/**
 * onnxruntime's PadFusion: a constant-mode Pad with constant, non-negative pads on the spatial axes
 * only (and a zero or absent fill value), read by nothing but one Conv, MaxPool or AveragePool with
 * explicit pads, is removed and added to that node's pads. Returns that node, or null.
 */
function padFusedInto(g: KernelGraph, n: GraphNode, isConst: (t: string) => boolean, single: (t: string) => boolean): GraphNode | null {
  if (n.inputs.length > 3 || n.attrs.string('mode', 'constant') !== 'constant' || !single(n.outputs[0])) return null;
  const pads = g.constants.get(n.inputs[1])?.values;
  const fill = n.inputs[2] ? g.constants.get(n.inputs[2]) : undefined;
  if (!pads || !isConst(n.inputs[1]) || (n.inputs[2] && !fill?.values?.every((v) => v === 0))) return null;
  const half = pads.length / 2;
  if (pads[0] !== 0 || pads[1] !== 0 || pads[half] !== 0 || pads[half + 1] !== 0 || pads.some((p) => p < 0)) return null;
  const child = g.consumers.get(n.outputs[0])![0];
  if (!['Conv', 'MaxPool', 'AveragePool'].includes(child.opType) || child.outputs.filter(Boolean).length > 1) return null;
  if (child.attrs.string('auto_pad', 'NOTSET') !== 'NOTSET' || !child.attrs.has('pads')) return null;
  return child;
}

/**
 * Groups in an order where every group comes after the groups it reads from (a fused group can
 * read a tensor produced after its first node, e.g. a residual Add's other branch), ties broken
 * by graph position: the order onnxruntime's layout pass walks the fused graph in.
 */
function orderGroups(g: KernelGraph, groups: PlannedKernel[], aliases: ReadonlyMap<string, string>): PlannedKernel[] {
  const position = new Map(g.nodes.map((x, i) => [x.name, i]));
  const groupOf = new Map<string, number>();
  groups.forEach((k, i) => k.nodes.forEach((n) => groupOf.set(n, i)));
  const deps = groups.map((k, i) => {
    const d = new Set<number>();
    for (const name of k.nodes) {
      const node = g.nodes[position.get(name)!];
      for (const t of node.inputs) {
        const p = t ? g.producer.get(aliases.get(t) ?? t) : undefined;
        const j = p ? groupOf.get(p.name) : undefined;
        if (j !== undefined && j !== i) d.add(j);
      }
    }
    return d;
  });
  const first = groups.map((k) => Math.min(...k.nodes.map((n) => position.get(n)!)));
  const placed = new Set<number>();
  const out: PlannedKernel[] = [];
  while (out.length < groups.length) {
    let best = -1;
    for (let i = 0; i < groups.length; i++) {
      if (placed.has(i) || [...deps[i]].some((j) => !placed.has(j))) continue;
      if (best < 0 || first[i] < first[best]) best = i;
    }
    if (best < 0) best = groups.findIndex((_, i) => !placed.has(i)); // a cycle cannot happen in a valid graph
    placed.add(best);
    out.push(groups[best]);
  }
  return out;
}

function sameShape(a: number[] | null, b: number[] | null): boolean {
  return !!a && !!b && a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Div(x, √2) (or Mul by 1/√2) → Erf → Add 1 → Mul x → (Mul 0.5): onnxruntime fuses it into one Gelu kernel. */
function geluPattern(g: KernelGraph, erf: GraphNode, isConst: (t: string) => boolean, done: Set<GraphNode>): GraphNode[] | null {
  const pre = g.producer.get(erf.inputs[0]);
  if (!pre || done.has(pre) || !(pre.opType === 'Div' || pre.opType === 'Mul') || !isConst(pre.inputs[1])) return null;
  const x = pre.inputs[0];
  const cons = (t: string) => g.consumers.get(t) ?? [];
  const add = cons(erf.outputs[0]);
  if (add.length !== 1 || add[0].opType !== 'Add') return null;
  const mul = cons(add[0].outputs[0]);
  if (mul.length !== 1 || mul[0].opType !== 'Mul') return null;
  const nodes = [pre, erf, add[0], mul[0]];
  const half = cons(mul[0].outputs[0]);
  if (!mul[0].inputs.includes(x) && half.length === 0) return null;
  if (half.length === 1 && half[0].opType === 'Mul' && half[0].inputs.some(isConst) && !g.graphOutputs.has(mul[0].outputs[0])) nodes.push(half[0]);
  return nodes;
}

/**
 * onnxruntime's NCHWc pass over the fused groups: which run blocked, and the reorders it inserts.
 * Returns the groups with reorder kernels placed before their consumer (inputs) or after their
 * producer (outputs).
 */
function layout(g: KernelGraph, groups: PlannedKernel[], constant: Set<string>, aliases: ReadonlyMap<string, string>, B: number, A: number): PlannedKernel[] {
  /** Tensors held in NCHWc form, with their logical channel count. */
  const blocked = new Map<string, number>();
  const reorderedIn = new Set<string>();
  const reorderedOut = new Set<string>();
  const out: PlannedKernel[] = [];
  const shapeOf = (t: string): number[] | null => {
    const p = g.producer.get(t);
    if (p) return p.outShapes[p.outputs.indexOf(t)] ?? null;
    return g.analysis.inputs.find((i) => i.name === t)?.shape ?? null;
  };
  const reorder = (tensor: string, direction: 'in' | 'out'): PlannedKernel => ({
    id: `${direction === 'in' ? 'ReorderInput' : 'ReorderOutput'}:${tensor}`, type: 'reorder', nodes: [], main: null, nchwc: true,
    act: null, fusedAdd: false, tensor, shape: shapeOf(tensor) ?? [], direction, outputs: [],
  });
  const toNchw = (t: string, pending: PlannedKernel[]) => {
    if (blocked.has(t) && !reorderedOut.has(t)) {
      reorderedOut.add(t);
      pending.push(reorder(t, 'out'));
    }
  };
  const toBlocked = (t: string, pending: PlannedKernel[]) => {
    if (!blocked.has(t) && !reorderedIn.has(t)) {
      reorderedIn.add(t);
      pending.push(reorder(t, 'in'));
    }
  };
  const is4d = (s: number[] | null | undefined) => !!s && s.length === 4;
  const single = (t: string) => (g.consumers.get(t)?.length ?? 0) === 1 && !g.graphOutputs.has(t);

  if (B <= 0) return groups; // no blocked layout on this device
  const absorbed = new Set<PlannedKernel>();
  for (const k of groups) {
    if (absorbed.has(k)) continue;
    const n = k.main!;
    // a removed node's readers read its input (a Pad merged into a Conv: the Conv reads the unpadded tensor)
    const inputs = n.inputs.map((x) => aliases.get(x) ?? x);
    const before: PlannedKernel[] = [];
    const after: PlannedKernel[] = [];
    const dataInputs = inputs.filter((x) => x && !constant.has(x));
    let output = k.outputs[0];
    let accepts = false; // consumes its data inputs in NCHWc form
    let produces = false; // output in NCHWc form

    switch (k.type) {
      case 'conv':
      case 'dwconv': {
        const w = g.constants.get(n.inputs[1])?.dims;
        const group = n.attrs.int('group', 1);
        const bias = n.inputs[2];
        let eligible = !!w && w.length === 4 && (!bias || constant.has(bias)) && is4d(n.inShapes[0]);
        let direct = false;
        if (eligible) {
          const [cout, cinG] = w!;
          if (group > 1) {
            if (cinG === 1 && cout === group) eligible = cout % A === 0;
            else eligible = cinG % B === 0 && (cout / group) % B === 0;
          } else if (cinG < B) {
            direct = true; // reads the NCHW input as it is
          } else {
            eligible = cinG % A === 0; // output channels are padded up to the block
          }
        }
        if (!eligible) break;
        k.nchwc = true;
        if (!direct) toBlocked(inputs[0], before);
        accepts = !direct;
        produces = true;
        if (k.fusedAdd) {
          const addOther = (k as PlannedKernel & { addOther?: string }).addOther ?? '';
          const other = aliases.get(addOther) ?? addOther;
          if (!blocked.has(other) || !sameShape(shapeOf(other), shapeOf(output))) {
            // the Add stays an NCHW node: the convolution's result is reordered back first
            const addNode = g.nodes.find((x) => x.name === k.nodes.find((m) => g.nodes.find((y) => y.name === m)?.opType === 'Add'));
            const pre = addNode?.inputs.find((x) => x !== addOther) ?? output;
            after.push(reorder(pre, 'out'));
            produces = false;
            toNchw(other, before);
          }
        }
        break;
      }
      case 'pool': {
        const s = n.inShapes[0];
        if (is4d(s) && s![1] % B === 0 && n.outputs.filter(Boolean).length === 1) {
          k.nchwc = true;
          toBlocked(inputs[0], before);
          accepts = produces = true;
        }
        break;
      }
      case 'gpool':
      case 'norm':
        if (blocked.has(inputs[0]) && is4d(n.inShapes[0]) && n.inShapes[0]![1] % B === 0 && (k.type === 'gpool' || (n.opType === 'BatchNormalization' && n.inputs.slice(1).every((x) => constant.has(x))))) {
          k.nchwc = accepts = produces = true;
          // a blocked BatchNormalization runs as a depthwise 1x1 Conv, which takes in the activation after it
          const a = n.opType === 'BatchNormalization' && single(output) ? groups.find((x) => x.type === 'act' && !x.act && x.main?.inputs[0] === output && BN_ACTS.has(x.main.opType)) : undefined;
          if (a) {
            absorbed.add(a);
            k.nodes.push(...a.nodes);
            k.act = a.main!.opType;
            k.outputs = a.outputs;
            output = k.outputs[0];
          }
        }
        break;
      case 'eltwise':
        if (['Add', 'Sum', 'Mul'].includes(n.opType) && dataInputs.length === n.inputs.length && dataInputs.every((x) => blocked.has(x))) {
          const shapes = dataInputs.map(shapeOf);
          if (shapes.every((s) => is4d(s) && sameShape(s, shapes[0]))) k.nchwc = accepts = produces = true;
        }
        break;
      case 'act':
        if ((k.act === 'Silu' || (!k.act && NCHWC_ACTS.has(n.opType))) && blocked.has(inputs[0])) k.nchwc = accepts = produces = true;
        break;
      case 'concat':
        if (n.attrs.int('axis', 0) === 1 && dataInputs.length === n.inputs.length && dataInputs.every((x) => blocked.has(x) && blocked.get(x)! % B === 0)) {
          k.nchwc = accepts = produces = true;
        }
        break;
      case 'resize': {
        if (!blocked.has(inputs[0])) break;
        const scalesName = n.opType === 'Upsample' || g.analysis.opset < 11 ? n.inputs[1] : n.inputs[2];
        const scales = scalesName ? g.constants.get(scalesName)?.values : undefined;
        const sizes = n.opType === 'Resize' && g.analysis.opset >= 11 ? n.inputs[3] : undefined;
        const mode = n.attrs.string('mode', 'nearest');
        if (!sizes && scales && scales.length === 4 && scales[0] === 1 && scales[1] === 1 && scales.every((v) => Number.isInteger(v) && v > 0) && (mode === 'nearest' || mode === 'linear')) {
          k.nchwc = accepts = produces = true;
        }
        break;
      }
      case 'transpose': {
        const perm = n.attrs.ints('perm');
        if (blocked.has(inputs[0]) && perm?.join() === '0,2,3,1') {
          // replaced by a ReorderOutput to channels-last: reads the blocked tensor, writes NHWC
          k.nchwc = accepts = true;
        }
        break;
      }
      default:
        break;
    }
    if (!accepts) for (const x of dataInputs) toNchw(x, before);
    if (produces && output) {
      const c = (k.type === 'concat' ? dataInputs.reduce((s, x) => s + (blocked.get(x) ?? 0), 0) : shapeOf(output)?.[1]) ?? 0;
      blocked.set(output, c);
      if (g.graphOutputs.has(output)) toNchw(output, after);
    }
    out.push(...before, k, ...after);
  }
  return out;
}
