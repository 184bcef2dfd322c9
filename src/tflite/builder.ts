import { Rng, deriveSeed } from '../core/rng';
import { TailorError } from '../core/errors';
import { TfliteModel, TfliteOperator, TfliteOptions, TfliteTensor } from './model';
import { SCHEMA_VERSION } from './schema';
import { writeTflite } from './writer';

/** An activation tensor of the graph being built: its index and NHWC (or [1, N]) shape. */
export interface TfliteRef {
  index: number;
  shape: number[];
}

/** Activations TFLite fuses into the op before (its fused_activation_function). */
export type FusedActivation = 'NONE' | 'RELU' | 'RELU6';
export type Padding = 'SAME' | 'VALID';
/** Builtin ops of one input and one output of the same shape. */
export type UnaryOp = 'HARD_SWISH' | 'LOGISTIC' | 'RELU' | 'RELU6' | 'TANH';

const volume = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function fail(what: string, reason: string): never {
  throw new TailorError('TFLITE_EXPORT', { what, reason });
}

/** TF's SAME / VALID output size of one spatial dim. */
export function windowOut(size: number, kernel: number, stride: number, padding: Padding): number {
  return padding === 'SAME' ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1;
}

/**
 * A float32 TFLite graph built op by op, with seeded random weights (He-scaled, so activations
 * stay in a normal range): the kernel-profiling graphs and the validation models of the TFLite
 * op predictor. Tensors are named `<op>_<n>` after the op that writes them, so profiles name
 * kernels after their ops. Written with Tailor's own writer (src/tflite/writer.ts).
 */
export class TfliteNetBuilder {
  private readonly tensors: TfliteTensor[] = [];
  private readonly buffers: Uint8Array[] = [new Uint8Array(0)];
  private readonly operators: TfliteOperator[] = [];
  private readonly inputs: number[] = [];
  private readonly outputs: number[] = [];
  private readonly counts = new Map<string, number>();

  constructor(
    readonly seed = 0,
    readonly name = 'net',
  ) {}

  private uniqueName(prefix: string): string {
    const n = this.counts.get(prefix) ?? 0;
    this.counts.set(prefix, n + 1);
    return `${prefix}_${n}`;
  }

  private activation(prefix: string, shape: number[]): TfliteRef {
    if (shape.some((d) => !Number.isInteger(d) || d < 1)) fail(`tensor "${prefix}"`, `shape [${shape}] has a dimension below 1`);
    this.tensors.push({ name: this.uniqueName(prefix), shape, type: 'float32', buffer: 0 });
    return { index: this.tensors.length - 1, shape };
  }

  private constant(name: string, shape: number[], data: Float32Array | Int32Array): number {
    this.buffers.push(bytesOf(data));
    this.tensors.push({ name, shape, type: data instanceof Float32Array ? 'float32' : 'int32', buffer: this.buffers.length - 1 });
    return this.tensors.length - 1;
  }

  private weights(name: string, count: number, fanIn: number): Float32Array {
    const rng = new Rng(deriveSeed(this.seed, name));
    const std = Math.sqrt(2 / Math.max(fanIn, 1));
    return Float32Array.from({ length: count }, () => rng.normal() * std);
  }

  private op(opcode: string, inputs: number[], output: TfliteRef, options: TfliteOptions | null): TfliteRef {
    this.operators.push({ opcode, version: 1, inputs, outputs: [output.index], options });
    return output;
  }

  input(shape: number[]): TfliteRef {
    const t = this.activation('input', shape);
    this.inputs.push(t.index);
    return t;
  }

  conv2d(x: TfliteRef, cout: number, k: number, stride = 1, act: FusedActivation = 'NONE', padding: Padding = 'SAME'): TfliteRef {
    const [, h, w, cin] = x.shape;
    const out = this.activation('conv', [1, windowOut(h, k, stride, padding), windowOut(w, k, stride, padding), cout]);
    const name = this.tensors[out.index].name;
    const filter = this.constant(`${name}.weight`, [cout, k, k, cin], this.weights(`${name}.weight`, cout * k * k * cin, k * k * cin));
    const bias = this.constant(`${name}.bias`, [cout], new Float32Array(cout).fill(0.01));
    return this.op('CONV_2D', [x.index, filter, bias], out, { padding, strideW: stride, strideH: stride, fusedActivationFunction: act });
  }

  depthwiseConv2d(x: TfliteRef, k: number, stride = 1, act: FusedActivation = 'NONE', padding: Padding = 'SAME'): TfliteRef {
    const [, h, w, c] = x.shape;
    const out = this.activation('dwconv', [1, windowOut(h, k, stride, padding), windowOut(w, k, stride, padding), c]);
    const name = this.tensors[out.index].name;
    const filter = this.constant(`${name}.weight`, [1, k, k, c], this.weights(`${name}.weight`, k * k * c, k * k));
    const bias = this.constant(`${name}.bias`, [c], new Float32Array(c).fill(0.01));
    return this.op('DEPTHWISE_CONV_2D', [x.index, filter, bias], out, { padding, strideW: stride, strideH: stride, depthMultiplier: 1, fusedActivationFunction: act });
  }

