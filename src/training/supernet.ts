import type * as TF from '@tensorflow/tfjs';
import type { Tensor, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs';
import { ArchConfig, isBlockActive, maxArch, sampleArch, validateArch } from '../core/arch';
import { ConvNode, LinearNode, ModelIR, buildIR, hasBias } from '../core/ir';
import { NetIO, NetSpec, midChannels, netFromArch } from '../core/net';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, blockCount } from '../core/space';
import { InferenceWeights, WeightProvider } from '../export/weights';
import { BN_EPS, BN_MOMENTUM, BnTensors, LayerTensors, RunOptions, WeightSource, runIR } from './executor';

interface BnVariables {
  gamma: Variable;
  beta: Variable;
  mean: Variable;
  variance: Variable;
}

/** Full-size weights of one layer of the supernet; active subnets use slices of them. */
interface ElasticLayer {
  weight: Variable;
  bias?: Variable;
  bn?: BnVariables;
  /** Depthwise layers: kernel transformation matrices, e.g. "5" (25x25, 7->5) and "3" (9x9, 5->3). */
  transforms?: Map<number, Variable>;
  maxKernel?: number;
}

/** Supernet layer of an IR node: the first block is "first", elastic blocks are named by position. */
function layerName(positions: number[], nodeName: string): string {
  const m = /^blocks\.(\d+)\.(.*)$/.exec(nodeName);
  if (!m) return nodeName;
  const index = Number(m[1]);
  return index === 0 ? `first.${m[2]}` : `b${positions[index - 1]}.${m[2]}`;
}

/**
 * OFA's elastic supernet: dynamic layers hold full-size weights and slice them for the active
 * subnet (elastic kernel through learned transform matrices, elastic expand through channel
 * slices, elastic depth by skipping blocks). Every forward runs the IR of the active subnet
 * with weights taken from these layers; getActiveSubnet copies them out into a static net.
 */
export class ElasticSupernet {
  readonly layers = new Map<string, ElasticLayer>();
  private active: ArchConfig;
  private irCache = new Map<string, { ir: ModelIR; positions: number[] }>();

  constructor(
    readonly tf: typeof TF,
    readonly space: SearchSpace,
    readonly io: Required<NetIO>,
    readonly seed: number,
  ) {
    this.active = maxArch(space);
    const full = maxArch(space);
    const ir = buildIR(netFromArch(space, full, io));
    const positions = this.positionsOf(full);
    for (const piece of ir.pieces) {
      for (const node of piece.nodes) if (node.op === 'conv' || node.op === 'linear') this.layers.set(layerName(positions, node.name), this.createLayer(node));
    }
  }

  // ---- active subnet ----

  setActiveSubnet(arch: ArchConfig): void {
    this.active = validateArch(arch, this.space);
  }

  /** Uniform sample, optionally restricted to a phase's elastic choices (OFA's sample_active_subnet). */
  sampleActiveSubnet(rng: Rng, choices?: Partial<Pick<SearchSpace, 'kernelSizes' | 'expandRatios' | 'depths' | 'resolutions'>>): ArchConfig {
    this.active = sampleArch({ ...this.space, ...choices }, rng);
    return this.active;
  }

  getActiveArch(): ArchConfig {
    return { ...this.active, ks: [...this.active.ks], e: [...this.active.e], d: [...this.active.d] };
  }

  activeNet(resolution = this.active.r): NetSpec {
    return this.activeNetFor({ ...this.active, r: resolution });
  }

  /** The static net of any arch of the space, with this supernet's inputs and classes. */
  activeNetFor(arch: ArchConfig): NetSpec {
    return netFromArch(this.space, arch, this.io);
  }

  private activeIR(resolution: number): { ir: ModelIR; positions: number[] } {
    const key = JSON.stringify([this.active.ks, this.active.e, this.active.d, resolution]);
    let entry = this.irCache.get(key);
    if (!entry) {
      if (this.irCache.size > 256) this.irCache.clear();
      entry = { ir: buildIR(this.activeNet(resolution)), positions: this.positionsOf(this.active) };
      this.irCache.set(key, entry);
    }
    return entry;
  }

