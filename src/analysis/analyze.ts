import * as fs from 'node:fs';
import { onnx } from 'onnx-proto';
import { TailorError } from '../core/errors';
import { externalDataFiles, externalRefs } from './external-data';
import { MAX_FOLDED_ELEMENTS, NotConstant, OPS, OpContext, ShapeError, TensorInfo } from './ops';
import { dtypeName, isWeightType, tensorDataProblem, tensorDims, tensorValues, toNumber, volume } from './tensors';

/** Opset 7 is where the ops' current attribute forms begin (Upsample, BatchNormalization, ...). */
export const MIN_OPSET = 7;

export interface AnalysisOptions {
  /** Shapes for graph inputs by name; needed for inputs with dynamic (dim_param) or missing dims. */
  inputShapes?: Record<string, number[]>;
  /** Named in messages and the result. */
  file?: string;
  /**
   * The model file on disk the bytes were read from: ONNX external data files are found beside
   * it (and counted in sizeBytes). Without it a model with external data is refused.
   */
  path?: string | null;
  /**
   * Ops without a shape function (and ops of other domains): an UNKNOWN_OP error naming the nodes
   * (default), or with this a partial analysis that leaves them out, marked `partial`.
   */
  allowUnknownOps?: boolean;
  /** How the caller's user allows unknown ops, for the UNKNOWN_OP message (default: the CLI flag). */
  allowUnknownOpsHint?: string;
}

export const ALLOW_UNKNOWN_OPS_FLAG = 'pass --allow-unknown-ops';

export interface TensorSummary {
  name: string;
  dtype: string;
  /** null when inference could not reach it (it depends on an unsupported op). */
  shape: number[] | null;
}

export interface NodeAnalysis {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  outputShapes: (number[] | null)[];
  /** Elements of the weights this node is the first to read. */
  params: number;
  /** null when the node's shapes are unknown. */
  macs: number | null;
  /** Why the shapes are unknown. */
  note?: string;
}

export interface ModelAnalysis {
  file: string;
  /** Which analyzer read the file (analyzeModel picks it by content). */
  format?: 'onnx' | 'tflite';
  /** ONNX: the opset of the default domain. TFLite: the schema version (TFLite versions each op instead). */
  opset: number;
  /** ONNX: producer name and version. TFLite: the model's description. */
  producer: string;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  params: number;
  /** Sum over the nodes whose shapes are known. */
  macs: number;
  /** Bytes of the model file and of its external data files. */
  sizeBytes: number;
  /** ONNX: the external data files the weights are stored in (beside the model), as the model names them. */
  externalData?: { location: string; bytes: number }[];
  /** params x 4: the weights stored as float32. */
  fp32Bytes: number;
  /** TFLite: bytes of the weights as stored (quantized sizes), in total and by element type. */
  weightBytes?: { total: number; byType: Record<string, number> };
  nodes: NodeAnalysis[];
  /** Ops without a shape function, by op type in graph order (non-default domains as "domain.Op"). */
  unsupported: { opType: string; nodes: string[] }[];
  /** Nodes whose shapes stayed unknown, and why (an unsupported op upstream, a run-time value). */
  unresolved: { node: string; reason: string }[];
  /** MACs (and shapes) leave nodes out: unknown ops (allowed with allowUnknownOps) or settings known only at run time. */
  partial: boolean;
  /** The nodes of unknown ops, in graph order (empty unless allowUnknownOps let them through). */
  unknownNodes: { node: string; opType: string }[];
}

/**
 * The nodes of ops without a shape function, flat; refused (UNKNOWN_OP, naming them) unless the
 * caller allows a partial analysis. Shared by the ONNX and TFLite analyses.
 */
export function unknownOpNodes(file: string, unsupported: Map<string, string[]>, order: string[], options: AnalysisOptions): { node: string; opType: string }[] {
  const opOf = new Map([...unsupported].flatMap(([opType, names]) => names.map((n) => [n, opType] as const)));
  const nodes = order.filter((n) => opOf.has(n)).map((node) => ({ node, opType: opOf.get(node)! }));
  if (nodes.length && !options.allowUnknownOps) {
    const shown = nodes.slice(0, 5).map((n) => `node "${n.node}" (${n.opType})`).join(', ') + (nodes.length > 5 ? ` and ${nodes.length - 5} more` : '');
    throw new TailorError('UNKNOWN_OP', { file, count: nodes.length, nodes: shown, hint: options.allowUnknownOpsHint ?? ALLOW_UNKNOWN_OPS_FLAG });
  }
  return nodes;
}

