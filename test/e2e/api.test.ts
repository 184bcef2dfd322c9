import { strict as assert } from 'node:assert';
import { call, events, waitFor, expectError } from '../http';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INestApplication } from '@nestjs/common';
import { resolveArch } from '../../src/core/arch-source';
import { JobStore } from '../../src/jobs/job-store';
import { createApp } from '../../src/main';
import { workspace } from '../../src/core/workspace';
import { KernelsService } from '../../src/kernels/kernels.service';
import { DeviceService } from '../../src/runtime/device.service';
import { NET_30MS, NOTE10_YAMLS, REPO, cli, tempDir } from '../helpers';
import { tinyModel, writeRegressors } from '../gate-fixtures';

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





const tiny = { device: 'local-cpu', space: 'ofa-mbv3-w1.0', rounds: 1, passes: 1 };

describe('HTTP service (real app on an ephemeral port)', () => {
  const home = tempDir();
  const dataDir = path.join(home, 'data');
  let server: Server;

  before(async () => {
    assert.equal(cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', 'ofa-mbv3-w1.2', ...NOTE10_YAMLS], home).status, 0);
    server = await start(home, dataDir);
  });
  after(async () => {
    await server.app.close();
  });

  it('GET /health', async () => {
    const r = await call(server, 'GET', '/health');
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'ok');
    assert.match(r.json.version, /^\d+\.\d+\.\d+/);
  });

  it('GET /devices and /devices/:id with a live fingerprint', async () => {
    const list = await call(server, 'GET', '/devices');
    assert.deepEqual(list.json.map((d: { id: string }) => d.id).sort(), ['local-cpu', 'local-tflite', 'note10']);
    const local = await call(server, 'GET', '/devices/local-cpu');
    assert.equal(local.json.backend, 'ort-cpu');
    assert.ok(local.json.live.hash);
    assert.equal((await call(server, 'GET', '/devices/note10')).json.live, null);
    expectError(await call(server, 'GET', '/devices/nope'), 404, /Unknown device "nope"/);
  });

  it('GET /spaces and /spaces/:id', async () => {
    const list = await call(server, 'GET', '/spaces');
    assert.deepEqual(list.json.map((s: { id: string }) => s.id), ['ofa-mbv3-w1.0', 'ofa-mbv3-w1.2', 'ofa-mbv3-tiny']);
    const one = await call(server, 'GET', '/spaces/ofa-mbv3-w1.2');
    assert.equal(one.json.stages[0].width, 32);
    expectError(await call(server, 'GET', '/spaces/ofa-x'), 404, /Unknown search space/);
  });

  it('GET /latency-tables and /latency-tables/:device/:space', async () => {
    const list = await call(server, 'GET', '/latency-tables');
    assert.equal(list.json.length, 1);
    assert.equal(list.json[0].device, 'note10');
    const t = await call(server, 'GET', '/latency-tables/note10/ofa-mbv3-w1.2');
    assert.deepEqual(t.json.resolutions, [160, 176, 192, 208, 224]);
    assert.ok(t.json.entries['224']['Conv-input:224x224x3-output:112x112x24']);
    expectError(await call(server, 'GET', '/latency-tables/note10/ofa-mbv3-w1.0'), 404, /No latency table/);
    expectError(await call(server, 'GET', '/latency-tables/ghost/ofa-mbv3-w1.0'), 404, /Unknown device/);
  });

  it('POST /latency/predict: one arch, a batch, and every bad input', async () => {
    const arch = resolveArch(NET_30MS).arch!;
    const one = await call(server, 'POST', '/latency/predict', { device: 'note10', arch });
    assert.equal(one.status, 200);
    assert.ok(Math.abs(one.json.latencyMs - 29.965) <= 0.01);
    assert.ok(one.json.breakdown.length > 10);
    const archs = Array.from({ length: 1000 }, (_, i) => `random:${i}`);
    const batch = await call(server, 'POST', '/latency/predict', { device: 'note10', space: 'ofa-mbv3-w1.2', archs: archs.map((a) => ({ ...resolveArch(a, 'ofa-mbv3-w1.2').arch, r: 176 })) });
    assert.equal(batch.status, 200, batch.text);
    assert.equal(batch.json.count, 1000);
    assert.ok(batch.json.results.every((p: { latencyMs: number }) => p.latencyMs > 0));

    expectError(await call(server, 'POST', '/latency/predict', undefined, { raw: '{"device": "note10", "arch": ' }), 400, /Malformed JSON/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10', arch, colour: 'red' }), 400, /colour should not exist/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10' }), 400, /give "arch"/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10', arch: { ...arch, ks: [4, ...arch.ks.slice(1)] } }), 422, /ks\[0\] = 4/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10', arch: { ...arch, r: 220 } }), 422, /Resolution 220 is not in the latency table/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'ghost', arch }), 404, /Unknown device "ghost"/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10', arch: '/etc/passwd' }), 400, /config object/);
    expectError(await call(server, 'POST', '/latency/predict', { device: 'note10', archs: Array(10_001).fill('max'), space: 'ofa-mbv3-w1.2' }), 413, /at most 10000/);
    assert.equal((await call(server, 'GET', '/health')).status, 200, 'still serving');
  });

  it('runs a small real profiling job and streams its progress over SSE', async () => {
    const created = await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, resolutions: [128] } });
    assert.equal(created.status, 202, created.text);
    assert.equal(created.json.status, 'queued');
    const stream = await events(server, `/jobs/${created.json.id}/events`);
    const progress = stream.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data));
    const last = stream.at(-1)!;
    assert.equal(last.event, 'result', JSON.stringify(stream.at(-1)));
    const done = JSON.parse(last.data);
    assert.equal(done.status, 'succeeded');
    assert.deepEqual(done.result.measuredResolutions, [128]);
    assert.ok(progress.length >= 2);
    assert.ok(progress.some((p) => p.progress > 0 && p.progress < 1 && p.message));
    const job = await call(server, 'GET', `/jobs/${created.json.id}`);
    assert.equal(job.json.progress, 1);
    assert.ok((await call(server, 'GET', '/jobs')).json.some((j: { id: string }) => j.id === created.json.id));
    // The table is there and predicts.
    const p = await call(server, 'POST', '/latency/predict', { device: 'local-cpu', space: 'ofa-mbv3-w1.0', arch: { ...resolveArch('min', 'ofa-mbv3-w1.0').arch, r: 128 } });
    assert.equal(p.status, 200, p.text);
  });

  it('rejects bad jobs, locks tables, cancels', async () => {
    expectError(await call(server, 'POST', '/jobs', { type: 'bake', params: {} }), 400, /type must be one of/);
    expectError(await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, colour: 1 } }), 400, /params\.property colour should not exist/);
    expectError(await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, device: 'ghost' } }), 404, /Unknown device "ghost"/);
    expectError(await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, resolutions: [129] } }), 400, /129 not in ofa-mbv3-w1.0/);
    expectError(await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, device: 'note10', space: 'ofa-mbv3-w1.2' } }), 409, /table-only device/);
    expectError(await call(server, 'POST', '/jobs', { type: 'validate', params: { device: 'local-cpu', space: 'ofa-mbv3-w1.2', samples: 3 } }), 404, /No latency table/);
    expectError(await call(server, 'GET', '/jobs/nope'), 404, /Unknown job "nope"/);
    expectError(await call(server, 'DELETE', '/jobs/nope'), 404, /Unknown job/);

    const first = await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, resolutions: [132, 136, 140], passes: 3 } });
    assert.equal(first.status, 202);
    expectError(await call(server, 'POST', '/jobs', { type: 'profile', params: { ...tiny, resolutions: [144] } }), 409, /being written by job/);
    // A validate job on the same device queues behind it (one measurement at a time per device).
    const queued = await call(server, 'POST', '/jobs', { type: 'validate', params: { device: 'local-cpu', space: 'ofa-mbv3-w1.0', samples: 2, resolutions: [128], passes: 1 } });
    assert.equal(queued.status, 202);
    await waitFor('first job running', async () => (await call(server, 'GET', `/jobs/${first.json.id}`)).json.status === 'running');
    assert.equal((await call(server, 'GET', `/jobs/${queued.json.id}`)).json.status, 'queued');
    const cancelled = await call(server, 'DELETE', `/jobs/${first.json.id}`);
    assert.equal(cancelled.status, 200);
    const final = await waitFor('cancelled', async () => {
      const j = (await call(server, 'GET', `/jobs/${first.json.id}`)).json;
      return j.status === 'cancelled' && j;
    });
    assert.equal(final.status, 'cancelled');
    expectError(await call(server, 'DELETE', `/jobs/${first.json.id}`), 409, /already finished/);
    const validated = await waitFor('validate job done', async () => {
      const j = (await call(server, 'GET', `/jobs/${queued.json.id}`)).json;
      return ['succeeded', 'failed'].includes(j.status) && j;
    });
    assert.equal(validated.status, 'succeeded', JSON.stringify(validated.error));
    assert.equal(validated.result.samples, 2);
    assert.ok(validated.result.within10 >= 0 && validated.result.rows.length === 2);

    // validate --models answers with this JSON: the same keys and row keys, space and seed null; "models" (rows: "model", "unsupportedNodes") added
    writeRegressors(home); // deterministic kernel regressors, without profiling
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'tiny.onnx'), tinyModel());
    const byModel = await new KernelsService(new DeviceService(workspace(home))).validate('local-cpu', dir, { passes: 1, warmup: 1, runsPerPass: 1 });
    assert.deepEqual(Object.keys(byModel).filter((k) => k !== 'models'), Object.keys(validated.result));
    assert.deepEqual(Object.keys(byModel.rows[0]).filter((k) => !['model', 'unsupportedNodes'].includes(k)), Object.keys(validated.result.rows[0]));
    assert.deepEqual(Object.keys(byModel.uncalibrated), Object.keys(validated.result.uncalibrated));
    assert.deepEqual([byModel.space, byModel.seed, byModel.rows[0].arch, byModel.rows[0].model], [null, null, null, 'tiny.onnx']);
  });

  it('refuses a second service on the same data directory', async () => {
    await assert.rejects(createApp({ home, dataDir, logger: false }), /in use by another Tailor service/);
    assert.equal((await call(server, 'GET', '/health')).status, 200, 'the first keeps serving');
  });

  it('serves OpenAPI docs for every route', async () => {
    const html = await call(server, 'GET', '/docs');
    assert.equal(html.status, 200);
    const spec = await call(server, 'GET', '/docs-json');
    const paths = Object.keys(spec.json.paths);
    for (const p of ['/health', '/devices', '/devices/{id}', '/spaces', '/spaces/{id}', '/latency-tables', '/latency-tables/{device}/{space}', '/latency/predict', '/jobs', '/jobs/{id}', '/jobs/{id}/events']) {
      assert.ok(paths.includes(p), `${p} documented`);
    }
    for (const schema of ['PredictDto', 'CreateJobDto', 'ProfileJobParams', 'ValidateJobParams']) assert.ok(spec.json.components.schemas[schema], schema);
  });
});

