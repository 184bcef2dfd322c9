import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import type * as TF from '@tensorflow/tfjs';
import { ArchConfig, archId, sampleArch } from '../../src/core/arch';
import { TailorError } from '../../src/core/errors';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { MEASUREMENTS_FILE, appendMeasurement, readMeasurements } from '../../src/accuracy/measurements';
import { kendallTau, rmse } from '../../src/accuracy/metrics';
import { AccuracyPredictor, PREDICTOR_FILE, loadPredictorFile, savePredictor, trainAccuracyPredictor } from '../../src/accuracy/predictor';
import { encodeArch } from '../../src/search/encoding';
import { initEngine } from '../../src/training/engine';
import { tempDir } from '../helpers';

const tiny = getSpace('ofa-mbv3-tiny');
const protocol = { bnImages: 100, evalImages: 200 };
let tf: typeof TF;

/** A made-up accuracy landscape the MLP must learn: a fixed weight per feature (per kernel, expand, resolution choice). */
function synthetic(count: number, seed: number): { arch: ArchConfig; top1: number }[] {
  const weights = new Rng(99);
  const w = Array.from(encodeArch(tiny, sampleArch(tiny, new Rng(0))), () => weights.float() * 0.01);
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const arch = sampleArch(tiny, rng);
    return { arch, top1: 0.6 + encodeArch(tiny, arch).reduce((s, v, i) => s + v * w[i], 0) };
  });
}

describe('accuracy predictor', () => {
  before(async () => {
    tf = (await initEngine('wasm')).tf;
  });

  it('rmse and Kendall tau-b', () => {
    assert.equal(rmse([1, 2, 3], [1, 2, 5]), Math.sqrt(4 / 3));
    assert.equal(kendallTau([1, 2, 3, 4], [10, 20, 30, 40]), 1);
    assert.equal(kendallTau([1, 2, 3, 4], [4, 3, 2, 1]), -1);
    // 5 concordant, 1 discordant pair, no ties: (5 - 1) / 6.
    assert.ok(Math.abs(kendallTau([1, 2, 3, 4], [1, 3, 2, 4]) - 4 / 6) < 1e-12);
    // tau-b with a tie in y: pairs (1,2) tied in y; 5 untied pairs all concordant -> 5 / sqrt(6 * 5).
    assert.ok(Math.abs(kendallTau([1, 2, 3, 4], [1, 1, 2, 3]) - 5 / Math.sqrt(30)) < 1e-12);
  });

  it('learns an accuracy landscape from measured subnets, reports held-out RMSE and tau honestly, and is seeded', () => {
    const data = synthetic(300, 1);
    const a = trainAccuracyPredictor(tf, tiny, data, { seed: 3, protocol, epochs: 60 });
    assert.deepEqual(a.samples, { train: 240, heldOut: 60 });
    assert.ok(a.heldOut.kendallTau > 0.8, `tau ${a.heldOut.kendallTau}`);
    const spread = 100 * Math.sqrt(data.reduce((s, d) => s + (d.top1 - 0.6 - 0.01 * 0) ** 2, 0) / data.length);
    assert.ok(a.heldOut.rmsePoints < spread / 3, `rmse ${a.heldOut.rmsePoints} points vs spread ${spread}`);
    // The stored predictor predicts new archs close to the landscape.
    const fresh = synthetic(50, 2);
    const predictor = new AccuracyPredictor(tf, a);
    const predicted = predictor.predict(fresh.map((d) => d.arch));
    assert.ok(kendallTau(predicted, fresh.map((d) => d.top1)) > 0.8);
    predictor.dispose();
    const b = trainAccuracyPredictor(tf, tiny, data, { seed: 3, protocol, epochs: 60 });
    assert.deepEqual(b.layers, a.layers, 'same seed, same predictor');
    const c = trainAccuracyPredictor(tf, tiny, data, { seed: 4, protocol, epochs: 5 });
    assert.notDeepEqual(c.layers[0].weight.slice(0, 10), a.layers[0].weight.slice(0, 10));
    assert.throws(() => trainAccuracyPredictor(tf, tiny, data.slice(0, 4), { seed: 1, protocol }), (e: unknown) => e instanceof TailorError && /too few/.test(e.message));
  });

  it('stores the predictor atomically and refuses a damaged or foreign one', () => {
    const dir = tempDir();
    const file = trainAccuracyPredictor(tf, tiny, synthetic(20, 3), { seed: 1, protocol, epochs: 2 });
    savePredictor(dir, file);
    assert.deepEqual(loadPredictorFile(dir, tiny), JSON.parse(JSON.stringify(file)));
    assert.throws(() => loadPredictorFile(dir, getSpace('ofa-mbv3-w1.0')), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_CHECKPOINT');
    fs.writeFileSync(path.join(dir, PREDICTOR_FILE), '{"format": "tailor.acc-predictor/v1", "spa');
    assert.throws(() => loadPredictorFile(dir, tiny), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_CHECKPOINT');
    assert.throws(() => loadPredictorFile(tempDir(), tiny), (e: unknown) => e instanceof TailorError && /tailor acc-predictor/.test(e.message));
  });

  it('caches measurements per protocol and skips a line cut short by a crash', () => {
    const dir = tempDir();
    const arch = sampleArch(tiny, new Rng(5));
    appendMeasurement(dir, { id: archId(tiny, arch), arch, top1: 0.5, protocol, seconds: 1 });
    fs.appendFileSync(path.join(dir, MEASUREMENTS_FILE), '{"id": "x", "arch": {"ks": [3');
    assert.equal(readMeasurements(dir, tiny, protocol).get(archId(tiny, arch))?.top1, 0.5);
    assert.equal(readMeasurements(dir, tiny, { ...protocol, evalImages: 300 }).size, 0, 'another protocol is another measurement');
  });
});