  /** Elastic positions (0..19) of the active blocks, in order: IR block i (i >= 1) is position positions[i - 1]. */
  private positionsOf(arch: ArchConfig): number[] {
    const positions: number[] = [];
    for (let i = 0; i < blockCount(this.space); i++) if (isBlockActive(this.space, arch, i)) positions.push(i);
    return positions;
  }

  // ---- parameters ----

  private init(name: string, shape: number[], std: number): Variable {
    const rng = new Rng(deriveSeed(this.seed, name));
    const size = shape.reduce((a, b) => a * b, 1);
    return this.tf.variable(this.tf.tensor(Float32Array.from({ length: size }, () => rng.normal() * std), shape), true);
  }

  private createLayer(node: ConvNode | LinearNode): ElasticLayer {
    const tf = this.tf;
    if (node.op === 'linear') {
      return {
        weight: this.init(`${node.name}.weight`, [node.inFeatures, node.outFeatures], 1 / Math.sqrt(node.inFeatures)),
        bias: tf.variable(tf.zeros([node.outFeatures]), true),
      };
    }
    const depthwise = node.groups > 1;
    const k = node.kernelSize;
    // He init on fan-out, as OFA ("he_fout").
    const fanOut = (depthwise ? 1 : node.outChannels) * k * k;
    const layer: ElasticLayer = {
      weight: this.init(`${node.name}.weight`, depthwise ? [k, k, node.outChannels, 1] : [k, k, node.inChannels, node.outChannels], Math.sqrt(2 / fanOut)),
    };
    if (node.bias) layer.bias = tf.variable(tf.zeros([node.outChannels]), true);
    if (node.bn) {
      const c = node.outChannels;
      layer.bn = {
        gamma: tf.variable(tf.ones([c]), true),
        beta: tf.variable(tf.zeros([c]), true),
        mean: tf.variable(tf.zeros([c]), false),
        variance: tf.variable(tf.ones([c]), false),
      };
    }
    if (depthwise && node.name.includes('depthwise') && !node.name.startsWith('blocks.0.')) {
      layer.maxKernel = k;
      layer.transforms = new Map();
      for (const small of this.space.kernelSizes.filter((s) => s < k)) {
        layer.transforms.set(small, tf.variable(tf.eye(small * small), true));
      }
    }
    return layer;
  }

  /** Every tensor of the supernet by a stable name (checkpoints): weights, biases, BN, transforms. */
  state(): Map<string, Variable> {
    const out = new Map<string, Variable>();
    for (const [name, l] of this.layers) {
      out.set(`${name}.weight`, l.weight);
      if (l.bias) out.set(`${name}.bias`, l.bias);
      if (l.bn) for (const [k, v] of Object.entries(l.bn)) out.set(`${name}.bn.${k}`, v);
      for (const [k, v] of l.transforms ?? []) out.set(`${name}.transform${k}`, v);
    }
    return out;
  }

  /** Variables that weight decay applies to (OFA: not BN, not biases). */
  decayedVariables(): Set<Variable> {
    const out = new Set<Variable>();
    for (const l of this.layers.values()) {
      out.add(l.weight);
      for (const t of l.transforms?.values() ?? []) out.add(t);
    }
    return out;
  }

