import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { AccPredictorRequest } from '../accuracy/build';
import { ErrorCode, TailorError, isTailorError } from '../core/errors';
import type { SearchRequest } from '../specialize/search-run';
import type { TrainRunRequest } from '../training/train-run';

/** The heavy work of train, acc-predictor and search jobs: what the CLI runs for the same request. */
export type WorkerTask =
  | { kind: 'train'; request: TrainRunRequest }
  | { kind: 'acc-predictor'; request: AccPredictorRequest }
  | { kind: 'search'; request: SearchRequest; home: string };

type Progress = { done: number; total: number; message: string };
type ToParent =
  | { progress: Progress }
  | { warn: string }
  | { result: unknown }
  | { error: { code?: ErrorCode; params?: TailorError['params']; message: string } };

/**
 * Runs a task in a child process. Training, subnet measurements and the search are synchronous
 * tfjs work for seconds to hours; in the service's process they would stall every request (and
 * the SSE progress of the job itself). Cancelling or stopping the service kills the child: every
 * output is written atomically (checkpoints, the predictor, each search target by rename), so a
 * killed task leaves what its last complete step wrote, and an interrupted job resumes from it.
 */
export function runInWorker(task: WorkerTask, cacheDir: string, hooks: { signal: AbortSignal; onProgress: (p: Progress) => void; warn?: (m: string) => void }): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (hooks.signal.aborted) return reject(hooks.signal.reason);
    const child = fork(path.join(__dirname, 'job-worker.js'), [], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let settled = false;
    const finish = (settle: () => void) => {
      if (settled) return;
      settled = true;
      hooks.signal.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(() => reject(hooks.signal.reason));
    };
    hooks.signal.addEventListener('abort', onAbort, { once: true });
    child.on('message', (m: ToParent) => {
      if ('progress' in m) hooks.onProgress(m.progress);
      else if ('warn' in m) hooks.warn?.(m.warn);
      else if ('result' in m) finish(() => resolve(m.result));
      else if ('error' in m) finish(() => reject(m.error.code ? new TailorError(m.error.code, m.error.params) : new Error(m.error.message)));
    });
    child.on('error', (e) => finish(() => reject(e)));
    // 'close' (not 'exit'): every message the child sent has been received by then.
    child.on('close', (code, signal) => {
      const tail = stderr.trim().split('\n').slice(-5).join(' | ');
      finish(() => reject(new Error(`the job's worker process exited (${signal ?? `code ${code}`}) before it finished${tail ? `: ${tail}` : ''}`)));
    });
    child.send({ task, cacheDir });
  });
}

async function perform(task: WorkerTask, cacheDir: string, send: (m: ToParent) => void): Promise<unknown> {
  // A job has one progress: an image folder's decode (if any) shows there first, then the work.
  const onProgress = (progress: Progress) => send({ progress });
  switch (task.kind) {
    case 'train': {
      const { trainRun } = await import('../training/train-run.js');
      return trainRun(task.request, cacheDir, { onProgress, onDecode: onProgress });
    }
    case 'acc-predictor': {
      const { buildAccuracyPredictor } = await import('../accuracy/build.js');
      return buildAccuracyPredictor(task.request, cacheDir, { onProgress, onDecode: onProgress });
    }
    case 'search': {
      // The same wiring as the service's (DomainModule) and the CLI's: the search measures with --measure.
      await import('../runtime/registry.js');
      const { workspace } = await import('../core/workspace.js');
      const { DeviceService } = await import('../runtime/device.service.js');
      const { LatencyService } = await import('../latency/latency.service.js');
      const { searchRun } = await import('../specialize/search-run.js');
      const devices = new DeviceService(workspace(task.home));
      return searchRun(task.request, cacheDir, new LatencyService(devices.ws, devices), { onProgress, onDecode: onProgress, warn: (warn) => send({ warn }) });
    }
  }
}

if (require.main === module) {
  const send = (m: ToParent, then?: () => void) => process.send!(m, undefined, {}, then);
  process.once('message', ({ task, cacheDir }: { task: WorkerTask; cacheDir: string }) => {
    perform(task, cacheDir, send).then(
      (result) => send({ result }, () => process.exit(0)),
      (e: unknown) => {
        const error = isTailorError(e) ? { code: e.code, params: e.params, message: e.message } : { message: (e as Error)?.message ?? String(e) };
        send({ error }, () => process.exit(0));
      },
    );
  });
  // The service is gone: so is this task.
  process.on('disconnect', () => process.exit(1));
}
