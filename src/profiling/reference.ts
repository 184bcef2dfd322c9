import { ArchConfig, sampleArch } from '../core/arch';
import { Rng, deriveSeed } from '../core/rng';
import { median } from '../core/latency';
import { SearchSpace } from '../core/space';

/**
 * Fixed networks timed alongside every profiling resolution and every validation. A shared
 * machine drifts in speed by several percent over minutes; the median of their timings over a
 * table's measurement windows is the speed the table was made at, and validation times them
 * again to separate the machine's drift from the predictor's error.
 * They are ordinary seeded subnets spread over the resolutions: a neighbour thrashing the
 * shared cache slows nets of different sizes differently, so references should look like the
 * nets they stand for.
 */
export function referenceArchs(space: SearchSpace): ArchConfig[] {
  const rng = new Rng(deriveSeed(0, `reference-${space.id}`));
  const rs = space.resolutions;
  return [0, 1 / 3, 2 / 3, 1].map((f) => sampleArch(space, rng, [rs[Math.round(f * (rs.length - 1))]]));
}

/** Median over reference networks of now / baseline: > 1 means the device runs slower now than when the table was made. */
export function speedFactor(baselineMs: readonly number[], nowMs: readonly number[]): number {
  return median(nowMs.map((ms, i) => ms / baselineMs[i]));
}
