import { ArchConfig, archId, minArch } from '../core/arch';
import { TailorError } from '../core/errors';
import { SearchSpace } from '../core/space';
import { Vector, paretoFront } from './pareto';
import {
  BudgetChecker,
  Evaluated,
  ObjectiveKey,
  SearchProblem,
  budgetChecker,
  checkDevices,
  describeBudgets,
  describeViolations,
  latencyObjective,
  objectiveVector,
} from './problem';

/** One evaluated architecture as a search keeps it. */
export interface EvaluatedArch extends Evaluated {
  /** archId: settings of skipped blocks do not count, so equal networks share one record. */
  id: string;
  feasible: boolean;
  /** Relative excess over the budgets, 0 when feasible. */
  violation: number;
  /** Generation or iteration in which it was first evaluated (0: the initial samples). */
  step: number;
}

/** Scored by a MnasNet reward. */
export interface ScoredArch extends EvaluatedArch {
  reward: number;
}

export type AlgorithmName = 'evolution' | 'mnasnet' | 'reinforce' | 'nsga2' | 'random';

export interface SearchResult<Step> {
  algorithm: AlgorithmName;
  seed: number;
  /** Every evaluated arch, feasible or not, once per archId, in evaluation order. */
  evaluated: EvaluatedArch[];
  /** Number of archs sent to the evaluator (= evaluated.length; repeats are served from the archive). */
  evaluations: number;
  history: Step[];
}

/**
 * Evaluation cache shared by the algorithms: the evaluator sees each network once, so an
 * evaluation budget counts distinct networks, and every result is kept for the caller.
 */
export class Archive {
  private readonly byId = new Map<string, EvaluatedArch>();
  private readonly budgets: BudgetChecker;
  readonly records: EvaluatedArch[] = [];

  constructor(
    readonly space: SearchSpace,
    readonly problem: SearchProblem,
  ) {
    checkDevices(problem, Object.keys(problem.budgets?.latencyMs ?? {}), 'budgets');
    this.budgets = budgetChecker(problem.budgets);
  }

  get size(): number {
    return this.records.length;
  }

  has(arch: ArchConfig): boolean {
    return this.byId.has(archId(this.space, arch));
  }

  /** Records for `archs`, in order; only archs never seen before go to the evaluator, in one batch. */
  evaluate(archs: readonly ArchConfig[], step: number): EvaluatedArch[] {
    const ids = archs.map((arch) => archId(this.space, arch));
    const fresh: ArchConfig[] = [];
    const freshIds: string[] = [];
    const queued = new Set<string>();
    ids.forEach((id, i) => {
      if (this.byId.has(id) || queued.has(id)) return;
      queued.add(id);
      fresh.push(archs[i]);
      freshIds.push(id);
    });
    if (fresh.length) {
      const results = this.problem.evaluate(fresh);
      if (results.length !== fresh.length) throw new Error(`evaluator returned ${results.length} results for ${fresh.length} architectures`);
      results.forEach((result, j) => {
        const arch = fresh[j];
        // Spelled out, not spread: a spread record plus overrides can end up a slow dictionary-mode object.
        const record: EvaluatedArch = {
          arch: { space: arch.space, ks: [...arch.ks], e: [...arch.e], d: [...arch.d], r: arch.r },
          accuracy: result.accuracy,
          latencyMs: result.latencyMs,
          params: result.params,
          macs: result.macs,
          sizeBytes: result.sizeBytes,
          id: freshIds[j],
          feasible: this.budgets.feasible(result),
          violation: this.budgets.violation(result),
          step,
        };
        this.byId.set(record.id, record);
        this.records.push(record);
      });
    }
    return ids.map((id) => this.byId.get(id)!);
  }

  feasibleRecords(): EvaluatedArch[] {
    return this.records.filter((r) => r.feasible);
  }

  /** The feasible record with the highest score; ties go to the one evaluated first. */
  best<T extends EvaluatedArch>(records: readonly T[], score: (r: T) => number): T | undefined {
    let best: T | undefined;
    for (const r of records) if (r.feasible && (!best || score(r) > score(best))) best = r;
    return best;
  }

  /**
   * Evolution's last resort when random sampling found nothing feasible: the smallest network at the
   * lowest allowed resolution. Returns it if feasible, else throws NO_FEASIBLE_ARCH naming the closest miss.
   */
  smallestOrFail(resolutions: readonly number[], step: number): EvaluatedArch {
    const [smallest] = this.evaluate([minArch(this.space, Math.min(...resolutions))], step);
    if (smallest.feasible) return smallest;
    return this.fail();
  }

  fail(): never {
    let closest = this.records[0];
    for (const r of this.records) if (r.violation < closest.violation) closest = r;
    throw new TailorError('NO_FEASIBLE_ARCH', {
      space: this.space.id,
      budgets: describeBudgets(this.problem.budgets),
      evaluated: this.records.length,
      closest: closest ? describeViolations(closest, this.problem.budgets) : 'nothing evaluated',
    });
  }
}

/** NSGA-II's default objectives: maximize accuracy, minimize latency on every device and the model size. */
export function defaultObjectives(problem: SearchProblem): ObjectiveKey[] {
  return ['accuracy', ...problem.devices.map(latencyObjective), 'sizeBytes'];
}

/** Non-dominated feasible records, sorted by their objective vectors (best first objective first). */
export function feasibleFront<T extends EvaluatedArch>(records: readonly T[], objectives: readonly ObjectiveKey[]): T[] {
  const vector = (r: T): Vector => objectiveVector(r, objectives);
  return paretoFront(
    records.filter((r) => r.feasible),
    vector,
  ).sort((a, b) => compareVectors(vector(a), vector(b)));
}

function compareVectors(a: Vector, b: Vector): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
