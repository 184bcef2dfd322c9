import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type * as Ort from 'onnxruntime-node';
import sharp from 'sharp';
import { NET_30MS, NOTE10_YAMLS, cli, tempDir } from '../helpers';

const ort = require('onnxruntime-node') as typeof Ort;

describe('tailor CLI', () => {
  it('prints help fast and exits 0', () => {
    const started = Date.now();
    const r = cli(['--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /profile/);
    assert.ok(Date.now() - started < 5000);
  });

  it('exits 2 with a specific message on bad input', () => {
    const home = tempDir();
    const cases: [string[], RegExp][] = [
      [['predict', '--device', 'nope', '--arch', 'max', '--space', 'ofa-mbv3-w1.0'], /Unknown device "nope"/],
      [['predict', '--device', 'local-cpu', '--arch', 'max', '--space', 'ofa-mbv9'], /Unknown search space "ofa-mbv9"/],
      [['inspect', '--arch', '{"ks":[4]}', '--space', 'ofa-mbv3-w1.0'], /Invalid architecture.*"ks" has 1 entries/],
      [['inspect', '--arch', 'max'], /needs --space/],
      [['profile', '--device', 'local-cpu', '--space', 'ofa-mbv3-w1.0', '--resolutions', '225'], /225 not in ofa-mbv3-w1.0/],
      [['profile', '--device', 'local-cpu'], /needs --space <id> \(a lookup table\) or --kernels/],
      [['validate', '--device', 'local-cpu', '--space', 'ofa-mbv3-w1.0', '--samples', 'x'], /argument 'x' is invalid/],
      [['predict', '--device', 'local-cpu', '--arch', 'max', '--space', 'ofa-mbv3-w1.0'], /No latency table for device "local-cpu"/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, home);
      assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('imports OFA tables, predicts the 30 ms net and exports back', () => {
    const home = tempDir();
    const imported = cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', ...NOTE10_YAMLS], home);
    assert.equal(imported.status, 0, imported.stderr);
    assert.match(imported.stdout, /created table-only device/);
    const p = cli(['predict', '--device', 'note10', '--arch', NET_30MS, '--json'], home);
    assert.equal(p.status, 0, p.stderr);
    const json = JSON.parse(p.stdout);
    assert.ok(Math.abs(json.latencyMs - 29.965) <= 0.01);
    assert.equal(json.device, 'note10');
    assert.equal(json.space, 'ofa-mbv3-w1.2');
    assert.ok(json.breakdown.every((b: { key: string; ms: number }) => typeof b.key === 'string' && b.ms > 0));
    // A table-only device refuses to measure.
    const prof = cli(['profile', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', '--resolutions', '224'], home);
    assert.equal(prof.status, 2);
    assert.match(prof.stderr, /table-only device/);
    const val = cli(['validate', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', '--samples', '2'], home);
    assert.equal(val.status, 2);
    assert.match(val.stderr, /table-only device/);
    const out = path.join(home, 'out');
    assert.equal(cli(['lut', 'export', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', '--out', out], home).status, 0);
    assert.equal(fs.readFileSync(path.join(out, '224_lookup_table.yaml'), 'utf8'), fs.readFileSync(NOTE10_YAMLS[4], 'utf8'));
  });

  it('refuses a corrupt table and leaves it untouched', () => {
    const home = tempDir();
    cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', NOTE10_YAMLS[4]], home);
    const file = path.join(home, 'latency-tables', 'note10', 'ofa-mbv3-w1.2.json');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, 5000));
    const r = cli(['predict', '--device', 'note10', '--arch', NET_30MS], home);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /corrupt or truncated/);
    const again = cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', NOTE10_YAMLS[0]], home);
    assert.equal(again.status, 2);
    assert.equal(fs.readFileSync(file, 'utf8'), text.slice(0, 5000), 'nothing on disk is overwritten');
    const bad = cli(['lut', 'import', '--format', 'ofa', '--device', 'x2', '--space', 'ofa-mbv3-w1.2', path.join(NET_30MS, 'net.config')], home);
    assert.equal(bad.status, 2);
    assert.ok(!fs.existsSync(path.join(home, 'devices', 'x2.json')), 'a failed import creates nothing');
  });

  it('warns on a table from other hardware and refuses with --strict, also a table that records no fingerprint', () => {
    const home = tempDir();
    cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', NOTE10_YAMLS[4]], home);
    const src = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'note10', 'ofa-mbv3-w1.2.json'), 'utf8'));
    fs.mkdirSync(path.join(home, 'latency-tables', 'local-cpu'), { recursive: true });
    // The imported table as it is (no fingerprint) for local-cpu: --strict cannot check it, so it refuses.
    fs.writeFileSync(path.join(home, 'latency-tables', 'local-cpu', 'ofa-mbv3-w1.2.json'), JSON.stringify({ ...src, device: { id: 'local-cpu', fingerprint: null } }));
    const unknown = cli(['predict', '--device', 'local-cpu', '--arch', NET_30MS, '--strict'], home);
    assert.equal(unknown.status, 2, unknown.stderr);
    assert.match(unknown.stderr, /^error: Cannot tell whether the latency table \S+local-cpu\/ofa-mbv3-w1\.2\.json of device "local-cpu" is current: the file records no fingerprint \(imported\)\. --strict refuses what it cannot check\./);
    // Pretend the imported table was measured on another local-cpu machine.
    src.device = { id: 'local-cpu', fingerprint: { hash: '0000000000000000', cpu: 'Other CPU', cores: 64, physicalCores: 32, flags: [], memoryGb: 1, os: 'x', arch: 'x64', runtime: 'onnxruntime-node 0.0.1' } };
    fs.writeFileSync(path.join(home, 'latency-tables', 'local-cpu', 'ofa-mbv3-w1.2.json'), JSON.stringify(src));
    const warn = cli(['predict', '--device', 'local-cpu', '--arch', NET_30MS], home);
    assert.equal(warn.status, 0, warn.stderr);
    assert.match(warn.stderr, /warning: .*different hardware.*Other CPU/);
    const strict = cli(['predict', '--device', 'local-cpu', '--arch', NET_30MS, '--strict'], home);
    assert.equal(strict.status, 2);
    assert.match(strict.stderr, /different hardware/);
  });

  it('inspects and exports models that onnxruntime loads', async () => {
    const home = tempDir();
    const inspect = cli(['inspect', '--arch', 'random:11', '--space', 'ofa-mbv3-w1.0', '--json']);
    assert.equal(inspect.status, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout);
    assert.ok(info.params > 0 && info.macs > info.params && info.sizeBytes > 4 * info.params);
    assert.ok(Array.isArray(info.layers) && info.layers.length > 20);
    const out = path.join(home, 'net.onnx');
    const exported = cli(['export', '--space', 'ofa-mbv3-w1.0', '--arch', 'random:11', '--format', 'onnx', '--out', out, '--seed', '4']);
    assert.equal(exported.status, 0, exported.stderr);
    const session = await ort.InferenceSession.create(out);
    const r = info.resolution;
    const y = await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * r * r), [1, 3, r, r]) });
    assert.deepEqual(y[session.outputNames[0]].dims, [1, 1000]);
    await session.release();
  });

  it('training commands refuse bad input with exit code 2', () => {
    const home = tempDir();
    const cases: [string[], RegExp][] = [
      [['train', '--space', 'ofa-mbv3-tiny', '--dataset', 'imagenet-21k', '--out', path.join(home, 'r')], /neither a built-in dataset/],
      [['train', '--space', 'nope', '--dataset', 'mnist', '--out', path.join(home, 'r')], /Unknown search space/],
      [['eval', '--supernet', home, '--arch', 'max'], /is not a training run/],
      [['export', '--supernet', home, '--arch', 'max', '--out', path.join(home, 'm.onnx')], /is not a training run/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, home);
      assert.equal(r.status, 2, `${args.join(' ')} -> ${r.status} ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });

  it('trains a full-size space (ofa-mbv3-w1.0, 128-224 px) on an image folder and evaluates a subnet', async () => {
    // Not only the tiny space: any defined space trains, on RGB images decoded by sharp.
    const home = tempDir();
    const folder = path.join(home, 'images');
    for (const [label, base] of [['dark', 40], ['light', 190]] as const) {
      fs.mkdirSync(path.join(folder, label), { recursive: true });
      for (let i = 0; i < 6; i++) {
        const v = base + 8 * i;
        await sharp({ create: { width: 150 + i, height: 140, channels: 3, background: { r: v, g: 255 - v, b: (37 * i) % 255 } } }).png().toFile(path.join(folder, label, `${i}.png`));
      }
    }
    const out = path.join(home, 'w10');
    const train = cli(['train', '--space', 'ofa-mbv3-w1.0', '--dataset', folder, '--out', out, '--limit', '2', '--batch-size', '2', '--epochs-scale', '0.001', '--json'], home);
    assert.equal(train.status, 0, train.stderr);
    assert.match(train.stderr, /training ofa-mbv3-w1\.0 on images \(10 train \/ 1 val \/ 1 test\)/);
    const { log } = JSON.parse(train.stdout) as { log: { phase: string }[] };
    assert.deepEqual(log.map((e) => e.phase), ['teacher', 'kernel', 'depth-1', 'depth-2', 'expand-1', 'expand-2']);
    const evaluated = cli(['eval', '--supernet', out, '--arch', 'min', '--images', '1', '--json'], home);
    assert.equal(evaluated.status, 0, evaluated.stderr);
    const result = JSON.parse(evaluated.stdout) as { arch: { r: number }; top1: number; images: number };
    assert.deepEqual(Object.keys(result), ['arch', 'top1', 'images']);
    assert.equal(result.arch.r, 128, 'the smallest subnet of ofa-mbv3-w1.0 is at 128 px');
    assert.equal(result.images, 1);
  });

  it('lists devices with a live fingerprint', () => {
    const r = cli(['devices', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const local = JSON.parse(r.stdout).find((d: { id: string }) => d.id === 'local-cpu');
    assert.equal(local.backend, 'ort-cpu');
    assert.ok(local.live.cpu && local.live.cores >= 1 && local.live.hash.length === 16 && /onnxruntime-node/.test(local.live.runtime));
  });
});
