import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { JobEvent, JobRunner } from '../../src/jobs/job.service';
import { checkQueue, parseQueueUrl } from '../../src/jobs/redis';
import { RedisJobService } from '../../src/jobs/redis-queue';
import { NO_REDIS, RedisServer, startRedis } from '../redis-server';
import { steppedRunner as steppedRunnerBase } from '../stepped-runner';

/** The stepped runner, its start lines tagged with the attempt and the service; `log` is shared by every service of a test (one process). */
const steppedRunner = (log: string[], tag = '') => steppedRunnerBase(log, (name, ctx) => `${name} ${ctx.attempt}${tag}`);

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const isCode = (code: string) => (e: unknown) => e instanceof TailorError && e.code === code;

describe('the job queue on Redis (BullMQ): several servers, one queue', { skip: NO_REDIS }, () => {
  let redis: RedisServer;
  const started: RedisJobService[] = [];
  let n = 0;

  /** A server's queue; every test has its own key prefix on the shared redis-server. */
  async function server(prefix: string, runner: JobRunner, lockMs = 1_000) {
    const jobs = new RedisJobService(parseQueueUrl(redis.url), { profile: runner, validate: runner }, { prefix, lockMs });
    await jobs.start();
    started.push(jobs);
    return jobs;
  }

  before(async () => {
    redis = await startRedis();
  });

  after(async () => {
    for (const s of started) await s.shutdown().then(() => s.close(), () => undefined);
    await redis?.stop();
  });

  it('a malformed TAILOR_QUEUE or an unreachable Redis is a clear error', async () => {
    assert.throws(() => parseQueueUrl('http://localhost:6379'), /Invalid TAILOR_QUEUE "http:\/\/localhost:6379": "http:" is not redis: or rediss:/);
    assert.throws(() => parseQueueUrl('redis://h/x'), /"\/x" is not a database number/);
    assert.throws(() => parseQueueUrl('not a url'), /Invalid TAILOR_QUEUE "\(unparsable\)": not a URL/);
    const secret = parseQueueUrl('redis://me:s3cret@127.0.0.1:1/2');
    assert.deepEqual([secret.display, secret.options.password, secret.options.db], ['redis://127.0.0.1:1/2', 's3cret', 2]);
    await assert.rejects(checkQueue(secret), (e: unknown) => isCode('QUEUE_UNAVAILABLE')(e) && /redis:\/\/127\.0\.0\.1:1\/2/.test((e as Error).message) && !/s3cret/.test((e as Error).message));
    await checkQueue(parseQueueUrl(redis.url));
  });

  it('a job submitted to one server is seen, followed and cancelled from another; table locks hold across servers', async () => {
    const prefix = `t${++n}`;
    const log: string[] = [];
    const runner = steppedRunner(log);
    const a = await server(prefix, runner);
    const b = await server(prefix, runner);
    const job = await a.submit('profile', { device: 'a', space: 's', name: 'x' });
    assert.equal((await b.get(job.id)).status === 'queued' || (await b.get(job.id)).status === 'running', true);
    const seen: JobEvent[] = [];
    const unsubscribe = b.subscribe(job.id, (e) => seen.push(e));
    await until('the job to run and report progress', () => seen.some((e) => e.type === 'progress' && e.job.progress === 0.5));
    const listed = await b.list();
    assert.deepEqual(listed.map((j) => j.id), [job.id]);
    assert.deepEqual(Object.keys(listed[0]).sort(), ['attempts', 'createdAt', 'device', 'error', 'etaSeconds', 'finishedAt', 'id', 'message', 'params', 'progress', 'result', 'startedAt', 'status', 'type', 'updatedAt']);
    assert.equal(listed[0].status, 'running');
    assert.deepEqual((await b.list({ status: 'succeeded' })).length, 0);
    await assert.rejects(b.submit('profile', { device: 'a', space: 's', name: 'y' }), (e: unknown) => isCode('TABLE_LOCKED')(e) && (e as Error).message.includes(`job ${job.id}`));
    const queued = await b.submit('validate', { device: 'a', space: 'other', name: 'q' });
    assert.equal((await a.cancel(queued.id)).status, 'cancelled');
    await b.cancel(job.id);
    await until('the cancel to reach the running server, and its news back', () => seen.some((e) => e.type === 'status' && e.job.status === 'cancelled'));
    assert.equal((await a.get(job.id)).status, 'cancelled');
    unsubscribe();
    await assert.rejects(b.cancel(job.id), isCode('JOB_FINISHED'));
    await assert.rejects(a.get('nope'), isCode('UNKNOWN_JOB'));
    // The lock went with the job.
    const again = await b.submit('profile', { device: 'a', space: 's', name: 'z' });
    await until('the new job to run', () => log.includes('start z 1'));
    runner.release('z');
    await until('it to succeed', async () => (await a.get(again.id)).status === 'succeeded');
    assert.deepEqual((await a.get(again.id)).result, { name: 'z' });
    assert.ok(!log.includes('start q 1'), 'a job cancelled while queued never runs');
  });

  it('runs one job per device at a time across servers, devices in parallel', async () => {
    const prefix = `t${++n}`;
    const log: string[] = [];
    const runner = steppedRunner(log);
    const a = await server(prefix, runner);
    const b = await server(prefix, runner);
    const a1 = await a.submit('profile', { device: 'a', space: 's1', name: 'a1' });
    const a2 = await b.submit('validate', { device: 'a', space: 's2', name: 'a2' });
    const a3 = await a.submit('validate', { device: 'a', space: 's3', name: 'a3' });
    await b.submit('profile', { device: 'b', space: 's1', name: 'b1' });
    await until('a job of each device to start', () => log.length === 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(log.sort(), ['start a1 1', 'start b1 1']);
    assert.deepEqual([(await a.get(a2.id)).status, (await b.get(a3.id)).status], ['queued', 'queued']);
    runner.release('a1');
    await until('a2 to run', () => log.includes('start a2 1'));
    assert.equal((await b.get(a1.id)).status, 'succeeded');
    assert.equal((await b.get(a3.id)).status, 'queued', 'still one at a time');
    runner.release('a2');
    await until('a3 to run', () => log.includes('start a3 1'));
    runner.release('a3');
    runner.release('b1');
    await until('all to succeed', async () => (await a.list({ status: 'succeeded' })).length === 4);
    assert.equal(log.filter((l) => l.startsWith('start')).length, 4, 'each job ran once');
  });

  it('a server that dies mid-job: another takes the job once its lock expires (stalled job), as a resumed attempt', async () => {
    const prefix = `t${++n}`;
    const script = path.join(__dirname, '..', 'redis-server.js');
    const child = spawn(process.execPath, [script], { env: { ...process.env, TAILOR_TEST_QUEUE_CHILD: redis.url, TAILOR_TEST_QUEUE_PREFIX: prefix }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await until('the other server to start the job', () => /started 1/.test(out) && /job \S+/.test(out));
    const id = /job (\S+)/.exec(out)![1];
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const log: string[] = [];
    const rb = steppedRunner(log, '@b');
    const b = await server(prefix, rb);
    assert.equal((await b.get(id)).status, 'running', 'a dead server cannot say otherwise');
    await until('this server to take the stalled job', () => log.includes('start doomed 2@b'));
    assert.equal((await b.get(id)).attempts, 2);
    rb.release('doomed');
    await until('it to succeed', async () => (await b.get(id)).status === 'succeeded');

    // A graceful stop hands the running job back at once: queued again, then resumed by the other server.
    const ra = steppedRunner(log, '@a');
    const a = await server(prefix, ra);
    const job = await a.submit('profile', { device: 'd', space: 's', name: 'handed' });
    await until('it to start', () => log.some((l) => l.startsWith('start handed 1')));
    const [holder, other, otherRunner] = log.includes('start handed 1@a') ? [a, b, rb] : [b, a, ra];
    await holder.shutdown();
    assert.match((await other.get(job.id)).status, /^(queued|running)$/);
    await until('the other server to resume it', () => log.some((l) => l.startsWith('start handed 2')));
    const resumed = await other.get(job.id);
    assert.deepEqual([resumed.status, resumed.attempts], ['running', 2]);
    otherRunner.release('handed');
    await until('it to succeed', async () => (await other.get(job.id)).status === 'succeeded');
  });
});
