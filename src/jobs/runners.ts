import { TailorError } from '../core/errors';
import { checkResolutions, getSpace } from '../core/space';
import { LatencyService } from '../latency/latency.service';
import { ProfilingService } from '../profiling/profiling.service';
import { JobType } from './job-store';
import { JobRunner } from './job.service';
import { SupernetJobDirs, supernetRunners } from './supernet-runners';

/** The long tasks the service runs as jobs, over the same services the CLI uses. */
export function jobRunners(latency: LatencyService, profiling: ProfilingService, dirs: SupernetJobDirs): Record<JobType, JobRunner> {
  return {
    ...supernetRunners(latency, dirs),
    profile: {
      prepare(params) {
        const { device, space, resolutions } = params as { device: string; space: string; resolutions?: number[] };
        profiling.devices.checkMeasurable(profiling.devices.get(device), 'be profiled');
        if (resolutions) checkResolutions(getSpace(space), resolutions, 'resolutions');
        else getSpace(space);
        return { device, params };
      },
      lock: (params) => `${params.device}/${params.space}`,
      async run(params, ctx) {
        const r = await profiling.profile({
          ...(params as { device: string; space: string }),
          // --force starts a new table once; a resumed attempt continues that new table.
          force: Boolean(params.force) && ctx.attempt === 1,
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
        const { device, space, resolutions } = params as { device: string; space: string; resolutions?: number[] };
        latency.devices.checkMeasurable(latency.devices.get(device), 'be validated (nothing to measure on)');
        const table = latency.table(device, space); // must exist and be readable
        const absent = (resolutions ?? []).filter((r) => !table.resolutions.includes(r));
        if (absent.length) {
          throw new TailorError('RESOLUTION_NOT_IN_TABLE', { resolution: absent.join(', '), device, space, available: table.resolutions.join(', ') });
        }
        return { device, params };
      },
      async run(params, ctx) {
        const { device, space, ...rest } = params as { device: string; space: string; samples: number };
        return latency.validate(device, space, { ...rest, signal: ctx.signal, onProgress: (p) => ctx.progress(p.done, p.total, p.message) });
      },
    },
  };
}
