import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';

/**
 * Latency measurements on this machine must not overlap, whoever runs them (a CLI profile, a
 * service job, a second device descriptor for the same host): one machine-wide lock, waited
 * for, not refused. A crashed holder's lock goes stale after 10 s.
 */
/** The lock a measurement on `backend` takes: this machine's, unless the device is other hardware. */
export function withMeasurementLock<T>(backend: { remote?: boolean }, fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  return backend.remote ? fn() : withMachineLock(fn, onWait);
}

export async function withMachineLock<T>(fn: () => Promise<T>, onWait?: () => void): Promise<T> {
  const file = path.join(os.tmpdir(), `tailor-measurements-${os.userInfo().uid}`);
  fs.writeFileSync(file, '', { flag: 'a' });
  const options = { stale: 10_000, update: 2_000, onCompromised: () => undefined };
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, options);
  } catch {
    onWait?.();
    release = await lockfile.lock(file, { ...options, retries: { forever: true, minTimeout: 200, maxTimeout: 1_000 } });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
