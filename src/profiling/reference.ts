import { ArchConfig } from '../core/arch';
import { median } from '../core/latency';
import { SearchSpace, blockCount } from '../core/space';

/**
 * Fixed networks timed alongside every profiling resolution and every validation. A shared
 * machine drifts in speed by several percent over minutes; these give the drift factor, so a
 * table's resolutions share one speed baseline and validation can separate drift from error.
 */
export function referenceArchs(space: SearchSpace): ArchConfig[] {
  const n = blockCount(space);
  const mid = (xs: number[]) => xs[Math.floor(xs.length / 2)];
  const uniform = (k: number, e: number, d: number, r: number): ArchConfig => ({
    space: space.id, ks: Array(n).fill(k), e: Array(n).fill(e), d: space.stages.map(() => d), r,
  });
  return [
    uniform(mid(space.kernelSizes), mid(space.expandRatios), mid(space.depths), mid(space.resolutions)),
    uniform(Math.min(...space.kernelSizes), Math.max(...space.expandRatios), Math.max(...space.depths), Math.min(...space.resolutions)),
  ];
}

/** Median over reference networks of now / baseline: > 1 means the device runs slower now than when the table was made. */
export function speedFactor(baselineMs: readonly number[], nowMs: readonly number[]): number {
  return median(nowMs.map((ms, i) => ms / baselineMs[i]));
}
