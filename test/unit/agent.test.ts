import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { tempFileWriter } from '../../src/core/fs-atomic';
import { workspace } from '../../src/core/workspace';
import { LatencyService } from '../../src/latency/latency.service';
import { ProfilingService } from '../../src/profiling/profiling.service';
import { DeviceService } from '../../src/runtime/device.service';
import { BoardWorker } from '../../src/runtime/agent/agent';
import { AgentBackend, HUB_ENV } from '../../src/runtime/agent/backend';
import { AgentHub, AgentHubOptions, installAgentHub } from '../../src/runtime/agent/hub';
import { ModelStore, sha256 } from '../../src/runtime/agent/models';
import { AgentReport, Work, agentFingerprint } from '../../src/runtime/agent/protocol';
import { AgentTokens, bearerToken } from '../../src/runtime/agent/tokens';
import { LoadedModel, ProfiledModel, registerBackend } from '../../src/runtime/registry';
import { SEARCH_DEFAULTS, searchRun } from '../../src/specialize/search-run';
import { rejectsWith, tempDir } from '../helpers';

const TOKEN = 'board1-secret-token-0123';
const report = (clock = Date.now()): AgentReport => ({
  machine: { cpu: 'ARM Cortex-A76', cores: 4, physicalCores: 4, flags: ['neon', 'asimd'], memoryGb: 8, os: 'Debian 12', arch: 'arm64', governor: 'performance' },
  backends: [{ name: 'ort-cpu', runtime: 'onnxruntime-node 1.30.0' }],
  clock,
});

const hubs: AgentHub[] = [];
function hub(o: Partial<AgentHubOptions> = {}): AgentHub {
  const h = new AgentHub({
    tokens: AgentTokens.parse(`board1=${TOKEN},board2=board2-secret-token-4567`),
    models: new ModelStore(tempDir('tailor-agent-models-'), 50),
    heartbeatMs: 50, missedHeartbeats: 2, workTimeoutMs: 2_000, ...o,
  });
  h.start();
  hubs.push(h);
  return h;
}
after(() => hubs.forEach((h) => h.stop()));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const session = (h: AgentHub, bytes = new Uint8Array([1, 2, 3]), profiled = false) => ({
  id: crypto.randomUUID(), model: h.models.put(bytes), runtime: 'ort-cpu' as const, threads: 1, profiled,
});
function throwsWith(fn: () => unknown, code: string, status: number) {
  assert.throws(fn, (e: unknown) => e instanceof TailorError && e.code === code && e.status === status);
}

describe('agent tokens', () => {
  it('parses deviceId=token pairs and compares in constant time', () => {
    const t = AgentTokens.parse(` board1=${TOKEN} , board2=another-token-of-16+ `);
    assert.deepEqual(t.devices, ['board1', 'board2']);
    assert.equal(t.verify('board1', TOKEN), true);
    assert.equal(t.verify('board1', `${TOKEN}x`), false);
    assert.equal(t.verify('board2', TOKEN), false);
    assert.equal(t.verify('ghost', TOKEN), false);
    assert.equal(t.identify(TOKEN), 'board1');
    assert.equal(t.identify('nope-nope-nope-nope'), null);
    assert.equal(AgentTokens.parse(undefined).devices.length, 0);
    assert.equal(bearerToken(`Bearer ${TOKEN}`), TOKEN);
    assert.equal(bearerToken(`Basic ${TOKEN}`), null);
    assert.equal(bearerToken(undefined), null);
  });

  it('refuses malformed settings with a message that never shows a token', () => {
    for (const [text, reason] of [
      ['board1', /entry 1 has no "="/], [`board1=${TOKEN},,`, /entry 2 is empty/], ['board1=short', /shorter than 16/],
      [`../x=${TOKEN}`, /not a valid device id/], [`b=${TOKEN},b=${TOKEN}`, /"b" appears twice/],
    ] as const) {
      assert.throws(() => AgentTokens.parse(text), (e: unknown) => {
        assert.ok(e instanceof TailorError && e.code === 'AGENT_CONFIG');
        assert.match(e.message, /^Invalid TAILOR_AGENT_TOKENS: /);
        assert.match(e.message, reason);
        assert.doesNotMatch(e.message, new RegExp(TOKEN));
        return true;
      });
    }
  });
});

