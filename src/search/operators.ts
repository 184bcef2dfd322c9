import { ArchConfig } from '../core/arch';
import { TailorError } from '../core/errors';
import { Rng } from '../core/rng';
import { SearchSpace, checkResolutions } from '../core/space';

export interface MutationOptions {
  /** Chance that each kernel size, each expand ratio and each stage depth is resampled (OFA: 0.1). */
  mutateProb: number;
  /** Chance that the resolution is resampled (OFA's EvolutionFinder: 0.5). */
  resolutionMutateProb: number;
  /** Resolutions the search may pick, e.g. those the latency tables cover; default: all of the space. */
  resolutions: readonly number[];
}

export const DEFAULT_MUTATE_PROB = 0.1;
export const DEFAULT_RESOLUTION_MUTATE_PROB = 0.5;

/**
 * OFA-style mutation: every gene is resampled uniformly from its choices with its probability
 * (it may draw its current value, as in OFA). Settings of skipped blocks mutate too, so they
 * are ready when a later depth mutation turns the block on.
 */
export function mutateArch(space: SearchSpace, arch: ArchConfig, rng: Rng, options: MutationOptions): ArchConfig {
  const resample = (value: number, choices: readonly number[], prob: number) => (rng.float() < prob ? rng.pick(choices) : value);
  return {
    space: arch.space,
    ks: arch.ks.map((kernelSize) => resample(kernelSize, space.kernelSizes, options.mutateProb)),
    e: arch.e.map((expandRatio) => resample(expandRatio, space.expandRatios, options.mutateProb)),
    d: arch.d.map((depth) => resample(depth, space.depths, options.mutateProb)),
    r: resample(arch.r, options.resolutions, options.resolutionMutateProb),
  };
}

/** OFA-style uniform crossover: each gene (each block's kernel and expand, each depth, the resolution) from either parent. */
export function crossoverArch(a: ArchConfig, b: ArchConfig, rng: Rng): ArchConfig {
  const either = (x: number, y: number) => (rng.float() < 0.5 ? x : y);
  return {
    space: a.space,
    ks: a.ks.map((kernelSize, i) => either(kernelSize, b.ks[i])),
    e: a.e.map((expandRatio, i) => either(expandRatio, b.e[i])),
    d: a.d.map((depth, i) => either(depth, b.d[i])),
    r: either(a.r, b.r),
  };
}

/** Fills mutation defaults and checks them. */
export function mutationOptions(space: SearchSpace, options: Partial<MutationOptions>): MutationOptions {
  const out: MutationOptions = {
    mutateProb: options.mutateProb ?? DEFAULT_MUTATE_PROB,
    resolutionMutateProb: options.resolutionMutateProb ?? DEFAULT_RESOLUTION_MUTATE_PROB,
    resolutions: options.resolutions ?? space.resolutions,
  };
  checkProbability('mutateProb', out.mutateProb);
  checkProbability('resolutionMutateProb', out.resolutionMutateProb);
  if (!out.resolutions.length) throw new TailorError('INVALID_OPTION', { option: 'resolutions', reason: 'empty list' });
  checkResolutions(space, out.resolutions, 'resolutions');
  return out;
}

export function checkProbability(option: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new TailorError('INVALID_OPTION', { option, reason: `${value} is not a probability in [0, 1]` });
}

export function checkCount(option: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new TailorError('INVALID_OPTION', { option, reason: `${value} is not an integer >= ${min}` });
}