  /**
   * OFA's re_organize_middle_weights: in every elastic block, sort the middle channels by the L1
   * norm of the projection weights that read them and permute every tensor that depends on
   * them, so that narrower subnets keep the most important channels; then the same for the SE
   * hidden channels (by the L1 norm of the SE expand weights). At `stage` s > 0 (OFA: before the
   * s-th later expand phase) the channels a narrower width already trained keep their place in
   * front: each of the s largest widths' extra channels only sorts among themselves.
   */
  sortChannels(stage = 0): void {
    const tf = this.tf;
    const ratios = [...this.space.expandRatios].sort((a, b) => b - a);
    const sortedBy = (importance: Float32Array, group: (i: number) => number) =>
      Int32Array.from(importance.keys()).sort((a, b) => group(a) - group(b) || importance[b] - importance[a] || a - b);
    const permute = (v: Variable | undefined, order: Int32Array, axis: number) => v && tf.tidy(() => v.assign(tf.gather(v, tf.tensor1d(order, 'int32'), axis)));
    for (let pos = 0; pos < blockCount(this.space); pos++) {
      const project = this.layers.get(`b${pos}.project`)!;
      const expand = this.layers.get(`b${pos}.expand`)!;
      const inChannels = expand.weight.shape[2]!;
      const bounds = ratios.slice(1, stage + 1).map((e) => midChannels(inChannels, e));
      const importance = tf.tidy(() => tf.sum(tf.abs(project.weight), [0, 1, 3]).dataSync() as Float32Array);
      const order = sortedBy(importance, (i) => bounds.filter((w) => i >= w).length);
      permute(expand.weight, order, 3);
      for (const t of Object.values(expand.bn ?? {})) permute(t, order, 0);
      const dw = this.layers.get(`b${pos}.depthwise`)!;
      permute(dw.weight, order, 2);
      for (const t of Object.values(dw.bn ?? {})) permute(t, order, 0);
      permute(project.weight, order, 2);
      const seReduce = this.layers.get(`b${pos}.se.reduce`);
      const seExpand = this.layers.get(`b${pos}.se.expand`);
      if (seReduce && seExpand) {
        permute(seReduce.weight, order, 2);
        permute(seExpand.weight, order, 3);
        permute(seExpand.bias, order, 0);
        const hidden = sortedBy(tf.tidy(() => tf.sum(tf.abs(seExpand.weight), [0, 1, 3]).dataSync() as Float32Array), () => 0);
        permute(seReduce.weight, hidden, 3);
        permute(seReduce.bias, hidden, 0);
        permute(seExpand.weight, hidden, 2);
      }
    }
  }

  trainableVariables(): Variable[] {
    const out: Variable[] = [];
    for (const l of this.layers.values()) {
      out.push(l.weight);
      if (l.bias) out.push(l.bias);
      if (l.bn) out.push(l.bn.gamma, l.bn.beta);
      for (const t of l.transforms?.values() ?? []) out.push(t);
    }
    return out;
  }

  // ---- slicing ----

  /** OFA's elastic kernel: the centre of the larger kernel through a per-layer matrix, 7 -> 5 -> 3. */
  private depthwiseKernel(layer: ElasticLayer, k: number, channels: number): Tensor4D {
    const tf = this.tf;
    let w = layer.weight.slice([0, 0, 0, 0], [layer.maxKernel ?? k, layer.maxKernel ?? k, channels, 1]) as Tensor4D;
    let size = layer.maxKernel ?? k;
    const steps = [...(layer.transforms?.keys() ?? [])].filter((s) => s >= k).sort((a, b) => b - a);
    for (const small of steps) {
      const start = (size - small) / 2;
      const centre = w.slice([start, start, 0, 0], [small, small, channels, 1]);
      // [k, k, C, 1] -> [C, k*k] x M^T -> back
      const flat = centre.reshape([small * small, channels]).transpose();
      const mixed = tf.matMul(flat, layer.transforms!.get(small)!, false, true);
      w = mixed.transpose().reshape([small, small, channels, 1]) as Tensor4D;
      size = small;
    }
    return w;
  }

