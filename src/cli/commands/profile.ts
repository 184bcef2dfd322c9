import { TailorError } from '../../core/errors';
import { countEntries } from '../../latency/table';
import { ProfileResult } from '../../profiling/profiler';
import { GlobalOptions, services } from '../context';
import { printJson } from '../format';
import { progressBar } from '../progress';

export interface ProfileCliOptions {
  device: string;
  space?: string;
  kernels?: boolean;
  samples?: number;
  resolutions?: number[];
  threads?: number;
  seed: number;
  rounds: number;
  passes: number;
  force?: boolean;
  json?: boolean;
}

export async function profile(opts: ProfileCliOptions & { space: string }, global: GlobalOptions): Promise<ProfileResult> {
  const { profiling } = services(global);
  const bar = progressBar(`profile ${opts.device}`);
  try {
    return await profiling.profile({ ...opts, onProgress: (p) => bar.update(p.done, p.total, p.message) });
  } finally {
    bar.stop();
  }
}

export function describeProfile(result: ProfileResult): string {
  const lines = [`table: ${result.file}`];
  if (result.measuredResolutions.length) {
    const secs = result.measuredResolutions.map((r) => result.secondsPerResolution[r]);
    const avg = secs.reduce((a, b) => a + b, 0) / secs.length;
    lines.push(`measured ${result.measuredResolutions.length} resolution(s) (${result.networksMeasured} networks), ${avg.toFixed(1)} s per resolution`);
  }
  if (result.skippedResolutions.length) lines.push(`already in the table (not re-measured): ${result.skippedResolutions.join(', ')}`);
  lines.push(`table now covers resolutions ${result.table.resolutions.join(', ')} with ${countEntries(result.table)} entries`);
  return lines.join('\n');
}

export async function run(opts: ProfileCliOptions, global: GlobalOptions): Promise<void> {
  if (opts.kernels) return (await import('./profile-kernels.js')).run(opts, global);
  if (opts.space === undefined) throw new TailorError('INVALID_OPTION', { option: '--space', reason: 'profile needs --space <id> (a lookup table) or --kernels (kernel regressors)' });
  if (opts.samples !== undefined) throw new TailorError('INVALID_OPTION', { option: '--samples', reason: 'it applies to --kernels only' });
  const result = await profile({ ...opts, space: opts.space }, global);
  if (opts.json) {
    const { table, ...rest } = result;
    return printJson({ ...rest, resolutions: table.resolutions });
  }
  console.log(describeProfile(result));
}