/** A declared input dim: a size, a symbolic name, or null when unknown. */
export type DeclaredDim = number | string | null;

function invalid(file: string, reason: string): never {
  throw new TailorError('INVALID_ONNX', { file, reason });
}

export function decodeModel(bytes: Uint8Array, file: string): onnx.ModelProto {
  if (bytes.length === 0) invalid(file, 'the file is empty');
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    invalid(file, `it cannot be decoded (${(e as Error).message}); the file is truncated or not ONNX`);
  }
  // Protobuf decodes many byte strings without complaint: require what every ONNX file has.
  if (toNumber(model.irVersion) <= 0) invalid(file, 'it has no IR version; the file is not ONNX');
  if (!model.graph) invalid(file, 'it has no graph');
  return model;
}

function defaultOpset(model: onnx.ModelProto, file: string): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!entry) invalid(file, 'it imports no opset of the default ONNX domain');
  const opset = toNumber(entry.version);
  if (opset < MIN_OPSET) throw new TailorError('UNSUPPORTED_OPSET', { file, opset, min: MIN_OPSET });
  return opset;
}

export function declaredDims(vi: onnx.IValueInfoProto): DeclaredDim[] | undefined {
  const shape = vi.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => {
    const dim = d as onnx.TensorShapeProto.Dimension;
    if (dim.value === 'dimValue' && toNumber(dim.dimValue) >= 0) return toNumber(dim.dimValue);
    if (dim.value === 'dimParam' && dim.dimParam) return dim.dimParam;
    return null;
  });
}

const showDims = (dims: DeclaredDim[] | undefined) => (dims ? dims.map((d) => d ?? '?').join('x') || 'scalar' : 'unknown rank');

function inputShapeError(name: string, dims: number[], reason: string): never {
  throw new TailorError('INVALID_INPUT_SHAPE', { value: `${name}:${dims.join('x')}`, reason });
}

/** The shape of a graph input: the declared one, or the override when it fits the declaration. */
export function resolveInputShape(file: string, name: string, declared: DeclaredDim[] | undefined, override: number[] | undefined): number[] {
  if (override) {
    if (!override.every((d) => Number.isInteger(d) && d >= 1)) inputShapeError(name, override, 'dims must be positive integers');
    if (declared && declared.length !== override.length)
      inputShapeError(name, override, `input "${name}" has rank ${declared.length} (${showDims(declared)}), not ${override.length}`);
    declared?.forEach((d, i) => {
      if (typeof d === 'number' && d !== override[i])
        inputShapeError(name, override, `input "${name}" has the fixed size ${d} at axis ${i} (${showDims(declared)})`);
    });
    return [...override];
  }
  if (declared && declared.every((d): d is number => typeof d === 'number')) return declared;
  const example = declared ? declared.map((d, i) => (typeof d === 'number' ? d : `<${d ?? `dim${i}`}>`)).join('x') : '<dims>';
  throw new TailorError('MISSING_INPUT_SHAPE', { input: name, file, shape: showDims(declared), example });
}

/** Every override must name a graph input. */
export function checkInputShapeNames(overrides: Record<string, number[]>, inputNames: string[]): void {
  for (const [name, dims] of Object.entries(overrides))
    if (!inputNames.includes(name)) inputShapeError(name, dims, `the model has no input "${name}" (inputs: ${inputNames.join(', ') || 'none'})`);
}

/** Node indices in an order where producers come first (ONNX requires it; some exporters break it). */
function topologicalOrder(file: string, nodes: onnx.INodeProto[], producer: Map<string, number>): number[] {
  const deps = nodes.map((n) => new Set((n.input ?? []).filter((x) => x && producer.has(x)).map((x) => producer.get(x)!)));
  if (deps.every((d, i) => [...d].every((p) => p < i))) return nodes.map((_, i) => i);
  const consumers = nodes.map(() => [] as number[]);
  deps.forEach((d, i) => d.forEach((p) => consumers[p].push(i)));
  const waiting = deps.map((d) => d.size);
  const order = waiting.flatMap((w, i) => (w === 0 ? [i] : []));
  for (let k = 0; k < order.length; k++) for (const c of consumers[order[k]]) if (--waiting[c] === 0) order.push(c);
  if (order.length !== nodes.length) invalid(file, 'its graph has a cycle');
  return order;
}

