import type * as TF from '@tensorflow/tfjs';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { Rng } from '../core/rng';
import { Dataset, ImageSet } from './datasets';

export interface Batch {
  x: Tensor4D;
  labels: Tensor1D;
  size: number;
}

/** uint8 images -> float NHWC in about [-1, 1], resized to the batch's resolution. */
export function toTensor(tf: typeof TF, d: Dataset, set: ImageSet, indices: number[], resolution: number): Batch {
  return tf.tidy(() => {
    const pixels = d.height * d.width * d.channels;
    const data = new Float32Array(indices.length * pixels);
    const labels = new Int32Array(indices.length);
    indices.forEach((src, i) => {
      const img = set.images.subarray(src * pixels, (src + 1) * pixels);
      for (let p = 0; p < pixels; p++) data[i * pixels + p] = img[p] / 127.5 - 1;
      labels[i] = set.labels[src];
    });
    let x = tf.tensor4d(data, [indices.length, d.height, d.width, d.channels]);
    if (resolution !== d.height || resolution !== d.width) x = tf.image.resizeBilinear(x, [resolution, resolution], true);
    return { x, labels: tf.tensor1d(labels, 'int32'), size: indices.length };
  });
}

/**
 * Training augmentation where the dataset allows it: a random crop (pad 1/8 of the size, crop
 * back; one offset per batch) and a horizontal flip of a random half of the batch.
 */
export function augment(tf: typeof TF, d: Dataset, batch: Batch, rng: Rng): Batch {
  if (!d.augment.crop && !d.augment.flip) return batch;
  const x = tf.tidy(() => {
    let x = batch.x;
    const [n, h, w] = x.shape;
    if (d.augment.crop) {
      const pad = Math.max(1, Math.floor(h / 8));
      const padded = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], -1); // -1 = black after normalisation
      x = tf.slice(padded, [0, rng.int(0, 2 * pad), rng.int(0, 2 * pad), 0], [n, h, w, x.shape[3]]);
    }
    if (d.augment.flip) {
      const mask = tf.tensor1d(Array.from({ length: n }, () => (rng.float() < 0.5 ? 1 : 0)), 'bool').reshape([n, 1, 1, 1]);
      x = tf.where(tf.broadcastTo(mask, x.shape), tf.reverse(x, 2), x);
    }
    return x as Tensor4D;
  });
  batch.x.dispose();
  return { ...batch, x };
}

/** Seeded order of an epoch, cut into batches (the last partial batch is dropped in training). */
export function epochBatches(count: number, batchSize: number, rng: Rng, dropLast: boolean): number[][] {
  const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  const out: number[][] = [];
  for (let i = 0; i + (dropLast ? batchSize : 1) <= count; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}
