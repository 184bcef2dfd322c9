import { strict as assert } from 'node:assert';
import { call, events, expectError, runJob, waitFor } from '../http';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INestApplication } from '@nestjs/common';
import { onnx } from 'onnx-proto';
import type * as Ort from 'onnxruntime-node';
import { getSpace } from '../../src/core/space';
import { createApp } from '../../src/main';
import { readCheckpointMeta } from '../../src/training/checkpoint';
import { loadDataset } from '../../src/training/datasets';
import { initEngine } from '../../src/training/engine';
import { CHECKPOINT_FILE, LOG_FILE, trainSupernet } from '../../src/training/trainer';
import { cliAsync, startAgent, tempDir } from '../helpers';

const ort = require('onnxruntime-node') as typeof Ort;

const BOARD_TOKEN = 'board1-runs-e2e-token-0123456789';
// Read once when the service starts: set before createApp.
process.env.TAILOR_AGENT_TOKENS = `board1=${BOARD_TOKEN}`;

interface Server {
  app: INestApplication;
  url: string;
}

async function start(home: string, dataDir: string): Promise<Server> {
  const app = await createApp({ home, dataDir, logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

const TINY_IO = 'ofa-mbv3-tiny@in1-out10';
const targets = [
  { name: 'small', devices: { 'local-cpu': { latencyMs: 50 } }, maxParams: 560_000 },
  { name: 'any', devices: { 'local-cpu': { latencyMs: 500 } } },
];
const searchParams = { run: 'quick', targets, seed: 3, maxSubnets: 2, generations: 4, population: 16, bnImages: 50, resolutions: [20] };

describe('supernet runs over HTTP: train, acc-predictor and search jobs, GET /runs, pareto, downloads', () => {
  const home = tempDir();
  const dataDir = path.join(home, 'data');
  let server: Server;

  before(async () => {
    // A finished quick run (one epoch per phase, trained at resolution 20), made directly: a train
    // job of the same size spends minutes on its per-epoch validation (1000 images, every resolution).
    const engine = await initEngine('wasm');
    const data = await loadDataset('mnist', { cacheDir: tempDir() });
    await trainSupernet(engine, {
      space: { ...getSpace('ofa-mbv3-tiny'), resolutions: [20] }, dataset: data, outDir: path.join(home, 'runs', 'quick'),
      seed: 1, epochsScale: 0.001, batchSize: 16, resume: false, limit: 32, evalImages: 64,
    });
    server = await start(home, dataDir);
  });

  after(async () => {
    await server?.app.close();
  });

  it('checks train, acc-predictor and search jobs before queueing them', async () => {
    const train = { name: 'fresh', space: 'ofa-mbv3-tiny', dataset: 'mnist', epochsScale: 0.001, batchSize: 16, limit: 32 };
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, name: '../escape' } }), 400, /"\.\.\/escape" is not a folder-safe name/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, name: '.hidden' } }), 400, /folder-safe/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, dataset: '/etc' } }), 400, /params\.dataset must be one of/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, arch: '/etc/passwd' } }), 400, /files are not read over HTTP/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, epochsScale: 0 } }), 400, /epochsScale must be a positive number/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, colour: 1 } }), 400, /property colour should not exist/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, space: 'nope' } }), 404, /Unknown search space "nope"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, name: 'quick' } }), 409, /Run "quick" already exists; pass resume: true/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { ...train, name: 'ghost', resume: true } }), 404, /Unknown run "ghost" \(nothing to resume\)/);
    expectError(await call(server, 'POST', '/jobs', { type: 'acc-predictor', params: { run: 'ghost' } }), 404, /Unknown run "ghost"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'acc-predictor', params: { run: '..' } }), 400, /folder-safe/);
    expectError(await call(server, 'POST', '/jobs', { type: 'acc-predictor', params: { run: 'quick', samples: 1 } }), 400, /samples must not be less than 2/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, run: 'ghost' } }), 404, /Unknown run "ghost"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, name: 'a/b' } }), 400, /"a\/b" is not a folder-safe name/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: searchParams }), 400, /has no accuracy predictor yet/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, targets: [] } }), 400, /targets must contain at least 1 elements/);
    assert.deepEqual((await call(server, 'GET', '/jobs')).json, [], 'nothing was queued');
  });

  it('acc-predictor job: progress over SSE, one job per run at a time, the predictor in GET /runs and /runs/:id', async () => {
    const params = { run: 'quick', samples: 6, seed: 1, bnImages: 50, evalImages: 100, epochs: 3 };
    const created = await call(server, 'POST', '/jobs', { type: 'acc-predictor', params });
    assert.equal(created.status, 202, created.text);
    expectError(await call(server, 'POST', '/jobs', { type: 'acc-predictor', params }), 409, /Run "quick" is being written by job/);
    expectError(await call(server, 'POST', '/jobs', { type: 'train', params: { name: 'quick', space: 'ofa-mbv3-tiny', dataset: 'mnist', resume: true } }), 409, /Run "quick" is being written by job/);
    const stream = await events(server, `/jobs/${created.json.id}/events`);
    const last = stream.at(-1)!;
    assert.equal(last.event, 'result', last.data);
    const job = JSON.parse(last.data);
    assert.equal(job.device, 'trainer');
    assert.deepEqual(job.result.samples, { train: 5, heldOut: 1 });
    assert.equal(job.result.measuredNow, 6);
    const progress = stream.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
    assert.ok(progress.some((p) => p.progress > 0 && p.progress < 1 && /^measured \d\/6/.test(p.message)), JSON.stringify(progress.map((p) => p.message)));

    const runs = (await call(server, 'GET', '/runs')).json;
    assert.deepEqual(runs.map((r: { id: string }) => r.id), ['quick']);
    assert.equal(runs[0].finished, true);
    assert.equal(runs[0].epochsDone, 6);
    assert.deepEqual(runs[0].predictor.samples, { train: 5, heldOut: 1 });
    const run = (await call(server, 'GET', '/runs/quick')).json;
    assert.equal(run.run.space, 'ofa-mbv3-tiny');
    assert.equal(run.run.dataset, 'mnist');
    assert.equal(run.training.finished, true);
    assert.equal(run.training.next, null);
    assert.deepEqual(run.training.phases.map((p: { phase: string; logged: number }) => [p.phase, p.logged]), [
      ['teacher', 1], ['kernel', 1], ['depth-1', 1], ['depth-2', 1], ['expand-1', 1], ['expand-2', 1],
    ]);
    assert.equal(run.training.lastEpoch.phase, 'expand-2');
    assert.equal(run.measurements, 6);
    assert.ok(Number.isFinite(run.predictor.heldOut.rmsePoints), JSON.stringify(run.predictor));
    assert.deepEqual(run.predictor.protocol, { bnImages: 50, evalImages: 100 });
    assert.deepEqual(run.searches, []);
  });

  let models: { target: string; file: string; arch: unknown }[] = [];
  it('search job: refused without a latency table; then searches, lists its targets, serves pareto.json, models and plots', async () => {
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: searchParams }), 404, /No latency table for device "local-cpu" and space "ofa-mbv3-tiny@in1-out10"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, targets: [{ name: 'x', devices: { ghost: { latencyMs: 1 } } }] } }), 404, /Unknown device "ghost"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, targets: [{ name: 'x', devices: { 'local-cpu': { latencyMs: -1 } } }] } }), 422, /params\.targets is invalid: targets\[0\]\.devices\.local-cpu\.latencyMs must be a positive number/);
    // The table of the run's network, at the one resolution it was trained at.
    const profiled = await runJob(server, 'profile', { device: 'local-cpu', space: TINY_IO, resolutions: [20], rounds: 1, passes: 2 });
    assert.deepEqual(profiled.job.result.measuredResolutions, [20]);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, resolutions: [21] } }), 400, /21 not in ofa-mbv3-tiny/);

    const created = await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, name: 's1' } });
    assert.equal(created.status, 202, created.text);
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, name: 's1' } }), 409, /Search "s1" of run "quick" is being written by job/);
    const stream = await events(server, `/jobs/${created.json.id}/events`);
    const last = stream.at(-1)!;
    const job = JSON.parse(last.data);
    assert.equal(last.event, 'result', JSON.stringify(job.error));
    assert.equal(job.device, 'trainer');
    assert.deepEqual(job.result.targets.map((t: { target: string }) => t.target), ['small', 'any']);
    // (The first event is the job's state when the stream opened.)
    const progress = stream.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data)).filter((p) => p.message);
    assert.ok(progress.length > 0 && progress.every((p) => /^(small|any): (searching|scoring \d+ front candidates|exporting)/.test(p.message) && p.progress >= 0 && p.progress <= 1), JSON.stringify(progress.map((p) => p.message)));
    expectError(await call(server, 'POST', '/jobs', { type: 'search', params: { ...searchParams, name: 's1' } }), 409, /Search "s1" of run "quick" already exists/);

    const run = (await call(server, 'GET', '/runs/quick')).json;
    assert.equal(run.searches.length, 1);
    const search = run.searches[0];
    assert.equal(search.id, 's1');
    assert.equal(search.complete, true);
    assert.equal(search.request.algorithm, 'nsga2', 'the defaults were filled in');
    assert.deepEqual(search.request.targets.map((t: { name: string }) => t.name), ['small', 'any']);
    assert.deepEqual(search.targets.map((t: { name: string }) => t.name).sort(), ['any', 'small']);
    assert.deepEqual((await call(server, 'GET', '/runs')).json[0].searches, ['s1']);

    const pareto = await call(server, 'GET', '/runs/quick/searches/s1/pareto');
    assert.equal(pareto.status, 200, pareto.text);
    assert.equal(pareto.json.targets.length, 2);
    for (const p of pareto.json.targets) {
      assert.equal(p.algorithm, 'nsga2');
      assert.equal(p.seed, 3);
      assert.ok(p.subnets.length >= 1 && p.subnets.length <= 2);
      const listed = search.targets.find((t: { name: string }) => t.name === p.target);
      assert.deepEqual(listed.subnets.map((s: { url: string }) => s.url), p.subnets.map((s: { file: string }) => `/runs/quick/searches/s1/targets/${p.target}/${s.file}`));
      for (const s of p.subnets) {
        assert.equal(s.arch.r, 20);
        models.push({ target: p.target, file: s.file, arch: s.arch });
      }
    }
    for (const p of pareto.json.targets.filter((x: { target: string }) => x.target === 'small')) for (const s of p.subnets) assert.ok(s.params <= 560_000);
  });

  it('downloads each emitted model (loadable by onnxruntime, its arch in the metadata) and the plots', async () => {
    assert.ok(models.length >= 2);
    for (const m of models) {
      const res = await fetch(`${server.url}/runs/quick/searches/s1/targets/${m.target}/${m.file}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.match(res.headers.get('content-disposition') ?? '', new RegExp(`attachment; filename="${m.target}-${m.file}"`));
      const bytes = new Uint8Array(await res.arrayBuffer());
      assert.equal(Number(res.headers.get('content-length')), bytes.length);
      const session = await ort.InferenceSession.create(bytes);
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', new Float32Array(400), [1, 1, 20, 20]) });
      assert.equal(out[session.outputNames[0]].dims.at(-1), 10);
      await session.release();
      const meta = onnx.ModelProto.decode(bytes).metadataProps.find((p) => p.key === 'arch')!.value!;
      assert.deepEqual(JSON.parse(meta), m.arch);
    }
    const png = await fetch(`${server.url}/runs/quick/searches/s1/targets/small/pareto.png`);
    assert.equal(png.status, 200);
    assert.equal(png.headers.get('content-type'), 'image/png');
    assert.deepEqual([...new Uint8Array(await png.arrayBuffer()).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    const svg = await fetch(`${server.url}/runs/quick/searches/s1/targets/any/pareto.svg`);
    assert.equal(svg.status, 200);
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    assert.match(await svg.text(), /^<svg/);
    const json = await call(server, 'GET', '/runs/quick/searches/s1/targets/any/pareto.json');
    assert.equal(json.json.target, 'any');
  });

  it('404 for unknown runs, searches, targets and files; 400 for ids that are not folder-safe names', async () => {
    expectError(await call(server, 'GET', '/runs/ghost'), 404, /Unknown run "ghost"/);
    expectError(await call(server, 'GET', '/runs/quick/searches/ghost/pareto'), 404, /Run "quick" has no search "ghost"/);
    expectError(await call(server, 'GET', '/runs/ghost/searches/s1/pareto'), 404, /Unknown run "ghost"/);
    expectError(await call(server, 'GET', '/runs/quick/searches/s1/targets/ghost/pareto.png'), 404, /no target "ghost"/);
    expectError(await call(server, 'GET', '/runs/quick/searches/s1/targets/any/subnet-99.onnx'), 404, /no file "subnet-99\.onnx"/);
    expectError(await call(server, 'GET', '/runs/quick/searches/s1/targets/any/.search.json'), 400, /folder-safe/);
    expectError(await call(server, 'GET', '/runs/quick/searches/s1/targets/any/%2E%2E%2F%2E%2E%2F%2E%2E%2Frun.json'), 400, /"\.\.\/\.\.\/\.\.\/run\.json" is not a folder-safe name/);
    expectError(await call(server, 'GET', '/runs/quick/searches/%2E%2E%2Fquick/pareto'), 400, /"\.\.\/quick" is not a folder-safe name/);
    expectError(await call(server, 'GET', '/runs/..quick'), 400, /folder-safe/);
    expectError(await call(server, 'GET', '/runs/a%20b'), 400, /folder-safe/);
    expectError(await call(server, 'GET', `/runs/${'a'.repeat(65)}`), 400, /folder-safe/);
  });

  it('search --server from the CLI: a search job (measure: queued on the measuring device, name derived), followed and printed as locally; no subnet within budget exits 1', async () => {
    const dir = tempDir();
    const file = (name: string, latencyMs: number) => {
      fs.writeFileSync(path.join(dir, name), JSON.stringify({ targets: [{ name: 'any', devices: { 'local-cpu': { latencyMs } } }] }));
      return path.join(dir, name);
    };
    const args = ['search', '--server', server.url, '--supernet', 'quick', '--seed', '3', '--max-subnets', '1', '--generations', '2', '--population', '8', '--rescore', '0', '--bn-images', '50', '--resolutions', '20'];
    const r = await cliAsync([...args, '--targets', file('targets.json', 500), '--measure', '--test-images', '50']);
    assert.equal(r.status, 0, r.stderr);
    const id = /job ([0-9a-f-]{36}) on http/.exec(r.stderr)![1];
    const job = (await call(server, 'GET', `/jobs/${id}`)).json;
    assert.equal(job.device, 'local-cpu');
    assert.match(job.params.name, /^nsga2-seed3-\d{8}T\d{6}-[0-9a-f]{4}$/);
    assert.equal(job.params.reward, 'soft', 'defaults filled in');
    assert.match(r.stdout, /^\nany: nsga2 \(seed 3\), \d+ subnets evaluated, \d+ on the Pareto front, hypervolume [\d.]+\nfile\s+top-1 predicted\s+top-1 measured\s+local-cpu predicted ms\s+local-cpu measured ms\s+MMACs\s+params\n/);
    assert.match(r.stdout, /\nsubnet-01\.onnx\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+\nlocal-cpu: \d+% of emitted subnets within ±10% of the prediction/);
    assert.ok(r.stdout.includes(`written on the server: runs/quick/searches/${job.params.name}/any/{pareto.json, pareto.svg, pareto.png, subnet-*.onnx, subnet-*.tflite}; download: GET ${server.url}/runs/quick/searches/${job.params.name}/targets/any/<file>`), r.stdout);

    const none = await cliAsync([...args, '--targets', file('impossible.json', 1e-6), '--name', 'impossible']);
    assert.equal(none.status, 1, none.stderr);
    assert.match(none.stderr, /error: Job [0-9a-f-]{36} on http:\/\/127\.0\.0\.1:\d+ failed: No subnet of ofa-mbv3-tiny meets target "any" \(latency on local-cpu <= 0 ms\)/);
  });

  it('search job with measure: true on a remote board: queued on the board, its emitted subnets measured by the board\'s agent through the hub', async () => {
    fs.mkdirSync(path.join(home, 'devices'), { recursive: true });
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify({ id: 'board1', name: 'Board 1', backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' } }));
    const board = startAgent(server, 'board1', BOARD_TOKEN, path.join(home, 'agent-cache'));
    try {
      // The board's own table of the run's network, profiled through its agent (the search predicts from it).
      const profiled = await runJob(server, 'profile', { device: 'board1', space: TINY_IO, resolutions: [20], rounds: 1, passes: 1 });
      assert.deepEqual(profiled.job.result.measuredResolutions, [20]);
      const targets = [{ name: 'board', devices: { board1: { latencyMs: 500 } } }];
      const params = { ...searchParams, name: 'on-board', targets, maxSubnets: 1, generations: 2, population: 8, rescore: 0, measure: true, testImages: 50, strict: true };
      const { job, progress } = await runJob(server, 'search', params);
      assert.equal(job.device, 'board1', 'queued on the board it measures on');
      assert.ok(progress.some((p) => /^board: measuring on board1/.test(p.message)), JSON.stringify(progress.map((p) => p.message)));

      const pareto = (await call(server, 'GET', '/runs/quick/searches/on-board/targets/board/pareto.json')).json;
      assert.equal(pareto.subnets.length, 1);
      assert.ok(Number.isFinite(pareto.measured.board1.speedFactor), JSON.stringify(pareto.measured));
      const [subnet] = pareto.subnets;
      const figure = subnet.latencyMs.board1;
      assert.ok(figure.predicted > 0 && figure.measured > 0, JSON.stringify(figure));
      // The board ran the emitted model itself: the agent logs the model's sha256 with each measurement.
      const sha = createHash('sha256').update(fs.readFileSync(path.join(home, 'runs', 'quick', 'searches', 'on-board', 'board', subnet.file))).digest('hex');
      assert.match(board.output(), new RegExp(`measure \\(\\d+ warm-up, \\d+ timed runs\\) of model ${sha.slice(0, 12)} on ort-cpu: median`), board.output());
    } finally {
      board.child.kill('SIGKILL');
      await board.exited;
    }
  });

  it('a train job runs on the trainer queue and resumes from its checkpoint after the service restarts', async () => {
    const params = { name: 'resumable', space: 'ofa-mbv3-tiny', dataset: 'mnist', epochsScale: 0.001, batchSize: 16, limit: 32, seed: 2 };
    const created = await call(server, 'POST', '/jobs', { type: 'train', params });
    assert.equal(created.status, 202, created.text);
    const job = (await call(server, 'GET', `/jobs/${created.json.id}`)).json;
    assert.equal(job.device, 'trainer');
    assert.deepEqual(job.params, params);
    // Progress over the whole schedule: 6 phases of one epoch, two steps each.
    const seen = await events(server, `/jobs/${created.json.id}/events`, (e) => e.event === 'progress' && /^kernel/.test(JSON.parse(e.data).message));
    const progress = seen.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
    assert.ok(progress.some((p) => /^teacher epoch 1\/1 loss/.test(p.message) && Math.abs(p.progress - 1 / 12) < 1e-3), JSON.stringify(progress));
    await server.app.close(); // graceful stop: the job is interrupted after its teacher epoch
    const dir = path.join(home, 'runs', 'resumable');
    assert.equal(readCheckpointMeta(path.join(dir, CHECKPOINT_FILE)).phase, 1, 'checkpoint after the teacher phase');

    server = await start(home, dataDir);
    const resumed = await waitFor('resumed training', async () => {
      const j = (await call(server, 'GET', `/jobs/${created.json.id}`)).json;
      return j.attempts === 2 && / epoch /.test(j.message) && j;
    });
    assert.match(resumed.message, /^kernel epoch 1\/1/, 'continued at the kernel phase, not from the start');
    assert.ok(resumed.progress > 2 / 12, `progress ${resumed.progress}`);
    const listed = (await call(server, 'GET', '/runs')).json.find((r: { id: string }) => r.id === 'resumable');
    assert.equal(listed.finished, false);
    assert.equal(listed.epochsDone >= 1, true);
    assert.equal((await call(server, 'DELETE', `/jobs/${created.json.id}`)).status, 200);
    await waitFor('train job cancelled', async () => (await call(server, 'GET', `/jobs/${created.json.id}`)).json.status === 'cancelled');
    const phases = fs.readFileSync(path.join(dir, LOG_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l).phase);
    assert.deepEqual(phases.filter((p) => p === 'teacher'), ['teacher'], 'the teacher epoch ran once');
  });

  it('documents the runs routes and the new job params in OpenAPI', async () => {
    const spec = (await call(server, 'GET', '/docs-json')).json;
    for (const p of ['/runs', '/runs/{id}', '/runs/{id}/searches/{search}/pareto', '/runs/{id}/searches/{search}/targets/{target}/{file}']) {
      assert.ok(spec.paths[p], `${p} documented`);
    }
    for (const schema of ['TrainJobParams', 'AccPredictorJobParams', 'SearchJobParams', 'TargetDto']) assert.ok(spec.components.schemas[schema], schema);
    assert.deepEqual(spec.components.schemas.CreateJobDto.properties.type.enum, ['profile', 'validate', 'train', 'acc-predictor', 'search']);
  });
});