/** The real server entry in its own process, so real signals can stop it. */
async function spawnServer(home: string, dataDir: string): Promise<{ child: ChildProcess; server: Server }> {
  const port = await new Promise<number>((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
  const child = spawn(process.execPath, [path.join(REPO, '.test-build', 'src', 'main.js')], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TAILOR_HOME: home, TAILOR_DATA_DIR: dataDir },
    stdio: 'ignore',
  });
  const server = { app: null as unknown as INestApplication, url: `http://127.0.0.1:${port}` };
  await waitFor('server up', async () => (await fetch(`${server.url}/health`).catch(() => null))?.ok);
  return { child, server };
}

describe('HTTP service restart', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`resumes a profiling job after ${signal} without re-measuring finished resolutions`, async () => {
      const home = tempDir();
      const dataDir = path.join(home, 'data');
      const { child, server: first } = await spawnServer(home, dataDir);
      const created = await call(first, 'POST', '/jobs', { type: 'profile', params: { ...tiny, resolutions: [128, 132], passes: 3 } });
      assert.equal(created.status, 202);
      const table = path.join(home, 'latency-tables', 'local-cpu', 'ofa-mbv3-w1.0.json');
      await waitFor('first resolution saved', async () => fs.existsSync(table));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill(signal);
      await exited;
      const store = new JobStore(dataDir);
      // Graceful stop records the interruption; after kill -9 the record still says running.
      assert.equal(store.get(created.json.id)!.status, signal === 'SIGTERM' ? 'interrupted' : 'running');
      store.close();
      const saved = JSON.parse(fs.readFileSync(table, 'utf8'));
      assert.deepEqual(saved.resolutions, [128], 'the finished resolution is on disk, intact');

      const server = await start(home, dataDir);
      try {
        const done = await waitFor('resumed job finished', async () => {
          const j = (await call(server, 'GET', `/jobs/${created.json.id}`)).json;
          return ['succeeded', 'failed'].includes(j.status) && j;
        });
        assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
        assert.equal(done.attempts, 2);
        assert.deepEqual(done.result.skippedResolutions, [128], 'the finished resolution was not measured again');
        assert.deepEqual(done.result.resolutions, [128, 132]);
        const after = JSON.parse(fs.readFileSync(table, 'utf8'));
        assert.deepEqual(after.entries['128'], saved.entries['128']);
      } finally {
        await server.app.close();
      }
    });
  }
});
