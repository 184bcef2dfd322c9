import { onnx } from 'onnx-proto';
import { AnalysisOptions, ModelAnalysis, analyzeOnnx } from '../analysis/analyze';
import { Attributes } from '../analysis/ops';
import { toNumber } from '../analysis/tensors';

/** One node of an ONNX model with everything the kernel mapping needs: attributes, shapes, costs. */
export interface GraphNode {
  index: number;
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs: Attributes;
  /** Shapes of the inputs (null: omitted or unknown). */
  inShapes: (number[] | null)[];
  outShapes: (number[] | null)[];
  params: number;
  macs: number | null;
  note?: string;
}

/** An analysed model as a graph: nodes in topological order, producers, consumers, constants. */
export interface KernelGraph {
  file: string;
  analysis: ModelAnalysis;
  nodes: GraphNode[];
  producer: Map<string, GraphNode>;
  consumers: Map<string, GraphNode[]>;
  /** Initializers (name -> dims and float values when small). */
  constants: Map<string, { dims: number[]; values?: number[] }>;
  graphOutputs: Set<string>;
  graphInputs: Set<string>;
}

const SMALL = 64;

function smallValues(t: onnx.ITensorProto): number[] | undefined {
  const dims = (t.dims ?? []).map(toNumber);
  if (dims.reduce((a, b) => a * b, 1) > SMALL) return undefined;
  if (t.floatData?.length) return [...t.floatData];
  if (t.int64Data?.length) return t.int64Data.map(toNumber);
  if (t.rawData?.length && t.dataType === onnx.TensorProto.DataType.FLOAT) return [...new Float32Array(Uint8Array.from(t.rawData).buffer)];
  if (t.rawData?.length && t.dataType === onnx.TensorProto.DataType.INT64) return [...new BigInt64Array(Uint8Array.from(t.rawData).buffer)].map(Number);
  return undefined;
}

/** Decodes and analyses a model (shapes, params, MACs per node: src/analysis) and links its nodes. */
export function loadKernelGraph(bytes: Uint8Array, options: AnalysisOptions = {}): KernelGraph {
  const analysis = analyzeOnnx(bytes, options);
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const protoNodes = graph.node ?? [];
  const constants = new Map<string, { dims: number[]; values?: number[] }>();
  for (const t of graph.initializer ?? []) constants.set(t.name ?? '', { dims: (t.dims ?? []).map(toNumber), values: smallValues(t) });

  const shapes = new Map<string, number[] | null>();
  for (const i of analysis.inputs) shapes.set(i.name, i.shape);
  for (const [name, c] of constants) shapes.set(name, c.dims);
  analysis.nodes.forEach((n) => n.outputs.forEach((o, k) => o && shapes.set(o, n.outputShapes[k])));

  // analysis.nodes is index-aligned with the model's nodes; walk them in topological order
  const order = topological(analysis);
  const nodes: GraphNode[] = order.map((i) => {
    const a = analysis.nodes[i];
    return {
      index: i, name: a.name, opType: a.opType, inputs: a.inputs, outputs: a.outputs,
      attrs: new Attributes(protoNodes[i].attribute),
      inShapes: a.inputs.map((x) => (x ? (shapes.get(x) ?? null) : null)),
      outShapes: a.outputShapes, params: a.params, macs: a.macs, ...(a.note ? { note: a.note } : {}),
    };
  });
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    n.outputs.forEach((o) => o && producer.set(o, n));
    for (const x of new Set(n.inputs)) if (x) (consumers.get(x) ?? consumers.set(x, []).get(x)!).push(n);
  }
  return {
    file: analysis.file, analysis, nodes, producer, consumers, constants,
    graphOutputs: new Set(analysis.outputs.map((o) => o.name)),
    graphInputs: new Set(analysis.inputs.map((i) => i.name)),
  };
}

function topological(a: ModelAnalysis): number[] {
  const producer = new Map<string, number>();
  a.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const deps = a.nodes.map((n) => [...new Set(n.inputs.filter((x) => x && producer.has(x)).map((x) => producer.get(x)!))]);
  if (deps.every((d, i) => d.every((p) => p < i))) return a.nodes.map((_, i) => i);
  const waiting = deps.map((d) => d.length);
  const consumers = a.nodes.map(() => [] as number[]);
  deps.forEach((d, i) => d.forEach((p) => consumers[p].push(i)));
  const order = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  for (let k = 0; k < order.length; k++) for (const c of consumers[order[k]]) if (--waiting[c] === 0) order.push(c);
  return order;
}

export const volume = (s: readonly number[] | null | undefined) => (s ? s.reduce((a, b) => a * b, 1) : 0);

/** Bytes of a model's outputs (float32), which onnxruntime-node copies into JS memory after every run. */
export const outputBytes = (g: KernelGraph) => 4 * g.analysis.outputs.reduce((s, o) => s + volume(o.shape), 0);
