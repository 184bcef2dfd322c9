import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INestApplication } from '@nestjs/common';
import { createApp } from '../../src/main';
import { REPO, tempDir } from '../helpers';
import { call, events, waitFor } from '../http';
import { NO_REDIS, RedisServer, freePort, startRedis } from '../redis-server';

const CLI = path.join(REPO, '.test-build', 'src', 'cli.js');
const TOKEN = 'board1-lab-token-0123456789';
const SPACE = 'ofa-mbv3-tiny@in1-out10';

interface Server {
  app: INestApplication;
  url: string;
}




function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stderr })));
}

describe('one lab, many hosts: two services share one Redis queue', { skip: NO_REDIS }, () => {
  const home = tempDir('tailor-lab-e2e-');
  let redis: RedisServer;
  let a: Server;
  let b: Server;
  let agent: ChildProcess | null = null;
  let agentOutput = '';

  async function boot(name: string): Promise<Server> {
    const app = await createApp({ home, dataDir: path.join(home, `data-${name}`), queue: redis.url, logger: false });
    await app.listen(0, '127.0.0.1');
    return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
  }

  before(async () => {
    process.env.TAILOR_AGENT_TOKENS = `board1=${TOKEN}`;
    process.env.TAILOR_AGENT_HEARTBEAT_MS = '300';
    process.env.TAILOR_AGENT_WORK_TIMEOUT_MS = '60000';
    fs.mkdirSync(path.join(home, 'devices'));
    const board = { id: 'board1', name: 'Board 1', backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' } };
    fs.writeFileSync(path.join(home, 'devices', 'board1.json'), JSON.stringify(board));
    redis = await startRedis();
    // Both servers share the workspace (devices, tables) as they would over a network file system.
    b = await boot('b');
    a = await boot('a');
  });

  after(async () => {
    agent?.kill('SIGKILL');
    await a?.app.close();
    await b?.app.close();
    await redis?.stop();
    for (const k of ['TAILOR_AGENT_TOKENS', 'TAILOR_AGENT_HEARTBEAT_MS', 'TAILOR_AGENT_WORK_TIMEOUT_MS']) delete process.env[k];
  });

  it('refuses to start on a malformed TAILOR_QUEUE or an unreachable Redis (exit 2)', async () => {
    const env = (queue: string) => ({ ...process.env, TAILOR_QUEUE: queue });
    const port = await freePort();
    const [malformed, unreachable] = await Promise.all([
      runCli(['--home', tempDir(), 'serve', '--port', String(port)], env('http://me:pw@localhost:6379')),
      runCli(['--home', tempDir(), 'serve', '--port', String(port)], env(`redis://me:s3cret@127.0.0.1:${port}`)),
    ]);
    assert.equal(malformed.status, 2, malformed.stderr);
    assert.match(malformed.stderr, /error: Invalid TAILOR_QUEUE "http:\/\/localhost:6379": "http:" is not redis: or rediss:/);
    assert.equal(unreachable.status, 2, unreachable.stderr);
    assert.match(unreachable.stderr, new RegExp(`error: Cannot reach the job queue at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    assert.doesNotMatch(malformed.stderr + unreachable.stderr, /pw|s3cret/);
  });

  it('a profile job submitted to A measures on the board whose agent is connected to B; B lists and follows it', async () => {
    agent = spawn(process.execPath, [CLI, 'agent', '--server', b.url, '--device-id', 'board1', '--token', TOKEN, '--cache-dir', path.join(home, 'agent-cache'), '--poll', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (d: Buffer) => (agentOutput += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (agentOutput += d.toString()));
    const view = await waitFor('A to see the agent connected to B', async () => {
      const r = await call(a, 'GET', '/agents/board1');
      return r.json?.status === 'online' && r.json;
    });
    assert.match(view.fingerprint.runtime, /^onnxruntime-node /);

    const created = await call(a, 'POST', '/jobs', { type: 'profile', params: { device: 'board1', space: SPACE, resolutions: [20], rounds: 1, passes: 2 } });
    assert.equal(created.status, 202, created.text);
    const listed = await call(b, 'GET', '/jobs');
    assert.deepEqual(listed.json.map((j: { id: string }) => j.id), [created.json.id]);
    // A second writer of the same table is refused by the other server.
    const twice = await call(b, 'POST', '/jobs', { type: 'profile', params: { device: 'board1', space: SPACE, resolutions: [24] } });
    assert.equal(twice.status, 409, twice.text);
    assert.match(twice.json.message, new RegExp(`being written by job ${created.json.id}`));

    const stream = await events(b, `/jobs/${created.json.id}/events`);
    const last = stream.at(-1)!;
    const job = JSON.parse(last.data);
    assert.equal(last.event, 'result', `ended with ${last.event}: ${JSON.stringify(job.error)} ${agentOutput}`);
    assert.ok(stream.some((e) => e.event === 'progress' && JSON.parse(e.data).progress > 0), 'B relays the progress of a job another server may run');
    assert.deepEqual(job.result.measuredResolutions, [20]);
    const onA = await call(a, 'GET', `/jobs/${created.json.id}`);
    assert.deepEqual(Object.keys(onA.json).sort(), Object.keys(job).sort());
    assert.equal(onA.json.status, 'succeeded');
    const table = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'board1', `${SPACE}.json`), 'utf8'));
    assert.equal(table.device.fingerprint.hash, view.fingerprint.hash);
    assert.match(agentOutput, /downloaded model [0-9a-f]{12}/);
  });
});
