import { TailorError } from '../core/errors';
import { getSpace } from '../core/space';
import { LatencyService } from '../latency/latency.service';
import { ProfilingService } from '../profiling/profiling.service';
import { TABLE_ONLY } from '../runtime/devices';
import { JobType } from './job-store';
import { JobRunner } from './job.service';

function checkResolutions(space: string, resolutions: unknown): void {
  if (resolutions === undefined) return;
  const s = getSpace(space);
  const bad = (resolutions as number[]).filter((r) => !s.resolutions.includes(r));
  if (bad.length) throw new TailorError('INVALID_OPTION', { option: 'resolutions', reason: `${bad.join(', ')} not in ${space} (${s.resolutions.join(', ')})` });
}

/** The long tasks the service runs as jobs, over the same services the CLI uses. */
export function jobRunners(latency: LatencyService, profiling: ProfilingService): Record<JobType, JobRunner> {
  return {
    profile: {
      prepare(params) {
        const { device, space } = params as { device: string; space: string };
        const descriptor = profiling.devices.get(device);
        getSpace(space);
        if (descriptor.backend === TABLE_ONLY) throw new TailorError('TABLE_ONLY_DEVICE', { device, action: 'be profiled' });
        checkResolutions(space, params.resolutions);
        return { device, params };
      },
      lock: (params) => `${params.device}/${params.space}`,
      async run(params, ctx) {
        const r = await profiling.profile({
          ...(params as { device: string; space: string }),
          signal: ctx.signal,
          onProgress: (p) => ctx.progress(p.done, p.total, p.message),
        });
        return {
          file: r.file, resolutions: r.table.resolutions, measuredResolutions: r.measuredResolutions,
          skippedResolutions: r.skippedResolutions, networksMeasured: r.networksMeasured, secondsPerResolution: r.secondsPerResolution,
        };
      },
    },
    validate: {
      prepare(params) {
        const { device, space } = params as { device: string; space: string };
        const descriptor = latency.devices.get(device);
        if (descriptor.backend === TABLE_ONLY) throw new TailorError('TABLE_ONLY_DEVICE', { device, action: 'be validated (nothing to measure on)' });
        latency.table(device, space); // the table must exist and be readable
        checkResolutions(space, params.resolutions);
        return { device, params };
      },
      async run(params, ctx) {
        const { device, space, ...rest } = params as { device: string; space: string; samples: number };
        return latency.validate(device, space, { ...rest, signal: ctx.signal, onProgress: (p) => ctx.progress(p.done, p.total, p.message) });
      },
    },
  };
}
