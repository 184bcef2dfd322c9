import { TailorError } from '../../core/errors';
import { NodeEvent } from '../backend';
import { DELEGATE_NODE, DELEGATE_OP_RE, SummaryRow, parseRunOrderTable } from '../tflite-wasm/parser';

/**
 * Parser of what TFLite's `benchmark_model` prints (pure: tested offline on documented output).
 *
 * What the tool prints (tensorflow/lite/tools/benchmark/benchmark_model.cc, tools/logging.h,
 * profiling/profile_summarizer.cc, profile_summary_formatter.cc, tsl StatsCalculator):
 * - INFO/WARN lines go to stdout prefixed "INFO: " / "WARN: " (older builds: no prefix); ERROR to stderr.
 * - Each of its two loops (warm-up first, then the timed runs) logs
 *   "Running benchmark for at least N iterations ..." (older: "Running benchmark for N iterations")
 *   and then the wall time of its runs in µs as a Stat: "count=N first= curr= min= max= avg= std=",
 *   "count=N curr=X" / "count=N curr=X(all same)" when every run took the same, "count=0" for none.
 * - With --enable_op_profiling=true, after "Operator-wise Profiling Info for Regular Benchmark Runs:"
 *   (timed runs only; an earlier "Profiling Info for Benchmark Initialization:" section is not ours;
 *   old builds print the tables with no header line and a [start] column):
 *   "Run Order", "Top by Computation Time" and "Summary by node type" tables, then
 *   "Timings (microseconds): count=<runs> ..." — the per-run SUM OF OP TIMES, not wall time — and,
 *   from versions whose XNNPACK reports its operators, a "Delegate internal:" section like it.
 *   [avg ms] is the mean per call and [times called] the calls per run.
 * Only aggregate statistics are printed: there is no per-run time.
 */

/** One Stat line, in µs. */
export interface RunStats {
  count: number;
  firstUs: number;
  currUs: number;
  minUs: number;
  maxUs: number;
  avgUs: number;
  stdUs: number;
}

export interface OpProfile {
  /** Run Order of the primary graph: interpreter nodes, delegate nodes, or (newest versions) XNNPACK's operators inline. */
  nodes: SummaryRow[];
  /** "Delegate internal" Run Order: XNNPACK's operators, "Delegate/<operator>:<index>". */
  delegateOps: SummaryRow[];
  /** The section's "Timings (microseconds)": sum of the op times of each profiled run. */
  opTotal: RunStats;
}

export interface BenchmarkOutput {
  warmup: RunStats;
  timed: RunStats;
  /** Threads the tool reports using ("#threads used for CPU inference" or "Num threads"), if printed. */
  threads?: number;
  /** "Created TensorFlow Lite XNNPACK delegate for CPU." was printed. */
  xnnpack: boolean;
  initMs?: number;
  profile: OpProfile | null;
}

export class BenchmarkOutputError extends TailorError {
  constructor(reason: string) {
    super('BENCHMARK_OUTPUT', { reason });
  }
}

