import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { Tensor, Tensor2D, Variable } from '@tensorflow/tfjs';
import { ArchConfig } from '../core/arch';
import { TailorError } from '../core/errors';
import { writeJsonAtomic } from '../core/fs-atomic';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, getSpace } from '../core/space';
import { encodeArchs, featureCount } from '../search/encoding';
import { MeasureProtocol } from './measurements';
import { kendallTau, rmse } from './metrics';

export const PREDICTOR_FILE = 'acc-predictor.json';
export const PREDICTOR_FORMAT = 'tailor.acc-predictor/v1';

/** OFA's accuracy predictor: an MLP with three hidden layers of 400 ReLU units. */
export const DEFAULT_HIDDEN = [400, 400, 400];
export const DEFAULT_WEIGHT_DECAY = 1e-2;

interface DenseLayer {
  inputs: number;
  outputs: number;
  /** Row-major [inputs, outputs]. */
  weight: number[];
  bias: number[];
}

/** The stored predictor: weights, how it was trained, and how good it is on held-out subnets. */
export interface PredictorFile {
  format: typeof PREDICTOR_FORMAT;
  space: string;
  features: number;
  hidden: number[];
  layers: DenseLayer[];
  /** The MLP predicts (top-1 - targetMean) / targetScale: standardized, so training is well conditioned. */
  targetMean: number;
  targetScale: number;
  seed: number;
  epochs: number;
  protocol: MeasureProtocol;
  samples: { train: number; heldOut: number };
  /** On the held-out subnets: errors in points of top-1 (percentage points), rank correlation. */
  heldOut: { rmsePoints: number; maxErrorPoints: number; kendallTau: number };
  created: string;
}

export interface TrainPredictorOptions {
  seed: number;
  protocol: MeasureProtocol;
  hidden?: number[];
  epochs?: number;
  learningRate?: number;
  /** L2 penalty on the weight matrices: measured subnets are few (hundreds, not OFA's 16k), so keep the MLP smooth. */
  weightDecay?: number;
  batchSize?: number;
  /** Share of the measured subnets held out to report RMSE and Kendall's tau. */
  heldOutFraction?: number;
  onEpoch?: (epoch: number, epochs: number, loss: number) => void;
}

function forward(tf: typeof TF, x: Tensor2D, layers: { weight: Tensor; bias: Tensor }[]): Tensor2D {
  let h: Tensor2D = x;
  layers.forEach((l, i) => {
    h = tf.add(tf.matMul(h, l.weight as Tensor2D), l.bias) as Tensor2D;
    if (i < layers.length - 1) h = tf.relu(h);
  });
  return h;
}

/**
 * Trains the MLP on measured subnets (MSE on top-1, Adam), seeded: He-normal weights and batch
 * order come from the seed. The held-out subnets are never trained on, so the reported RMSE and
 * Kendall's tau are what a search can expect from the stored predictor.
 */
