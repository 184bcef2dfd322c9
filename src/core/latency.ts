import { mean, quantileSorted, standardDeviation } from 'simple-statistics';

/** Summary of repeated timings in ms. p50/p90/min are null for imported tables that only carry mean/std. */
export interface Latency {
  count: number;
  mean: number;
  std: number;
  p50: number | null;
  p90: number | null;
  min: number | null;
}

export function summarize(samplesMs: readonly number[]): Latency {
  if (samplesMs.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 1e6) / 1e6;
  return {
    count: sorted.length,
    mean: round(mean(sorted)),
    std: round(sorted.length > 1 ? standardDeviation(sorted) : 0),
    p50: round(quantileSorted(sorted, 0.5)),
    p90: round(quantileSorted(sorted, 0.9)),
    min: round(sorted[0]),
  };
}

export function median(values: readonly number[]): number {
  return quantileSorted([...values].sort((a, b) => a - b), 0.5);
}