  /** x: [1, K] (flatten first with reshape). */
  fullyConnected(x: TfliteRef, units: number, act: FusedActivation = 'NONE'): TfliteRef {
    const inFeatures = x.shape[x.shape.length - 1];
    const out = this.activation('fc', [...x.shape.slice(0, -1), units]);
    const name = this.tensors[out.index].name;
    const weight = this.constant(`${name}.weight`, [units, inFeatures], this.weights(`${name}.weight`, units * inFeatures, inFeatures));
    const bias = this.constant(`${name}.bias`, [units], new Float32Array(units).fill(0.01));
    return this.op('FULLY_CONNECTED', [x.index, weight, bias], out, { fusedActivationFunction: act, keepNumDims: x.shape.length > 2 });
  }

  /** Element-wise, b may broadcast ([1, 1, 1, C] over [1, H, W, C]: an SE gate). */
  binary(opcode: 'ADD' | 'MUL', a: TfliteRef, b: TfliteRef, act: FusedActivation = 'NONE'): TfliteRef {
    if (a.shape.length !== b.shape.length || b.shape.some((d, i) => d !== 1 && d !== a.shape[i])) fail(opcode, `shapes [${a.shape}] and [${b.shape}] do not broadcast to the first`);
    return this.op(opcode, [a.index, b.index], this.activation(opcode.toLowerCase(), [...a.shape]), { fusedActivationFunction: act });
  }

  /** Multiplies by a constant scalar (e.g. the 1/6 of an h-sigmoid). */
  scale(x: TfliteRef, factor: number): TfliteRef {
    const out = this.activation('mul', [...x.shape]);
    const c = this.constant(`${this.tensors[out.index].name}.scale`, [], Float32Array.of(factor));
    return this.op('MUL', [x.index, c], out, { fusedActivationFunction: 'NONE' });
  }

  unary(opcode: UnaryOp, x: TfliteRef): TfliteRef {
    return this.op(opcode, [x.index], this.activation(opcode.toLowerCase(), [...x.shape]), opcode === 'HARD_SWISH' ? {} : null);
  }

  /** Mean over H and W. */
  mean(x: TfliteRef, keepDims = true): TfliteRef {
    const out = this.activation('mean', keepDims ? [1, 1, 1, x.shape[3]] : [1, x.shape[3]]);
    const axes = this.constant(`${this.tensors[out.index].name}.axes`, [2], Int32Array.of(1, 2));
    return this.op('MEAN', [x.index, axes], out, { keepDims });
  }

  pool(opcode: 'AVERAGE_POOL_2D' | 'MAX_POOL_2D', x: TfliteRef, k: number, stride: number, padding: Padding = 'VALID'): TfliteRef {
    const [, h, w, c] = x.shape;
    const out = this.activation(opcode === 'MAX_POOL_2D' ? 'maxpool' : 'avgpool', [1, windowOut(h, k, stride, padding), windowOut(w, k, stride, padding), c]);
    return this.op(opcode, [x.index], out, { padding, strideW: stride, strideH: stride, filterWidth: k, filterHeight: k, fusedActivationFunction: 'NONE' });
  }

  reshape(x: TfliteRef, shape: number[]): TfliteRef {
    if (volume(shape) !== volume(x.shape)) fail('RESHAPE', `[${x.shape}] cannot become [${shape}]`);
    const out = this.activation('reshape', shape);
    const s = this.constant(`${this.tensors[out.index].name}.shape`, [shape.length], Int32Array.from(shape));
    return this.op('RESHAPE', [x.index, s], out, { newShape: shape });
  }

  /** Zero padding of H and W: [top, bottom, left, right]. */
  pad(x: TfliteRef, [top, bottom, left, right]: number[]): TfliteRef {
    const [n, h, w, c] = x.shape;
    const out = this.activation('pad', [n, h + top + bottom, w + left + right, c]);
    const p = this.constant(`${this.tensors[out.index].name}.paddings`, [4, 2], Int32Array.from([0, 0, top, bottom, left, right, 0, 0]));
    return this.op('PAD', [x.index, p], out, {});
  }

  concat(xs: TfliteRef[], axis = 3): TfliteRef {
    const shape = [...xs[0].shape];
    const a = axis < 0 ? axis + shape.length : axis;
    for (const x of xs.slice(1)) if (x.shape.some((d, i) => i !== a && d !== shape[i])) fail('CONCATENATION', `[${x.shape}] does not fit [${shape}] along axis ${axis}`);
    shape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
    return this.op('CONCATENATION', xs.map((x) => x.index), this.activation('concat', shape), { axis, fusedActivationFunction: 'NONE' });
  }

  softmax(x: TfliteRef): TfliteRef {
    return this.op('SOFTMAX', [x.index], this.activation('softmax', [...x.shape]), { beta: 1 });
  }

  output(...xs: TfliteRef[]): void {
    this.outputs.push(...xs.map((x) => x.index));
  }

  model(metadata: Record<string, string> = {}): TfliteModel {
    if (!this.inputs.length || !this.outputs.length) fail(`graph "${this.name}"`, 'it needs an input and an output');
    return {
      version: SCHEMA_VERSION, description: `tailor ${this.name}`,
      subgraphs: [{ name: this.name, tensors: this.tensors, inputs: this.inputs, outputs: this.outputs, operators: this.operators }],
      buffers: this.buffers,
      metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, new TextEncoder().encode(v)])),
    };
  }

  bytes(metadata: Record<string, string> = {}): Uint8Array {
    return writeTflite(this.model(metadata));
  }
}
