import { RandomForestRegression } from 'ml-random-forest';
import { median } from '../core/latency';
import { Rng, deriveSeed } from '../core/rng';
import { KernelSample, TypeModel } from './store';

/** Below this many samples a type is predicted by its median ms/work instead of a forest. */
export const MIN_FOREST_SAMPLES = 8;

/**
 * Every tree sees every feature (as scikit-learn's regression forests do by default): with
 * feature bagging, trees that miss the kernel size mix 3x3 and 7x7 throughputs. Trees differ by
 * their bootstrap sample.
 */
export const FOREST_OPTIONS = { nEstimators: 30, maxFeatures: 1.0, replacement: false, useSampleBagging: true, noOOB: true, treeOptions: { maxDepth: 12, minNumSamples: 2 } };

/**
 * ml-cart searches splits in O(n^2) per feature: beyond this many samples a type's samples are
 * dealt (seeded) into disjoint parts of at most this size, each training its share of the trees,
 * so every sample is used and training time grows linearly (a forest whose trees see different
 * subsamples, as scikit-learn's max_samples does).
 */
export const MAX_TRAIN_SAMPLES = 1000;

/**
 * One random forest per kernel type (ml-random-forest's RandomForestRegression, seeded), trained
 * on in-context kernel times. The target is log(ms per unit of work) (work: MACs, or elements
 * moved), so a forest's piecewise-constant answer becomes a throughput, which carries to sizes
 * between and beyond the sampled ones better than raw milliseconds do.
 */
export function trainTypeModel(type: string, samples: KernelSample<string>[], seed: number): TypeModel {
  const ratios = samples.map((s) => s.ms / s.work);
  const medianMsPerWork = median(ratios);
  if (samples.length < MIN_FOREST_SAMPLES) {
    const fit = samples.map((s) => Math.abs((medianMsPerWork * s.work) / s.ms - 1));
    return { samples: samples.length, medianMsPerWork, forest: null, fitMapePct: (100 * fit.reduce((a, b) => a + b, 0)) / Math.max(fit.length, 1) };
  }
  const parts = Math.min(Math.ceil(samples.length / MAX_TRAIN_SAMPLES), FOREST_OPTIONS.nEstimators);
  const dealt = parts > 1 ? new Rng(deriveSeed(seed, `subset-${type}`)).shuffle(samples) : samples;
  const forests = Array.from({ length: parts }, (_, i) => {
    const part = dealt.filter((_, j) => j % parts === i);
    const nEstimators = Math.floor(FOREST_OPTIONS.nEstimators / parts) + (i < FOREST_OPTIONS.nEstimators % parts ? 1 : 0);
    const rf = new RandomForestRegression({ ...FOREST_OPTIONS, nEstimators, seed: deriveSeed(seed, `forest-${type}-${i}`) >>> 1 });
    // log(ms/work): leaves average throughputs geometrically, so errors stay relative
    rf.train(part.map((s) => s.x), part.map((s) => Math.log(s.ms / s.work)));
    return rf.toJSON();
  });
  const model: TypeModel = { samples: samples.length, medianMsPerWork, forest: parts > 1 ? forests : forests[0], fitMapePct: 0 };
  const predicted = new TypeRegressor(model).predictMs(samples);
  const fit = samples.map((s, i) => Math.abs(predicted[i] / s.ms - 1));
  return { ...model, fitMapePct: (100 * fit.reduce((a, b) => a + b, 0)) / fit.length };
}

/** A loaded type model: predicts ms for feature rows. */
export class TypeRegressor {
  private readonly forests: { rf: RandomForestRegression; trees: number }[];

  constructor(readonly model: TypeModel) {
    const json = model.forest === null ? [] : Array.isArray(model.forest) ? model.forest : [model.forest];
    this.forests = json.map((f) => {
      const rf = RandomForestRegression.load(f as Parameters<typeof RandomForestRegression.load>[0]);
      return { rf, trees: (f as { baseModel: { estimators: unknown[] } }).baseModel.estimators.length };
    });
  }

  predictMs(rows: { x: number[]; work: number }[]): number[] {
    if (rows.length === 0) return [];
    const x = rows.map((r) => r.x);
    const trees = this.forests.reduce((s, f) => s + f.trees, 0);
    // every tree weighs the same: the mean of log(ms/work) over all trees of all parts
    const logs = rows.map(() => 0);
    for (const f of this.forests) f.rf.predict(x).forEach((v, i) => (logs[i] += (v * f.trees) / trees));
    return rows.map((r, i) => (this.forests.length ? Math.exp(logs[i]) : this.model.medianMsPerWork) * r.work);
  }
}
