import { ArchConfig } from '../core/arch';
import { TailorError } from '../core/errors';

/** What the evaluator says about one architecture. */
export interface Evaluated {
  arch: ArchConfig;
  /** Predicted accuracy; any unit (fraction or percent), higher is better. */
  accuracy: number;
  /** Predicted latency per device id, in ms. */
  latencyMs: Record<string, number>;
  params: number;
  macs: number;
  sizeBytes: number;
}

/**
 * A search problem. Evaluation is synchronous and batched: the real evaluator is an MLP
 * accuracy predictor plus table-based latency predictors, both fast, and a batch lets the MLP
 * run once per generation.
 */
export interface SearchProblem {
  /** Devices whose latency `evaluate` reports; NSGA-II minimizes the latency on each by default. */
  readonly devices: readonly string[];
  /** Hard limits; an arch over any of them is infeasible. */
  readonly budgets?: Budgets;
  /** One result per input arch, in the same order. */
  evaluate(archs: readonly ArchConfig[]): Evaluated[];
}

export interface Budgets {
  /** Latency limit per device id, in ms. */
  latencyMs?: Record<string, number>;
  maxParams?: number;
  maxMacs?: number;
  maxSizeBytes?: number;
}

interface Limit {
  name: string;
  value: (e: Evaluated) => number;
  limit: number;
  unit: string;
}

function limits(budgets: Budgets | undefined): Limit[] {
  if (!budgets) return [];
  const out: Limit[] = [];
  for (const [device, limit] of Object.entries(budgets.latencyMs ?? {})) {
    out.push({ name: `latency on ${device}`, value: (e) => latencyOf(e, device), limit, unit: ' ms' });
  }
  if (budgets.maxParams !== undefined) out.push({ name: 'params', value: (e) => e.params, limit: budgets.maxParams, unit: '' });
  if (budgets.maxMacs !== undefined) out.push({ name: 'MACs', value: (e) => e.macs, limit: budgets.maxMacs, unit: '' });
  if (budgets.maxSizeBytes !== undefined) out.push({ name: 'size', value: (e) => e.sizeBytes, limit: budgets.maxSizeBytes, unit: ' bytes' });
  return out;
}

function latencyOf(e: Evaluated, device: string): number {
  const v = e.latencyMs[device];
  // A missing latency is an evaluator bug, not an infeasible arch: fail loudly.
  if (typeof v !== 'number' || Number.isNaN(v)) throw new Error(`evaluator returned no latency for device "${device}"`);
  return v;
}

export function feasible(e: Evaluated, budgets: Budgets | undefined): boolean {
  return budgetChecker(budgets).feasible(e);
}

/**
 * Total relative excess over the budgets, 0 when feasible. Relative (value / limit - 1) so that
 * milliseconds, parameters and bytes add up on one scale in Deb's constrained domination.
 */
export function constraintViolation(e: Evaluated, budgets: Budgets | undefined): number {
  return budgetChecker(budgets).violation(e);
}

export interface BudgetChecker {
  feasible(e: Evaluated): boolean;
  violation(e: Evaluated): number;
}

/** feasible and constraintViolation with the limits read once: an Archive checks every evaluated arch. */
export function budgetChecker(budgets: Budgets | undefined): BudgetChecker {
  const all = limits(budgets);
  return {
    feasible(e) {
      for (const l of all) if (!(l.value(e) <= l.limit)) return false;
      return true;
    },
    violation(e) {
      let total = 0;
      for (const l of all) {
        const v = l.value(e);
        if (v > l.limit) total += l.limit > 0 ? v / l.limit - 1 : v - l.limit;
      }
      return total;
    },
  };
}

/** "latency on pixel6 41.2 ms > 30 ms, params 5.1e6 > 5e6" (or "no violation"). */
export function describeViolations(e: Evaluated, budgets: Budgets | undefined): string {
  const over = limits(budgets).filter((l) => l.value(e) > l.limit);
  if (!over.length) return 'no violation';
  return over.map((l) => `${l.name} ${fmt(l.value(e))}${l.unit} > ${fmt(l.limit)}${l.unit}`).join(', ');
}

export function describeBudgets(budgets: Budgets | undefined): string {
  const all = limits(budgets);
  return all.length ? all.map((l) => `${l.name} <= ${fmt(l.limit)}${l.unit}`).join(', ') : 'none';
}

const fmt = (v: number) => (Math.abs(v) >= 1e5 ? v.toExponential(3) : String(Math.round(v * 1000) / 1000));

/** Objectives a search can minimize; accuracy is negated, latency is per device. */
export type ObjectiveKey = 'accuracy' | 'params' | 'macs' | 'sizeBytes' | `latency:${string}`;

export function latencyObjective(device: string): ObjectiveKey {
  return `latency:${device}`;
}

/** The minimization vector of `keys` for one evaluated arch. */
export function objectiveVector(e: Evaluated, keys: readonly ObjectiveKey[]): number[] {
  return keys.map((k) => {
    switch (k) {
      case 'accuracy':
        return -e.accuracy;
      case 'params':
        return e.params;
      case 'macs':
        return e.macs;
      case 'sizeBytes':
        return e.sizeBytes;
      default:
        return latencyOf(e, k.slice('latency:'.length));
    }
  });
}

/** Checks that every budgeted or targeted device is one the evaluator reports. */
export function checkDevices(problem: SearchProblem, devices: readonly string[], option: string): void {
  const unknown = devices.filter((d) => !problem.devices.includes(d));
  if (unknown.length) {
    throw new TailorError('INVALID_OPTION', { option, reason: `device(s) ${unknown.join(', ')} not evaluated by this problem (it reports ${problem.devices.join(', ') || 'no device'})` });
  }
}

export function checkObjectives(problem: SearchProblem, keys: readonly ObjectiveKey[]): void {
  if (keys.length < 2) throw new TailorError('INVALID_OPTION', { option: 'objectives', reason: 'a multi-objective search needs at least 2 objectives' });
  if (new Set(keys).size !== keys.length) throw new TailorError('INVALID_OPTION', { option: 'objectives', reason: `duplicate objective in ${keys.join(', ')}` });
  const known = new Set(['accuracy', 'params', 'macs', 'sizeBytes']);
  for (const k of keys) {
    if (k.startsWith('latency:')) checkDevices(problem, [k.slice('latency:'.length)], 'objectives');
    else if (!known.has(k)) throw new TailorError('INVALID_OPTION', { option: 'objectives', reason: `unknown objective "${k}"` });
  }
}