  private bnSlice(bn: BnVariables, c: number, track: boolean): BnTensors {
    const full = bn.gamma.shape[0]!;
    const s = (v: Variable) => (c === full ? v : v.slice([0], [c]));
    const tensors: BnTensors = { gamma: s(bn.gamma), beta: s(bn.beta), mean: s(bn.mean), variance: s(bn.variance) };
    const acc = this.recalibration;
    if (track && acc) {
      // BN recalibration: average the batch statistics of every layer over the batches.
      tensors.update = (batchMean, batchVariance, count) => {
        // Weighted by the batch's share of the images: a short last batch counts less.
        const entry = acc.get(bn) ?? { c, mean: this.tf.zeros([c]), variance: this.tf.zeros([c]), n: 0 };
        const mean = this.tf.keep(this.tf.add(entry.mean, this.tf.mul(batchMean, count)));
        const variance = this.tf.keep(this.tf.add(entry.variance, this.tf.mul(batchVariance, count)));
        entry.mean.dispose();
        entry.variance.dispose();
        acc.set(bn, { c, mean, variance, n: entry.n + count });
      };
    } else if (track) {
      tensors.update = (batchMean, batchVariance, count) => {
        const tf = this.tf;
        tf.tidy(() => {
          const unbiased = tf.mul(batchVariance, count / Math.max(1, count - 1));
          const blend = (running: Variable, batch: Tensor) => {
            const part = tf.add(tf.mul(s(running), 1 - BN_MOMENTUM), tf.mul(batch, BN_MOMENTUM));
            running.assign(c === full ? part : tf.concat([part, running.slice([c], [full - c])]));
          };
          blend(bn.mean, batchMean);
          blend(bn.variance, unbiased);
        });
      };
    }
    return tensors;
  }

  private weightsFor(positions: number[], trackBn: boolean): WeightSource {
    return (node) => {
      const layer = this.layers.get(layerName(positions, node.name));
      if (!layer) throw new Error(`no supernet layer for ${node.name}`);
      if (node.op === 'linear') {
        return { weight: layer.weight.slice([0, 0], [node.inFeatures, node.outFeatures]), bias: layer.bias };
      }
      const out = node.outChannels;
      const weight =
        node.groups > 1
          ? layer.maxKernel
            ? this.depthwiseKernel(layer, node.kernelSize, out)
            : layer.weight.slice([0, 0, 0, 0], [node.kernelSize, node.kernelSize, out, 1])
          : layer.weight.slice([0, 0, 0, 0], [node.kernelSize, node.kernelSize, node.inChannels, out]);
      const result: LayerTensors = { weight };
      if (layer.bias) result.bias = layer.bias.slice([0], [out]);
      if (layer.bn) result.bn = this.bnSlice(layer.bn, out, trackBn);
      return result;
    };
  }

  private recalibration: Map<BnVariables, { c: number; mean: Tensor; variance: Tensor; n: number }> | null = null;

  /**
   * OFA's BN recalibration for the active subnet: running statistics of the active channels
   * become the average batch statistics over the given images (NHWC, any resolution).
   */
  recalibrateBN(batches: Tensor4D[]): void {
    const tf = this.tf;
    this.recalibration = new Map();
    try {
      for (const x of batches) tf.tidy(() => void this.forward(x, { training: false, batchStats: true }));
      for (const [bn, e] of this.recalibration) {
        const full = bn.mean.shape[0]!;
        tf.tidy(() => {
          const put = (v: Variable, part: Tensor) => v.assign(e.c === full ? part : tf.concat([part, v.slice([e.c], [full - e.c])]));
          put(bn.mean, tf.div(e.mean, e.n));
          put(bn.variance, tf.div(e.variance, e.n));
        });
        e.mean.dispose();
        e.variance.dispose();
      }
    } finally {
      this.recalibration = null;
    }
  }

  /** Logits of the active subnet for NHWC images (the resolution is the input's). */
  forward(x: Tensor4D, options: RunOptions): Tensor2D {
    const { ir, positions } = this.activeIR(x.shape[1]);
    return runIR(this.tf, ir, x, this.weightsFor(positions, options.training || Boolean(options.batchStats)), options);
  }

  /** The active subnet as a static network with its own copies of the weights (BN kept). */
  /** Frees every variable (the supernet is unusable afterwards). */
  dispose(): void {
    for (const v of this.state().values()) v.dispose();
  }