describe('agent hub: work broker', () => {
  it('leases work to the polling agent and resolves the measurement with its result', async () => {
    const h = hub();
    assert.equal(h.authenticate('board1', null), 'missing Authorization: Bearer <token>');
    assert.match(h.authenticate('board1', 'wrong-token-wrong-token')!, /not valid for device "board1"/);
    assert.equal(h.authenticate('board1', TOKEN), null);
    const { session: agent } = h.register('board1', report());
    const s = session(h);
    const pending = h.run('board1', { op: 'measure', warmup: 1, runs: 3, session: s });
    const work = (await h.poll('board1', agent, 1))!;
    assert.equal(work.op, 'measure');
    assert.deepEqual(work.session, s);
    assert.equal(h.get('board1')!.leased, 1);
    h.result('board1', work.id, { lease: work.lease, times: [1, 2, 3] });
    assert.deepEqual(await pending, { times: [1, 2, 3] });
    assert.equal(h.get('board1')!.leased, 0);
  });

  it('a long poll is answered as soon as work arrives, and with nothing after its wait', async () => {
    const h = hub();
    const { session: agent } = h.register('board1', report());
    const t0 = Date.now();
    assert.equal(await h.poll('board1', agent, 0.1), null);
    assert.ok(Date.now() - t0 >= 90);
    const polled = h.poll('board1', agent, 5);
    const pending = h.run('board1', { op: 'load', session: session(h) });
    const work = (await polled)!;
    h.result('board1', work.id, { lease: work.lease, fresh: true });
    assert.deepEqual(await pending, { fresh: true });
    // A poll whose connection dropped takes no work.
    const gone = new AbortController();
    const dropped = h.poll('board1', agent, 5, gone.signal);
    gone.abort();
    assert.equal(await dropped, null);
  });

  it('refuses duplicate results (409), results for unknown work or another device (404), expired leases (409)', async () => {
    const h = hub();
    const { session: agent } = h.register('board1', report());
    const pending = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: session(h) });
    const work = (await h.poll('board1', agent, 1))!;
    throwsWith(() => h.result('board2', work.id, { lease: work.lease, times: [1] }), 'AGENT_UNKNOWN_WORK', 404);
    throwsWith(() => h.result('board1', work.id, { lease: crypto.randomUUID(), times: [1] }), 'AGENT_NOT_LEASED', 409);
    h.result('board1', work.id, { lease: work.lease, times: [1] });
    await pending;
    throwsWith(() => h.result('board1', work.id, { lease: work.lease, times: [1] }), 'AGENT_DUPLICATE_RESULT', 409);
    throwsWith(() => h.result('board1', crypto.randomUUID(), { lease: work.lease, times: [1] }), 'AGENT_UNKNOWN_WORK', 404);
  });

  it('an invalid result fails the measurement cleanly (422), never reaching it', async () => {
    const h = hub();
    const { session: agent } = h.register('board1', report());
    const cases: [Parameters<AgentHub['run']>[1], object, RegExp][] = [
      [{ op: 'measure', warmup: 0, runs: 2, session: session(h) }, { times: [1] }, /expected 2 timed runs, got 1/],
      [{ op: 'measure', warmup: 0, runs: 1, session: session(h) }, { times: [-1] }, /finite, non-negative/],
      [{ op: 'finish', session: session(h) }, { events: [[{ name: 'a', durMs: 1 }]] }, /each event must be/],
      [{ op: 'load', session: session(h) }, { times: [1] }, /"times" does not belong to load/],
    ];
    for (const [request, result, reason] of cases) {
      const pending = h.run('board1', request);
      const work = (await h.poll('board1', agent, 1))!;
      throwsWith(() => h.result('board1', work.id, { lease: work.lease, ...result }), 'AGENT_INVALID_RESULT', 422);
      await rejectsWith(pending, 'AGENT_INVALID_RESULT', reason);
    }
    // An agent-side failure is the measurement's failure, with the agent's reason.
    const pending = h.run('board1', { op: 'load', session: session(h) });
    const work = (await h.poll('board1', agent, 1))!;
    h.result('board1', work.id, { lease: work.lease, error: { message: 'Model could not be loaded by ort-cpu: bad graph' } });
    await rejectsWith(pending, 'AGENT_WORK_FAILED', /could not load of model .* bad graph/);
  });

  it('a lost agent (missed heartbeats) has its work queued again; a reconnecting agent finishes it', async () => {
    const h = hub();
    const first = h.register('board1', report()).session;
    const pending = h.run('board1', { op: 'measure', warmup: 1, runs: 1, session: session(h) });
    const leased = (await h.poll('board1', first, 1))!;
    const open = h.poll('board1', first, 2); // a poll left open while the agent goes silent
    await sleep(200); // no heartbeats: 2 x 50 ms missed
    assert.equal(h.get('board1')!.status, 'lost');
    assert.equal(h.get('board1')!.queued, 1, 'queued again, and not handed to a lost agent');
    // The old lease is worthless now.
    throwsWith(() => h.result('board1', leased.id, { lease: leased.lease, times: [5] }), 'AGENT_NOT_LEASED', 409);
    // The same agent coming back (heartbeat) resumes pulling: the same work, a new lease.
    h.heartbeat('board1', first, Date.now(), null);
    assert.equal(h.get('board1')!.status, 'online');
    const again = (await open)!;
    assert.equal(again.id, leased.id);
    assert.notEqual(again.lease, leased.lease);
    h.result('board1', again.id, { lease: again.lease, times: [7] });
    assert.deepEqual(await pending, { times: [7] });
  });

  it('a restarted agent (registering again) gets the work its old process held, at once', async () => {
    const h = hub();
    const old = h.register('board1', report()).session;
    const pending = h.run('board1', { op: 'finish', session: session(h, new Uint8Array([9]), true) });
    const held = (await h.poll('board1', old, 1))!;
    const fresh = h.register('board1', report()).session;
    throwsWith(() => h.heartbeat('board1', old, Date.now(), held.id), 'AGENT_SESSION_REPLACED', 409);
    throwsWith(() => h.heartbeat('board2', old, Date.now(), null), 'AGENT_NOT_REGISTERED', 404);
    const again = (await h.poll('board1', fresh, 1))!;
    assert.equal(again.id, held.id);
    h.result('board1', again.id, { lease: again.lease, events: [[{ name: 'n', opType: 'Conv', durMs: 0.5 }]], fresh: true });
    assert.deepEqual(await pending, { events: [[{ name: 'n', opType: 'Conv', durMs: 0.5 }]], fresh: true });
  });

  it('work leased to an agent that does not hold it (lost in transit) is queued again after two heartbeats', async () => {
    const h = hub();
    const agent = h.register('board1', report()).session;
    const pending = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: session(h) });
    const lost = (await h.poll('board1', agent, 1))!;
    h.heartbeat('board1', agent, Date.now(), lost.id);
    assert.equal(h.get('board1')!.leased, 1);
    await sleep(120);
    h.heartbeat('board1', agent, Date.now(), null);
    assert.equal(h.get('board1')!.queued, 1);
    const again = (await h.poll('board1', agent, 1))!;
    h.result('board1', again.id, { lease: again.lease, times: [3] });
    assert.deepEqual(await pending, { times: [3] });
  });

  it('reports clock skew but keeps leases on its own clock', async () => {
    const h = hub();
    const day = 86_400_000;
    const agent = h.register('board1', report(Date.now() + day)).session;
    assert.ok(Math.abs(h.get('board1')!.clockSkewMs - day) < 1000);
    const pending = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: session(h) });
    const work = (await h.poll('board1', agent, 1))!;
    for (let i = 0; i < 4; i++) {
      await sleep(40);
      h.heartbeat('board1', agent, Date.now() - day, work.id);
    }
    assert.equal(h.get('board1')!.status, 'online');
    assert.ok(Math.abs(h.get('board1')!.clockSkewMs + day) < 1000);
    h.result('board1', work.id, { lease: work.lease, times: [1] });
    await pending;
  });

  it('every work item has a deadline: a specific error, never a hang', async () => {
    const h = hub({ workTimeoutMs: 150 });
    await rejectsWith(h.waitForAgent('board1'), 'AGENT_UNAVAILABLE', /No agent of device "board1" connected within 0 s/);
    await rejectsWith(h.run('board1', { op: 'load', session: session(h) }), 'AGENT_TIMEOUT', /load of model .* did not finish within 0 s \(no agent has connected\)/);
    const agent = h.register('board1', report()).session;
    const pending = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: session(h) });
    const work = (await h.poll('board1', agent, 1))!;
    setInterval(() => h.heartbeat('board1', agent, Date.now(), work.id), 30).unref();
    await rejectsWith(pending, 'AGENT_TIMEOUT', /leased to its agent 0 s ago, no result/);
    throwsWith(() => h.result('board1', work.id, { lease: work.lease, times: [1] }), 'AGENT_DUPLICATE_RESULT', 409);
  });

  it('stopping fails pending work (after a grace period) and answers polls', async () => {
    const h = hub();
    const agent = h.register('board1', report()).session;
    const polled = h.poll('board1', agent, 5);
    const pending = h.run('board1', { op: 'load', session: session(h) });
    assert.ok(await polled, 'work already queued is still handed out');
    const waiting = h.poll('board1', agent, 5);
    h.stop();
    assert.equal(await waiting, null);
    await rejectsWith(pending, 'SERVICE_STOPPING');
    await rejectsWith(h.run('board1', { op: 'load', session: session(h) }), 'SERVICE_STOPPING');
  });

  it('serves models by hash to agents holding work that needs them; unused models are deleted', async () => {
    const h = hub();
    const bytes = new Uint8Array([7, 7, 7, 7]);
    const sha = h.models.put(bytes);
    assert.equal(h.models.put(bytes), sha, 'content-addressed: the same bytes, the same entry');
    assert.equal(sha, sha256(bytes));
    assert.throws(() => h.models.put(bytes, '0'.repeat(64)), /does not match its sha256/);
    const agent = h.register('board1', report()).session;
    const s = { id: crypto.randomUUID(), model: sha, runtime: 'ort-cpu' as const, threads: 1, profiled: false };
    const pending = h.run('board1', { op: 'load', session: s });
    throwsWith(() => h.model('board1', sha), 'AGENT_UNKNOWN_WORK', 404); // not leased yet
    const work = (await h.poll('board1', agent, 1))!;
    assert.deepEqual([...h.model('board1', sha)], [7, 7, 7, 7]);
    throwsWith(() => h.model('board2', sha), 'AGENT_UNKNOWN_WORK', 404);
    h.result('board1', work.id, { lease: work.lease, fresh: true });
    await pending;
    await h.run('board1', { op: 'dispose', session: s });
    await sleep(120); // grace 50 ms
    assert.equal(fs.existsSync(h.models.file(sha)), false);
  });

  it('a model store out of disk space: DISK_FULL naming the file, nothing left in the store', () => {
    const store = new ModelStore(path.join(tempDir(), 'models'));
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const write = tempFileWriter.write;
    tempFileWriter.write = (fd) => {
      fs.writeSync(fd, new Uint8Array(2)); // part of the model lands, then the disk is full
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    try {
      assert.throws(() => store.put(bytes), (e: unknown) => e instanceof TailorError && e.code === 'DISK_FULL' && e.message.startsWith(`Out of disk space writing the model ${store.file(sha256(bytes))} (ENOSPC`));
    } finally {
      tempFileWriter.write = write;
    }
    assert.deepEqual(fs.readdirSync(store.dir), [], 'no model and no temp file');
    assert.deepEqual([...store.read(store.put(bytes))], [1, 2, 3, 4], 'stored once there is space');
  });

  it('a board registering again with other hardware or runtime: work opened on the old report fails, none reaches the new one', async () => {
    const logs: string[] = [];
    const h = hub({ log: { log: () => undefined, warn: (m) => logs.push(m) } });
    const old = h.register('board1', report()).session;
    const board = { cpu: 'ARM Cortex-A76', cores: 4, runtime: 'onnxruntime-node 1.30.0' };
    const held = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: { ...session(h), board } });
    const queued = h.run('board1', { op: 'load', session: { ...session(h), board } });
    const leased = (await h.poll('board1', old, 1))!;
    const upgraded = { ...report(), backends: [{ name: 'ort-cpu' as const, runtime: 'onnxruntime-node 1.31.0' }] };
    const fresh = h.register('board1', upgraded).session;
    const changed = /agent of "board1" registered again reporting other hardware or runtime \(runtime "onnxruntime-node 1\.30\.0" → now "onnxruntime-node 1\.31\.0"\) while (measure \(0 warm-up, 1 timed runs\)|load) of model [0-9a-f]{12} on ort-cpu was pending: measurements of two machines are never mixed/;
    assert.equal(await h.poll('board1', fresh, 0), null, 'nothing of the old board is handed to the new one');
    await rejectsWith(held, 'AGENT_FINGERPRINT_CHANGED', changed);
    await rejectsWith(queued, 'AGENT_FINGERPRINT_CHANGED', changed);
    // The old process's late result is not used.
    throwsWith(() => h.result('board1', leased.id, { lease: leased.lease, times: [1] }), 'AGENT_DUPLICATE_RESULT', 409);
    assert.match(logs.join('\n'), /agent "board1" registered again reporting other hardware or runtime: runtime "ort-cpu: onnxruntime-node 1\.30\.0" → now "ort-cpu: onnxruntime-node 1\.31\.0"/);
    // Sessions opened on the new report run; disposing an old session is never refused.
    await h.run('board1', { op: 'dispose', session: { ...session(h), board } });
    const now = h.run('board1', { op: 'measure', warmup: 0, runs: 1, session: { ...session(h), board: { ...board, runtime: 'onnxruntime-node 1.31.0' } } });
    const dispose = (await h.poll('board1', fresh, 1))!;
    assert.equal(dispose.op, 'dispose');
    const work = (await h.poll('board1', fresh, 1))!;
    h.result('board1', work.id, { lease: work.lease, times: [2] });
    assert.deepEqual(await now, { times: [2] });
  });

  it('fingerprints a board from its report, hashed by the server', () => {
    const f = agentFingerprint(report(), 'ort-cpu')!;
    assert.equal(f.cpu, 'ARM Cortex-A76');
    assert.equal(f.runtime, 'onnxruntime-node 1.30.0');
    assert.equal(f.governor, 'performance');
    assert.match(f.hash, /^[0-9a-f]{16}$/);
    assert.equal(agentFingerprint(report(), 'tflite-wasm'), null);
  });
});