const STAT_RE = /^count=(\d+)(?:(?: first=(\S+))? curr=([^\s(]+)(\(all same\))?(?: min=(\S+) max=(\S+) avg=(\S+) std=(\S+))?)?\s*$/;
const RUNNING_RE = /^Running benchmark for (?:at least )?\d+ iterations/;
const PROFILE_HEADER = 'Operator-wise Profiling Info for Regular Benchmark Runs:';

/** The last lines of the output, for error messages: what the tool said before it stopped. */
export function tail(text: string, lines = 6): string {
  const kept = text.trimEnd().split('\n').slice(-lines).join('\n');
  return kept ? kept : '(no output)';
}

const unprefix = (line: string) => line.replace(/^(?:INFO|WARN|ERROR): /, '');

/** A Stat as `OutputToStream` prints it ("count=0" has no values; "all same" only count and curr). */
export function parseStat(text: string): RunStats | null {
  const m = STAT_RE.exec(text.trim());
  if (!m) return null;
  const count = Number(m[1]);
  if (m[3] === undefined) return count === 0 ? { count, firstUs: NaN, currUs: NaN, minUs: NaN, maxUs: NaN, avgUs: NaN, stdUs: NaN } : null;
  const curr = Number(m[3]);
  const full = m[5] !== undefined;
  const stats: RunStats = {
    count,
    firstUs: full ? Number(m[2]) : curr,
    currUs: curr,
    minUs: full ? Number(m[5]) : curr,
    maxUs: full ? Number(m[6]) : curr,
    avgUs: full ? Number(m[7]) : curr,
    stdUs: full ? Number(m[8]) : 0,
  };
  if (!Object.values(stats).every(Number.isFinite)) return null;
  return stats;
}

/** `rest`: the text after the profile's header. */
function parseProfile(rest: string, runs: number): OpProfile {
  // The primary graph's section ends where another subgraph's or "Delegate internal" begins.
  const internalAt = rest.indexOf('Delegate internal:');
  const mainEnd = [rest.search(/^Subgraph \(index: \d+\)/m), internalAt].filter((i) => i >= 0).reduce((a, b) => Math.min(a, b), rest.length);
  const where = 'the op profile of benchmark_model';
  const sectionTotal = (section: string, what: string): RunStats => {
    const m = /Timings \(microseconds\): (.*)$/m.exec(section);
    const stat = m && parseStat(m[1]);
    if (!stat) throw new BenchmarkOutputError(`benchmark_model's ${what} is truncated: no "Timings (microseconds)" line after its tables: ${tail(section)}`);
    return stat;
  };
  let nodes: SummaryRow[];
  let delegateOps: SummaryRow[] = [];
  try {
    nodes = parseRunOrderTable(rest.slice(0, mainEnd), where);
    if (internalAt >= 0) delegateOps = parseRunOrderTable(rest.slice(internalAt), `the "Delegate internal" section of ${where}`);
  } catch (e) {
    throw new BenchmarkOutputError((e as Error).message);
  }
  const opTotal = sectionTotal(rest.slice(0, mainEnd), 'op profile');
  if (internalAt >= 0) sectionTotal(rest.slice(internalAt), '"Delegate internal" op profile');
  if (opTotal.count !== runs) throw new BenchmarkOutputError(`benchmark_model's op profile covers ${opTotal.count} runs, its timed runs were ${runs}`);
  return { nodes, delegateOps, opTotal };
}

/** Parses benchmark_model's stdout. Throws BenchmarkOutputError naming what is missing. */
export function parseBenchmarkOutput(stdout: string): BenchmarkOutput {
  const text = stdout.replace(/\r\n/g, '\n');
  const lines = text.split('\n').map(unprefix);
  const stats: RunStats[] = [];
  let announced = 0;
  for (const line of lines) {
    if (RUNNING_RE.test(line)) announced++;
    else if (STAT_RE.test(line.trim())) {
      // A bare Stat line is a loop's wall time: the warm-up's first, then the timed runs'.
      const stat = parseStat(line);
      if (!stat) throw new BenchmarkOutputError(`benchmark_model printed unreadable run statistics: ${JSON.stringify(line)}`);
      stats.push(stat);
    }
  }
  const failed = /Benchmarking failed|^ERROR: /m.test(text);
  if (stats.length === 0) {
    const why = failed ? 'it failed' : announced ? 'the output stops after "Running benchmark"' : 'no "Running benchmark" / "count=... avg=..." lines';
    throw new BenchmarkOutputError(`benchmark_model printed no Timings line (${why}): ${tail(text)}`);
  }
  if (stats.length === 1) throw new BenchmarkOutputError(`benchmark_model printed the warm-up statistics but none for the timed runs (truncated or failed): ${tail(text)}`);
  const [warmup, timed] = stats;
  if (timed.count === 0) throw new BenchmarkOutputError(`benchmark_model made no timed runs (count=0): ${tail(text)}`);

  const num = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  // Old builds print the op profile with no header line (the tool's README example).
  const header = text.indexOf(PROFILE_HEADER);
  const bare = header < 0 && !text.includes('Profiling Info for Benchmark Initialization') ? text.search(/^=+ Run Order =+$/m) : -1;
  const profile = header >= 0 ? text.slice(header + PROFILE_HEADER.length) : bare >= 0 ? text.slice(bare) : null;
  return {
    warmup,
    timed,
    threads: num(/#threads used for CPU inference: \[(\d+)\]/) ?? num(/Num threads: \[(\d+)\]/),
    xnnpack: /Created TensorFlow Lite XNNPACK delegate/.test(text),
    initMs: num(/Initialized session in ([\d.]+)ms/),
    profile: profile === null ? null : parseProfile(profile, timed.count),
  };
}

/** Per-run ms of a row: [avg ms] is per call, [times called] per run (0 in very old builds: once). */
const perRunMs = (row: SummaryRow) => row.avgMs * Math.max(row.timesCalled, 1);

/**
 * The kernels of one (mean) profiled run, in execution order, named like the tflite-wasm
 * backend's so `nameKernels` attributes them to the TFLite ops they ran:
 * - interpreter nodes: "[output tensors]:<node index>", opType the builtin op ("CONV_2D");
 * - XNNPACK operators: "Delegate/<operator>:<index>", opType the operator. They come from
 *   "Delegate internal" in place of the single delegate node (with several delegate partitions
 *   the partitions' operators share names and cannot be told apart: each partition is then one
 *   event, its delegate node), or inline in Run Order in the newest versions. There, an operator
 *   name called more than once per run merges partitions: it is renamed "XNNPACK (merged)/..." so
 *   it is attributed to no single op (it counts with the kernel before it).
 */
export function profileEvents(profile: OpProfile): NodeEvent[] {
  const delegates = profile.nodes.filter((r) => r.nodeType === DELEGATE_NODE).length;
  const expand = delegates === 1 && profile.delegateOps.length > 0;
  const op = (row: SummaryRow, position: number): NodeEvent => {
    const m = DELEGATE_OP_RE.exec(row.name);
    // Old builds print "[tensor]" without ":<node index>"; the row's position stands in for it.
    if (!m) return { name: /^\[.*\]$/.test(row.name) ? `${row.name}:${position}` : row.name, opType: row.nodeType, durMs: perRunMs(row) };
    const name = row.timesCalled > 1 ? row.name.replace(/^Delegate\//, 'XNNPACK (merged)/') : row.name;
    return { name, opType: m[1], durMs: perRunMs(row) };
  };
  const events: NodeEvent[] = [];
  profile.nodes.forEach((row, i) => {
    if (expand && row.nodeType === DELEGATE_NODE) events.push(...profile.delegateOps.map(op));
    else events.push(op(row, i));
  });
  return events;
}
