import { TailorError } from '../src/core/errors';
import { JobContext, JobRunner } from '../src/jobs/job.service';

/**
 * A job runner that works in steps until released, aborting when asked: stands in for profiling
 * in the queue tests. `log` gets "start <label>" and "end <name>"; the label defaults to the name.
 */
export function steppedRunner(log: string[], label: (name: string, ctx: JobContext) => string = (name) => name): JobRunner & { release(name: string): void } {
  const gates = new Map<string, () => void>();
  return {
    prepare(params) {
      if (typeof params.device !== 'string') throw new TailorError('INVALID_OPTION', { option: 'device', reason: 'missing' });
      return { device: params.device, params };
    },
    lock: (params) => `${params.device}/${params.space}`,
    async run(params, ctx: JobContext) {
      const name = String(params.name);
      log.push(`start ${label(name, ctx)}`);
      ctx.progress(1, 2, 'half way');
      await new Promise<void>((resolve, reject) => {
        gates.set(name, resolve);
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
      });
      log.push(`end ${name}`);
      return { name };
    },
    release(name: string) {
      gates.get(name)?.();
    },
  };
}