/** A fake runtime: times are 1 ms per run; profiled runs report one event each. */
function fakeRuntime(loads: string[]) {
  registerBackend('ort-cpu', {
    local: true,
    runtimeVersion: () => 'fake 1.0',
    create: async () => ({
      name: 'ort-cpu', threads: 1, modelFormat: 'onnx', runtimeVersion: () => 'fake 1.0',
      async load(bytes: Uint8Array): Promise<LoadedModel> {
        loads.push(sha256(bytes));
        return { measure: async ({ runs }) => Array(runs).fill(1), dispose: async () => undefined };
      },
      async loadProfiled(bytes: Uint8Array): Promise<ProfiledModel> {
        loads.push(sha256(bytes));
        let runs = 0;
        return {
          measure: async (o) => ((runs += o.runs), Array(o.runs).fill(1)),
          finish: async () => Array.from({ length: runs }, () => [{ name: 'stem', opType: 'Conv', durMs: 0.9 }]),
          dispose: async () => undefined,
        };
      },
    }),
  });
}

describe('agent backend over the hub, with a board worker', () => {
  it('loads, measures and profiles through work items; models are downloaded once per hash', async () => {
    const loads: string[] = [];
    fakeRuntime(loads);
    const h = hub();
    const downloads: string[] = [];
    const cache = new ModelStore(path.join(tempDir(), 'cache'));
    const board = new BoardWorker('board1', cache, async (sha) => (downloads.push(sha), h.model('board1', sha)));
    let agent = h.register('board1', report()).session;
    let stopped = false;
    let kill = false;
    const loop = (async () => {
      while (!stopped) {
        const work: Work | null = await h.poll('board1', agent, 0.05);
        if (!work) continue;
        if (kill) {
          // The board restarts mid-measurement: its sessions are gone, a new process registers.
          kill = false;
          (board as any).sessions.clear();
          agent = h.register('board1', report()).session;
          continue;
        }
        const result = await board.execute(work);
        if (work.op !== 'dispose') h.result('board1', work.id, { lease: work.lease, ...result });
      }
    })();
    try {
      const backend = new AgentBackend(h, 'board1', 'ort-cpu', 1, agentFingerprint(report(), 'ort-cpu')!);
      assert.equal(backend.modelFormat, 'onnx');
      const model = new Uint8Array([1, 2, 3, 4]);
      const plain = await backend.load(model);
      const profiled = await backend.loadProfiled(model);
      assert.deepEqual(await plain.measure({ warmup: 1, runs: 3 }), [1, 1, 1]);
      assert.deepEqual(await profiled.measure({ warmup: 1, runs: 2 }), [1, 1]);
      assert.deepEqual((await profiled.finish()).length, 2);
      await plain.dispose();
      assert.deepEqual(downloads, [sha256(model)], 'one download for both sessions of the same model');
      assert.equal(loads.length, 2);

      // Restart mid-measurement: the session is loaded again from the cache, no new download.
      const again = await backend.loadProfiled(model);
      await again.measure({ warmup: 0, runs: 1 });
      kill = true;
      assert.deepEqual(await again.measure({ warmup: 0, runs: 2 }), [1, 1]);
      assert.equal((await again.finish()).length, 2, 'the runs measured since the restart');
      assert.deepEqual(downloads, [sha256(model)]);

      // A restart right before finish leaves no profiled runs: a specific error, not an empty profile.
      const lost = await backend.loadProfiled(model);
      await lost.measure({ warmup: 0, runs: 1 });
      kill = true;
      await rejectsWith(lost.finish(), 'AGENT_SESSION_LOST', /restarted while a profiled model was loaded/);
    } finally {
      stopped = true;
      await loop;
    }
  });

  it('a profile whose board registers again with another CPU mid-run fails (AGENT_FINGERPRINT_CHANGED) and writes no table', async () => {
    fakeRuntime([]);
    const h = hub();
    const home = tempDir('tailor-agent-swap-');
    fs.mkdirSync(path.join(home, 'devices'));
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify({ id: 'board1', name: 'Board 1', backend: 'agent', options: { runtime: 'ort-cpu' } }));
    const board = new BoardWorker('board1', new ModelStore(path.join(home, 'cache')), async (sha) => h.model('board1', sha));
    let agent = h.register('board1', report()).session;
    let items = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const work: Work | null = await h.poll('board1', agent, 0.05);
        if (!work) continue;
        if (++items === 3) {
          // Another board takes the id mid-run: the item it held goes back to the queue.
          agent = h.register('board1', { ...report(), machine: { ...report().machine, cpu: 'ARM Cortex-A78' } }).session;
          continue;
        }
        const result = await board.execute(work);
        if (work.op !== 'dispose') h.result('board1', work.id, { lease: work.lease, ...result });
      }
    })();
    installAgentHub(h);
    try {
      const profiling = new ProfilingService(new DeviceService(workspace(home)));
      const run = profiling.profile({ device: 'board1', space: 'ofa-mbv3-tiny@in1-out10', resolutions: [20], rounds: 1, passes: 1 });
      await rejectsWith(run, 'AGENT_FINGERPRINT_CHANGED', /CPU model "ARM Cortex-A76" → now "ARM Cortex-A78"/);
      assert.ok(items >= 3);
      assert.equal(fs.existsSync(path.join(home, 'latency-tables', 'board1', 'ofa-mbv3-tiny@in1-out10.json')), false, 'nothing written');
    } finally {
      installAgentHub(null);
      stopped = true;
      await loop;
    }
  });
});

