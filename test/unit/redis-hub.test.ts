import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { parseQueueUrl } from '../../src/jobs/redis';
import { AgentHubOptions } from '../../src/runtime/agent/hub';
import { ModelStore } from '../../src/runtime/agent/models';
import { AgentReport, Work } from '../../src/runtime/agent/protocol';
import { RedisAgentHub } from '../../src/runtime/agent/redis-hub';
import { AgentTokens } from '../../src/runtime/agent/tokens';
import { rejectsWith, tempDir } from '../helpers';
import { NO_REDIS, RedisServer, startRedis } from '../redis-server';

const report = (): AgentReport => ({
  machine: { cpu: 'ARM Cortex-A76', cores: 4, physicalCores: 4, flags: ['neon'], memoryGb: 8, os: 'Debian 12', arch: 'arm64' },
  backends: [{ name: 'ort-cpu', runtime: 'onnxruntime-node 1.30.0' }],
  clock: Date.now(),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A promise that may reject before the test awaits it: not an unhandled rejection. */
const later = <T>(p: Promise<T>) => (p.catch(() => undefined), p);


describe('the agent hub on Redis: agents of one server serve the work of another', { skip: NO_REDIS }, () => {
  let redis: RedisServer;
  const hubs: RedisAgentHub[] = [];
  let n = 0;

  /** Two servers' hubs (each its own model directory) on one prefix. */
  async function servers(o: Partial<AgentHubOptions> = {}) {
    const prefix = `h${++n}`;
    const make = async () => {
      const h = new RedisAgentHub({
        tokens: AgentTokens.parse('board1=board1-secret-token-0123'),
        models: new ModelStore(tempDir('tailor-agent-models-'), 50),
        heartbeatMs: 100, missedHeartbeats: 2, workTimeoutMs: 5_000, ...o,
      }, parseQueueUrl(redis.url), prefix);
      await h.start();
      hubs.push(h);
      return h;
    };
    return [await make(), await make()];
  }

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    for (const h of hubs) h.stop();
    await Promise.all(hubs.map((h) => h.close()));
    await redis?.stop();
  });

  it('work run on server A is pulled by the agent on server B, with the model, and its result goes back to A', async () => {
    const [a, b] = await servers();
    const { session } = await b.register('board1', report());
    assert.equal((await a.waitForAgent('board1')).machine.cpu, 'ARM Cortex-A76');
    assert.deepEqual((await a.get('board1'))?.status, 'online', 'every server sees the agent');
    const model = new Uint8Array([7, 7, 7, 1]);
    const spec = { id: crypto.randomUUID(), model: a.models.put(model), runtime: 'ort-cpu' as const, threads: 1, profiled: false };
    const loading = later(a.run('board1', { op: 'load', session: spec }));
    const work = (await b.poll('board1', session, 5))!;
    assert.equal(work.op, 'load');
    assert.deepEqual([...(await b.model('board1', spec.model))], [...model], 'B serves a model that only A stored');
    await b.result('board1', work.id, { lease: work.lease, fresh: true });
    assert.deepEqual(await loading, { fresh: true });
    await rejectsWith(Promise.resolve().then(() => b.result('board1', work.id, { lease: work.lease })), 'AGENT_DUPLICATE_RESULT', /already ended \(a result was accepted\)/);
    await rejectsWith(Promise.resolve().then(() => b.result('board1', crypto.randomUUID(), { lease: work.lease })), 'AGENT_UNKNOWN_WORK');

    // Bad results fail the measurement on A; a wrong lease is refused.
    const measuring = later(a.run('board1', { op: 'measure', warmup: 1, runs: 2, session: spec }));
    const m = (await b.poll('board1', session, 5))!;
    await rejectsWith(Promise.resolve().then(() => b.result('board1', m.id, { lease: crypto.randomUUID(), times: [1, 2] })), 'AGENT_NOT_LEASED');
    await rejectsWith(Promise.resolve().then(() => b.result('board1', m.id, { lease: m.lease, times: [1] })), 'AGENT_INVALID_RESULT', /expected 2 timed runs, got 1/);
    await rejectsWith(measuring, 'AGENT_INVALID_RESULT');
    const failing = later(a.run('board1', { op: 'finish', session: spec }));
    const f = (await b.poll('board1', session, 5))!;
    await b.result('board1', f.id, { lease: f.lease, error: { message: 'out of memory' } });
    await rejectsWith(failing, 'AGENT_WORK_FAILED', /could not finish of model [0-9a-f]{12} on ort-cpu: out of memory/);
    // A dispose waits for nothing; the agent still gets it.
    assert.deepEqual(await a.run('board1', { op: 'dispose', session: spec }), {});
    assert.equal((await b.poll('board1', session, 5))!.op, 'dispose');
  });

  it('an agent that stops heartbeating is lost on every server; its lease goes back to the queue and the same board on the other server finishes it', async () => {
    const [a, b] = await servers();
    const first = await b.register('board1', report());
    const spec = { id: crypto.randomUUID(), model: a.models.put(new Uint8Array([1, 2])), runtime: 'ort-cpu' as const, threads: 1, profiled: false };
    const loading = later(a.run('board1', { op: 'load', session: spec }));
    const taken = (await b.poll('board1', first.session, 5))!;
    assert.equal((await a.get('board1'))?.leased, 1);
    await sleep(400); // no heartbeats: lost after 2 x 100 ms
    assert.equal((await a.get('board1'))?.status, 'lost');
    // The board comes back through server A: the work it held is leased again there.
    const second = await a.register('board1', report());
    const again: Work = (await a.poll('board1', second.session, 5))!;
    assert.equal(again.id, taken.id);
    assert.notEqual(again.lease, taken.lease);
    await rejectsWith(Promise.resolve().then(() => b.result('board1', taken.id, { lease: taken.lease })), 'AGENT_NOT_LEASED', /leased again/);
    await rejectsWith(Promise.resolve().then(() => b.heartbeat('board1', first.session, Date.now(), null)), 'AGENT_SESSION_REPLACED');
    await a.result('board1', again.id, { lease: again.lease, fresh: true });
    assert.deepEqual(await loading, { fresh: true });
  });

  it('a board registering again on another server with another CPU: work opened on the old report fails, whichever server waits for it', async () => {
    const logs: string[] = [];
    const [a, b] = await servers({ log: { log: () => undefined, warn: (m) => logs.push(m) } });
    const old = await b.register('board1', report());
    const board = { cpu: 'ARM Cortex-A76', cores: 4, runtime: 'onnxruntime-node 1.30.0' };
    const spec = { id: crypto.randomUUID(), model: a.models.put(new Uint8Array([4, 2])), runtime: 'ort-cpu' as const, threads: 1, profiled: false, board };
    const measuring = later(a.run('board1', { op: 'measure', warmup: 0, runs: 1, session: spec }));
    const taken = (await b.poll('board1', old.session, 5))!;
    const fresh = await a.register('board1', { ...report(), machine: { ...report().machine, cpu: 'ARM Cortex-A78' } });
    assert.equal(await a.poll('board1', fresh.session, 0.3), null, 'nothing of the old board reaches the new one');
    await rejectsWith(measuring, 'AGENT_FINGERPRINT_CHANGED', /\(CPU model "ARM Cortex-A76" → now "ARM Cortex-A78"\) while measure/);
    await rejectsWith(Promise.resolve().then(() => b.result('board1', taken.id, { lease: taken.lease, times: [1] })), 'AGENT_DUPLICATE_RESULT', /already ended \(failed\)/);
    assert.match(logs.join('\n'), /agent "board1" registered again reporting other hardware or runtime: CPU model "ARM Cortex-A76" → now "ARM Cortex-A78"/);
  });

  it('work nobody takes fails at its deadline with a specific error; a stopping server fails its pending work', async () => {
    const [a] = await servers({ workTimeoutMs: 300 });
    const spec = { id: crypto.randomUUID(), model: a.models.put(new Uint8Array([3])), runtime: 'ort-cpu' as const, threads: 1, profiled: false };
    await rejectsWith(a.run('board1', { op: 'measure', warmup: 0, runs: 1, session: spec }), 'AGENT_TIMEOUT', /did not finish within 0 s \(no agent has connected\)/);
    await rejectsWith(a.waitForAgent('board1'), 'AGENT_UNAVAILABLE');
    const [c, d] = await servers();
    await d.register('board1', report());
    const pending = later(c.run('board1', { op: 'measure', warmup: 0, runs: 1, session: { ...spec, model: c.models.put(new Uint8Array([3])) } }));
    c.stop();
    await rejectsWith(pending, 'SERVICE_STOPPING');
  });
});
