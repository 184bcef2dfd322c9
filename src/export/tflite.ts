import { TailorError } from '../core/errors';
import { ConvNode, IrNode, LinearNode, MaxPoolNode, ModelIR, Piece, PoolNode, Shape } from '../core/ir';
import { Activation } from '../core/space';
import { TfliteModel, TfliteOperator, TfliteOptions, TfliteTensor, TfliteTensorType } from '../tflite/model';
import { SCHEMA_VERSION } from '../tflite/schema';
import { writeTflite } from '../tflite/writer';
import { WeightProvider } from './weights';

export interface TfliteExportOptions {
  weights: WeightProvider;
  /** Stored as model metadata (name -> UTF-8 bytes), beside `weights` = the provider's description. */
  metadata?: Record<string, string>;
  /** The model's description; 'tailor' by default. */
  description?: string;
}

function fail(what: string, reason: string): never {
  throw new TailorError('TFLITE_EXPORT', { what, reason });
}

const nhwc = ([c, h, w]: Shape): number[] => [1, h, w, c];
const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** OIHW [out, in, kh, kw] -> OHWI [out, kh, kw, in] (CONV_2D's filter layout). */
function toOhwi(w: Float32Array, out: number, inC: number, k: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++)
    for (let i = 0; i < inC; i++)
      for (let y = 0; y < k; y++)
        for (let x = 0; x < k; x++) t[((o * k + y) * k + x) * inC + i] = w[((o * inC + i) * k + y) * k + x];
  return t;
}

/** [C, 1, kh, kw] -> [1, kh, kw, C] (DEPTHWISE_CONV_2D's filter layout, depth multiplier 1). */
function toDepthwise(w: Float32Array, channels: number, k: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < k; y++)
      for (let x = 0; x < k; x++) t[(y * k + x) * channels + c] = w[(c * k + y) * k + x];
  return t;
}

