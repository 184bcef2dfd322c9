import { ArchConfig, archId, maxArch, minArch, sampleArch } from '../core/arch';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace } from '../core/space';
import { Archive, EvaluatedArch, SearchResult, defaultObjectives, feasibleFront } from './archive';
import { MutationOptions, checkCount, checkProbability, crossoverArch, mutateArch, mutationOptions } from './operators';
import { ObjectiveBounds, crowdedCompare, nonDominatedIndices, normalizedHypervolume, rankAndCrowding, survivorIndices } from './pareto';
import { ObjectiveKey, SearchProblem, checkObjectives, objectiveVector } from './problem';

export interface Nsga2Options extends Partial<MutationOptions> {
  seed: number;
  /**
   * Population size, also offspring per generation (default 50). Small enough that a search of a
   * few hundred evaluations still gets a dozen generations: with 100, NSGA-II had not converged at
   * 2% of a 32k-network space (bench:search), and at ~10k evaluations 50 does as well as 100.
   */
  population?: number;
  /** Generations after the initial population (default 200: with the default population, ~10k evaluations). */
  generations?: number;
  /** Chance that a child is a crossover of its two tournament winners rather than a copy of the first (default 0.9); every child is then mutated. */
  crossoverProb?: number;
  /** Minimized objectives (accuracy is maximized); default accuracy, latency on every device of the problem, sizeBytes. */
  objectives?: ObjectiveKey[];
  /** Attempts per child at being a network not already in the population or offspring (default 10); then a duplicate is accepted. */
  maxTries?: number;
  /**
   * Start from the smallest and the largest network (at the lowest and highest allowed resolution)
   * besides random samples (default true): in an OFA space they are the ends of the latency and size
   * range, which random samples and small mutations reach only slowly.
   */
  includeExtremes?: boolean;
  /** With bounds, each generation's history records the normalized hypervolume of the population's feasible front. */
  hypervolumeBounds?: ObjectiveBounds;
}

export const NSGA2_DEFAULTS = { population: 50, generations: 200, crossoverProb: 0.9, maxTries: 10 };

export interface Nsga2Step {
  generation: number;
  evaluations: number;
  /** Feasible members of the population. */
  feasible: number;
  /** Feasible non-dominated members of the population. */
  frontSize: number;
  /** Best feasible accuracy in the population (null if none is feasible). */
  bestAccuracy: number | null;
  /** Normalized hypervolume of the population's feasible front, when hypervolumeBounds is given. */
  hypervolume?: number;
}

export interface Nsga2Result extends SearchResult<Nsga2Step> {
  algorithm: 'nsga2';
  objectives: ObjectiveKey[];
  /** Feasible archs non-dominated among everything evaluated, sorted by the first objective. */
  front: EvaluatedArch[];
  population: EvaluatedArch[];
}

/**
 * NSGA-II (Deb et al. 2002): binary tournaments on (rank, crowding distance), OFA-style crossover and
 * mutation, elitist survival from parents + offspring by fast non-dominated sorting and crowding.
 * Budgets are constraints through Deb's constrained domination, so infeasible archs still guide the
 * search toward the feasible region instead of being thrown away.
 */
export function nsga2(space: SearchSpace, problem: SearchProblem, options: Nsga2Options): Nsga2Result {
  const objectives = [...(options.objectives ?? defaultObjectives(problem))];
  checkObjectives(problem, objectives);
  const mutation = mutationOptions(space, options);
  const populationSize = options.population ?? NSGA2_DEFAULTS.population;
  const generations = options.generations ?? NSGA2_DEFAULTS.generations;
  const crossoverProb = options.crossoverProb ?? NSGA2_DEFAULTS.crossoverProb;
  const maxTries = options.maxTries ?? NSGA2_DEFAULTS.maxTries;
  checkCount('population', populationSize, 2);
  checkCount('generations', generations, 0);
  checkCount('maxTries', maxTries, 1);
  checkProbability('crossoverProb', crossoverProb);

  const archive = new Archive(space, problem);
  const rng = new Rng(deriveSeed(options.seed, 'search/nsga2'));
  const vector = (r: EvaluatedArch) => objectiveVector(r, objectives);
  const history: Nsga2Step[] = [];

  /** Up to `count` archs, each tried up to maxTries times to be a network not in `taken`. */
  const distinct = (count: number, taken: Set<string>, make: () => ArchConfig): ArchConfig[] => {
    const out: ArchConfig[] = [];
    while (out.length < count) {
      let arch = make();
      for (let tries = 1; tries < maxTries && taken.has(archId(space, arch)); tries++) arch = make();
      taken.add(archId(space, arch));
      out.push(arch);
    }
    return out;
  };

  const record = (generation: number, population: EvaluatedArch[]) => {
    const feasibleMembers = population.filter((r) => r.feasible);
    const vectors = feasibleMembers.map(vector);
    const front = nonDominatedIndices(vectors);
    const step: Nsga2Step = {
      generation,
      evaluations: archive.size,
      feasible: feasibleMembers.length,
      frontSize: front.length,
      bestAccuracy: feasibleMembers.length ? Math.max(...feasibleMembers.map((r) => r.accuracy)) : null,
    };
    if (options.hypervolumeBounds) step.hypervolume = normalizedHypervolume(front.map((i) => vectors[i]), options.hypervolumeBounds);
    history.push(step);
  };

  const initial: ArchConfig[] = [];
  if (options.includeExtremes ?? true) {
    initial.push(minArch(space, Math.min(...mutation.resolutions)), maxArch(space, Math.max(...mutation.resolutions)));
  }
  const initialIds = new Set(initial.map((arch) => archId(space, arch)));
  initial.push(...distinct(populationSize - initial.length, initialIds, () => sampleArch(space, rng, mutation.resolutions)));
  let population = archive.evaluate(initial, 0);
  record(0, population);

  for (let generation = 1; generation <= generations; generation++) {
    const { rank, crowding } = rankAndCrowding(
      population.map(vector),
      population.map((r) => r.violation),
    );
    // Binary tournament on the crowded comparison; a coin breaks ties.
    const tournament = (): EvaluatedArch => {
      const a = rng.int(0, population.length - 1);
      const b = rng.int(0, population.length - 1);
      const order = crowdedCompare(a, b, rank, crowding);
      return population[order < 0 ? a : order > 0 ? b : rng.float() < 0.5 ? a : b];
    };
    const taken = new Set(population.map((r) => r.id));
    const offspring = archive.evaluate(
      distinct(populationSize, taken, () => {
        const first = tournament();
        const second = tournament();
        const child = rng.float() < crossoverProb ? crossoverArch(first.arch, second.arch, rng) : first.arch;
        return mutateArch(space, child, rng, mutation);
      }),
      generation,
    );
    const merged = [...population, ...offspring];
    population = survivorIndices(
      merged.map(vector),
      populationSize,
      merged.map((r) => r.violation),
    ).map((i) => merged[i]);
    record(generation, population);
  }

  if (!archive.feasibleRecords().length) archive.fail();
  return {
    algorithm: 'nsga2',
    seed: options.seed,
    objectives,
    evaluated: archive.records,
    evaluations: archive.size,
    history,
    front: feasibleFront(archive.records, objectives),
    population,
  };
}