export function trainAccuracyPredictor(tf: typeof TF, space: SearchSpace, measured: { arch: ArchConfig; top1: number }[], options: TrainPredictorOptions): PredictorFile {
  const hidden = options.hidden ?? DEFAULT_HIDDEN;
  const epochs = options.epochs ?? 150;
  const batchSize = options.batchSize ?? 64;
  const weightDecay = options.weightDecay ?? DEFAULT_WEIGHT_DECAY;
  const heldOutCount = Math.max(1, Math.round(measured.length * (options.heldOutFraction ?? 0.2)));
  if (measured.length - heldOutCount < 4) {
    throw new TailorError('INVALID_OPTION', { option: '--samples', reason: `${measured.length} measured subnets are too few to train and check a predictor (need at least ${heldOutCount + 4})` });
  }
  const rng = new Rng(deriveSeed(options.seed, 'acc-predictor'));
  const order = rng.shuffle(measured.map((_, i) => i));
  const heldOut = order.slice(0, heldOutCount).map((i) => measured[i]);
  const train = order.slice(heldOutCount).map((i) => measured[i]);
  const features = featureCount(space);
  const targetMean = train.reduce((s, m) => s + m.top1, 0) / train.length;
  const targetScale = Math.sqrt(train.reduce((s, m) => s + (m.top1 - targetMean) ** 2, 0) / train.length) || 1;
  const sizes = [features, ...hidden, 1];
  const variables = sizes.slice(1).map((outputs, i) => {
    const inputs = sizes[i];
    const scale = Math.sqrt(2 / inputs);
    return {
      weight: tf.variable(tf.tensor2d(Float32Array.from({ length: inputs * outputs }, () => rng.normal() * scale), [inputs, outputs])),
      bias: tf.variable(tf.zeros([outputs])),
    };
  });
  const x = tf.tensor2d(encodeArchs(space, train.map((m) => m.arch)), [train.length, features]);
  const y = tf.tensor2d(train.map((m) => (m.top1 - targetMean) / targetScale), [train.length, 1]);
  const optimizer = tf.train.adam(options.learningRate ?? 1e-3);
  const trainable = variables.flatMap((v) => [v.weight, v.bias]) as Variable[];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const batchOrder = rng.shuffle(train.map((_, i) => i));
      let lossSum = 0;
      for (let b = 0; b < batchOrder.length; b += batchSize) {
        const idx = tf.tensor1d(batchOrder.slice(b, b + batchSize), 'int32');
        const loss = optimizer.minimize(() => {
          const mse = tf.losses.meanSquaredError(tf.gather(y, idx), forward(tf, tf.gather(x, idx) as Tensor2D, variables));
          return weightDecay ? (tf.add(mse, tf.mul(weightDecay, tf.addN(variables.map((v) => tf.sum(tf.square(v.weight)))))) as TF.Scalar) : (mse as TF.Scalar);
        }, true, trainable);
        lossSum += loss!.dataSync()[0] * Math.min(batchSize, batchOrder.length - b);
        loss!.dispose();
        idx.dispose();
      }
      options.onEpoch?.(epoch, epochs, lossSum / train.length);
    }
    const layers: DenseLayer[] = variables.map((v) => ({
      inputs: v.weight.shape[0]!, outputs: v.weight.shape[1]!, weight: Array.from(v.weight.dataSync()), bias: Array.from(v.bias.dataSync()),
    }));
    const file: PredictorFile = {
      format: PREDICTOR_FORMAT, space: space.id, features, hidden, layers, targetMean, targetScale, seed: options.seed, epochs, protocol: options.protocol,
      samples: { train: train.length, heldOut: heldOut.length },
      heldOut: { rmsePoints: NaN, maxErrorPoints: NaN, kendallTau: NaN },
      created: new Date().toISOString(),
    };
    const predicted = new AccuracyPredictor(tf, file).predict(heldOut.map((m) => m.arch));
    const actual = heldOut.map((m) => m.top1);
    file.heldOut = {
      rmsePoints: 100 * rmse(predicted, actual),
      maxErrorPoints: 100 * Math.max(...predicted.map((p, i) => Math.abs(p - actual[i]))),
      kendallTau: kendallTau(predicted, actual),
    };
    return file;
  } finally {
    optimizer.dispose();
    tf.dispose([x, y, ...trainable]);
  }
}

/** A trained predictor: top-1 (a fraction in [0, 1]) for any subnets of its space, in batches. */
export class AccuracyPredictor {
  private readonly layers: { weight: Tensor; bias: Tensor }[];

  constructor(
    private readonly tf: typeof TF,
    readonly file: PredictorFile,
  ) {
    this.layers = file.layers.map((l) => ({ weight: tf.tensor2d(l.weight, [l.inputs, l.outputs]), bias: tf.tensor1d(l.bias) }));
  }

  predict(archs: ArchConfig[], space?: SearchSpace): number[] {
    if (!archs.length) return [];
    const s = space ?? getSpace(this.file.space);
    const tf = this.tf;
    return tf.tidy(() => {
      const x = tf.tensor2d(encodeArchs(s, archs), [archs.length, this.file.features]);
      return Array.from(forward(tf, x, this.layers).dataSync(), (v) => v * this.file.targetScale + this.file.targetMean);
    });
  }

  dispose(): void {
    for (const l of this.layers) this.tf.dispose([l.weight, l.bias]);
  }
}

export function savePredictor(runDir: string, file: PredictorFile): string {
  const target = path.join(runDir, PREDICTOR_FILE);
  writeJsonAtomic(target, file);
  return target;
}

/** The run's stored predictor; a clear error when there is none or it is damaged. */
export function loadPredictorFile(runDir: string, space: SearchSpace): PredictorFile {
  const file = path.join(runDir, PREDICTOR_FILE);
  if (!fs.existsSync(file)) {
    throw new TailorError('INVALID_OPTION', { option: '--supernet', reason: `${runDir} has no accuracy predictor yet; run: tailor acc-predictor --supernet ${runDir}` });
  }
  let parsed: PredictorFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TailorError('INVALID_CHECKPOINT', { file, reason: `unreadable (${(e as Error).message})` });
  }
  const ok =
    parsed?.format === PREDICTOR_FORMAT && parsed.space === space.id && parsed.features === featureCount(space) && Array.isArray(parsed.layers) &&
    parsed.layers.every((l) => l.weight?.length === l.inputs * l.outputs && l.bias?.length === l.outputs);
  if (!ok) throw new TailorError('INVALID_CHECKPOINT', { file, reason: `not a ${PREDICTOR_FORMAT} predictor for space ${space.id}` });
  return parsed;
}
