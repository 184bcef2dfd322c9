import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as net from 'node:net';
import { parseQueueUrl, redisClient } from '../src/jobs/redis';
import { RedisJobService } from '../src/jobs/redis-queue';
import { tempDir } from './helpers';

/** A redis-server started for the whole test run (.ci/run starts one); test files then share it, one after another. */
const SHARED_URL = process.env.TAILOR_TEST_REDIS_URL;

/** Why the Redis-mode tests are skipped here, or false when a redis-server is given or on PATH. */
export const NO_REDIS: string | false =
  SHARED_URL || spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
    ? false
    : 'redis-server is not on PATH (Debian: apt-get install redis-server); Redis-mode tests skipped';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The run's shared redis-server (TAILOR_TEST_REDIS_URL), emptied for this test file; otherwise a
 * throwaway redis-server of this test file: a free port, nothing saved to disk, killed at the end.
 */
export async function startRedis(): Promise<RedisServer> {
  if (SHARED_URL) {
    const client = redisClient(parseQueueUrl(SHARED_URL), (e) => {
      throw e;
    }, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    await client.flushall(); // test files run one at a time: nothing of an earlier file may leak in
    await client.quit();
    return { url: SHARED_URL, port: Number(new URL(SHARED_URL).port) || 6379, stop: async () => undefined };
  }
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tempDir('tailor-redis-')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A queue server in a process of its own, to be killed mid-job: TAILOR_TEST_QUEUE_CHILD=<url>,
 * TAILOR_TEST_QUEUE_PREFIX; submits one profile job on device "c" that never ends, and prints
 * "job <id>" then "started <attempt>".
 */
async function queueChild(url: string, prefix: string): Promise<void> {
  const jobs = new RedisJobService(parseQueueUrl(url), {
    profile: {
      prepare: (params) => ({ device: String(params.device), params }),
      run: (_params, ctx) => {
        console.log(`started ${ctx.attempt}`);
        return new Promise(() => undefined);
      },
    },
  }, { prefix, lockMs: 1_000 });
  await jobs.start();
  const job = await jobs.submit('profile', { device: 'c', name: 'doomed' });
  console.log(`job ${job.id}`);
}

if (require.main === module && process.env.TAILOR_TEST_QUEUE_CHILD) {
  void queueChild(process.env.TAILOR_TEST_QUEUE_CHILD, process.env.TAILOR_TEST_QUEUE_PREFIX ?? 'tailor');
}
