import { NodeEvent } from '../backend';

/** One row of a "Run Order" table of TFLite's profile summary. */
export interface SummaryRow {
  nodeType: string;
  /** ms of the first occurrence ever seen by the summarizer. */
  firstMs: number;
  /** Mean ms over every occurrence the summarizer has processed (printed to 3 decimals). */
  avgMs: number;
  timesCalled: number;
  name: string;
}

export interface ProfilingSummary {
  /** Interpreter nodes in execution order: builtin ops and delegate kernels ("TfLiteXNNPackDelegate"). */
  nodes: SummaryRow[];
  /** The section "Delegate internal": XNNPACK's own operators, named "Delegate/<operator>:<index>". */
  delegateOps: SummaryRow[];
}

export const DELEGATE_NODE = 'TfLiteXNNPackDelegate';
export const DELEGATE_OP_RE = /^Delegate\/(.*):(\d+)$/;

/** Cells of a table line: tab-separated as printed; runs of 2+ spaces where a copy lost the tabs. */
function cells(line: string): string[] {
  const cols = line.split(line.includes('\t') ? '\t' : /\s{2,}/).map((c) => c.trim());
  return cols[0] === '' ? cols.slice(1) : cols;
}

/**
 * The first "Run Order" table of `section` (TFLite's ProfileSummarizer / StatsCalculator format).
 * Columns are found by their headers, so versions that print a [start] column read the same.
 */
export function parseRunOrderTable(section: string, where: string): SummaryRow[] {
  const start = section.indexOf('Run Order');
  if (start < 0) throw new Error(`TFLite profile summary: no "Run Order" table in ${where}`);
  const lines = section.slice(start).split('\n').slice(1);
  if (!lines[0]?.includes('[node type]')) throw new Error(`TFLite profile summary: the Run Order table of ${where} has no header`);
  const header = cells(lines[0]);
  const col = (name: string) => header.indexOf(name);
  const [type, first, avg, times, name] = ['[node type]', '[first]', '[avg ms]', '[times called]', '[Name]'].map(col);
  if ([type, first, avg, times, name].some((i) => i < 0)) throw new Error(`TFLite profile summary: the Run Order table of ${where} lacks a column: ${JSON.stringify(lines[0])}`);
  const rows: SummaryRow[] = [];
  for (const line of lines.slice(1)) {
    if (!line.trim() || line.startsWith('=')) break;
    const cols = cells(line);
    // [node type] ([start]) [first] [avg ms] [%] [cdf%] [mem KB] [times called] [Name]; a name may hold tabs
    if (cols.length < header.length) throw new Error(`TFLite profile summary: unexpected row in ${where}: ${JSON.stringify(line)}`);
    const row = { nodeType: cols[type], firstMs: Number(cols[first]), avgMs: Number(cols[avg]), timesCalled: Number(cols[times]), name: cols.slice(name).join('\t') };
    if (![row.firstMs, row.avgMs, row.timesCalled].every(Number.isFinite)) throw new Error(`TFLite profile summary: unreadable numbers in ${where}: ${JSON.stringify(line)}`);
    rows.push(row);
  }
  return rows;
}

/** Parses the text of TFLiteWebModelRunner.GetProfilingSummary() (TFLite's ProfileSummarizer output). */
export function parseProfilingSummary(text: string): ProfilingSummary {
  const cut = text.indexOf('Delegate internal:');
  const nodes = parseRunOrderTable(cut < 0 ? text : text.slice(0, cut), 'the interpreter section');
  const delegateOps = cut < 0 ? [] : parseRunOrderTable(text.slice(cut), 'the "Delegate internal" section');
  return { nodes, delegateOps };
}

/** A summary and the number of Infer() calls made before it was taken. */
export interface SummarySnapshot {
  summary: ProfilingSummary;
  runs: number;
}

/**
 * Mean ms per run of every kernel over the runs between two summaries, in execution order.
 *
 * What the runtime gives: its profiler keeps every event since the runner was created, and each
 * GetProfilingSummary() feeds the whole buffer again into one summarizer that accumulates. So
 * there is no per-run timing, and a summary taken after `n1` runs and another after `n2` runs
 * hold, per kernel executed once a run, (n1 + n2) samples summing to S(n1) + S(n2), where S(n)
 * is the sum over the first n runs. The runs in between thus sum to
 * avg2 * (n1 + n2) - 2 * avg1 * n1 (floored at 0: averages are printed to 1 µs).
 * With no earlier summary (`before` null), this is the plain average over all runs.
 *
 * Kernels: XNNPACK's operators from "Delegate internal", sorted by their index (XNNPACK runs them
 * in index order), in place of the delegate node; builtin ops the delegate did not take stay as
 * interpreter nodes. With several delegate partitions the internal operators cannot be told
 * apart (each partition numbers them from 0 and the summarizer merges equal names), so then
 * each partition is one event, the delegate node itself.
 *
 * NodeEvent: `name` is the runtime's name ("Delegate/Convolution (NHWC, F32) IGEMM:0",
 * or "[output tensor]:<node index>" for interpreter nodes); `opType` the operator as printed
 * ("Convolution (NHWC, F32) IGEMM", or the builtin op type such as "TANH").
 */
export function kernelMeans(before: SummarySnapshot | null, after: SummarySnapshot): NodeEvent[] {
  const n1 = before?.runs ?? 0;
  const n2 = after.runs;
  if (n2 <= n1) return [];
  const earlier = (rows: SummaryRow[] | undefined) => new Map((rows ?? []).map((r) => [r.name, r.avgMs]));
  const beforeNodes = earlier(before?.summary.nodes);
  const beforeOps = earlier(before?.summary.delegateOps);
  const mean = (row: SummaryRow, prior: Map<string, number>) =>
    Math.max((row.avgMs * (n1 + n2) - 2 * (prior.get(row.name) ?? 0) * n1) / (n2 - n1), 0);

  const delegates = after.summary.nodes.filter((r) => r.nodeType === DELEGATE_NODE).length;
  const expand = delegates === 1 && after.summary.delegateOps.length > 0;
  const ops = after.summary.delegateOps
    .map((row) => ({ row, m: DELEGATE_OP_RE.exec(row.name) }))
    .sort((a, b) => Number(a.m?.[2] ?? 0) - Number(b.m?.[2] ?? 0))
    .map(({ row, m }) => ({ name: row.name, opType: m ? m[1] : row.name, durMs: mean(row, beforeOps) }));
  const events: NodeEvent[] = [];
  for (const row of after.summary.nodes) {
    if (expand && row.nodeType === DELEGATE_NODE) events.push(...ops);
    else events.push({ name: row.name, opType: row.nodeType, durMs: mean(row, beforeNodes) });
  }
  return events;
}
