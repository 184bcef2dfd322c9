import { ArchConfig, maxArch, minArch, sampleArch } from '../core/arch';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace } from '../core/space';
import type { Calibration } from '../latency/table';

/**
 * Whole subnets timed at resolution r to calibrate the summed entries: the smallest and the
 * largest (searches emit nets at both ends), then seeded samples, every third one at minimum
 * depth with random kernels and expands so the small end is well covered.
 */
export function calibrationArchs(space: SearchSpace, r: number, count: number, seed: number): ArchConfig[] {
  if (count <= 0) return [];
  const rng = new Rng(deriveSeed(seed, `calibration-${space.id}-${r}`));
  const out = [minArch(space, r), maxArch(space, r)];
  const minDepth = Math.min(...space.depths);
  for (let i = 0; out.length < count; i++) {
    const arch = sampleArch(space, rng, [r]);
    out.push(i % 3 === 0 ? { ...arch, d: arch.d.map(() => minDepth) } : arch);
  }
  return out.slice(0, count);
}

/** A fitted scale outside this range means the calibration nets were measured badly, not that the entries are off by that much. */
const SCALE_RANGE = [0.5, 2] as const;

/**
 * Fits measured = scale x summedMs + offsetMs over the calibration nets, minimizing the squared
 * relative error (a prediction is judged in %), with offsetMs >= 0. Null when the nets cannot
 * support a fit (fewer than 3, or a scale out of range).
 */
export function fitCalibration(rows: { summedMs: number; overheadMs: number; wallMs: number }[]): Calibration | null {
  const ok = rows.filter((r) => r.wallMs > 0 && r.summedMs > 0 && Number.isFinite(r.wallMs) && Number.isFinite(r.summedMs));
  if (ok.length < 3) return null;
  let sxx = 0;
  let sx = 0;
  let s1 = 0;
  let sxy = 0;
  let sy = 0;
  for (const { summedMs: x, wallMs: y } of ok) {
    const w = 1 / (y * y);
    sxx += w * x * x;
    sx += w * x;
    s1 += w;
    sxy += w * x * y;
    sy += w * y;
  }
  const det = sxx * s1 - sx * sx;
  let scale = det > 0 ? (sxy * s1 - sx * sy) / det : NaN;
  let offsetMs = det > 0 ? (sxx * sy - sx * sxy) / det : NaN;
  if (!(offsetMs >= 0)) {
    offsetMs = 0;
    scale = sxy / sxx;
  }
  if (!(scale >= SCALE_RANGE[0] && scale <= SCALE_RANGE[1])) return null;
  const mape = (f: (r: (typeof ok)[number]) => number) => (100 * ok.reduce((s, r) => s + Math.abs(f(r) / r.wallMs - 1), 0)) / ok.length;
  const round = (v: number) => Math.round(v * 1e6) / 1e6;
  return {
    scale: round(scale), offsetMs: round(offsetMs), nets: ok.length,
    errorPct: { before: round(mape((r) => r.summedMs + r.overheadMs)), after: round(mape((r) => scale * r.summedMs + offsetMs)) },
  };
}
