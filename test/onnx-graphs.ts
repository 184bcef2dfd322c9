import { onnx } from 'onnx-proto';

/** Small ONNX graphs for the analysis tests, built with onnx-proto like src/export/onnx.ts. */

export const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

export type Dim = number | string | null;
/** Attribute values: integers and integer lists as INT(S), strings as STRING; floats and tensors via the helpers. */
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: onnx.ITensorProto };

export const float = (f: number) => ({ float: f });
export const floats = (fs: number[]) => ({ floats: fs });
export const tensorAttr = (t: onnx.ITensorProto) => ({ tensor: t });

function attribute(name: string, v: AttrValue): onnx.IAttributeProto {
  if (typeof v === 'number') return { name, type: AT.INT, i: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  if ('float' in v) return { name, type: AT.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AT.FLOATS, floats: v.floats };
  return { name, type: AT.TENSOR, t: v.tensor };
}

/** Deterministic small values, so onnxruntime computes finite outputs. */
function pseudoRandom(n: number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s / 2 ** 31) * 0.2 - 0.1;
  });
}

export function floatTensor(name: string, dims: number[], values?: number[], encoding: 'raw' | 'typed' = 'raw'): onnx.ITensorProto {
  const data = Float32Array.from(values ?? pseudoRandom(dims.reduce((a, b) => a * b, 1), name.length));
  return encoding === 'raw'
    ? { name, dims, dataType: DT.FLOAT, rawData: new Uint8Array(data.buffer) }
    : { name, dims, dataType: DT.FLOAT, floatData: [...data] };
}

export function int64Tensor(name: string, values: number[], dims: number[] = [values.length], encoding: 'raw' | 'typed' = 'typed'): onnx.ITensorProto {
  return encoding === 'raw'
    ? { name, dims, dataType: DT.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) }
    : { name, dims, dataType: DT.INT64, int64Data: values };
}

function valueInfo(name: string, elemType: number, dims?: Dim[]): onnx.IValueInfoProto {
  const shape = dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) };
  return { name, type: { tensorType: { elemType, ...(shape ? { shape } : {}) } } };
}

/** The IR version that goes with an opset, so onnxruntime loads old opsets as their exporters wrote them. */
export function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 12) return opset - 5;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export class Graph {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  readonly inputs: onnx.IValueInfoProto[] = [];
  readonly outputs: onnx.IValueInfoProto[] = [];
  /** Element type of every node output, for exposing it as a graph output. */
  private readonly outputTypes = new Map<string, number>();
  private count = 0;

  constructor(readonly opset: number) {}

  input(name: string, dims: Dim[] | undefined, elemType: number = DT.FLOAT): this {
    this.inputs.push(valueInfo(name, elemType, dims));
    return this;
  }
  init(...tensors: onnx.ITensorProto[]): this {
    this.initializers.push(...tensors);
    return this;
  }
  /** Adds a node; returns its first output name. Outputs default to "<name>:<i>". */
  op(
    opType: string, inputs: string[], attrs: Record<string, AttrValue> = {},
    opts: { outputs?: string[] | number; name?: string; domain?: string; type?: number; types?: number[] } = {},
  ): string {
    const name = opts.name ?? `${opType.toLowerCase()}${this.count++}`;
    const outputs = Array.isArray(opts.outputs) ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, i) => (i ? `${name}:${i}` : name));
    outputs.forEach((o, i) => this.outputTypes.set(o, opts.types?.[i] ?? opts.type ?? DT.FLOAT));
    this.nodes.push({
      name, opType, input: inputs, output: outputs, ...(opts.domain ? { domain: opts.domain } : {}),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs[0];
  }
  output(name: string, elemType: number = DT.FLOAT, dims?: Dim[]): this {
    this.outputs.push(valueInfo(name, elemType, dims));
    return this;
  }
  /** Every node output becomes a graph output (so onnxruntime reports its shape). */
  exposeAll(): this {
    const declared = new Set(this.outputs.map((o) => o.name));
    for (const [name, type] of this.outputTypes) if (name && !declared.has(name)) this.output(name, type);
    return this;
  }
  /** Node outputs, each with the element type given when the node was added. */
  nodeOutputs(): string[] {
    return [...this.outputTypes.keys()].filter(Boolean);
  }
  model(opts: { extraOpsets?: { domain: string; version: number }[] } = {}): onnx.IModelProto {
    const irVersion = irVersionFor(this.opset);
    // IR < 4 requires every initializer to be a graph input as well.
    const initInputs = irVersion < 4 ? this.initializers.map((t) => valueInfo(t.name!, t.dataType!, (t.dims as number[]) ?? [])) : [];
    return {
      irVersion, producerName: 'tailor-test',
      opsetImport: [{ domain: '', version: this.opset }, ...(opts.extraOpsets ?? [])],
      graph: { name: 'g', node: this.nodes, initializer: this.initializers, input: [...this.inputs, ...initInputs], output: this.outputs },
    };
  }
  bytes(opts: { extraOpsets?: { domain: string; version: number }[] } = {}): Uint8Array {
    return onnx.ModelProto.encode(onnx.ModelProto.create(this.model(opts))).finish();
  }
}
