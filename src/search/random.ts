import { sampleArch } from '../core/arch';
import { TailorError } from '../core/errors';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, checkResolutions } from '../core/space';
import { Archive, EvaluatedArch, SearchResult, defaultObjectives, feasibleFront } from './archive';
import { checkCount } from './operators';
import { ObjectiveKey, SearchProblem, checkObjectives } from './problem';

export interface RandomOptions {
  seed: number;
  /** Distinct feasible archs wanted. */
  samples: number;
  /** Stop after this many distinct archs were evaluated, feasible or not (default 100 × samples). */
  maxEvaluations?: number;
  /** Objectives of the returned front (default as NSGA-II's). */
  objectives?: ObjectiveKey[];
  resolutions?: readonly number[];
}

export interface RandomStep {
  /** Sampling round. */
  round: number;
  evaluations: number;
  feasible: number;
  bestAccuracy: number | null;
}

export interface RandomResult extends SearchResult<RandomStep> {
  algorithm: 'random';
  objectives: ObjectiveKey[];
  /** Feasible archs sampled, at most `samples`. */
  samples: EvaluatedArch[];
  best: EvaluatedArch;
  front: EvaluatedArch[];
}

/** The baseline: uniform samples of the space, rejected when over budget, until `samples` feasible ones or the evaluation cap. */
export function randomSearch(space: SearchSpace, problem: SearchProblem, options: RandomOptions): RandomResult {
  const objectives = [...(options.objectives ?? defaultObjectives(problem))];
  checkObjectives(problem, objectives);
  checkCount('samples', options.samples, 1);
  const maxEvaluations = options.maxEvaluations ?? options.samples * 100;
  checkCount('maxEvaluations', maxEvaluations, 1);
  const resolutions = options.resolutions ?? space.resolutions;
  if (!resolutions.length) throw new TailorError('INVALID_OPTION', { option: 'resolutions', reason: 'empty list' });
  checkResolutions(space, resolutions, 'resolutions');

  const archive = new Archive(space, problem);
  const rng = new Rng(deriveSeed(options.seed, 'search/random'));
  const samples: EvaluatedArch[] = [];
  const sampled = new Set<string>();
  let bestAccuracy: number | null = null;
  const history: RandomStep[] = [];
  // Repeats cost no evaluation; this bound only stops a tiny space from spinning forever.
  let draws = 0;
  const maxDraws = 20 * maxEvaluations;
  for (let round = 1; samples.length < options.samples && archive.size < maxEvaluations && draws < maxDraws; round++) {
    const count = Math.min(options.samples - samples.length, maxEvaluations - archive.size);
    const archs = Array.from({ length: count }, () => sampleArch(space, rng, resolutions));
    draws += count;
    for (const r of archive.evaluate(archs, round)) {
      // A network drawn twice is one sample (the archive dedupes by archId).
      if (r.feasible && !sampled.has(r.id) && samples.length < options.samples) {
        sampled.add(r.id);
        samples.push(r);
        bestAccuracy = bestAccuracy === null ? r.accuracy : Math.max(bestAccuracy, r.accuracy);
      }
    }
    history.push({
      round,
      evaluations: archive.size,
      feasible: samples.length,
      bestAccuracy,
    });
  }
  if (!samples.length) archive.fail();
  return {
    algorithm: 'random',
    seed: options.seed,
    objectives,
    evaluated: archive.records,
    evaluations: archive.size,
    history,
    samples,
    best: archive.best(samples, (r) => r.accuracy)!,
    front: feasibleFront(samples, objectives),
  };
}
