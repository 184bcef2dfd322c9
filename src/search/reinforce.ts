import { ArchConfig, isBlockActive } from '../core/arch';
import { TailorError } from '../core/errors';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, blockCount, checkResolutions } from '../core/space';
import { Archive, EvaluatedArch, ScoredArch, SearchResult, feasibleFront } from './archive';
import { LatencyTarget, MnasnetRewardKind, checkTarget, mnasnetReward } from './mnasnet';
import { checkCount } from './operators';
import { SearchProblem, latencyObjective } from './problem';

export interface ReinforceOptions {
  seed: number;
  target: LatencyTarget;
  /** Default 'soft'. */
  reward?: MnasnetRewardKind;
  /** Policy updates (default 500, i.e. 8000 samples at the default batch size, as many as MnasNet sampled). */
  iterations?: number;
  /** Archs sampled per update (default 16). */
  batchSize?: number;
  /** Adam step size on the logits (default 0.05). */
  learningRate?: number;
  /** Decay of the moving-average reward baseline (default 0.95). */
  baselineDecay?: number;
  /** Reward given to archs over the problem's budgets (default 0). */
  infeasibleReward?: number;
  /** Resolutions the controller may pick; default: all of the space. */
  resolutions?: readonly number[];
}

export const REINFORCE_DEFAULTS = { iterations: 500, batchSize: 16, learningRate: 0.05, baselineDecay: 0.95, infeasibleReward: 0 };

export interface ReinforceStep {
  iteration: number;
  evaluations: number;
  /** Mean reward of this iteration's batch (infeasible samples count with infeasibleReward). */
  meanReward: number;
  /** Baseline used for this batch's advantages. */
  baseline: number;
  /** Best feasible reward seen so far (null while nothing feasible was sampled). */
  bestReward: number | null;
  /** Mean entropy (nats) of the policy's distributions before this update. */
  entropy: number;
}

/** Final choice probabilities of the controller, in the space's choice order. */
export interface PolicyProbabilities {
  /** [block][kernel size index] */
  kernelSize: number[][];
  /** [block][expand ratio index] */
  expandRatio: number[][];
  /** [stage][depth index] */
  depth: number[][];
  /** [resolution index] over `resolutions` */
  resolution: number[];
  resolutions: number[];
}

export interface ReinforceResult extends SearchResult<ReinforceStep> {
  algorithm: 'reinforce';
  target: LatencyTarget;
  evaluated: ScoredArch[];
  best: ScoredArch;
  front: ScoredArch[];
  policy: PolicyProbabilities;
}

/** One categorical decision: its logits live in `logits[offset .. offset + size)`. */
interface Decision {
  offset: number;
  size: number;
}

/**
 * A MnasNet-like sampling controller, without the RNN: independent softmax distributions over each
 * block's kernel size and expand ratio, each stage's depth and the resolution. REINFORCE with a
 * moving-average baseline; the gradient step is Adam, so the step size does not depend on the
 * reward's scale (accuracy in % or as a fraction). Settings of blocks the sampled depth skips do not
 * change the network, so they get no gradient.
 */