/** Shapes, params and MACs of every node of an ONNX model (see docs/model-analysis.md). */
export function analyzeOnnx(bytes: Uint8Array, options: AnalysisOptions = {}): ModelAnalysis {
  const file = options.file ?? 'model';
  const model = decodeModel(bytes, file);
  const graph = model.graph!;
  const opset = defaultOpset(model, file);
  const externalData = externalDataFiles(externalRefs(model), file, options.path);
  const nodes = graph.node ?? [];

  const tensors = new Map<string, TensorInfo>();
  /** Tensor name -> why its shape is unknown. */
  const unknown = new Map<string, string>();
  /** Initializers and Constant outputs: what params can be made of. */
  const constants = new Map<string, { elements: number; dtype: number }>();

  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    const problem = tensorDataProblem(t);
    if (problem) invalid(file, `initializer "${name}" ${problem}`);
    const shape = tensorDims(t);
    const info: TensorInfo = { dtype: t.dataType ?? 0, shape };
    if (volume(shape) <= MAX_FOLDED_ELEMENTS) info.value = tensorValues(t);
    tensors.set(name, info);
    constants.set(name, { elements: volume(shape), dtype: info.dtype });
  }
  for (const s of graph.sparseInitializer ?? []) {
    const name = s.values?.name ?? '';
    const shape = (s.dims ?? []).map(toNumber);
    tensors.set(name, { dtype: s.values?.dataType ?? 0, shape });
    constants.set(name, { elements: volume(shape), dtype: s.values?.dataType ?? 0 });
  }

  // Graph inputs that are also initializers are constants with a default (IR < 4 lists them all).
  const graphInputs = (graph.input ?? []).filter((vi) => !constants.has(vi.name ?? ''));
  const consumed = new Set([...nodes.flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name ?? '')]);
  const overrides = options.inputShapes ?? {};
  checkInputShapeNames(overrides, graphInputs.map((vi) => vi.name ?? ''));
  const inputs: TensorSummary[] = [];
  for (const vi of graphInputs) {
    const name = vi.name ?? '';
    const tensorType = vi.type?.tensorType;
    if (!tensorType) {
      unknown.set(name, `input "${name}" is not a tensor`);
      inputs.push({ name, dtype: 'non-tensor', shape: null });
      continue;
    }
    // An input no node reads needs no shape.
    if (!consumed.has(name) && !overrides[name] && !declaredDims(vi)?.every((d) => typeof d === 'number')) {
      inputs.push({ name, dtype: dtypeName(tensorType.elemType ?? 0), shape: null });
      continue;
    }
    const shape = resolveInputShape(file, name, declaredDims(vi), overrides[name]);
    tensors.set(name, { dtype: tensorType.elemType ?? 0, shape });
    inputs.push({ name, dtype: dtypeName(tensorType.elemType ?? 0), shape });
  }

  const producer = new Map<string, number>();
  nodes.forEach((n, i) =>
    (n.output ?? []).forEach((o) => {
      if (!o) return;
      if (producer.has(o) || tensors.has(o) || unknown.has(o)) invalid(file, `tensor "${o}" is defined more than once`);
      producer.set(o, i);
    }),
  );

  const counted = new Set<string>();
  const results: NodeAnalysis[] = new Array(nodes.length);
  const unsupported = new Map<string, string[]>();
  const unresolved: { node: string; reason: string }[] = [];

  for (const i of topologicalOrder(file, nodes, producer)) {
    const node = nodes[i];
    const defaultDomain = !node.domain || node.domain === 'ai.onnx';
    const opType = defaultDomain ? (node.opType ?? '') : `${node.domain}.${node.opType}`;
    const name = node.name || `${opType}_${i}`;
    const inputNames = node.input ?? [];
    const outputNames = node.output ?? [];
    const spec = defaultDomain ? OPS[opType] : undefined;

    // Each weight counts once, at the first node that reads it through a weight slot.
    let params = 0;
    inputNames.forEach((input, slot) => {
      const c = constants.get(input);
      if (!c || counted.has(input) || spec?.settings?.includes(slot) || !isWeightType(c.dtype)) return;
      counted.add(input);
      params += c.elements;
    });

    let blockedBy: string | undefined;
    const infos = inputNames.map((input) => {
      if (!input) return undefined; // omitted optional input
      const t = tensors.get(input);
      if (t) return t;
      const cause = unknown.get(input);
      if (cause === undefined) invalid(file, `node "${name}" (${opType}) reads "${input}", which no node, input or initializer provides`);
      blockedBy ??= cause;
      return undefined;
    });

    let outputs: TensorInfo[] | undefined;
    let macs: number | null = null;
    let note: string | undefined;
    let cause: string | undefined;
    if (!spec) {
      unsupported.set(opType, [...(unsupported.get(opType) ?? []), name]);
      note = `unsupported op ${opType}`;
      cause = `unsupported ${opType} node "${name}"`;
    } else if (blockedBy) {
      note = `depends on ${blockedBy}`;
      cause = blockedBy;
    } else {
      try {
        const ctx = new OpContext(node, opset, infos);
        outputs = spec.infer(ctx);
        macs = spec.macs ? spec.macs(ctx, outputs) : 0;
      } catch (e) {
        if (e instanceof ShapeError) invalid(file, `node "${name}" (${opType}): ${e.message}`);
        if (!(e instanceof NotConstant)) throw e;
        note = e.message;
        cause = `node "${name}" (${opType}), whose ${e.message}`;
      }
    }
    if (note && spec) unresolved.push({ node: name, reason: note });

    outputNames.forEach((output, k) => {
      if (!output) return;
      const t = outputs?.[k];
      if (t) tensors.set(output, t);
      else unknown.set(output, cause ?? `node "${name}" (${opType}), which gives no output ${k}`);
    });
    if (opType === 'Constant' && outputs?.[0]) constants.set(outputNames[0], { elements: volume(outputs[0].shape), dtype: outputs[0].dtype });

    results[i] = {
      name, opType, inputs: [...inputNames], outputs: [...outputNames],
      outputShapes: outputNames.map((o) => tensors.get(o)?.shape ?? null),
      params, macs, ...(note ? { note } : {}),
    };
  }

  const outputs = (graph.output ?? []).map((vi) => {
    const t = tensors.get(vi.name ?? '');
    return { name: vi.name ?? '', dtype: dtypeName(t?.dtype ?? vi.type?.tensorType?.elemType ?? 0), shape: t?.shape ?? null };
  });
  const unknownNodes = unknownOpNodes(file, unsupported, results.map((n) => n.name), options);
  const params = results.reduce((s, n) => s + n.params, 0);
  return {
    file, format: 'onnx', opset, producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs, outputs, params,
    macs: results.reduce((s, n) => s + (n.macs ?? 0), 0),
    sizeBytes: bytes.length + externalData.reduce((s, f) => s + f.bytes, 0),
    ...(externalData.length ? { externalData: externalData.map(({ location, bytes }) => ({ location, bytes })) } : {}),
    fp32Bytes: params * 4,
    nodes: results,
    unsupported: [...unsupported].map(([opType, names]) => ({ opType, nodes: names })),
    unresolved,
    partial: results.some((n) => n.macs === null),
    unknownNodes,
  };
}

export function analyzeOnnxFile(file: string, options: Omit<AnalysisOptions, 'file' | 'path'> = {}): ModelAnalysis {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    invalid(file, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message);
  }
  return analyzeOnnx(bytes, { ...options, file, path: file });
}

/** Parses `name:1x3x224x224` (repeatable); the name may itself contain ':' (e.g. TF's "input:0"). */
export function parseInputShapes(specs: string[]): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const spec of specs) {
    const at = spec.lastIndexOf(':');
    const reason = (r: string): never => {
      throw new TailorError('INVALID_INPUT_SHAPE', { value: spec, reason: r });
    };
    if (at <= 0) reason('expected name:dims, e.g. input:1x3x224x224');
    const name = spec.slice(0, at);
    const parts = spec.slice(at + 1).split('x');
    if (!parts.every((p) => /^\d+$/.test(p) && Number(p) >= 1)) reason('dims must be positive integers separated by "x", e.g. input:1x3x224x224');
    if (name in shapes) reason(`input "${name}" is given twice`);
    shapes[name] = parts.map(Number);
  }
  return shapes;
}