  getActiveSubnet(resolution = this.active.r): StaticNet {
    const { ir, positions } = this.activeIR(resolution);
    const source = this.weightsFor(positions, false);
    const weights = new Map<string, LayerTensors>();
    this.tf.tidy(() => {
      for (const piece of ir.pieces) {
        for (const node of piece.nodes) {
          if (node.op !== 'conv' && node.op !== 'linear') continue;
          const t = source(node);
          weights.set(node.name, {
            weight: this.tf.keep(t.weight.clone()),
            bias: t.bias && this.tf.keep(t.bias.clone()),
            bn: t.bn && {
              gamma: this.tf.keep(t.bn.gamma.clone()), beta: this.tf.keep(t.bn.beta.clone()),
              mean: this.tf.keep(t.bn.mean.clone()), variance: this.tf.keep(t.bn.variance.clone()),
            },
          });
        }
      }
    });
    return new StaticNet(this.tf, this.getActiveArch(), ir, weights);
  }
}

/** A plain network: an IR plus its own weights. Runs in tfjs and provides BN-folded weights for export. */
export class StaticNet {
  constructor(
    readonly tf: typeof TF,
    readonly arch: ArchConfig,
    readonly ir: ModelIR,
    readonly weights: Map<string, LayerTensors>,
  ) {}

  /** Logits for NHWC images at any resolution (the weights do not depend on it). */
  /** Logits; `batchStats` normalizes with the batch's own statistics (as a teacher in train mode does). */
  forward(x: Tensor4D, options: { batchStats?: boolean } = {}): Tensor2D {
    const r = x.shape[1];
    if (!this.irs.has(r)) this.irs.set(r, buildIR({ ...this.ir.net, resolution: r }));
    return runIR(this.tf, this.irs.get(r)!, x, (node) => this.weights.get(node.name)!, { training: false, batchStats: options.batchStats });
  }

  private readonly irs = new Map<number, ModelIR>();

  /** Inference weights in ONNX layout with BN folded into the conv (for the exporters). */
  weightProvider(description: string): WeightProvider {
    return {
      description,
      weights: (node: ConvNode | LinearNode): InferenceWeights => {
        const t = this.weights.get(node.name);
        if (!t) throw new Error(`no weights for ${node.name}`);
        const w = t.weight.dataSync() as Float32Array;
        if (node.op === 'linear') {
          // tfjs [in, out] -> ONNX Gemm (transB) [out, in]
          const out = new Float32Array(w.length);
          for (let i = 0; i < node.inFeatures; i++) for (let o = 0; o < node.outFeatures; o++) out[o * node.inFeatures + i] = w[i * node.outFeatures + o];
          return { weight: out, bias: Float32Array.from(t.bias!.dataSync()) };
        }
        const k = node.kernelSize;
        const cout = node.outChannels;
        const cinPerGroup = node.inChannels / node.groups;
        const depthwise = node.groups > 1;
        let scale = new Float32Array(cout).fill(1);
        let bias: Float32Array | null = t.bias ? Float32Array.from(t.bias.dataSync()) : null;
        if (t.bn) {
          const gamma = t.bn.gamma.dataSync();
          const beta = t.bn.beta.dataSync();
          const mean = t.bn.mean.dataSync();
          const variance = t.bn.variance.dataSync();
          scale = Float32Array.from(gamma, (g, o) => g / Math.sqrt(variance[o] + BN_EPS));
          bias = Float32Array.from(beta, (b, o) => b - mean[o] * scale[o] + (bias ? bias[o] * scale[o] : 0));
        }
        // tfjs [k, k, in, out] (depthwise [k, k, C, 1]) -> ONNX [out, in / groups, k, k]
        const out = new Float32Array(cout * cinPerGroup * k * k);
        for (let o = 0; o < cout; o++)
          for (let i = 0; i < cinPerGroup; i++)
            for (let y = 0; y < k; y++)
              for (let x = 0; x < k; x++) {
                const src = depthwise ? (y * k + x) * cout + o : ((y * k + x) * node.inChannels + i) * cout + o;
                out[((o * cinPerGroup + i) * k + y) * k + x] = w[src] * scale[o];
              }
        return { weight: out, bias: bias ?? (hasBias(node) ? new Float32Array(cout) : null) };
      },
    };
  }

  dispose(): void {
    for (const t of this.weights.values()) {
      t.weight.dispose();
      t.bias?.dispose();
      if (t.bn) for (const v of [t.bn.gamma, t.bn.beta, t.bn.mean, t.bn.variance]) v.dispose();
    }
  }
}
