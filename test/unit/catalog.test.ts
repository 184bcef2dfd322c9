import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { checkId, describeRun, listRuns, readPareto, removeStaleOutputs, resolveDownload, searchExists } from '../../src/training/catalog';
import { readCheckpointMeta, saveCheckpoint } from '../../src/training/checkpoint';
import { tempDir } from '../helpers';

const code = (c: string) => (e: unknown) => e instanceof TailorError && e.code === c;

/** A run folder as the trainer leaves it after `done` epochs (no tensors: the catalog reads only the checkpoint header). */
function fakeRun(home: string, id: string, at: { phase: number; epoch: number }) {
  const dir = path.join(home, 'runs', id);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'run.json'), JSON.stringify({
    space: 'ofa-mbv3-tiny', dataset: 'mnist', classes: ['0', '1'], channels: 1, seed: 0, epochsScale: 0.01, batchSize: 8, limit: null,
    schedule: 'progressive-shrinking', scratchArch: null, engine: 'wasm', phases: [{ name: 'teacher', epochs: 2 }, { name: 'kernel', epochs: 1 }],
  }));
  saveCheckpoint(path.join(dir, 'checkpoint.tlr'), { space: 'ofa-mbv3-tiny', ...at }, new Map());
  const entry = (phase: string, epoch: number) => JSON.stringify({ phase, epoch, epochs: 2, lr: 0.1, loss: 2, ce: 1.5, valTop1: 0.5, images: 8, seconds: 1.5 });
  fs.writeFileSync(path.join(dir, 'log.jsonl'), [entry('teacher', 0), entry('teacher', 1), '{"phase": "kern'].join('\n'));
  return dir;
}

