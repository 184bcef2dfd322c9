import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { isBlockActive, minArch } from '../../src/core/arch';
import { TailorError } from '../../src/core/errors';
import { getSpace } from '../../src/core/space';
import { loadCheckpoint } from '../../src/training/checkpoint';
import { Dataset, loadDataset } from '../../src/training/datasets';
import { Engine, initEngine } from '../../src/training/engine';
import { defaultEpochsScale, progressiveShrinking, scaledEpochs } from '../../src/training/schedule';
import { CHECKPOINT_FILE, LOG_FILE, TrainOptions, trainSupernet } from '../../src/training/trainer';
import type * as Ort from 'onnxruntime-node';
import { exportOnnx } from '../../src/export/onnx';
import { toTensor } from '../../src/training/batches';
import { evaluateSubnet, openRun, runArch, subnetMetadata } from '../../src/training/runs';
import { ElasticSupernet } from '../../src/training/supernet';
import { MEASUREMENTS_FILE, measureSubnet } from '../../src/accuracy/measurements';
import { loadPredictorFile } from '../../src/accuracy/predictor';
import sharp from 'sharp';
import { readTflite } from '../../src/tflite/reader';
import { onnx } from 'onnx-proto';
import { cli, tempDir } from '../helpers';
import { tempFileWriter } from '../../src/core/fs-atomic';

const ort = require('onnxruntime-node') as typeof Ort;

const tiny = getSpace('ofa-mbv3-tiny');
let engine: Engine;
let data: Dataset;
// A tiny run: the smallest resolution, 64 images, one epoch per phase.
const quick = (outDir: string): TrainOptions => ({
  space: { ...tiny, resolutions: [20] }, dataset: data, outDir, seed: 1, epochsScale: 0.001, batchSize: 32, resume: false, limit: 64, evalImages: 64,
});
// Progressive shrinking on a few hundred images, elastic resolution over two of the space's, one epoch per phase.
const fewHundred = (outDir: string): TrainOptions => ({ ...quick(outDir), space: { ...tiny, resolutions: [20, 24] }, limit: 256 });

