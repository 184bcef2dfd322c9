import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type * as Ort from 'onnxruntime-node';
import { cli, tempDir } from '../helpers';

const ort = require('onnxruntime-node') as typeof Ort;

// The main job with every stage shrunk (one resolution, 64 images, 8 predictor samples, a short
// search): the real pipeline, checked for its outputs, not for the quality of a 6-epoch supernet.
const SHORT = [
  '--images', '64', '--acc-samples', '8', '--resolutions', '28', '--rounds', '1', '--passes', '2', '--eval-images', '100',
  '--bn-images', '50', '--test-images', '200', '--max-subnets', '2', '--generations', '5', '--population', '16',
];

describe('tailor quickstart', () => {
  it('refuses bad budgets before any work', () => {
    const r = cli(['quickstart', '--budgets', '0.5,x'], tempDir());
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--budgets: a comma-separated list of positive latencies/);
  });

  it('runs the whole pipeline, emits loadable models and resumes without redoing work', async () => {
    const home = tempDir();
    const first = cli(['quickstart', ...SHORT, '--budgets', '0.4,0.8'], home);
    assert.equal(first.status === 0 || first.status === 1, true, first.stderr);
    const out = path.join(home, 'quickstart');
    for (const step of ['1/6 profile', '2/6 train', '3/6 accuracy predictor', '4/6 NSGA-II', '5/6 gate', '6/6 summary']) assert.match(first.stdout, new RegExp(step));
    assert.ok(fs.existsSync(path.join(home, 'latency-tables', 'local-cpu', 'ofa-mbv3-tiny@in1-out10.json')));
    assert.ok(fs.existsSync(path.join(out, 'supernet', 'acc-predictor.json')));
    for (const target of ['local-cpu-0.4ms', 'local-cpu-0.8ms']) {
      const dir = path.join(out, 'search', target);
      const pareto = JSON.parse(fs.readFileSync(path.join(dir, 'pareto.json'), 'utf8'));
      assert.equal(pareto.algorithm, 'nsga2');
      assert.ok(pareto.subnets.length >= 1);
      for (const s of pareto.subnets) {
        assert.ok(fs.statSync(path.join(dir, s.file)).size > 0);
        assert.equal(typeof s.measuredTop1, 'number');
        assert.equal(typeof s.latencyMs['local-cpu'].measured, 'number');
      }
      assert.ok(fs.statSync(path.join(dir, 'pareto.png')).size > 0);
      assert.match(first.stdout, new RegExp(`${target}: Pareto plot .*pareto\\.png`));
    }
    const budgets = JSON.parse(fs.readFileSync(path.join(out, 'tailor.budgets.json'), 'utf8')).budgets;
    let emitted = 0;
    for (const target of ['local-cpu-0.4ms', 'local-cpu-0.8ms']) {
      const dir = path.join(out, 'search', target);
      const pareto = JSON.parse(fs.readFileSync(path.join(dir, 'pareto.json'), 'utf8'));
      emitted += pareto.subnets.length;
      const s = pareto.subnets[0];
      const session = await ort.InferenceSession.create(path.join(dir, s.file));
      const logits = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(s.arch.r * s.arch.r), [1, 1, s.arch.r, s.arch.r]) });
      assert.deepEqual(logits[session.outputNames[0]].dims, [1, 10]);
      await session.release();
    }
    assert.equal(budgets.length, emitted);
    assert.equal(budgets[0].limits.latency['local-cpu'], '0.4 ms');
    // The gate ran on every emitted model; its exit code says whether they all fit.
    for (const b of budgets) assert.match(first.stdout, new RegExp(b.name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    assert.match(first.stdout, /done in/);

    // Resuming: the table, the supernet and every predictor measurement are reused.
    const trainLog = fs.readFileSync(path.join(out, 'supernet', 'log.jsonl'), 'utf8');
    const second = cli(['quickstart', ...SHORT, '--budgets', '0.4,0.8'], home);
    assert.equal(second.status, first.status, second.stderr);
    assert.match(second.stdout, /already in the table|resolutions 28/);
    assert.match(second.stderr, /8 subnets: 8 measured before, 0 to measure/);
    assert.equal(fs.readFileSync(path.join(out, 'supernet', 'log.jsonl'), 'utf8'), trainLog);
  });
});
