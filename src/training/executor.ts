import type * as TF from '@tensorflow/tfjs';
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { ConvNode, IrNode, LinearNode, ModelIR } from '../core/ir';
import { Activation } from '../core/space';
import { batchNormGrad, columnMeans } from './gradients';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** Batch norm of one conv: running statistics are updated in training mode through `update`. */
export interface BnTensors {
  gamma: Tensor;
  beta: Tensor;
  mean: Tensor;
  variance: Tensor;
  /** Receives the batch statistics (training mode) so the owner can update its running ones. */
  update?: (batchMean: Tensor, batchVariance: Tensor, count: number) => void;
}

/** A node's weights in tfjs layout: conv [k, k, in, out], depthwise [k, k, C, 1], linear [in, out]. */
export interface LayerTensors {
  weight: Tensor;
  bias?: Tensor;
  bn?: BnTensors;
}

export type WeightSource = (node: ConvNode | LinearNode) => LayerTensors;

export interface RunOptions {
  training: boolean;
  /** BN recalibration: normalize with batch statistics and report them, but train nothing. */
  batchStats?: boolean;
}

function activation(tf: typeof TF, x: Tensor, act: Activation | null): Tensor {
  switch (act) {
    case null:
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'h_swish':
      return tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6));
    case 'h_sigmoid':
      return tf.div(tf.relu6(tf.add(x, 3)), 6);
  }
}

/**
 * Batch norm with batch statistics, as one op whose gradient is the closed form in
 * gradients.ts (batchNormGrad): autodiff through the statistics is the slowest path on wasm.
 */
export function batchNormTraining(tf: typeof TF, x: Tensor, bn: BnTensors): Tensor {
  const c = x.shape[x.rank - 1]!;
  const n = x.size / c;
  const op = tf.customGrad((...args: (Tensor | TF.GradSaveFunc)[]) => {
    const [input, gamma, beta, save] = args as [Tensor, Tensor, Tensor, TF.GradSaveFunc];
    // Shifted by the batch's first row so E[x^2] - E[x]^2 does not cancel catastrophically in
    // float32; a shift taken from the batch itself (not the running mean) keeps the statistics a
    // function of the batch alone, so BN recalibration gives the same result whatever ran before.
    const flat = tf.reshape(input, [n, c]) as Tensor2D;
    const shift = tf.slice(flat, [0, 0], [1, c]);
    const rows = tf.sub(flat, shift) as Tensor2D;
    const shiftedMean = columnMeans(tf, rows);
    const variance = tf.relu(tf.sub(columnMeans(tf, tf.square(rows) as Tensor2D), tf.square(shiftedMean))); // clamp rounding below zero
    const invStd = tf.rsqrt(tf.add(variance, BN_EPS));
    const normalized = tf.mul(tf.sub(rows, shiftedMean), invStd);
    bn.update?.(tf.reshape(tf.add(shiftedMean, shift), [c]), tf.reshape(variance, [c]), n);
    save([normalized, tf.mul(invStd, gamma)]);
    return {
      value: tf.reshape(tf.add(tf.mul(normalized, gamma), beta), input.shape),
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => batchNormGrad(tf, dy as Tensor, saved, input.shape),
    };
  });
  return op(x, bn.gamma, bn.beta);
}

/** Batch norm: batch statistics when training or recalibrating, running ones otherwise. */
function batchNorm(tf: typeof TF, x: Tensor, bn: BnTensors, useBatchStats: boolean): Tensor {
  if (useBatchStats) return batchNormTraining(tf, x, bn);
  const scale = tf.mul(bn.gamma, tf.rsqrt(tf.add(bn.variance, BN_EPS)));
  return tf.add(tf.mul(x, scale), tf.sub(bn.beta, tf.mul(bn.mean, scale)));
}

function runNode(tf: typeof TF, node: IrNode, inputs: Tensor[], weights: WeightSource, options: RunOptions): Tensor {
  switch (node.op) {
    case 'conv': {
      const w = weights(node);
      const pad = Math.floor(node.kernelSize / 2); // symmetric, like the ONNX export and PyTorch
      const x = inputs[0] as Tensor4D;
      let y: Tensor =
        node.groups === 1
          ? tf.conv2d(x, w.weight as Tensor4D, node.stride, pad)
          : tf.depthwiseConv2d(x, w.weight as Tensor4D, node.stride, pad);
      if (w.bias) y = tf.add(y, w.bias);
      if (w.bn) y = batchNorm(tf, y, w.bn, options.training || Boolean(options.batchStats));
      return activation(tf, y, node.act);
    }
    case 'global_avg_pool':
      return tf.mean(inputs[0], [1, 2], true);
    case 'max_pool':
      // padding k // 2 on every side, like the ONNX export (padded cells never win)
      return tf.maxPool(inputs[0] as Tensor4D, node.kernelSize, node.stride, Math.floor(node.kernelSize / 2));
    case 'add':
      return activation(tf, tf.add(inputs[0], inputs[1]), node.act ?? null);
    case 'mul':
      return tf.mul(inputs[0], inputs[1]);
    case 'linear': {
      const w = weights(node);
      const flat = tf.reshape(inputs[0], [inputs[0].shape[0]!, node.inFeatures]) as Tensor2D;
      const y = tf.matMul(flat, w.weight as Tensor2D);
      return w.bias ? tf.add(y, w.bias) : y;
    }
  }
}

/** Runs an IR on NHWC input: the one network description drives tfjs as it drives the exporters and counters. */
export function runIR(tf: typeof TF, ir: ModelIR, x: Tensor4D, weights: WeightSource, options: RunOptions): Tensor2D {
  const values = new Map<string, Tensor>([[ir.input, x]]);
  for (const piece of ir.pieces) {
    for (const node of piece.nodes) values.set(node.output, runNode(tf, node, node.inputs.map((n) => values.get(n)!), weights, options));
  }
  return values.get(ir.output) as Tensor2D;
}