/** TF's SAME padding of one dimension: output size and the pads before/after it. */
function samePadding(size: number, kernelSize: number, stride: number): { out: number; before: number; after: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernelSize - size, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/** Activations a conv can fuse (h_sigmoid fuses its relu6 part; h_swish needs an op of its own). */
const FUSED: Partial<Record<Activation, string>> = { relu: 'RELU', relu6: 'RELU6', h_sigmoid: 'RELU6' };

class GraphBuilder {
  readonly tensors: TfliteTensor[] = [];
  readonly buffers: Uint8Array[] = [new Uint8Array(0)];
  readonly operators: TfliteOperator[] = [];
  private readonly byName = new Map<string, number>();

  private add(tensor: TfliteTensor): number {
    if (this.byName.has(tensor.name)) fail(`tensor "${tensor.name}"`, 'two tensors would have this name');
    this.byName.set(tensor.name, this.tensors.length);
    this.tensors.push(tensor);
    return this.tensors.length - 1;
  }
  activation(name: string, shape: number[]): number {
    return this.add({ name, shape, type: 'float32', buffer: 0 });
  }
  constant(name: string, shape: number[], data: Float32Array | Int32Array): number {
    const type: TfliteTensorType = data instanceof Float32Array ? 'float32' : 'int32';
    if (shape.reduce((a, b) => a * b, 1) !== data.length) fail(`tensor "${name}"`, `${data.length} values do not fill shape [${shape}]`);
    this.buffers.push(bytesOf(data));
    return this.add({ name, shape, type, buffer: this.buffers.length - 1 });
  }
  index(name: string, user: string): number {
    const i = this.byName.get(name);
    if (i === undefined) fail(`node "${user}"`, `its input "${name}" is neither the model input nor the output of an earlier node`);
    return i;
  }
  shape(i: number): number[] {
    return this.tensors[i].shape;
  }
  op(opcode: string, inputs: number[], outputs: number[], options: TfliteOptions | null): void {
    this.operators.push({ opcode, version: 1, inputs, outputs, options });
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function emitConv(g: GraphBuilder, node: ConvNode, weights: WeightProvider): void {
  const what = `node "${node.name}"`;
  const { kernelSize: k, stride, inChannels, outChannels, groups } = node;
  const depthwise = groups !== 1;
  if (depthwise && !(groups === inChannels && groups === outChannels)) fail(what, `grouped convolution (${groups} groups of ${inChannels} -> ${outChannels} channels) is neither dense nor depthwise`);
  let input = g.index(node.inputs[0], node.name);
  if (!sameShape(g.shape(input), nhwc(node.inShape))) fail(what, `input shape [${g.shape(input)}] is not the IR's ${JSON.stringify(nhwc(node.inShape))}`);

  // Our IR pads k//2 on every side (PyTorch); TF's SAME equals that unless it would pad asymmetrically
  // (stride 2 on an even size), where an explicit PAD and a VALID conv reproduce it exactly.
  const pad = Math.floor(k / 2);
  const [, h, w] = node.inShape;
  const same = [h, w].map((size) => samePadding(size, k, stride)).every((p) => p.before === pad && p.after === pad);
  if (!same) {
    const padded = g.activation(`${node.name}.pad`, [1, h + 2 * pad, w + 2 * pad, inChannels]);
    const paddings = g.constant(`${node.name}.paddings`, [4, 2], Int32Array.from([0, 0, pad, pad, pad, pad, 0, 0]));
    g.op('PAD', [input, paddings], [padded], {});
    input = padded;
  }
  const outSize = (size: number) => Math.floor((size + 2 * pad - k) / stride) + 1;
  if (outSize(h) !== node.outShape[1] || outSize(w) !== node.outShape[2]) {
    fail(what, `the convolution gives ${outSize(h)}x${outSize(w)}, the IR says ${node.outShape[1]}x${node.outShape[2]}`);
  }

  const provided = weights.weights(node);
  const filter = depthwise ? toDepthwise(provided.weight, outChannels, k) : toOhwi(provided.weight, outChannels, inChannels, k);
  const filterShape = depthwise ? [1, k, k, outChannels] : [outChannels, k, k, inChannels];
  const bias = provided.bias ? Float32Array.from(provided.bias) : new Float32Array(outChannels);
  // h_sigmoid = relu6(x + 3) / 6: the +3 goes into the bias, relu6 is fused, the /6 is a MUL below.
  if (node.act === 'h_sigmoid') for (let i = 0; i < bias.length; i++) bias[i] += 3;
  const filterIndex = g.constant(`${node.name}.weight`, filterShape, filter);
  const biasIndex = g.constant(`${node.name}.bias`, [outChannels], bias);

  const outShape = nhwc(node.outShape);
  const convOutName = node.act === 'h_swish' ? `${node.name}.pre_act` : node.act === 'h_sigmoid' ? `${node.name}.relu6` : node.output;
  const convOut = g.activation(convOutName, outShape);
  const common = { padding: same ? 'SAME' : 'VALID', strideW: stride, strideH: stride, fusedActivationFunction: (node.act && FUSED[node.act]) ?? 'NONE' };
  g.op(depthwise ? 'DEPTHWISE_CONV_2D' : 'CONV_2D', [input, filterIndex, biasIndex], [convOut], depthwise ? { ...common, depthMultiplier: 1 } : common);

  if (node.act === 'h_swish') g.op('HARD_SWISH', [convOut], [g.activation(node.output, outShape)], null);
  if (node.act === 'h_sigmoid') {
    const sixth = g.constant(`${node.name}.sixth`, [], Float32Array.of(1 / 6));
    g.op('MUL', [convOut, sixth], [g.activation(node.output, outShape)], { fusedActivationFunction: 'NONE' });
  }
}

function emitPool(g: GraphBuilder, node: PoolNode): void {
  const input = g.index(node.inputs[0], node.name);
  const axes = g.constant(`${node.name}.axes`, [2], Int32Array.of(1, 2));
  g.op('MEAN', [input, axes], [g.activation(node.output, nhwc(node.outShape))], { keepDims: true });
}

function emitMaxPool(g: GraphBuilder, node: MaxPoolNode): void {
  const what = `node "${node.name}"`;
  const { kernelSize: k, stride } = node;
  const pad = Math.floor(k / 2);
  // TF's SAME pads like our IR (k // 2 on every side) unless that would be asymmetric (an even size at stride 2)
  const same = [node.inShape[1], node.inShape[2]].every((size) => {
    const p = samePadding(size, k, stride);
    return p.before === pad && p.after === pad;
  });
  if (!same) fail(what, `a ${k}x${k}/${stride} max pool of ${node.inShape[1]}x${node.inShape[2]} pads unevenly in TFLite's SAME mode (an odd input size has an exact form)`);
  const input = g.index(node.inputs[0], node.name);
  g.op('MAX_POOL_2D', [input], [g.activation(node.output, nhwc(node.outShape))], { padding: 'SAME', strideW: stride, strideH: stride, filterWidth: k, filterHeight: k, fusedActivationFunction: 'NONE' });
}

function emitLinear(g: GraphBuilder, node: LinearNode, weights: WeightProvider): void {
  const input = g.index(node.inputs[0], node.name);
  const elements = g.shape(input).reduce((a, b) => a * b, 1);
  if (elements !== node.inFeatures) fail(`node "${node.name}"`, `its input has ${elements} values, the layer takes ${node.inFeatures}`);
  const newShape = [1, node.inFeatures];
  const flat = g.activation(`${node.name}.flat`, newShape);
  g.op('RESHAPE', [input, g.constant(`${node.name}.shape`, [2], Int32Array.from(newShape))], [flat], { newShape });
  const provided = weights.weights(node);
  const weight = g.constant(`${node.name}.weight`, [node.outFeatures, node.inFeatures], provided.weight);
  const bias = g.constant(`${node.name}.bias`, [node.outFeatures], provided.bias ?? new Float32Array(node.outFeatures));
  g.op('FULLY_CONNECTED', [flat, weight, bias], [g.activation(node.output, [1, node.outFeatures])], { fusedActivationFunction: 'NONE', keepNumDims: false });
}

function emitNode(g: GraphBuilder, node: IrNode, weights: WeightProvider): void {
  switch (node.op) {
    case 'conv':
      return emitConv(g, node, weights);
    case 'global_avg_pool':
      return emitPool(g, node);
    case 'max_pool':
      return emitMaxPool(g, node);
    case 'add':
    case 'mul': {
      const inputs = node.inputs.map((name) => g.index(name, node.name));
      const outShape = nhwc(node.outShape);
      // add: residual of equal shapes; mul: the SE gate [1, 1, 1, C] broadcast over [1, H, W, C]
      const gate = [1, 1, 1, outShape[3]];
      const fits = inputs.length === 2 && sameShape(g.shape(inputs[0]), outShape) && sameShape(g.shape(inputs[1]), node.op === 'add' ? outShape : gate);
      if (!fits) fail(`node "${node.name}"`, `${node.op} of shapes ${inputs.map((i) => `[${g.shape(i)}]`).join(', ')} into [${outShape}]`);
      // a ResNet's ReLU after the residual add is fused into ADD
      const act = node.op === 'add' && node.act ? (node.act === 'relu' ? 'RELU' : node.act === 'relu6' ? 'RELU6' : null) : 'NONE';
      if (!act) fail(`node "${node.name}"`, `an add followed by ${node.act} has no fused TFLite form`);
      g.op(node.op === 'add' ? 'ADD' : 'MUL', inputs, [g.activation(node.output, outShape)], { fusedActivationFunction: act });
      return;
    }
    case 'linear':
      return emitLinear(g, node, weights);
    default:
      return fail(`node "${(node as IrNode).name}"`, `Tailor has no TFLite form for IR op "${(node as { op: string }).op}"`);
  }
}

/**
 * Consecutive pieces as a TFLite model (float32, batch 1, NHWC). Every activation tensor is named
 * after the IR node output it holds, helper tensors `<node>.<role>`, so per-op profiles can be
 * attributed to pieces by name.
 */
export function tfliteModelOf(pieces: Piece[], options: TfliteExportOptions, subgraphName: string): TfliteModel {
  if (pieces.length === 0) fail('an empty list of pieces', 'there is nothing to export');
  const g = new GraphBuilder();
  const input = g.activation(pieces[0].input, nhwc(pieces[0].inShape));
  for (const piece of pieces) for (const node of piece.nodes) emitNode(g, node, options.weights);
  const last = pieces[pieces.length - 1];
  const output = g.index(last.output, last.id);
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries({ weights: options.weights.description, ...options.metadata })) metadata[key] = new TextEncoder().encode(value);
  return {
    version: SCHEMA_VERSION,
    description: options.description ?? 'tailor',
    subgraphs: [{ name: subgraphName, tensors: g.tensors, inputs: [input], outputs: [output], operators: g.operators }],
    buffers: g.buffers,
    metadata,
  };
}

/** Whole network as TFLite (NHWC [1, H, W, C] in, [1, classes] out, BN folded). */
export function exportTflite(ir: ModelIR, options: TfliteExportOptions): Uint8Array {
  return writeTflite(tfliteModelOf(ir.pieces, options, 'main'));
}

/** Several consecutive pieces (or one) as a standalone TFLite model. */
export function exportPiecesTflite(pieces: Piece[], options: TfliteExportOptions): Uint8Array {
  return writeTflite(tfliteModelOf(pieces, options, pieces[0]?.id ?? 'main'));
}
