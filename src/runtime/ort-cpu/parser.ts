import { NodeEvent } from '../backend';

interface TraceEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

/**
 * Parses onnxruntime's Chrome-trace profile: one `Node` event per executed kernel
 * ("<node>_kernel_time", dur in µs), runs delimited by the Session `model_run` events.
 * Returns the node events of each run in execution order, skipping the first `skipRuns`.
 */
export function parseOrtProfile(trace: unknown, skipRuns = 0): NodeEvent[][] {
  if (!Array.isArray(trace)) throw new Error('ORT profile is not a JSON array of trace events');
  const events = trace as TraceEvent[];
  const runs = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run' && typeof e.ts === 'number' && typeof e.dur === 'number')
    .sort((a, b) => a.ts! - b.ts!);
  const nodes = events
    .filter((e) => e.cat === 'Node' && typeof e.name === 'string' && e.name.endsWith('_kernel_time'))
    .sort((a, b) => a.ts! - b.ts!);
  const out: NodeEvent[][] = runs.map(() => []);
  let r = 0;
  for (const n of nodes) {
    while (r < runs.length && n.ts! > runs[r].ts! + runs[r].dur!) r++;
    if (r >= runs.length) break;
    if (n.ts! < runs[r].ts!) continue;
    out[r].push({ name: n.name!.slice(0, -'_kernel_time'.length), opType: n.args?.op_name ?? '', durMs: (n.dur ?? 0) / 1000 });
  }
  return out.slice(skipRuns);
}
