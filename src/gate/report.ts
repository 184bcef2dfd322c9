import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { writeJsonAtomic } from '../core/fs-atomic';
import { Limit } from './config';
import { formatCount, formatMs, formatSize } from './units';

export type Metric = 'size' | 'params' | 'macs' | 'latency';
export type LatencySource = 'predicted' | 'measured';

/** One limit checked against one figure. */
export interface Check {
  /** "size", "params", "macs", "latency:<device>:predicted" or "latency:<device>:measured". */
  id: string;
  metric: Metric;
  device?: string;
  source?: LatencySource;
  value: number;
  limit: Limit;
  passed: boolean;
  /** The baseline's figure: undefined without a baseline, null when the baseline does not have it. */
  baseline?: number | null;
  /** Seconds the work behind this figure took (JUnit's testcase time). */
  seconds: number;
}

/** At least one of them: TFLite models have no predicted figure. */
export interface LatencyFigures {
  predicted?: number;
  measured?: number;
}

export interface Metrics {
  /** The model file plus its external data files. */
  sizeBytes: number;
  params: number;
  macs: number;
  latencyMs: Record<string, LatencyFigures>;
}

export interface BudgetResult {
  name: string;
  /** The model as the config names it. */
  model: string;
  passed: boolean;
  metrics: Metrics;
  /** Set when macs leave nodes out (ops the analysis does not know, allowed by the budget, or run-time shapes). */
  partial?: true;
  unknownNodes?: { node: string; opType: string }[];
  checks: Check[];
  /** Things a reader should know (e.g. onnxruntime warnings); never a reason to pass. */
  notes: string[];
}

export interface GateReport {
  /** The config file the budgets came from (null over HTTP). */
  config: string | null;
  /** The baseline file the deltas are against (null: none). */
  baseline: string | null;
  results: BudgetResult[];
  passed: boolean;
}

export interface Failure {
  check: string;
  value: number;
  limit: number;
  message: string;
}

/** The JSON report, which is also the baseline format. */
export interface JsonBudgetReport {
  name: string;
  passed: boolean;
  metrics: Metrics;
  /** Only on a partial analysis: metrics.macs leaves these nodes (and what depends on them) out. */
  partial?: true;
  unknownNodes?: { node: string; opType: string }[];
  failures: Failure[];
}

export const METRIC_FIELD: Record<Exclude<Metric, 'latency'>, 'sizeBytes' | 'params' | 'macs'> = { size: 'sizeBytes', params: 'params', macs: 'macs' };

export function formatValue(metric: Metric, n: number): string {
  return metric === 'size' ? formatSize(n) : metric === 'latency' ? formatMs(n) : formatCount(n);
}

/** "size", "params", "MACs", "latency local-cpu (predicted)". */
export function checkLabel(c: Pick<Check, 'metric' | 'device' | 'source'>): string {
  if (c.metric === 'latency') return `latency ${c.device} (${c.source})`;
  return c.metric === 'macs' ? 'MACs' : c.metric;
}

export function failureMessage(c: Check): string {
  const norm = (s: string) => s.replace(/\s+/g, '').toLowerCase();
  const limit = formatValue(c.metric, c.limit.value);
  return `${checkLabel(c)} ${formatValue(c.metric, c.value)} exceeds the limit ${c.limit.text}${norm(limit) === norm(c.limit.text) ? '' : ` (${limit})`}`;
}

export function toJsonReport(report: Pick<GateReport, 'results'>): JsonBudgetReport[] {
  return report.results.map((r) => ({
    name: r.name,
    passed: r.passed,
    metrics: r.metrics,
    ...(r.partial ? { partial: r.partial, unknownNodes: r.unknownNodes ?? [] } : {}),
    failures: r.checks.filter((c) => !c.passed).map((c) => ({ check: c.id, value: c.value, limit: c.limit.value, message: failureMessage(c) })),
  }));
}

/** Change against the baseline: null when there is nothing to compare with. */
export function delta(c: Check): { diff: number; pct: number | null } | null {
  if (c.baseline === undefined || c.baseline === null) return null;
  return { diff: c.value - c.baseline, pct: c.baseline !== 0 ? (100 * (c.value - c.baseline)) / c.baseline : null };
}

/** "+0.12 MB (+2.4%)", "−1.5 ms (−3.0%)", "±0" — sign first, so it reads without colour. */
export function formatDelta(c: Check): string {
  const d = delta(c);
  if (!d) return c.baseline === null ? 'new' : '';
  if (d.diff === 0) return '±0';
  const sign = d.diff > 0 ? '+' : '−';
  const pct = d.pct === null ? '' : ` (${sign}${Math.abs(d.pct).toFixed(1)}%)`;
  return `${sign}${formatValue(c.metric, Math.abs(d.diff))}${pct}`;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads a JSON report as a baseline, checking every field it will be compared on. */
export function readBaseline(file: string): JsonBudgetReport[] {
  const fail = (reason: string): never => {
    throw new TailorError('INVALID_BASELINE', { file, reason });
  };
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    fail(err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message}); a baseline is the output of tailor gate --format json or --save-baseline`);
  }
  if (!Array.isArray(raw)) fail('expected the JSON report: an array of { name, passed, metrics, failures }');
  (raw as unknown[]).forEach((entry, i) => {
    const e = entry as Partial<JsonBudgetReport> | null;
    if (typeof e?.name !== 'string') fail(`entry ${i} has no "name"`);
    const m = e!.metrics as Partial<Metrics> | undefined;
    if (typeof m !== 'object' || m === null) fail(`entry ${i} ("${e!.name}") has no "metrics"`);
    for (const k of ['sizeBytes', 'params', 'macs'] as const) if (!finite(m![k])) fail(`entry ${i} ("${e!.name}"): metrics.${k} must be a number`);
    if (typeof m!.latencyMs !== 'object' || m!.latencyMs === null) fail(`entry ${i} ("${e!.name}"): metrics.latencyMs must be an object`);
    for (const [device, l] of Object.entries(m!.latencyMs!)) {
      const figures = [l?.predicted, l?.measured].filter((v) => v !== undefined);
      if (!figures.length || !figures.every(finite)) fail(`entry ${i} ("${e!.name}"): metrics.latencyMs.${device} must be { predicted?, measured? } in ms, at least one of them`);
    }
  });
  return raw as JsonBudgetReport[];
}

/** Sets every check's baseline figure from the baseline's entry of the same budget name. */
export function applyBaseline(results: BudgetResult[], baseline: JsonBudgetReport[]): void {
  const byName = new Map(baseline.map((b) => [b.name, b.metrics]));
  for (const r of results) {
    const m = byName.get(r.name);
    for (const c of r.checks) {
      if (!m) c.baseline = null;
      else if (c.metric === 'latency') c.baseline = m.latencyMs[c.device!]?.[c.source!] ?? null;
      else c.baseline = m[METRIC_FIELD[c.metric]];
    }
  }
}

/** The JSON report written atomically: a crash never leaves a half-written baseline. */
export function saveBaseline(file: string, report: Pick<GateReport, 'results'>): void {
  try {
    writeJsonAtomic(file, toJsonReport(report), { what: 'the baseline' });
  } catch (e) {
    if (e instanceof TailorError) throw e; // DISK_FULL names the free space: more than CANNOT_WRITE would
    throw new TailorError('CANNOT_WRITE', { what: 'the baseline', file, reason: (e as Error).message }, { cause: e });
  }
}
