import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { pieceTimes, scaledPieceTimes } from '../../src/profiling/attribute';
import { keysForResolution, planResolution } from '../../src/profiling/plan';
import { referenceArchs, speedFactor } from '../../src/profiling/reference';
import { withMachineLock } from '../../src/runtime/machine-lock';
import { parseOrtProfile } from '../../src/runtime/ort-cpu/parser';
import { FIXTURES } from '../helpers';

const w10 = getSpace('ofa-mbv3-w1.0');
// Recorded onnxruntime 1.30 profile: blocks.4 (no SE) + blocks.5 (SE, with layout reorders), 3 runs.
const trace = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ort-profile', 'two-se-blocks-3-runs.json'), 'utf8'));

describe('onnxruntime profile parser (offline, recorded output)', () => {
  it('splits kernels into runs and strips the suffix', () => {
    const runs = parseOrtProfile(trace);
    assert.equal(runs.length, 3);
    for (const run of runs) {
      assert.ok(run.length >= 10);
      assert.ok(run.every((n) => n.durMs >= 0 && !n.name.endsWith('_kernel_time')));
    }
    assert.ok(runs[0].some((n) => n.name.startsWith('ReorderOutput')), 'runtime-inserted reorders are kept');
    assert.equal(parseOrtProfile(trace, 1).length, 2);
    assert.throws(() => parseOrtProfile({}), /not a JSON array/);
  });

  it('attributes inserted kernels to the piece that ran before them', () => {
    const run = parseOrtProfile(trace)[0];
    const times = pieceTimes(run, ['blocks.4', 'blocks.5']);
    const total = run.reduce((s, n) => s + n.durMs, 0);
    assert.ok(Math.abs(times.get('blocks.4')! + times.get('blocks.5')! - total) < 1e-9);
    // blocks.4 runs completely before blocks.5: everything from blocks.5's first kernel on is blocks.5
    const start = run.findIndex((n) => n.name.startsWith('blocks.5.'));
    const tail = run.slice(start);
    assert.ok(tail.some((n) => n.name.startsWith('Reorder')));
    assert.ok(Math.abs(times.get('blocks.5')! - tail.reduce((s, n) => s + n.durMs, 0)) < 1e-9);
  });

  it('scales piece times to the measured wall time minus the fixed cost', () => {
    const runs = parseOrtProfile(trace);
    const scaled = scaledPieceTimes(runs, ['blocks.4', 'blocks.5'], 2.0, 0.5);
    assert.ok(Math.abs(scaled.get('blocks.4')! + scaled.get('blocks.5')! - 1.5) < 1e-9);
  });
});

describe('machine-wide measurement lock', () => {
  it('never lets two measurements overlap; the second waits', async () => {
    const spans: [number, number][] = [];
    let waited = 0;
    const job = () => withMachineLock(async () => {
      const start = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      spans.push([start, Date.now()]);
    }, () => waited++);
    await Promise.all([job(), job()]);
    spans.sort((a, b) => a[0] - b[0]);
    assert.ok(spans[1][0] >= spans[0][1], `overlap: ${JSON.stringify(spans)}`);
    // the second always waits; the first too when another Tailor process on this machine is measuring
    assert.ok(waited >= 1 && waited <= 2, `waited ${waited}`);
  });
});

describe('profiling plan', () => {
  it('covers every key of each resolution, each block key in at least `rounds` networks', () => {
    for (const r of [128, 132, 224]) {
      const plan = planResolution(w10, r, 2, 0);
      const counts = new Map<string, number>();
      for (const arch of plan) for (const p of new Set(buildIR(netFromArch(w10, arch)).pieces.map((x) => x.key))) counts.set(p, (counts.get(p) ?? 0) + 1);
      const keys = keysForResolution(w10, r);
      assert.equal(keys.size, 1 + 1 + 5 * 18 + 4);
      for (const k of keys) assert.ok((counts.get(k) ?? 0) >= 2, `${k} seen ${counts.get(k) ?? 0}x at r=${r}`);
      assert.deepEqual(planResolution(w10, r, 2, 0), plan, 'deterministic for a seed');
    }
  });

  it('has fixed reference networks and a drift factor', () => {
    const refs = referenceArchs(w10);
    assert.equal(refs.length, 4);
    assert.deepEqual(referenceArchs(w10), refs, 'fixed');
    assert.ok(refs.every((a) => w10.resolutions.includes(a.r)));
    assert.equal(speedFactor([1, 2], [1.1, 2.2]), 1.1);
  });
});