describe('search --measure on a remote board', () => {
  it('is refused before the run is read (nothing searched) when this process reaches no hub; a published hub lets it through', async () => {
    const home = tempDir('tailor-agent-search-');
    fs.mkdirSync(path.join(home, 'devices'));
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify({ id: 'board1', name: 'Board 1', backend: 'agent', options: { runtime: 'ort-cpu' } }));
    const ws = workspace(home);
    const latency = new LatencyService(ws, new DeviceService(ws));
    // No run at all: a check made after the search started would fail on the run instead.
    const req = { ...SEARCH_DEFAULTS, supernet: path.join(home, 'runs', 'none'), out: path.join(home, 'out'), targets: [{ name: 'board', devices: { board1: { latencyMs: 5 } } }] };
    const search = (measure: boolean) => searchRun({ ...req, measure }, path.join(home, 'cache'), latency);
    await rejectsWith(search(true), 'AGENT_NO_HUB', /Device "board1" is a remote board .*tailor profile\|validate\|search\|gate --server <url>/);
    assert.equal(fs.existsSync(req.out), false);
    // Predicting needs no board: the run is what is missing.
    await rejectsWith(search(false), 'INVALID_OPTION', /is not a training run/);
    // A job worker of the service (the hub published in its environment) gets past the check.
    const saved = { ...process.env };
    Object.assign(process.env, { [HUB_ENV.url]: 'http://127.0.0.1:9', [HUB_ENV.key]: 'k', [HUB_ENV.models]: tempDir() });
    try {
      await rejectsWith(search(true), 'INVALID_OPTION', /is not a training run/);
    } finally {
      for (const k of Object.values(HUB_ENV)) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });
});