describe('progressive shrinking (tiny end-to-end run)', () => {
  before(async () => {
    engine = await initEngine('wasm');
    data = await loadDataset('mnist', { cacheDir: tempDir() });
  });

  it("follows OFA's schedule", () => {
    const phases = progressiveShrinking(tiny);
    assert.deepEqual(phases.map((p) => [p.name, p.subnetsPerStep, p.lr]), [
      ['teacher', 1, 0.1], ['kernel', 1, 0.03], ['depth-1', 2, 0.0025], ['depth-2', 2, 0.0075], ['expand-1', 4, 0.0025], ['expand-2', 4, 0.0075],
    ]);
    assert.deepEqual(phases[2].depths, [3, 4]);
    assert.deepEqual(phases[4].expandRatios, [4, 6]);
    assert.equal(scaledEpochs(phases[1], 0.05), 6);
    assert.equal(scaledEpochs(phases[2], 0.001), 1);
    // The default scale: about 550,000 training images over the run, within [0.001, 1].
    const fashion = defaultEpochsScale(tiny, 55_000);
    assert.equal(fashion.scale, 0.019);
    assert.equal(phases.reduce((sum, p) => sum + scaledEpochs(p, fashion.scale), 0), 10, 'ten epochs of Fashion-MNIST');
    assert.match(fashion.reason, /^default for 55000 training images: 550000 images \/ \(OFA's 530 epochs x 55000\) = 0.019; 10 epochs, 550000 images$/);
    assert.equal(defaultEpochsScale(tiny, 5_000).scale, 0.21);
    assert.deepEqual([defaultEpochsScale(tiny, 500).scale, defaultEpochsScale(tiny, 10_000_000).scale], [1, 0.001]);
    assert.match(defaultEpochsScale(tiny, 10_000_000).reason, /floored at 0.001/);
  });

  let straight = '';
  it('runs every phase on a few hundred images at two resolutions, the loss falls, and a run stopped before its last phase resumes exactly', async () => {
    straight = path.join(tempDir(), 'straight');
    const interrupted = path.join(tempDir(), 'interrupted');
    const r = await trainSupernet(engine, {
      ...fewHundred(straight),
      onProgress: (p) => {
        // What a run killed during its last phase leaves behind: the checkpoint after expand-1.
        if (p.phase === 'expand-2' && p.step === 1) fs.cpSync(straight, interrupted, { recursive: true });
      },
    });
    assert.deepEqual(r.log.map((e) => e.phase), ['teacher', 'kernel', 'depth-1', 'depth-2', 'expand-1', 'expand-2']);
    assert.deepEqual(r.log.map((e) => e.images), Array(6).fill(256), 'one epoch of 256 images per phase');
    assert.equal(fs.readFileSync(path.join(straight, LOG_FILE), 'utf8').trim().split('\n').length, 6);
    // The loss falls: every later phase ends with a lower cross-entropy on the labels than the
    // full-net phase's epoch had, the last by a clear margin. (Within the full-net phase's 8 batches
    // the loss is still at chance: too few steps to tell.)
    const byPhase = r.log.map((x) => x.ce.toFixed(3)).join(' ');
    for (const e of r.log.slice(1)) {
      assert.ok(e.ce < r.log[0].ce, `${e.phase}: cross-entropy ${e.ce.toFixed(3)} is not below the first epoch's ${r.log[0].ce.toFixed(3)} (margin ${(r.log[0].ce - e.ce).toFixed(3)}); by phase: ${byPhase}`);
    }
    const drop = r.log[0].ce - r.log[5].ce;
    assert.ok(drop > 0.05, `the last phase's cross-entropy is only ${drop.toFixed(3)} below the first's (needs > 0.05); by phase: ${byPhase}`);

    // Over an existing run without --resume: refused. A resume stopped at its first step leaves the
    // checkpoint as it was; resumed again, the last phase ends bit-identical to the uninterrupted run.
    const checkpoint = path.join(interrupted, CHECKPOINT_FILE);
    assert.equal(loadCheckpoint(checkpoint).meta.phase, 5, 'checkpoint after expand-1');
    await assert.rejects(trainSupernet(engine, fewHundred(interrupted)), (e: unknown) => e instanceof TailorError && /--resume/.test(e.message));
    const abort = new AbortController();
    await assert.rejects(trainSupernet(engine, { ...fewHundred(interrupted), resume: true, signal: abort.signal, onProgress: () => abort.abort() }));
    assert.equal(loadCheckpoint(checkpoint).meta.phase, 5, 'the stopped resume wrote no checkpoint');
    const resumed = await trainSupernet(engine, { ...fewHundred(interrupted), resume: true });
    assert.deepEqual(resumed.resumedFrom, { phase: 'expand-2', epoch: 0 });
    assert.deepEqual(resumed.log.map((e) => e.ce), r.log.slice(5).map((e) => e.ce));
    const a = loadCheckpoint(path.join(straight, CHECKPOINT_FILE));
    const b = loadCheckpoint(checkpoint);
    assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
    for (const [name, t] of a.tensors) assert.deepEqual(b.tensors.get(name)!.data, t.data, `${name} differs after resume`);

    // Export with inherited weights: onnxruntime matches tfjs on 100 test images and scores exactly what eval reports (on 1000).
    const { net, data: d, run } = await openRun(engine, straight, tempDir());
    const arch = runArch(run, 'random:5');
    const { result, subnet } = evaluateSubnet(engine, net, d, { ...arch, r: 20 }, 300, 1000);
    const session = await ort.InferenceSession.create(exportOnnx(subnet.ir, { weights: subnet.weightProvider('test'), metadata: subnetMetadata(run, result, subnet) }));
    let correct = 0;
    let maxDiff = 0;
    for (let i = 0; i < result.images; i += 500) {
      const idx = Array.from({ length: Math.min(500, result.images - i) }, (_, j) => i + j);
      const batch = toTensor(engine.tf, d, d.test, idx, 20);
      const x = batch.x.transpose([0, 3, 1, 2]); // NHWC -> NCHW
      const xs = (await x.data()) as Float32Array;
      const labels = await batch.labels.data();
      const want = i === 0 ? ((await subnet.forward(batch.x).data()) as Float32Array) : null;
      for (let j = 0; j < idx.length; j++) {
        const out = await session.run({ input: new ort.Tensor('float32', xs.slice(j * 400, (j + 1) * 400), [1, 1, 20, 20]) });
        const logits = out[session.outputNames[0]].data as Float32Array;
        if (want && j < 100) for (let c = 0; c < 10; c++) maxDiff = Math.max(maxDiff, Math.abs(logits[c] - want[j * 10 + c]));
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[c] > logits[best]) best = c;
        if (best === labels[j]) correct++;
      }
      engine.tf.dispose([batch.x, batch.labels, x]);
    }
    await session.release();
    assert.ok(maxDiff < 1e-4, `max abs logit difference ${maxDiff}`);
    assert.equal(result.images, 1000);
    assert.equal(correct / result.images, result.top1, 'the exported model scores what eval reports');
    // It learned: top-1 on 1000 test images well above chance (0.1; 3 standard deviations is 0.03).
    assert.ok(result.top1 > 0.13, `top-1 ${result.top1} is at chance level`);
    subnet.dispose();
  });

  it('acc-predictor measures sampled subnets once (cached in the run), trains and stores the predictor', async () => {
    const { run } = await import('../../src/cli/commands/acc-predictor.js');
    const opts = { supernet: straight, samples: 8, seed: 1, bnImages: 100, evalImages: 200, epochs: 5 };
    const lines = () => fs.readFileSync(path.join(straight, MEASUREMENTS_FILE), 'utf8').trim().split('\n');
    const log = console.log;
    console.log = () => undefined;
    try {
      await run(opts, {});
      assert.equal(lines().length, 8);
      const first = loadPredictorFile(straight, tiny);
      assert.deepEqual(first.samples, { train: 6, heldOut: 2 });
      assert.ok(Number.isFinite(first.heldOut.rmsePoints) && first.heldOut.rmsePoints < 100);
      for (const m of lines().map((l) => JSON.parse(l))) assert.ok(m.top1 >= 0 && m.top1 <= 1 && m.protocol.evalImages === 200);
      await run({ ...opts, samples: 10 }, {});
      assert.equal(lines().length, 10, 'only the two new subnets were measured');
      await assert.rejects(run({ ...opts, bnImages: 5000 }, {}), (e: unknown) => e instanceof TailorError && /validation split/.test(e.message));
    } finally {
      console.log = log;
    }
  });

  it('search emits each target\'s Pareto front within its budgets, exported with inherited weights, seeded, with --measure figures and plots', async () => {
    const home = tempDir();
    const { profile } = await import('../../src/cli/commands/profile.js');
    const { run: search } = await import('../../src/cli/commands/search.js');
    // A latency table for the run's network (1 input channel, 10 classes) at the one resolution the run was trained at.
    await profile({ device: 'local-cpu', space: 'ofa-mbv3-tiny@in1-out10', resolutions: [20], seed: 0, rounds: 1, passes: 2 }, { home });
    const targetsFile = path.join(home, 'targets.json');
    fs.writeFileSync(targetsFile, JSON.stringify({ targets: [
      { name: 'tight', devices: { 'local-cpu': { latencyMs: 0.2 } }, maxParams: 560_000 },
      { name: 'loose', devices: { 'local-cpu': { latencyMs: 10 } } },
    ] }));
    const out = path.join(home, 'out');
    const opts = { supernet: straight, targets: targetsFile, out, algorithm: 'nsga2' as const, seed: 3, maxSubnets: 3, generations: 8, population: 24, reward: 'soft' as const, rescore: 0 };
    const log = console.log;
    console.log = () => undefined;
    try {
      await search(opts, { home });
      const read = (t: string) => JSON.parse(fs.readFileSync(path.join(out, t, 'pareto.json'), 'utf8'));
      const tight = read('tight');
      assert.equal(tight.algorithm, 'nsga2');
      assert.equal(tight.seed, 3);
      assert.ok(tight.evaluations > 24 && tight.hypervolume > 0 && tight.subnets.length >= 1 && tight.subnets.length <= 3);
      for (const s of tight.subnets) {
        assert.ok(s.latencyMs['local-cpu'].predicted <= 0.2 && s.params <= 560_000, `over budget: ${JSON.stringify(s)}`);
        assert.equal(s.arch.r, 20);
        assert.ok(s.predictedTop1 > 0 && s.predictedTop1 < 1 && s.measuredTop1 === null);
        assert.equal(s.top1Source, 'predictor');
        assert.equal(s.predictorTop1, s.predictedTop1);
        const session = await ort.InferenceSession.create(fs.readFileSync(path.join(out, 'tight', s.file)));
        const meta = JSON.parse(onnx.ModelProto.decode(fs.readFileSync(path.join(out, 'tight', s.file))).metadataProps.find((p) => p.key === 'arch')!.value!);
        assert.deepEqual(meta, s.arch);
        await session.release();
        // The TFLite twin beside it: same subnet, same metadata.
        const twin = readTflite(fs.readFileSync(path.join(out, 'tight', s.tflite)));
        assert.deepEqual(JSON.parse(Buffer.from(twin.metadata.arch).toString('utf8')), s.arch);
        assert.deepEqual(twin.subgraphs[0].tensors[twin.subgraphs[0].inputs[0]].shape, [1, 20, 20, 1]);
      }
      // Mutually non-dominated in (top-1, latency).
      for (const a of tight.subnets) for (const b of tight.subnets) {
        if (a !== b) assert.ok(!(b.predictedTop1 >= a.predictedTop1 && b.latencyMs['local-cpu'].predicted <= a.latencyMs['local-cpu'].predicted && (b.predictedTop1 > a.predictedTop1 || b.latencyMs['local-cpu'].predicted < a.latencyMs['local-cpu'].predicted)));
      }
      assert.equal((await sharp(path.join(out, 'tight', 'pareto.png')).metadata()).format, 'png');
      assert.match(fs.readFileSync(path.join(out, 'loose', 'pareto.svg'), 'utf8'), /^<svg/);
      // Seeded: the same seed gives the same subnets.
      const again = path.join(home, 'again');
      await search({ ...opts, out: again, targets: targetsFile }, { home });
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(again, 'tight', 'pareto.json'), 'utf8')).subnets.map((s: { arch: unknown }) => s.arch), tight.subnets.map((s: { arch: unknown }) => s.arch));
      // --measure with rescoring: front candidates scored on the validation split under the predictor's
      // protocol (cached in the run), top-1 as tailor eval reports it, latency measured on the attached device.
      const measured = path.join(home, 'measured');
      const cachedBefore = fs.readFileSync(path.join(straight, MEASUREMENTS_FILE), 'utf8').trim().split('\n').length;
      await search({ ...opts, out: measured, maxSubnets: 2, rescore: 4, measure: true, testImages: 1000 }, { home });
      const m = JSON.parse(fs.readFileSync(path.join(measured, 'loose', 'pareto.json'), 'utf8'));
      const { net, data: d } = await openRun(engine, straight, tempDir());
      const protocol = loadPredictorFile(straight, tiny).protocol;
      assert.deepEqual(m.rescored, { candidates: Math.min(m.frontSize, 4), ...protocol });
      for (const s of m.subnets) {
        assert.ok(s.latencyMs['local-cpu'].measured > 0);
        assert.equal(s.top1Source, 'validation');
        assert.equal(s.predictedTop1, (await measureSubnet(engine, net, d, tiny, s.arch, protocol)).top1, 'predictedTop1 is the validation score');
        const { result, subnet } = evaluateSubnet(engine, net, d, s.arch, protocol.bnImages, 1000);
        assert.equal(s.measuredTop1, result.top1);
        subnet.dispose();
      }
      assert.ok(m.measured['local-cpu'].within10 >= 0 && m.top1ErrorPoints.mean >= 0 && m.top1ErrorPoints.predictor.mean >= 0);
      const cachedAfter = fs.readFileSync(path.join(straight, MEASUREMENTS_FILE), 'utf8').trim().split('\n').length;
      assert.ok(cachedAfter > cachedBefore && cachedAfter - cachedBefore <= 8, `the scored candidates joined the run's cache (${cachedBefore} -> ${cachedAfter})`);
      // A budget nothing meets: exit code 1, the binding budget and the closest subnets named, no output left.
      fs.writeFileSync(targetsFile, JSON.stringify({ targets: [{ name: 'impossible', devices: { 'local-cpu': { latencyMs: 0.001 } } }] }));
      await assert.rejects(search({ ...opts, out }, { home }), (e: unknown) => e instanceof TailorError && e.code === 'BUDGETS_NOT_MET' && e.exitCode === 1 && /latency on local-cpu .* > 0.001 ms/.test(e.message) && /Closest: /.test(e.message));
      assert.deepEqual(fs.readdirSync(out).sort(), ['loose', 'tight'], 'nothing written for the impossible target, no partial folders');
      // An unfinished training run is refused.
      const unfinished = path.join(home, 'unfinished');
      fs.cpSync(straight, unfinished, { recursive: true });
      const runJson = JSON.parse(fs.readFileSync(path.join(unfinished, 'run.json'), 'utf8'));
      fs.writeFileSync(path.join(unfinished, 'run.json'), JSON.stringify({ ...runJson, phases: [...runJson.phases, runJson.phases[0]] }));
      await assert.rejects(search({ ...opts, supernet: unfinished }, { home }), (e: unknown) => e instanceof TailorError && /has not finished/.test(e.message));
      fs.writeFileSync(targetsFile, '{"targets": [{"name": "x", "devices": {"local-cpu": {"latencyMs": -1}}}]}');
      await assert.rejects(search(opts, { home }), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_TARGETS' && /latencyMs/.test(e.message));
    } finally {
      console.log = log;
    }
  });

  it('evaluates a run trained on an image folder from any working directory, also through tailor eval --json and export', async () => {
    const root = path.join(tempDir(), 'colours');
    for (const [name, rgb] of Object.entries({ red: [230, 30, 30], blue: [30, 30, 230] })) {
      fs.mkdirSync(path.join(root, name), { recursive: true });
      for (let i = 0; i < 20; i++) {
        await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: rgb[0] - i, g: rgb[1] + i, b: rgb[2] } } }).png().toFile(path.join(root, name, `${i}.png`));
      }
    }
    const folder = await loadDataset(root, { resolutions: [20], seed: 2, cacheDir: tempDir() });
    const out = path.join(tempDir(), 'folder-run');
    await trainSupernet(engine, { ...quick(out), dataset: folder, limit: 16, batchSize: 8, evalImages: 8 });
    const cwd = process.cwd();
    process.chdir(tempDir()); // the run remembers the folder by its absolute path
    try {
      const { net, data: d, run } = await openRun(engine, out, tempDir());
      assert.equal(d.source, path.resolve(root));
      const { result, subnet } = evaluateSubnet(engine, net, d, { ...runArch(run, 'min'), r: 20 }, 8);
      assert.ok(result.top1 >= 0 && result.top1 <= 1 && result.images === d.test.count);
      subnet.dispose();
      // The same run through the real CLI: eval --json prints exactly { arch, top1, images }, and
      // export writes a model onnxruntime loads, whose metadata scores what eval printed.
      const home = tempDir();
      const evaluated = cli(['eval', '--supernet', out, '--arch', 'min', '--json'], home);
      assert.equal(evaluated.status, 0, evaluated.stderr);
      const json = JSON.parse(evaluated.stdout);
      assert.deepEqual(Object.keys(json).sort(), ['arch', 'images', 'top1']);
      assert.ok(json.top1 >= 0 && json.top1 <= 1, `top1 ${json.top1}`);
      assert.deepEqual(json.arch, runArch(run, 'min'));
      assert.equal(json.images, d.test.count);
      const model = path.join(home, 'x.onnx');
      const exported = cli(['export', '--supernet', out, '--arch', 'min', '--format', 'onnx', '--out', model], home);
      assert.equal(exported.status, 0, exported.stderr);
      const session = await ort.InferenceSession.create(model);
      const y = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(3 * 20 * 20), [1, 3, 20, 20]) });
      assert.deepEqual(y[session.outputNames[0]].dims, [1, 2]);
      await session.release();
      const meta = onnx.ModelProto.decode(fs.readFileSync(model)).metadataProps;
      assert.equal(meta.find((p) => p.key === 'top1')!.value, String(json.top1));
    } finally {
      process.chdir(cwd);
    }
  });

  it('trains one architecture from scratch: as many epochs as progressive shrinking, no other weights touched', async () => {
    const space = quick('').space;
    const arch = minArch(space);
    const out = path.join(tempDir(), 'scratch');
    const r = await trainSupernet(engine, { ...quick(out), scratchArch: arch });
    const psEpochs = progressiveShrinking(space).reduce((sum, p) => sum + scaledEpochs(p, 0.001), 0);
    assert.deepEqual(r.log.map((e) => e.phase), Array(psEpochs).fill('scratch'));
    assert.ok(r.log[r.log.length - 1].ce < r.log[0].ce, `cross-entropy by epoch: ${r.log.map((e) => e.ce.toFixed(3)).join(' ')}`);
    const trained = loadCheckpoint(path.join(out, CHECKPOINT_FILE)).tensors;
    const initial = new ElasticSupernet(engine.tf, space, { inputChannels: 1, numClasses: 10 }, 1).state();
    let activeChanged = 0;
    let skippedChecked = 0;
    for (const [name, v] of initial) {
      const block = /^b(\d+)\./.exec(name);
      if (!block || name.endsWith('.bn.mean') || name.endsWith('.bn.variance')) continue;
      const same = Buffer.from((v.dataSync() as Float32Array).buffer).equals(Buffer.from(trained.get(name)!.data.buffer));
      if (!isBlockActive(space, arch, Number(block[1]))) {
        assert.ok(same, `${name} belongs to a skipped block but changed`);
        skippedChecked++;
      } else if (!same) activeChanged++;
    }
    assert.ok(activeChanged > 0 && skippedChecked > 0, `${activeChanged} active changed, ${skippedChecked} skipped checked`);
    await assert.rejects(trainSupernet(engine, { ...quick(out), resume: true }), (e: unknown) => e instanceof TailorError && /scratchArch/.test(e.message));
  });

  it('refuses a checkpoint of another space', async () => {
    const out = path.join(tempDir(), 'other');
    fs.cpSync(straight, out, { recursive: true });
    await assert.rejects(trainSupernet(engine, { ...fewHundred(out), resume: true, space: { ...getSpace('ofa-mbv3-w1.0'), resolutions: [128] } }), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_CHECKPOINT');
  });

  it('out of disk space at a checkpoint: DISK_FULL naming the file and the free space, the previous checkpoint intact and loadable, no temp file left', async () => {
    const out = path.join(tempDir(), 'disk-full');
    const checkpoint = path.join(out, CHECKPOINT_FILE);
    let good: Buffer | null = null;
    const write = tempFileWriter.write;
    // Once a good checkpoint exists, the next one hits a full disk: half its bytes land in the
    // temp file, then the write fails with the kernel's own ENOSPC (/dev/full).
    tempFileWriter.write = (fd, bytes, file) => {
      if (file !== checkpoint || !good) return write(fd, bytes, file);
      const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      fs.writeSync(fd, data.subarray(0, data.length >> 1));
      if (!fs.existsSync('/dev/full')) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const full = fs.openSync('/dev/full', 'w');
      try {
        fs.writeSync(full, data);
      } finally {
        fs.closeSync(full);
      }
    };
    let error: unknown;
    try {
      await trainSupernet(engine, { ...quick(out), limit: 32, onProgress: (p) => { if (p.phase === 'kernel') good ??= fs.readFileSync(checkpoint); } });
    } catch (e) {
      error = e;
    } finally {
      tempFileWriter.write = write;
    }
    assert.ok(error instanceof TailorError && error.code === 'DISK_FULL', String(error));
    assert.equal(error.exitCode, 2, 'the CLI exits 2');
    assert.equal(error.status, 507);
    assert.match(error.message, /^Out of disk space writing the checkpoint /);
    assert.ok(error.message.includes(`${checkpoint} (ENOSPC: no space left on the device; `), error.message);
    assert.match(error.message, /; [\d.]+ (B|KiB|MiB|GiB|TiB) free there, [\d.]+ MiB to write\): nothing was replaced/);
    assert.ok(good, 'a first checkpoint was written');
    assert.ok(fs.readFileSync(checkpoint).equals(good), 'the previous checkpoint is byte-identical');
    const kept = loadCheckpoint(checkpoint);
    assert.deepEqual([kept.meta.phase, kept.meta.epoch], [1, 0], 'the checkpoint after the full-net phase');
    assert.ok(kept.tensors.size > 0);
    assert.deepEqual(fs.readdirSync(out).sort(), [CHECKPOINT_FILE, LOG_FILE, 'run.json'].sort(), 'no temp file left');
    assert.equal(fs.readFileSync(path.join(out, LOG_FILE), 'utf8').trim().split('\n').length, 1);
  });
});
