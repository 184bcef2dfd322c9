import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INestApplication } from '@nestjs/common';
import { minArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { exportOnnx } from '../../src/export/onnx';
import { seededWeights } from '../../src/export/weights';
import { createApp } from '../../src/main';
import { agentFingerprint } from '../../src/runtime/agent/protocol';
import { AgentProcess, cliAsync, startAgent, tempDir } from '../helpers';
import { call, events, expectError, runJob, waitFor } from '../http';

const TOKEN = 'board1-e2e-token-0123456789';
const BOARD2_TOKEN = 'board2-e2e-token-0123456789';
const SPACE = 'ofa-mbv3-tiny@in1-out10';

// Read once when the service starts: set before createApp.
process.env.TAILOR_AGENT_TOKENS = `board1=${TOKEN},board2=${BOARD2_TOKEN}`;
process.env.TAILOR_AGENT_HEARTBEAT_MS = '300';
process.env.TAILOR_AGENT_MISSED_HEARTBEATS = '3';
process.env.TAILOR_AGENT_WORK_TIMEOUT_MS = '60000';

interface Server {
  app: INestApplication;
  url: string;
}

describe('remote boards: tailor agent against the real service', () => {
  const home = tempDir('tailor-agent-e2e-');
  const cache = path.join(home, 'agent-cache');
  let server: Server;
  const agents: AgentProcess[] = [];
  const agent = (token = TOKEN, device = 'board1') => {
    const a = startAgent(server, device, token, cache);
    agents.push(a);
    return a;
  };

  before(async () => {
    fs.mkdirSync(path.join(home, 'devices'));
    const board = { id: 'board1', name: 'Board 1', backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' }, notes: 'this machine, through its agent' };
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify(board));
    const app = await createApp({ home, dataDir: path.join(home, 'data'), logger: false });
    await app.listen(0, '127.0.0.1');
    server = { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
  });

  after(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await server?.app.close();
  });

  it('refuses a wrong or missing token: the agent exits with code 2 and says why', async () => {
    const wrong = agent('wrong-token-wrong-token');
    assert.equal(await wrong.exited, 2);
    assert.match(wrong.output(), /error: The server http:\/\/127\.0\.0\.1:\d+ refused the token of device "board1" \(HTTP 401: Agent refused: the token is not valid for device "board1"\.\)/);
    assert.doesNotMatch(wrong.output(), /wrong-token-wrong-token/);
    const body = { deviceId: 'board1', machine: { cpu: 'x', cores: 1, physicalCores: 1, flags: [], memoryGb: 1, os: 'x', arch: 'x' }, backends: [{ name: 'ort-cpu', runtime: 'x' }], clock: Date.now() };
    expectError(await call(server, 'POST', '/agents/register', body), 401, /missing Authorization: Bearer <token>/);
    // Known token, but no agent device of that id on the server.
    expectError(await call(server, 'POST', '/agents/register', { ...body, deviceId: 'board2' }, { headers: { authorization: 'Bearer board2-e2e-token-0123456789' } }), 409, /no devices\/board2\.json on the server/);
    // Malformed and oversized messages.
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    expectError(await call(server, 'POST', '/agents/register', { ...body, clock: 'noon' }, auth), 400, /clock must be an integer/);
    expectError(await call(server, 'POST', '/agents/register', '{"deviceId": ', auth), 400, /Malformed JSON/);
    const big = await call(server, 'POST', '/agents/board1/results/x', { lease: 'x', times: Array(1_200_000).fill(1.2345678) }, auth);
    expectError(big, 413, /Agent message too large: \d+ bytes \(limit 8388608 bytes\)/);
    expectError(await call(server, 'GET', `/agents/board1/work?session=${crypto.randomUUID()}`, undefined, auth), 404, /No agent of "board1" is registered/);
    expectError(await call(server, 'GET', `/agents/models/${'a'.repeat(64)}`, undefined, auth), 404, /has no work "model/);
    expectError(await call(server, 'GET', '/agents/board1/internal/report?wait=0', undefined, { headers: { 'x-tailor-hub-key': 'guess' } }), 401, /internal route/);
    // A malformed TAILOR_AGENT_TOKENS stops the service from starting, naming the entry, never a token.
    const serve = await cliAsync(['--home', tempDir(), 'serve', '--port', '1'], { env: { ...process.env, TAILOR_AGENT_TOKENS: `board1=${TOKEN},board2` } });
    assert.equal(serve.status, 2);
    assert.match(serve.stderr, /error: Invalid TAILOR_AGENT_TOKENS: entry 2 has no "=" \(expected deviceId=token pairs separated by commas\)/);
    assert.doesNotMatch(serve.stderr, new RegExp(TOKEN));
  });

  it('profiles and validates the board through its agent (POST /jobs); the table records the board\'s fingerprint', async () => {
    const board = agent();
    const view = await waitFor('the agent to register', async () => {
      const r = await call(server, 'GET', '/agents/board1');
      return r.json?.status === 'online' && r.json;
    });
    assert.equal(view.runtime, 'ort-cpu');
    assert.match(view.fingerprint.runtime, /^onnxruntime-node /);
    const list = await call(server, 'GET', '/agents');
    assert.deepEqual(list.json.map((a: { id: string; status: string }) => [a.id, a.status]), [['board1', 'online']]);
    const device = await call(server, 'GET', '/devices/board1');
    assert.equal(device.json.live.hash, view.fingerprint.hash, 'GET /devices/:id shows the live fingerprint the agent reported');

    const { job: profile } = await runJob(server, 'profile', { device: 'board1', space: SPACE, resolutions: [20], rounds: 1, passes: 2 });
    assert.deepEqual(profile.result.measuredResolutions, [20]);
    const table = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'board1', `${SPACE}.json`), 'utf8'));
    assert.equal(table.device.fingerprint.hash, view.fingerprint.hash);
    assert.deepEqual([table.backend.name, table.backend.version, table.backend.threads], ['agent', view.fingerprint.runtime, 1]);
    assert.ok(Object.keys(table.entries['20']).length > 10);

    const { job: validate } = await runJob(server, 'validate', { device: 'board1', space: SPACE, samples: 3, passes: 2 });
    assert.equal(validate.result.rows.length, 3);
    assert.ok(validate.result.rows.every((r: { measuredMs: number }) => r.measuredMs > 0));

    // The gate (POST /gate, measure: true): an exported subnet, predicted from the board's new table and measured through its agent.
    const tiny = getSpace(SPACE);
    const arch = { ...minArch(tiny, 20), space: tiny.id };
    const model = exportOnnx(buildIR(netFromArch(tiny, arch)), { weights: seededWeights(3), metadata: { space: tiny.id, arch: JSON.stringify(arch) } });
    const form = new FormData();
    form.append('model', new Blob([Buffer.from(model)]), 'subnet.onnx');
    form.append('limits', JSON.stringify({ latency: { board1: '1 s' } }));
    form.append('measure', 'true');
    const gated = await fetch(`${server.url}/gate`, { method: 'POST', body: form });
    const report = await gated.json();
    assert.equal(gated.status, 200, JSON.stringify(report));
    const figure = report[0].metrics.latencyMs.board1;
    assert.ok(figure.predicted > 0 && figure.measured > 0, JSON.stringify(figure));
    assert.equal(report[0].passed, true);

    assert.match(board.output(), /registered as "board1"/);
    assert.match(board.output(), /downloaded model [0-9a-f]{12}/);
    assert.match(board.output(), /finish of profiled model [0-9a-f]{12} on ort-cpu: 4 profiled run\(s\)/);
  });

  it('from the CLI: --server follows a job; a job worker\'s process reaches the hub; without a service the board is refused', async () => {
    const viaServer = await cliAsync(['validate', '--server', server.url, '--device', 'board1', '--space', SPACE, '--samples', '2', '--passes', '1', '--json']);
    assert.equal(viaServer.status, 0, viaServer.stderr);
    assert.equal(JSON.parse(viaServer.stdout).rows.length, 2);
    assert.match(viaServer.stderr, /job [0-9a-f-]{36} on http/);
    const profile = await cliAsync(['profile', '--server', server.url, '--device', 'board1', '--space', SPACE, '--resolutions', '24', '--rounds', '1', '--passes', '1']);
    assert.equal(profile.status, 0, profile.stderr);
    assert.match(profile.stdout, /table \(on the server\): .*board1.*\nmeasured 1 resolution\(s\) \(\d+ networks\)\ntable now covers resolutions 20, 24/);
    const refused = await cliAsync(['profile', '--server', server.url, '--device', 'ghost', '--space', SPACE]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /error: Job \(profile\) on http:\/\/127\.0\.0\.1:\d+ was refused: Unknown device "ghost"/);

    // A process with the environment the service gives its job workers (search --measure runs there).
    const worker = await cliAsync(['--home', home, 'validate', '--device', 'board1', '--space', SPACE, '--samples', '2', '--passes', '1', '--json']);
    assert.equal(worker.status, 0, worker.stderr);
    assert.equal(JSON.parse(worker.stdout).rows.length, 2);

    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAILOR_AGENT_HUB_')));
    const alone = await cliAsync(['--home', home, 'profile', '--device', 'board1', '--space', SPACE, '--resolutions', '28'], { env });
    assert.equal(alone.status, 2);
    assert.match(alone.stderr, /Device "board1" is a remote board \(backend agent\): it is measured through the service its agent connects to/);
  });

  it('gate --server measures on the board through the service (exit 0 within budget, 1 over it); search --server passes the service\'s refusal on; locally the gate names --server', async () => {
    const dir = tempDir('tailor-agent-gate-');
    const tiny = getSpace(SPACE);
    const arch = { ...minArch(tiny, 20), space: tiny.id };
    fs.writeFileSync(path.join(dir, 'subnet.onnx'), exportOnnx(buildIR(netFromArch(tiny, arch)), { weights: seededWeights(3), metadata: { space: tiny.id, arch: JSON.stringify(arch) } }));
    const config = (name: string, limit: string) => {
      fs.writeFileSync(path.join(dir, name), JSON.stringify({ budgets: [{ name: 'board', model: 'subnet.onnx', limits: { latency: { board1: limit } }, measure: true }] }));
      return path.join(dir, name);
    };
    const baseline = path.join(dir, 'baseline.json');
    const ok = await cliAsync(['gate', '--server', server.url, '--config', config('ok.json', '1 s'), '--save-baseline', baseline]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^board \(subnet\.onnx\): PASS\n/);
    assert.match(ok.stdout, /latency board1 \(predicted\)\s+[\d.]+ ms\s+1 s\s+pass\nlatency board1 \(measured\)\s+[\d.]+ ms\s+1 s\s+pass\n/);
    assert.match(ok.stdout, /note: figures from the Tailor service at http:\/\/127\.0\.0\.1:\d+\nnote: board1: latency predicted from its lookup table/);
    const measured = JSON.parse(fs.readFileSync(baseline, 'utf8'))[0].metrics.latencyMs.board1.measured;
    assert.ok(measured > 0, String(measured));
    const over = await cliAsync(['gate', '--server', server.url, '--config', config('over.json', '0.001 ms'), '--baseline', baseline, '--format', 'markdown']);
    assert.equal(over.status, 1, over.stderr);
    assert.match(over.stdout, /❌ Tailor gate: 1 of 1 budget\(s\) exceeded/);
    assert.match(over.stdout, /\| `board` \| latency board1 \(measured\) \| [\d.]+ ms \| 0\.001 ms \| [▲▼=] [^|]+ \| ❌ \|/);
    // The budgets name the service's devices.
    fs.writeFileSync(path.join(dir, 'ghost.json'), JSON.stringify({ budgets: [{ name: 'ghost', model: 'subnet.onnx', limits: { latency: { ghost: '1 s' } } }] }));
    const ghost = await cliAsync(['gate', '--server', server.url, '--config', path.join(dir, 'ghost.json')]);
    assert.equal(ghost.status, 2);
    assert.match(ghost.stderr, /budgets\[0\] \("ghost"\)\.limits\.latency: unknown device "ghost" \(known devices: .*board1/);

    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TAILOR_AGENT_HUB_')));
    const alone = await cliAsync(['--home', home, 'gate', '--config', path.join(dir, 'ok.json')], { env });
    assert.equal(alone.status, 2, alone.stderr);
    assert.match(alone.stderr, /Device "board1" is a remote board \(backend agent\).*tailor profile\|validate\|search\|gate --server <url>/);

    const targets = path.join(dir, 'targets.json');
    fs.writeFileSync(targets, JSON.stringify({ targets: [{ name: 'board', devices: { board1: { latencyMs: 5 } } }] }));
    const search = await cliAsync(['search', '--server', server.url, '--supernet', 'ghost', '--targets', targets, '--measure']);
    assert.equal(search.status, 2);
    assert.match(search.stderr, /error: Job \(search\) on http:\/\/127\.0\.0\.1:\d+ was refused: Unknown run "ghost"/);
    const out = await cliAsync(['search', '--server', server.url, '--supernet', 'ghost', '--targets', targets, '--out', dir]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /Invalid value for --out: it runs locally only, not with --server/);
    const noOut = await cliAsync(['--home', home, 'search', '--supernet', 'ghost', '--targets', targets]);
    assert.equal(noOut.status, 2);
    assert.match(noOut.stderr, /Invalid value for --out: the output folder is required \(unless the search runs on a service: --server <url>\)/);
  });

  it('an agent killed mid-job: its work is queued again and a new agent finishes the job', async () => {
    const created = await call(server, 'POST', '/jobs', { type: 'validate', params: { device: 'board1', space: SPACE, samples: 8, passes: 8 } });
    assert.equal(created.status, 202, created.text);
    const first = agents.find((a) => a.child.exitCode === null)!;
    await waitFor('the job to measure', async () => {
      const job = await call(server, 'GET', `/jobs/${created.json.id}`);
      return job.json.progress > 0.2;
    });
    first.child.kill('SIGKILL');
    await first.exited;
    await waitFor('the agent to be lost', async () => (await call(server, 'GET', '/agents/board1')).json.status === 'lost', 10_000);
    assert.equal((await call(server, 'GET', `/jobs/${created.json.id}`)).json.status, 'running');
    const second = agent();
    const stream = await events(server, `/jobs/${created.json.id}/events`);
    const job = JSON.parse(stream.at(-1)!.data);
    assert.equal(stream.at(-1)!.event, 'result', JSON.stringify(job.error));
    assert.equal(job.result.rows.length, 8);
    assert.match(second.output(), /session loaded again/);
  });

  it('over raw HTTP, forged results get specific errors and a board changing mid-job fails the job; the table is untouched', async () => {
    const auth = { headers: { authorization: `Bearer ${BOARD2_TOKEN}` } };
    fs.writeFileSync(path.join(home, 'devices', 'board2.json'), JSON.stringify({ id: 'board2', name: 'Board 2', backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' } }));
    const machine = { cpu: 'Forged CPU A', cores: 2, physicalCores: 2, flags: [], memoryGb: 1, os: 'x', arch: 'x64' };
    const reportA = { machine, backends: [{ name: 'ort-cpu' as const, runtime: 'onnxruntime-node 9.9.9' }] };
    // board2's table: board1's, as if measured on the board this client reports.
    const tableFile = path.join(home, 'latency-tables', 'board2', `${SPACE}.json`);
    const t = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'board1', `${SPACE}.json`), 'utf8'));
    fs.mkdirSync(path.dirname(tableFile), { recursive: true });
    fs.writeFileSync(tableFile, JSON.stringify({ ...t, device: { id: 'board2', fingerprint: agentFingerprint(reportA, 'ort-cpu') }, backend: { ...t.backend, version: 'onnxruntime-node 9.9.9' } }));
    const table = fs.readFileSync(tableFile);

    // A client holding board2's valid token, driving the agent routes by hand.
    let session = '';
    let holding: string | null = null;
    const register = async (report: typeof reportA) => {
      const r = await call(server, 'POST', '/agents/register', { deviceId: 'board2', ...report, clock: Date.now() }, auth);
      assert.equal(r.status, 201, r.text);
      session = r.json.session;
    };
    const beat = setInterval(() => void call(server, 'POST', '/agents/board2/heartbeat', { session, clock: Date.now(), working: holding }, auth).catch(() => undefined), 100);
    const poll = async (wait = 5) => {
      const r = await call(server, 'GET', `/agents/board2/work?session=${session}&wait=${wait}`, undefined, auth);
      if (r.status === 204) return null;
      assert.equal(r.status, 200, r.text);
      holding = r.json.id;
      return r.json as { id: string; lease: string; op: string };
    };
    const post = (workId: string, body: object) => call(server, 'POST', `/agents/board2/results/${workId}`, body, auth);
    const profile = async () => {
      const r = await call(server, 'POST', '/jobs', { type: 'profile', params: { device: 'board2', space: SPACE, resolutions: [28], rounds: 1, passes: 1 } });
      assert.equal(r.status, 202, r.text);
      return r.json.id as string;
    };
    const failed = (id: string, whilst?: () => Promise<unknown>) => waitFor(`job ${id} to fail`, async () => {
      await whilst?.();
      const job = (await call(server, 'GET', `/jobs/${id}`)).json;
      assert.ok(job.status !== 'succeeded', 'the job succeeded');
      return job.status === 'failed' && job;
    }, 30_000);
    try {
      await register(reportA);
      const first = await profile();
      const work = (await poll())!;
      assert.equal(work.op, 'load');
      expectError(await post(work.id, { lease: crypto.randomUUID(), fresh: true }), 409, /^Work "[0-9a-f-]{36}" of "board2" is not leased to this agent: it was leased again/);
      expectError(await post(crypto.randomUUID(), { lease: work.lease, fresh: true }), 404, /^Device "board2" has no work "[0-9a-f-]{36}"\.$/);
      expectError(await post(work.id, { lease: work.lease, times: [1.5] }), 422, /^Invalid result from the agent of "board2" for load \(work [0-9a-f-]{36}\): "times" does not belong to load$/);
      expectError(await post(work.id, { lease: work.lease, fresh: true }), 409, /^Work "[0-9a-f-]{36}" of "board2" already ended \(failed\); this result is not used\.$/);
      const invalid = await failed(first);
      assert.equal(invalid.error.code, 'AGENT_INVALID_RESULT');
      assert.deepEqual(fs.readFileSync(tableFile), table, 'the table is unchanged');

      // The board registers again mid-job, reporting another CPU: its pending work fails, nothing is mixed into the table.
      const second = await profile();
      const load = (await poll())!;
      assert.equal((await post(load.id, { lease: load.lease, fresh: true })).status, 200);
      holding = null;
      await register({ ...reportA, machine: { ...machine, cpu: 'Forged CPU B' } });
      const changed = await failed(second, () => poll(0));
      assert.equal(changed.error.code, 'AGENT_FINGERPRINT_CHANGED');
      assert.match(changed.error.message, /The agent of "board2" registered again reporting other hardware or runtime \(CPU model "Forged CPU A" → now "Forged CPU B"\) while load of model/);
      assert.deepEqual(fs.readFileSync(tableFile), table, 'the table is unchanged');

      // validate --server --strict: the service's job refuses the table, measured on the board as it was.
      const strict = await cliAsync(['validate', '--server', server.url, '--device', 'board2', '--space', SPACE, '--samples', '2', '--strict']);
      assert.equal(strict.status, 2, strict.stderr);
      assert.match(strict.stderr, /error: Job [0-9a-f-]{36} on http:\/\/127\.0\.0\.1:\d+ failed: The latency table \S+ of device "board2" was measured on different hardware or runtime: CPU model "Forged CPU A" → now "Forged CPU B" \(the device as last reported \d{4}-\d\d-\d\dT[\d:.]+Z\)/);

      // A CLI process of the workspace (no hub) compares with what each board's agent reported last.
      const devices = await cliAsync(['--home', home, 'devices']);
      assert.equal(devices.status, 0, devices.stderr);
      assert.match(devices.stdout, /board1\s+agent\s+1\s+remote \(agent\): .+, \d+ cores, onnxruntime-node \S+, as last reported \d{4}-/);
      assert.match(devices.stdout, /board2\s+agent\s+1\s+remote \(agent\): Forged CPU B, 2 cores, onnxruntime-node 9\.9\.9, as last reported \d{4}-/);
      assert.match(devices.stdout, /board1\s+ofa-mbv3-tiny@in1-out10\s+20,24\s+.+\s+current/);
      assert.match(devices.stdout, /board2\s+ofa-mbv3-tiny@in1-out10\s+20,24\s+Forged CPU A, 2 cores, onnxruntime-node 9\.9\.9\s+STALE: CPU model "Forged CPU A" → now "Forged CPU B"/);

      // A chunked body without Content-Length is refused before it is read.
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.url}/agents/board2/results/${work.id}`, { method: 'POST', headers: { ...auth.headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          resolve(res.statusCode!);
          req.destroy();
        });
        req.on('error', reject);
        req.flushHeaders();
        req.write('{"lease":');
      });
      assert.equal(status, 411);
    } finally {
      clearInterval(beat);
    }
  });
});
