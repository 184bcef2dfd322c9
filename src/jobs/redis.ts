import type { Redis, RedisOptions } from 'ioredis';
import { TailorError } from '../core/errors';

/** TAILOR_QUEUE, checked: what to connect to, and how to name it without its password. */
export interface QueueUrl {
  options: RedisOptions;
  /** For logs and errors (never the password). */
  display: string;
}

/** Parses redis://[user:password@]host[:port][/db] (rediss:// for TLS); a malformed value stops the service (exit 2). */
export function parseQueueUrl(value: string): QueueUrl {
  let url: URL;
  const fail = (reason: string, shown = '(unparsable)'): never => {
    throw new TailorError('QUEUE_CONFIG', { value: shown, reason });
  };
  try {
    url = new URL(value);
  } catch {
    return fail('not a URL');
  }
  const display = `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname.length > 1 ? url.pathname : ''}`;
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') fail(`"${url.protocol}" is not redis: or rediss:`, display);
  if (!url.hostname) fail('no host', display);
  const db = url.pathname.replace(/^\//, '');
  if (db && !/^\d{1,2}$/.test(db)) fail(`"/${db}" is not a database number`, display);
  if (url.search || url.hash) fail('query strings and fragments are not supported', display);
  const options: RedisOptions = {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { options, display };
}

/** A client of its own (ioredis, loaded only in Redis mode); errors are logged, never thrown at the process. */
export function redisClient(q: QueueUrl, onError: (e: Error) => void, extra: RedisOptions = {}): Redis {
  const IORedis = (require('ioredis') as typeof import('ioredis')).default;
  const client = new IORedis({ ...q.options, ...extra });
  client.on('error', onError);
  return client;
}

/** At startup: an unreachable Redis is a clear error (exit 2), not a service that retries forever. */
export async function checkQueue(q: QueueUrl, timeoutMs = 5_000): Promise<void> {
  let cause: Error | null = null; // the socket's error (ECONNREFUSED, ...) says more than "Connection is closed"
  const client = redisClient(q, (e) => (cause ??= e), { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  try {
    await client.connect();
    const info = await client.info('server');
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    // BullMQ needs Redis 6.2 or later (its scripts use newer commands).
    if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2))) {
      throw new Error(`Redis ${version[1]}.${version[2]} is too old (BullMQ needs 6.2 or later)`);
    }
  } catch (e) {
    throw new TailorError('QUEUE_UNAVAILABLE', { url: q.display, reason: (cause as Error | null)?.message ?? (e as Error).message });
  } finally {
    client.disconnect();
  }
}