function fakeTarget(dir: string, target: string, files: string[]) {
  fs.mkdirSync(path.join(dir, target), { recursive: true });
  const subnets = files.map((file) => ({ arch: { r: 20 }, predictedTop1: 0.5, measuredTop1: null, latencyMs: { 'local-cpu': { predicted: 1, measured: null } }, params: 1, macs: 1, sizeBytes: 4, file }));
  fs.writeFileSync(path.join(dir, target, 'pareto.json'), JSON.stringify({ target, algorithm: 'nsga2', seed: 0, evaluations: 10, hypervolume: 0.5, frontSize: files.length, subnets }));
  for (const f of files) fs.writeFileSync(path.join(dir, target, f), 'onnx');
  fs.writeFileSync(path.join(dir, target, 'pareto.svg'), '<svg/>');
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('runs catalog', () => {
  it('accepts folder-safe ids only', () => {
    for (const ok of ['quick', 'run-1', 'a.b_c', 'X'.repeat(64)]) assert.equal(checkId('run', ok), ok);
    for (const bad of ['', '..', '.hidden', '-x', 'a/b', 'a\\b', 'a b', 'X'.repeat(65), 7]) assert.throws(() => checkId('run', bad), code('INVALID_OPTION'), String(bad));
  });

  it('lists runs with their training progress and describes one with its epoch log, predictor and searches', () => {
    const home = tempDir();
    assert.deepEqual(listRuns(home), []);
    const dir = fakeRun(home, 'r1', { phase: 1, epoch: 0 });
    fs.mkdirSync(path.join(home, 'runs', 'not-a-run'));
    assert.deepEqual(readCheckpointMeta(path.join(dir, 'checkpoint.tlr')), { space: 'ofa-mbv3-tiny', phase: 1, epoch: 0 });
    const [r] = listRuns(home) as any[];
    assert.equal(listRuns(home).length, 1);
    assert.deepEqual([r.id, r.finished, r.epochsDone, r.epochs, r.next, r.predictor, r.searches], ['r1', false, 2, 3, { phase: 'kernel', epoch: 0 }, null, []]);

    fs.writeFileSync(path.join(dir, 'acc-predictor.json'), JSON.stringify({ samples: { train: 8, heldOut: 2 }, heldOut: { rmsePoints: 1.5, maxErrorPoints: 2, kendallTau: 0.6 }, protocol: { bnImages: 1, evalImages: 2 }, seed: 0, epochs: 3, hidden: [4], created: 'now', layers: [] }));
    fs.writeFileSync(path.join(dir, 'acc-measurements.jsonl'), '{}\n{}\n');
    const search = path.join(dir, 'searches', 's1');
    fakeTarget(search, 'small', ['subnet-01.onnx']);
    fs.mkdirSync(path.join(search, '.any.partial-1')); // a search in progress: not a target yet
    fs.writeFileSync(path.join(search, '.search.json'), JSON.stringify({ algorithm: 'nsga2', targets: [{ name: 'small' }, { name: 'any' }] }));
    const d = describeRun(home, 'r1');
    assert.equal(d.run.dataset, 'mnist');
    assert.deepEqual(d.training.phases.map((p) => [p.phase, p.epochs, p.logged, p.seconds]), [['teacher', 2, 2, 3], ['kernel', 1, 0, 0]]);
    assert.equal(d.training.lastEpoch!.epoch, 1, 'a line cut short by a crash is skipped');
    assert.equal(d.measurements, 2);
    assert.deepEqual(d.predictor!.heldOut, { rmsePoints: 1.5, maxErrorPoints: 2, kendallTau: 0.6 });
    assert.equal(d.searches.length, 1);
    assert.equal(d.searches[0].complete, false, '"any" is not finished');
    assert.deepEqual(d.searches[0].targets.map((t) => [t.name, t.subnets.map((s) => s.url)]), [['small', ['/runs/r1/searches/s1/targets/small/subnet-01.onnx']]]);
    assert.equal(searchExists(home, 'r1', 's1'), true);
    assert.equal(searchExists(home, 'r1', 's2'), false);
    assert.deepEqual(readPareto(home, 'r1', 's1').targets.map((p) => p.target), ['small']);
    assert.throws(() => describeRun(home, 'ghost'), code('UNKNOWN_RUN'));
    assert.throws(() => describeRun(home, 'not-a-run'), code('UNKNOWN_RUN'));
    assert.throws(() => readPareto(home, 'r1', 'ghost'), code('UNKNOWN_SEARCH'));
    assert.throws(() => readPareto(home, 'r1', '..'), code('INVALID_OPTION'));

    saveCheckpoint(path.join(dir, 'checkpoint.tlr'), { space: 'ofa-mbv3-tiny', phase: 2, epoch: 0 }, new Map());
    const [done] = listRuns(home) as any[];
    assert.deepEqual([done.finished, done.epochsDone, done.next, done.predictor.samples, done.searches], [true, 3, null, { train: 8, heldOut: 2 }, ['s1']]);
  });

  it('serves only the files a search emitted, inside the runs folder', () => {
    const home = tempDir();
    const dir = fakeRun(home, 'r1', { phase: 2, epoch: 0 });
    const search = path.join(dir, 'searches', 's1');
    fakeTarget(search, 't', ['subnet-01.onnx', 'subnet-02.onnx']);
    fs.rmSync(path.join(search, 't', 'subnet-02.onnx'));
    const outside = path.join(tempDir(), 'secret.onnx');
    fs.writeFileSync(outside, 'secret');
    fs.symlinkSync(outside, path.join(search, 't', 'subnet-02.onnx'));
    fs.writeFileSync(path.join(search, 't', 'extra.onnx'), 'not listed');

    const onnxFile = resolveDownload(home, 'r1', 's1', 't', 'subnet-01.onnx');
    assert.deepEqual([onnxFile.contentType, onnxFile.size, onnxFile.name], ['application/octet-stream', 4, 't-subnet-01.onnx']);
    assert.equal(resolveDownload(home, 'r1', 's1', 't', 'pareto.svg').contentType, 'image/svg+xml');
    assert.equal(resolveDownload(home, 'r1', 's1', 't', 'pareto.json').contentType, 'application/json');
    assert.throws(() => resolveDownload(home, 'r1', 's1', 't', 'pareto.png'), code('RUN_FILE_NOT_FOUND'), 'listed but missing');
    assert.throws(() => resolveDownload(home, 'r1', 's1', 't', 'extra.onnx'), code('RUN_FILE_NOT_FOUND'), 'not emitted');
    assert.throws(() => resolveDownload(home, 'r1', 's1', 't', 'subnet-02.onnx'), code('RUN_FILE_NOT_FOUND'), 'a symlink out of the runs folder');
    assert.throws(() => resolveDownload(home, 'r1', 's1', 'ghost', 'pareto.svg'), code('RUN_FILE_NOT_FOUND'));
    assert.throws(() => resolveDownload(home, 'r1', 's1', 't', '../../../run.json'), code('INVALID_OPTION'));
    assert.throws(() => resolveDownload(home, 'r1', '..', 't', 'pareto.svg'), code('INVALID_OPTION'));
    assert.throws(() => resolveDownload(home, 'r2', 's1', 't', 'pareto.svg'), code('UNKNOWN_RUN'));
  });

  it('removes what killed writers left (temp files, partial targets of dead processes), nothing else', () => {
    const dir = tempDir();
    const dead = deadPid();
    for (const f of [`checkpoint.tlr.${dead}.1700000000000.tmp`, `checkpoint.tlr.${process.pid}.1700000000000.tmp`, 'checkpoint.tlr', 'x.1.tmp']) fs.writeFileSync(path.join(dir, f), '');
    for (const d of [`.small.partial-${dead}`, `.any.partial-${process.pid}`, 'small']) fs.mkdirSync(path.join(dir, d));
    assert.deepEqual(removeStaleOutputs(dir).sort(), [`.small.partial-${dead}`, `checkpoint.tlr.${dead}.1700000000000.tmp`]);
    assert.deepEqual(fs.readdirSync(dir).sort(), [`.any.partial-${process.pid}`, `checkpoint.tlr.${process.pid}.1700000000000.tmp`, 'checkpoint.tlr', 'small', 'x.1.tmp'].sort());
    assert.deepEqual(removeStaleOutputs(path.join(dir, 'nope')), []);
  });
});
