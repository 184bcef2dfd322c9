import { median } from '../core/latency';
import { NodeEvent } from '../runtime/backend';

const PIECE_RE = /^(stem|blocks\.\d+|final_expand|feature_mix|pool|classifier)\./;

/**
 * Assigns each executed kernel to the piece (stem, block, head part) it came from, by the
 * node-name prefix our exporter writes. Kernels the runtime inserted (layout reorders) carry
 * no prefix and go to the piece that ran just before them, as they are part of its cost in context.
 */
export function pieceTimes(run: NodeEvent[], pieceIds: readonly string[]): Map<string, number> {
  const times = new Map<string, number>(pieceIds.map((id) => [id, 0]));
  let current = pieceIds[0];
  for (const ev of run) {
    const m = PIECE_RE.exec(ev.name);
    if (m && times.has(m[1])) current = m[1];
    times.set(current, times.get(current)! + ev.durMs);
  }
  return times;
}

/**
 * In-context piece timings of one network: the per-piece median over profiled runs, scaled so
 * that pieces plus the fixed overhead add up to the network's measured (unprofiled) wall time.
 * Profiling itself slows every kernel a little; scaling removes that bias.
 */
export function scaledPieceTimes(runs: NodeEvent[][], pieceIds: readonly string[], wallMs: number, overheadMs: number): Map<string, number> {
  const perRun = runs.map((run) => pieceTimes(run, pieceIds));
  const medians = new Map(pieceIds.map((id) => [id, median(perRun.map((t) => t.get(id)!))]));
  const total = [...medians.values()].reduce((a, b) => a + b, 0);
  const scale = total > 0 ? Math.max(wallMs - overheadMs, 0) / total : 0;
  return new Map([...medians].map(([id, ms]) => [id, ms * scale]));
}
