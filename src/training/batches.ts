import type * as TF from '@tensorflow/tfjs';
import type { Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { TailorError } from '../core/errors';
import { Rng } from '../core/rng';
import { Dataset, ImageSet } from './datasets';

export interface Batch {
  x: Tensor4D;
  labels: Tensor1D;
  size: number;
}

/** Pixel value -> input value: about [-1, 1] (what exported models are documented to take). */
const normalize = (v: number) => v / 127.5 - 1;

interface ResizedImages {
  /** Normalized images at the resolution, in the dataset's order; only those marked done are filled. */
  pixels: Float32Array;
  done: Uint8Array;
}

/**
 * The built-ins' images resized by tfjs to resolutions other than their own: each image once per
 * resolution, kept as long as the dataset is. Past this many bytes a resolution is resized per
 * batch instead (a large space's resolutions on 70k images would not fit in memory).
 */
const RESIZED_BYTES = 2 ** 30;
const resizedByDataset = new WeakMap<Dataset, Map<number, ResizedImages | null>>();

function resizedStore(d: Dataset, resolution: number): ResizedImages | null {
  let stores = resizedByDataset.get(d);
  if (!stores) resizedByDataset.set(d, (stores = new Map()));
  if (!stores.has(resolution)) {
    const used = [...stores.values()].reduce((sum, s) => sum + (s ? s.pixels.byteLength : 0), 0);
    const floats = d.count * resolution * resolution * d.channels;
    stores.set(resolution, used + floats * 4 <= RESIZED_BYTES ? { pixels: new Float32Array(floats), done: new Uint8Array(d.count) } : null);
  }
  return stores.get(resolution)!;
}

/** Bilinear resize (corners aligned) of the built-ins' images at `positions` to `resolution`, normalized. */
function resizeInTfjs(tf: typeof TF, d: Dataset, positions: number[], resolution: number): Float32Array {
  const from = d.sizes[0];
  const inPixels = from * from * d.channels;
  const src = d.imagesAt(from);
  const input = new Float32Array(positions.length * inPixels);
  positions.forEach((s, i) => {
    for (let p = 0; p < inPixels; p++) input[i * inPixels + p] = normalize(src[s * inPixels + p]);
  });
  const x = tf.tensor4d(input, [positions.length, from, from, d.channels]);
  const y = tf.image.resizeBilinear(x, [resolution, resolution], true);
  const out = Float32Array.from(y.dataSync());
  tf.dispose([x, y]);
  return out;
}

/** Normalized NHWC pixels of the dataset's images at `positions`, at `resolution`. */
function pixelsAt(tf: typeof TF, d: Dataset, positions: number[], resolution: number): Float32Array {
  const pixels = resolution * resolution * d.channels;
  const out = new Float32Array(positions.length * pixels);
  if (d.sizes.includes(resolution)) {
    const images = d.imagesOf(resolution, positions);
    for (let p = 0; p < out.length; p++) out[p] = normalize(images[p]);
    return out;
  }
  if (!d.resizable) {
    throw new TailorError('INVALID_DATASET', { reason: `${d.name} was decoded at ${d.sizes.join(', ')} px, not at ${resolution} (pass every resolution a run uses when loading it)` });
  }
  const store = resizedStore(d, resolution);
  if (!store) return resizeInTfjs(tf, d, positions, resolution);
  const todo = [...new Set(positions.filter((s) => !store.done[s]))];
  if (todo.length) {
    const fresh = resizeInTfjs(tf, d, todo, resolution);
    todo.forEach((s, k) => {
      store.pixels.set(fresh.subarray(k * pixels, (k + 1) * pixels), s * pixels);
      store.done[s] = 1;
    });
  }
  positions.forEach((s, i) => out.set(store.pixels.subarray(s * pixels, (s + 1) * pixels), i * pixels));
  return out;
}

/**
 * Images `indices` of a set (positions in the set) as float NHWC at `resolution`: an image folder's
 * as sharp decoded them at that resolution, the built-ins' resized by tfjs (once per image).
 */
export function toTensor(tf: typeof TF, d: Dataset, set: ImageSet, indices: number[], resolution: number): Batch {
  const data = pixelsAt(tf, d, indices.map((i) => set.index[i]), resolution);
  const labels = Int32Array.from(indices, (i) => set.labels[i]);
  return {
    x: tf.tensor4d(data, [indices.length, resolution, resolution, d.channels]),
    labels: tf.tensor1d(labels, 'int32'),
    size: indices.length,
  };
}

/**
 * Training augmentation of a batch of normalized NHWC images, each image on its own (draws from
 * `rng` in image order, so seeded): a random crop (pad 1/8 of the size with black, crop back at a
 * random offset) and a horizontal flip of about half the images. Returns new pixels.
 */
export function augmentImages(images: Float32Array, shape: readonly [number, number, number, number], options: Dataset['augment'], rng: Rng): Float32Array {
  const [n, h, w, c] = shape;
  const pad = Math.max(1, Math.floor(h / 8));
  const out = new Float32Array(images.length).fill(-1); // -1 = black after normalisation
  for (let i = 0; i < n; i++) {
    // The crop window's top-left corner in the padded image; `pad` is the image itself.
    const dy = options.crop ? rng.int(0, 2 * pad) - pad : 0;
    const dx = options.crop ? rng.int(0, 2 * pad) - pad : 0;
    const flip = options.flip && rng.float() < 0.5;
    const base = i * h * w * c;
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      if (sy < 0 || sy >= h) continue;
      for (let x = 0; x < w; x++) {
        const sx = (flip ? w - 1 - x : x) + dx;
        if (sx < 0 || sx >= w) continue;
        const to = base + (y * w + x) * c;
        const from = base + (sy * w + sx) * c;
        for (let k = 0; k < c; k++) out[to + k] = images[from + k];
      }
    }
  }
  return out;
}

/** `augmentImages` on a batch, as the dataset allows (see Dataset.augment); disposes the batch's input tensor. */
export function augment(tf: typeof TF, d: Dataset, batch: Batch, rng: Rng): Batch {
  if (!d.augment.crop && !d.augment.flip) return batch;
  const [n, h, w, c] = batch.x.shape;
  const pixels = augmentImages(batch.x.dataSync() as Float32Array, [n, h, w, c], d.augment, rng);
  batch.x.dispose();
  return { ...batch, x: tf.tensor4d(pixels, [n, h, w, c]) };
}

/** Seeded order of an epoch, cut into batches (the last partial batch is dropped in training). */
export function epochBatches(count: number, batchSize: number, rng: Rng, dropLast: boolean): number[][] {
  const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  const out: number[][] = [];
  for (let i = 0; i + (dropLast ? batchSize : 1) <= count; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}
