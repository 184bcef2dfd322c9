import { ArchConfig, archId } from '../core/arch';
import { countModel } from '../core/counters';
import { buildIR } from '../core/ir';
import { netFromArch } from '../core/net';
import { SearchSpace } from '../core/space';
import { CompiledPredictor, LatencyPredictor } from '../latency/predictor';
import { Budgets, Evaluated, SearchProblem } from '../search/problem';

/** One efficiency metric of an architecture, predicted without running it. */
export interface EfficiencyPredictor {
  readonly metric: string;
  readonly unit: string;
  predict(arch: ArchConfig): number;
}

/** Latency on one device from its lookup table (compiled: ~20 array reads per arch). */
export function latencyEfficiency(device: string, predictor: LatencyPredictor, space: SearchSpace): EfficiencyPredictor {
  const compiled: CompiledPredictor = predictor.compile(space);
  return {
    metric: `latency:${device}`,
    unit: 'ms',
    predict(arch) {
      const ms = compiled.predict(arch);
      // NaN means the table lacks a key: the full predictor names the missing keys in its error.
      return Number.isNaN(ms) ? predictor.predictArch(space, arch).latencyMs : ms;
    },
  };
}

/** Params, MACs and fp32 size from the one IR, memoized per network (searches revisit archs). */
export function countEfficiency(space: SearchSpace): { params: EfficiencyPredictor; macs: EfficiencyPredictor; sizeBytes: EfficiencyPredictor } {
  const memo = new Map<string, ReturnType<typeof countModel>>();
  const counts = (arch: ArchConfig) => {
    const id = archId(space, arch);
    let c = memo.get(id);
    if (!c) {
      c = countModel(buildIR(netFromArch(space, arch)));
      memo.set(id, c);
    }
    return c;
  };
  return {
    params: { metric: 'params', unit: '', predict: (a) => counts(a).params },
    macs: { metric: 'macs', unit: '', predict: (a) => counts(a).macs },
    sizeBytes: { metric: 'sizeBytes', unit: 'bytes', predict: (a) => counts(a).sizeBytes },
  };
}

/**
 * The search problem of one target: predicted top-1 from the accuracy predictor (one batch per
 * call), latency on each of the target's devices from its table, counts from the IR.
 * `space` is the space with the run's input channels and classes (its tables, its counts).
 */
export function targetProblem(
  space: SearchSpace,
  accuracy: { predict(archs: ArchConfig[]): number[] },
  latency: Map<string, EfficiencyPredictor>,
  budgets: Budgets,
): SearchProblem {
  const counts = countEfficiency(space);
  return {
    devices: [...latency.keys()],
    budgets,
    evaluate(archs: readonly ArchConfig[]): Evaluated[] {
      const top1 = accuracy.predict([...archs]);
      return archs.map((arch, i) => ({
        arch,
        accuracy: top1[i],
        latencyMs: Object.fromEntries([...latency].map(([device, p]) => [device, p.predict(arch)])),
        params: counts.params.predict(arch),
        macs: counts.macs.predict(arch),
        sizeBytes: counts.sizeBytes.predict(arch),
      }));
    },
  };
}