export function reinforce(space: SearchSpace, problem: SearchProblem, options: ReinforceOptions): ReinforceResult {
  checkTarget(problem, options.target);
  const iterations = options.iterations ?? REINFORCE_DEFAULTS.iterations;
  const batchSize = options.batchSize ?? REINFORCE_DEFAULTS.batchSize;
  const learningRate = options.learningRate ?? REINFORCE_DEFAULTS.learningRate;
  const baselineDecay = options.baselineDecay ?? REINFORCE_DEFAULTS.baselineDecay;
  const infeasibleReward = options.infeasibleReward ?? REINFORCE_DEFAULTS.infeasibleReward;
  const resolutions = [...(options.resolutions ?? space.resolutions)];
  checkCount('iterations', iterations, 1);
  checkCount('batchSize', batchSize, 1);
  if (!(learningRate > 0)) throw new TailorError('INVALID_OPTION', { option: 'learningRate', reason: `${learningRate} is not positive` });
  if (!(baselineDecay >= 0 && baselineDecay < 1)) throw new TailorError('INVALID_OPTION', { option: 'baselineDecay', reason: `${baselineDecay} is not in [0, 1)` });
  if (!resolutions.length) throw new TailorError('INVALID_OPTION', { option: 'resolutions', reason: 'empty list' });
  checkResolutions(space, resolutions, 'resolutions');

  const kind = options.reward ?? 'soft';
  const { device, latencyMs: targetMs } = options.target;
  const rewardOf = (r: EvaluatedArch) => mnasnetReward(r.accuracy, r.latencyMs[device], targetMs, kind);
  const archive = new Archive(space, problem);
  const rng = new Rng(deriveSeed(options.seed, 'search/reinforce'));

  // Decision layout; all logits start at 0 (uniform policy).
  let size = 0;
  const decision = (choices: number): Decision => {
    const d = { offset: size, size: choices };
    size += choices;
    return d;
  };
  const blocks = blockCount(space);
  const resolutionDecision = decision(resolutions.length);
  const depthDecisions = space.stages.map(() => decision(space.depths.length));
  const kernelDecisions = Array.from({ length: blocks }, () => decision(space.kernelSizes.length));
  const expandDecisions = Array.from({ length: blocks }, () => decision(space.expandRatios.length));
  const allDecisions = [resolutionDecision, ...depthDecisions, ...kernelDecisions, ...expandDecisions];
  const logits = new Float64Array(size);
  const adam = { m: new Float64Array(size), v: new Float64Array(size), t: 0 };

  const probabilities = (d: Decision): number[] => softmax(Array.from(logits.subarray(d.offset, d.offset + d.size)));
  const sample = (d: Decision): number => {
    const p = probabilities(d);
    let u = rng.float();
    for (let i = 0; i < p.length - 1; i++) {
      u -= p[i];
      if (u < 0) return i;
    }
    return p.length - 1;
  };

  const history: ReinforceStep[] = [];
  let baseline: number | undefined;
  let bestReward: number | null = null;
  for (let iteration = 1; iteration <= iterations; iteration++) {
    const entropy = allDecisions.reduce((sum, d) => sum + entropyOf(probabilities(d)), 0) / allDecisions.length;
    const choices: { decision: Decision; choice: number }[][] = [];
    const archs: ArchConfig[] = [];
    for (let k = 0; k < batchSize; k++) {
      const taken: { decision: Decision; choice: number }[] = [];
      const take = (d: Decision) => {
        const choice = sample(d);
        taken.push({ decision: d, choice });
        return choice;
      };
      const r = resolutions[take(resolutionDecision)];
      const d = depthDecisions.map((dd) => space.depths[take(dd)]);
      // Skipped blocks still get settings (an ArchConfig lists all blocks) but are not part of the action.
      const arch: ArchConfig = { space: space.id, ks: [], e: [], d, r };
      for (let b = 0; b < blocks; b++) {
        const active = isBlockActive(space, arch, b);
        const kernel = active ? take(kernelDecisions[b]) : sample(kernelDecisions[b]);
        const expand = active ? take(expandDecisions[b]) : sample(expandDecisions[b]);
        arch.ks.push(space.kernelSizes[kernel]);
        arch.e.push(space.expandRatios[expand]);
      }
      archs.push(arch);
      choices.push(taken);
    }
    const records = archive.evaluate(archs, iteration);
    const rewards = records.map((r) => (r.feasible ? rewardOf(r) : infeasibleReward));
    for (const r of records) if (r.feasible) bestReward = bestReward === null ? rewardOf(r) : Math.max(bestReward, rewardOf(r));
    const meanReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    // The first batch is its own baseline, so the first advantages are centred rather than all positive.
    const usedBaseline = baseline ?? meanReward;

    // Gradient of the mean of advantage × log π(action): d log softmax / d logits = onehot − p.
    const gradient = new Float64Array(size);
    choices.forEach((taken, k) => {
      const advantage = rewards[k] - usedBaseline;
      if (advantage === 0) return;
      for (const { decision: d, choice } of taken) {
        const p = probabilities(d);
        for (let i = 0; i < d.size; i++) gradient[d.offset + i] += (advantage * ((i === choice ? 1 : 0) - p[i])) / batchSize;
      }
    });
    adamAscent(logits, gradient, adam, learningRate);
    baseline = baselineDecay * usedBaseline + (1 - baselineDecay) * meanReward;
    history.push({ iteration, evaluations: archive.size, meanReward, baseline: usedBaseline, bestReward, entropy });
  }

  const scored = archive.records.map((r) => ({ ...r, reward: rewardOf(r) }));
  const best = archive.best(scored, (r) => r.reward) ?? archive.fail();
  return {
    algorithm: 'reinforce',
    seed: options.seed,
    target: { ...options.target },
    evaluated: scored,
    evaluations: archive.size,
    history,
    best,
    front: feasibleFront(scored, ['accuracy', latencyObjective(device)]),
    policy: {
      kernelSize: kernelDecisions.map(probabilities),
      expandRatio: expandDecisions.map(probabilities),
      depth: depthDecisions.map(probabilities),
      resolution: probabilities(resolutionDecision),
      resolutions,
    },
  };
}

export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function entropyOf(p: readonly number[]): number {
  return -p.reduce((sum, x) => (x > 0 ? sum + x * Math.log(x) : sum), 0);
}

/** One Adam step that increases the objective (beta1 0.9, beta2 0.999). */
function adamAscent(params: Float64Array, gradient: Float64Array, state: { m: Float64Array; v: Float64Array; t: number }, lr: number): void {
  const beta1 = 0.9;
  const beta2 = 0.999;
  state.t++;
  const c1 = 1 - Math.pow(beta1, state.t);
  const c2 = 1 - Math.pow(beta2, state.t);
  for (let i = 0; i < params.length; i++) {
    state.m[i] = beta1 * state.m[i] + (1 - beta1) * gradient[i];
    state.v[i] = beta2 * state.v[i] + (1 - beta2) * gradient[i] * gradient[i];
    params[i] += (lr * (state.m[i] / c1)) / (Math.sqrt(state.v[i] / c2) + 1e-8);
  }
}
