import { TailorError } from '../core/errors';
import { SearchSpace } from '../core/space';
import { Archive, EvaluatedArch, ScoredArch, SearchResult, feasibleFront } from './archive';
import { EvolutionOptions, evolve } from './evolution';
import { SearchProblem, checkDevices, latencyObjective } from './problem';

/** 'soft': α = β = -0.07; 'hard': α = 0, β = -1 (MnasNet); or explicit exponents. */
export type MnasnetRewardKind = 'soft' | 'hard' | { alpha: number; beta: number };

export interface LatencyTarget {
  device: string;
  /** T in the reward, ms. */
  latencyMs: number;
}

export function rewardExponents(kind: MnasnetRewardKind): { alpha: number; beta: number } {
  if (kind === 'soft') return { alpha: -0.07, beta: -0.07 };
  if (kind === 'hard') return { alpha: 0, beta: -1 };
  return kind;
}

/** MnasNet's reward ACC × (LAT / T)^w, w = α if LAT <= T else β. */
export function mnasnetReward(accuracy: number, latencyMs: number, targetMs: number, kind: MnasnetRewardKind = 'soft'): number {
  const { alpha, beta } = rewardExponents(kind);
  return accuracy * Math.pow(latencyMs / targetMs, latencyMs <= targetMs ? alpha : beta);
}

export function checkTarget(problem: SearchProblem, target: LatencyTarget): void {
  checkDevices(problem, [target.device], 'target.device');
  if (!(target.latencyMs > 0)) throw new TailorError('INVALID_OPTION', { option: 'target.latencyMs', reason: `${target.latencyMs} is not a positive number of ms` });
}

export interface MnasnetOptions extends EvolutionOptions {
  target: LatencyTarget;
  /** Default 'soft'. */
  reward?: MnasnetRewardKind;
}

export interface MnasnetStep {
  generation: number;
  evaluations: number;
  bestReward: number;
  meanReward: number;
  rejected: number;
  fallbacks: number;
}

export interface MnasnetResult extends SearchResult<MnasnetStep> {
  algorithm: 'mnasnet';
  target: LatencyTarget;
  evaluated: ScoredArch[];
  /** Highest-reward feasible arch of all evaluated. */
  best: ScoredArch;
  /** Feasible archs non-dominated in (accuracy, latency on the target device): the soft reward spreads them around T. */
  front: ScoredArch[];
}

/**
 * One MnasNet search for one latency target on one device: OFA's evolution loop maximizing the
 * MnasNet reward instead of accuracy. The problem's budgets stay hard constraints (rejection
 * sampling); T itself is only in the reward. Sweep T with several calls for more Pareto points.
 */
export function mnasnet(space: SearchSpace, problem: SearchProblem, options: MnasnetOptions): MnasnetResult {
  checkTarget(problem, options.target);
  const kind = options.reward ?? 'soft';
  const { device, latencyMs: targetMs } = options.target;
  const reward = (r: EvaluatedArch) => mnasnetReward(r.accuracy, r.latencyMs[device], targetMs, kind);
  const archive = new Archive(space, problem);
  const run = evolve(archive, options, reward, 'search/mnasnet');
  const scored = archive.records.map((r) => ({ ...r, reward: reward(r) }));
  return {
    algorithm: 'mnasnet',
    seed: options.seed,
    target: { ...options.target },
    evaluated: scored,
    evaluations: archive.size,
    history: run.history.map((h) => ({
      generation: h.generation,
      evaluations: h.evaluations,
      bestReward: h.bestFitness,
      meanReward: h.meanFitness,
      rejected: h.rejected,
      fallbacks: h.fallbacks,
    })),
    best: archive.best(scored, (r) => r.reward)!,
    front: feasibleFront(scored, ['accuracy', latencyObjective(device)]),
  };
}
