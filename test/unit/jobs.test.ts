import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { JobStore } from '../../src/jobs/job-store';
import { JobRunner, JobService } from '../../src/jobs/job.service';
import { tempDir } from '../helpers';
import { steppedRunner } from '../stepped-runner';


const until = async (fn: () => boolean) => {
  for (let i = 0; i < 500 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(fn(), 'condition not reached');
};

/** A started service over a real SQLite store, with the stepped runner for both job types. */
function startService(dir: string, log: string[], runner = steppedRunner(log)) {
  const store = new JobStore(dir);
  const jobs = new JobService(store, { profile: runner, validate: runner });
  jobs.start();
  return { store, jobs, runner };
}

describe('job service', () => {
  it('runs one job per device at a time, devices in parallel, and persists results', async () => {
    const dir = tempDir();
    const log: string[] = [];
    const { store, jobs, runner } = startService(dir, log);
    const a1 = jobs.submit('profile', { device: 'a', space: 's1', name: 'a1' });
    const a2 = jobs.submit('validate', { device: 'a', space: 's1', name: 'a2' });
    const b1 = jobs.submit('profile', { device: 'b', space: 's1', name: 'b1' });
    await until(() => log.length === 2);
    assert.deepEqual(log.sort(), ['start a1', 'start b1']);
    assert.equal(jobs.get(a2.id).status, 'queued');
    assert.equal(jobs.get(a1.id).progress, 0.5);
    runner.release('a1');
    await until(() => jobs.get(a2.id).status === 'running');
    assert.equal(jobs.get(a1.id).status, 'succeeded');
    assert.deepEqual(jobs.get(a1.id).result, { name: 'a1' });
    runner.release('a2');
    runner.release('b1');
    await until(() => jobs.get(b1.id).status === 'succeeded' && jobs.get(a2.id).status === 'succeeded');
    store.close();
    const reopened = new JobStore(dir);
    assert.deepEqual(reopened.get(a1.id)!.result, { name: 'a1' });
    reopened.close();
  });

  it('refuses a second writer of the same table and bad params, cancels queued and running jobs', async () => {
    const runner = steppedRunner([]);
    const jobs = new JobService(new JobStore(tempDir()), { profile: runner, validate: runner });
    jobs.start();
    const first = jobs.submit('profile', { device: 'a', space: 's', name: 'x' });
    assert.throws(() => jobs.submit('profile', { device: 'a', space: 's', name: 'y' }), (e: unknown) => e instanceof TailorError && e.code === 'TABLE_LOCKED');
    assert.throws(() => jobs.submit('profile', {}), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_OPTION');
    assert.throws(() => jobs.submit('train', { device: 'a' }), /not a job type/);
    const queued = jobs.submit('validate', { device: 'a', space: 's', name: 'q' });
    assert.equal(jobs.cancel(queued.id).status, 'cancelled');
    await until(() => jobs.get(first.id).status === 'running');
    jobs.cancel(first.id);
    await until(() => jobs.get(first.id).status === 'cancelled');
    assert.throws(() => jobs.cancel(first.id), (e: unknown) => e instanceof TailorError && e.code === 'JOB_FINISHED');
    assert.throws(() => jobs.get('nope'), (e: unknown) => e instanceof TailorError && e.code === 'UNKNOWN_JOB');
  });

  it('marks running jobs interrupted on shutdown and resumes them at the next start', async () => {
    const dir = tempDir();
    const log: string[] = [];
    const { store, jobs, runner } = startService(dir, log);
    const job = jobs.submit('profile', { device: 'a', space: 's', name: 'long' });
    await until(() => log.length === 1);
    await jobs.shutdown();
    assert.equal(store.get(job.id)!.status, 'interrupted');
    assert.throws(() => jobs.submit('profile', { device: 'b', name: 'late' }), (e: unknown) => e instanceof TailorError && e.code === 'SERVICE_STOPPING');
    store.close();

    const store2 = new JobStore(dir);
    const again = new JobService(store2, { profile: runner, validate: runner });
    again.start();
    await until(() => log.length === 2);
    runner.release('long');
    await until(() => again.get(job.id).status === 'succeeded');
    assert.equal(again.get(job.id).attempts, 2);
    store2.close();
  });

  it('compares lock keys across the job types of one lock group, with the runner\'s own error', async () => {
    const log: string[] = [];
    const stepped = steppedRunner(log);
    const onRun = (type: string): JobRunner => ({
      ...stepped,
      lock: (params) => `run:${params.run}`,
      lockGroup: type === 'search' ? undefined : 'run',
      lockError: (params, holder) => new TailorError('RUN_LOCKED', { what: `Run "${params.run}"`, holder }),
    });
    const store = new JobStore(tempDir());
    const jobs = new JobService(store, { train: onRun('train'), 'acc-predictor': onRun('acc-predictor'), search: onRun('search') });
    jobs.start();
    const train = jobs.submit('train', { device: 'trainer', run: 'r1', name: 't' });
    assert.throws(() => jobs.submit('acc-predictor', { device: 'trainer', run: 'r1', name: 'p' }), (e: unknown) => e instanceof TailorError && e.code === 'RUN_LOCKED' && e.message.includes(`job ${train.id}`));
    const other = jobs.submit('acc-predictor', { device: 'trainer', run: 'r2', name: 'p2' });
    const search = jobs.submit('search', { device: 'trainer', run: 'r1', name: 's' }); // another group: its own locks
    assert.equal(jobs.get(other.id).status, 'queued', 'one job at a time on the trainer queue');
    await until(() => log.length === 1);
    jobs.cancel(train.id);
    jobs.cancel(other.id);
    jobs.cancel(search.id);
    await until(() => jobs.get(train.id).status === 'cancelled');
    await jobs.shutdown();
    store.close();
  });
});
