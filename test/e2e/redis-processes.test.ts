import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, tempDir } from '../helpers';
import { NO_REDIS, RedisServer, freePort, startRedis } from '../redis-server';

const CLI = path.join(REPO, '.test-build', 'src', 'cli.js');
const TOKEN = 'board1-procs-token-0123456789';
const SPACE = 'ofa-mbv3-tiny@in1-out10';

interface Child {
  name: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

async function call(url: string, method: string, route: string, body?: unknown) {
  const res = await fetch(url + route, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, children: Child[] = []): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const dead = children.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited (${dead.child.exitCode ?? dead.child.signalCode}) while waiting for ${what}:\n${dead.output()}`);
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}:\n${children.map((c) => `--- ${c.name}\n${c.output()}`).join('\n')}`);
}

/**
 * Two `tailor serve` processes sharing one Redis queue and one workspace (as over a network file
 * system), each with its own data directory; a `tailor agent` process connected to B serves board1.
 */
describe('one lab, many hosts: two `tailor serve` processes share one Redis queue', { skip: NO_REDIS, timeout: 90_000 }, () => {
  let home = '';
  let redis: RedisServer | undefined;
  const children: Child[] = [];

  function start(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const c = { name, child, output: () => out, exited };
    children.push(c);
    return c;
  }

  async function serve(name: string): Promise<{ url: string; proc: Child }> {
    const port = await freePort();
    const proc = start(`server ${name}`, ['--home', home, 'serve', '--port', String(port), '--data-dir', path.join(home, `data-${name}`)], {
      HOST: '127.0.0.1',
      TAILOR_QUEUE: redis!.url,
      TAILOR_AGENT_TOKENS: `board1=${TOKEN}`,
      TAILOR_AGENT_HEARTBEAT_MS: '300',
      TAILOR_AGENT_WORK_TIMEOUT_MS: '60000',
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`server ${name} to answer /health`, async () => (await fetch(`${url}/health`)).ok, 30_000, [proc]);
    return { url, proc };
  }

  before(async () => {
    home = tempDir('tailor-lab-procs-');
    fs.mkdirSync(path.join(home, 'devices'));
    const board = { id: 'board1', name: 'Board 1', backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' } };
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify(board));
    redis = await startRedis();
  });

  after(async () => {
    // Every child, whatever happened: SIGKILL and wait for its exit, then Redis.
    for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(children.map((c) => c.exited));
    await redis?.stop();
    if (home) fs.rmSync(home, { recursive: true, force: true });
  });

  it('a profile job submitted to server process A runs on the board whose agent is connected to server process B; B follows it', async () => {
    const [a, b] = await Promise.all([serve('a'), serve('b')]);
    const all = [a.proc, b.proc];
    const agent = start('agent', ['agent', '--server', b.url, '--device-id', 'board1', '--token', TOKEN, '--cache-dir', path.join(home, 'agent-cache'), '--poll', '2']);
    all.push(agent);
    const view = await waitFor('A to see the agent connected to B', async () => {
      const r = await call(a.url, 'GET', '/agents/board1');
      return r.json?.status === 'online' && r.json;
    }, 30_000, all);
    assert.match(view.fingerprint.runtime, /^onnxruntime-node /);

    const created = await call(a.url, 'POST', '/jobs', { type: 'profile', params: { device: 'board1', space: SPACE, resolutions: [20], rounds: 1, passes: 2 } });
    assert.equal(created.status, 202, created.text);
    const id = created.json.id as string;
    const listed = await call(b.url, 'GET', '/jobs');
    assert.deepEqual(listed.json.map((j: { id: string }) => j.id), [id], 'B lists the job A accepted');

    const seen = new Set<string>();
    const job = await waitFor('the job to finish, followed from B', async () => {
      const r = await call(b.url, 'GET', `/jobs/${id}`);
      seen.add(r.json?.status);
      return ['succeeded', 'failed', 'cancelled', 'interrupted'].includes(r.json?.status) && r.json;
    }, 60_000, all);
    assert.equal(job.status, 'succeeded', `${JSON.stringify(job.error)}\n${all.map((c) => `--- ${c.name}\n${c.output()}`).join('\n')}`);
    assert.deepEqual(job.result.measuredResolutions, [20]);
    const onA = await call(a.url, 'GET', `/jobs/${id}`);
    assert.deepEqual(onA.json, job, 'A and B answer the same record');

    const table = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'board1', `${SPACE}.json`), 'utf8'));
    assert.equal(table.device.fingerprint.hash, view.fingerprint.hash, "the table carries the agent's fingerprint");
    assert.equal(table.backend.name, 'agent');
    assert.ok(Object.keys(table.entries['20']).length > 10);
    assert.match(agent.output(), /downloaded model [0-9a-f]{12}/);
    // No SQLite job database in Redis mode: each data directory holds the agent model cache at most.
    for (const d of ['data-a', 'data-b']) {
      const files = fs.existsSync(path.join(home, d)) ? fs.readdirSync(path.join(home, d)) : [];
      assert.ok(!files.some((f) => /\.(db|sqlite)/.test(f)), `${d}: ${files}`);
    }
  });
});
