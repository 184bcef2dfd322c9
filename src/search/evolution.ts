import { ArchConfig, sampleArch } from '../core/arch';
import { TailorError } from '../core/errors';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace } from '../core/space';
import { Archive, EvaluatedArch, SearchResult } from './archive';
import { MutationOptions, checkCount, crossoverArch, mutateArch, mutationOptions } from './operators';
import { SearchProblem } from './problem';

/** OFA's EvolutionFinder settings; every field but the seed has OFA's default. */
export interface EvolutionOptions extends Partial<MutationOptions> {
  seed: number;
  /** Initial population and number of children per generation (OFA: 100). */
  population?: number;
  /** Best archs kept as parents each generation (OFA: 25, i.e. a quarter of the population). */
  parents?: number;
  /** Children made by mutating one parent (OFA: 50, half the population); the other children are crossovers. */
  mutants?: number;
  /** Generations (OFA: 500). */
  generations?: number;
  /**
   * Candidates tried per child before giving up on the constraint (OFA retries forever). A mutant or
   * crossover that never fits becomes a copy of its first parent; an initial population that finds
   * nothing falls back to the smallest arch, then fails with NO_FEASIBLE_ARCH.
   */
  maxTries?: number;
}

export const EVOLUTION_DEFAULTS = { population: 100, parents: 25, mutants: 50, generations: 500, maxTries: 100 };

export interface EvolutionStep {
  generation: number;
  /** Distinct archs evaluated so far. */
  evaluations: number;
  /** Best accuracy in the population after this generation. */
  bestAccuracy: number;
  meanAccuracy: number;
  /** Candidates rejected by the budgets in this generation. */
  rejected: number;
  /** Children that never met the budgets within maxTries and were replaced by a copy of their parent. */
  fallbacks: number;
}

export interface EvolutionResult extends SearchResult<EvolutionStep> {
  algorithm: 'evolution';
  /** Most accurate feasible arch of all evaluated (not only of the last population). */
  best: EvaluatedArch;
  population: EvaluatedArch[];
}

/** OFA's evolution search: maximize accuracy under hard budgets enforced by rejection sampling. */
export function evolution(space: SearchSpace, problem: SearchProblem, options: EvolutionOptions): EvolutionResult {
  const archive = new Archive(space, problem);
  const run = evolve(archive, options, (r) => r.accuracy, 'search/evolution');
  return {
    algorithm: 'evolution',
    seed: options.seed,
    evaluated: archive.records,
    evaluations: archive.size,
    history: run.history.map((h) => ({
      generation: h.generation,
      evaluations: h.evaluations,
      bestAccuracy: h.bestFitness,
      meanAccuracy: h.meanFitness,
      rejected: h.rejected,
      fallbacks: h.fallbacks,
    })),
    best: archive.best(archive.records, (r) => r.accuracy)!,
    population: run.population,
  };
}

export interface EvolveStep {
  generation: number;
  evaluations: number;
  bestFitness: number;
  meanFitness: number;
  rejected: number;
  fallbacks: number;
}

/** A child slot: how to make a candidate, and what it becomes if no candidate fits. */
interface Slot {
  make: () => ArchConfig;
  fallback?: EvaluatedArch;
}

/**
 * The evolution loop of OFA's EvolutionFinder with a pluggable fitness (accuracy for OFA, the
 * MnasNet reward for `mnasnet`): keep the best `parents`, add `mutants` mutants and
 * `population - mutants` crossovers of random parents, repeat. Only feasible archs enter the population.
 */
export function evolve(
  archive: Archive,
  options: EvolutionOptions,
  fitness: (r: EvaluatedArch) => number,
  stream: string,
): { population: EvaluatedArch[]; history: EvolveStep[] } {
  const space = archive.space;
  const mutation = mutationOptions(space, options);
  const populationSize = options.population ?? EVOLUTION_DEFAULTS.population;
  // Unset counts keep OFA's ratios (parent_ratio 0.25, mutation_ratio 0.5) for any population size.
  const parentCount = options.parents ?? Math.max(1, Math.round(populationSize * (EVOLUTION_DEFAULTS.parents / EVOLUTION_DEFAULTS.population)));
  const mutants = options.mutants ?? Math.round(populationSize * (EVOLUTION_DEFAULTS.mutants / EVOLUTION_DEFAULTS.population));
  const generations = options.generations ?? EVOLUTION_DEFAULTS.generations;
  const maxTries = options.maxTries ?? EVOLUTION_DEFAULTS.maxTries;
  checkCount('population', populationSize, 1);
  checkCount('parents', parentCount, 1);
  checkCount('mutants', mutants, 0);
  checkCount('generations', generations, 0);
  checkCount('maxTries', maxTries, 1);
  if (parentCount > populationSize) throw new TailorError('INVALID_OPTION', { option: 'parents', reason: `${parentCount} parents from a population of ${populationSize}` });
  if (mutants > populationSize) throw new TailorError('INVALID_OPTION', { option: 'mutants', reason: `${mutants} mutants but only ${populationSize} children per generation` });

  const rng = new Rng(deriveSeed(options.seed, stream));
  const history: EvolveStep[] = [];
  let rejected = 0;
  let fallbacks = 0;

  /** Rejection sampling, batched: every unfilled slot gets a new candidate per round, up to maxTries rounds. */
  const fill = (slots: Slot[], step: number): (EvaluatedArch | undefined)[] => {
    const out: (EvaluatedArch | undefined)[] = slots.map(() => undefined);
    let pending = slots.map((_, i) => i);
    for (let round = 0; round < maxTries && pending.length; round++) {
      const records = archive.evaluate(pending.map((i) => slots[i].make()), step);
      const still: number[] = [];
      pending.forEach((slot, k) => {
        if (records[k].feasible) out[slot] = records[k];
        else {
          rejected++;
          still.push(slot);
        }
      });
      pending = still;
    }
    return out;
  };

  const record = (generation: number, population: EvaluatedArch[]) => {
    const scores = population.map(fitness);
    history.push({
      generation,
      evaluations: archive.size,
      bestFitness: Math.max(...scores),
      meanFitness: scores.reduce((a, b) => a + b, 0) / scores.length,
      rejected,
      fallbacks,
    });
    rejected = 0;
    fallbacks = 0;
  };

  // Initial population: random feasible samples; slots that found none are dropped.
  const initialSlots: Slot[] = Array.from({ length: populationSize }, () => ({ make: () => sampleArch(space, rng, mutation.resolutions) }));
  let population = fill(initialSlots, 0).filter((r): r is EvaluatedArch => r !== undefined);
  if (!population.length) population = [archive.smallestOrFail(mutation.resolutions, 0)];
  record(0, population);

  for (let generation = 1; generation <= generations; generation++) {
    // Stable sort: ties keep their order, so runs are reproducible.
    const parents = population
      .map((r, i) => ({ r, i, score: fitness(r) }))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, parentCount)
      .map((x) => x.r);
    const pickParent = () => parents[rng.int(0, parents.length - 1)];
    const slots: Slot[] = [];
    for (let k = 0; k < mutants; k++) {
      const parent = pickParent();
      slots.push({ make: () => mutateArch(space, parent.arch, rng, mutation), fallback: parent });
    }
    for (let k = mutants; k < populationSize; k++) {
      const a = pickParent();
      const b = pickParent();
      slots.push({ make: () => crossoverArch(a.arch, b.arch, rng), fallback: a });
    }
    const children = fill(slots, generation).map((child, k) => {
      if (child) return child;
      fallbacks++;
      return slots[k].fallback!;
    });
    population = [...parents, ...children];
    record(generation, population);
  }
  return { population, history };
}
