import { ArchConfig, uniformArchs } from '../core/arch';
import { TailorError } from '../core/errors';
import { buildIR, PieceKind } from '../core/ir';
import { Latency } from '../core/latency';
import { NetSpec, netFromArch } from '../core/net';
import { SearchSpace, blockCount } from '../core/space';
import { LatencyTable, driftScales } from './table';

export interface BreakdownRow {
  piece: string;
  kind: PieceKind | 'overhead';
  key: string;
  ms: number;
}

export interface Prediction {
  device: string;
  space: string;
  resolution: number;
  latencyMs: number;
  overheadMs: number;
  statistic: 'p50' | 'mean';
  breakdown: BreakdownRow[];
}

const OVERHEAD_KEY = 'overhead';

/** Sums LUT entries over the pieces of a network (stem, active blocks, head), plus the table's fixed per-inference cost. */
export class LatencyPredictor {
  private readonly scales: Map<number, number>;

  constructor(readonly table: LatencyTable) {
    this.scales = driftScales(table);
  }

  /** An entry of resolution r in ms, corrected for the drift of the window it was measured in. */
  entryValue(l: Latency, resolution: number): number {
    const v = this.table.method.statistic === 'p50' && l.p50 !== null ? l.p50 : l.mean;
    return v * (this.scales.get(resolution) ?? 1);
  }

  private group(resolution: number): Record<string, Latency> {
    const group = this.table.entries[String(resolution)];
    if (!group || !this.table.resolutions.includes(resolution)) {
      throw new TailorError('RESOLUTION_NOT_IN_TABLE', {
        resolution, device: this.table.device.id, space: this.table.space, available: this.table.resolutions.join(', '),
      });
    }
    return group;
  }

  overhead(resolution: number): number {
    const o = this.table.overheadMs[String(resolution)];
    return o ? this.entryValue(o, resolution) : 0;
  }

  /** Per-piece breakdown; every missing key is named in one error, never counted as 0. */
  predictNet(net: NetSpec): Prediction {
    const group = this.group(net.resolution);
    const ir = buildIR(net);
    const missing = ir.pieces.filter((p) => !group[p.key]).map((p) => p.key);
    if (missing.length) {
      const unique = [...new Set(missing)];
      throw new TailorError('MISSING_KEYS', { device: this.table.device.id, space: this.table.space, count: unique.length, keys: unique.join(', ') });
    }
    const breakdown: BreakdownRow[] = ir.pieces.map((p) => ({ piece: p.id, kind: p.kind, key: p.key, ms: this.entryValue(group[p.key], net.resolution) }));
    const overheadMs = this.overhead(net.resolution);
    if (overheadMs > 0) breakdown.push({ piece: OVERHEAD_KEY, kind: 'overhead', key: OVERHEAD_KEY, ms: overheadMs });
    const latencyMs = breakdown.reduce((s, r) => s + r.ms, 0);
    return {
      device: this.table.device.id, space: net.space ?? this.table.space, resolution: net.resolution,
      latencyMs, overheadMs, statistic: this.table.method.statistic, breakdown,
    };
  }

  predictArch(space: SearchSpace, arch: ArchConfig): Prediction {
    return this.predictNet(netFromArch(space, arch));
  }

  /** Lookup tables for the hot path of search: no strings, no allocation per prediction. */
  compile(space: SearchSpace): CompiledPredictor {
    return new CompiledPredictor(this, space);
  }
}

/**
 * Per resolution: one constant (stem, first block, head, overhead) plus, per block position,
 * a kernel x expand grid. A block's key depends only on its position and its own choices,
 * so a prediction is ~20 array reads. Grids hold NaN where the table lacks the key.
 */
export class CompiledPredictor {
  private readonly base = new Map<number, number>();
  private readonly grids = new Map<number, Float64Array>();
  private readonly kIndex: Int8Array;
  private readonly eIndex: Int8Array;
  private readonly nK: number;
  private readonly nE: number;

  constructor(private readonly predictor: LatencyPredictor, private readonly space: SearchSpace) {
    this.nK = space.kernelSizes.length;
    this.nE = space.expandRatios.length;
    this.kIndex = new Int8Array(Math.max(...space.kernelSizes) + 1).fill(-1);
    space.kernelSizes.forEach((k, i) => (this.kIndex[k] = i));
    this.eIndex = new Int8Array(Math.max(...space.expandRatios) + 1).fill(-1);
    space.expandRatios.forEach((e, i) => (this.eIndex[e] = i));
    for (const r of predictor.table.resolutions) if (space.resolutions.includes(r)) this.compileResolution(r);
  }

  private compileResolution(r: number): void {
    const space = this.space;
    const group = this.predictor.table.entries[String(r)] ?? {};
    const grid = new Float64Array(blockCount(space) * this.nK * this.nE).fill(NaN);
    const value = (key: string) => (group[key] ? this.predictor.entryValue(group[key], r) : NaN);
    const uniform = uniformArchs(space, r);
    // Stem, first block and head are the same in every net of a resolution: sum them once.
    let base = this.predictor.overhead(r);
    for (const p of buildIR(netFromArch(space, uniform[0].arch)).pieces) if (p.kind !== 'block' || p.id === 'blocks.0') base += value(p.key);
    for (const { k, e, arch } of uniform) {
      const ki = this.kIndex[k];
      const ei = this.eIndex[e];
      for (const p of buildIR(netFromArch(space, arch)).pieces) {
        if (p.kind !== 'block' || p.id === 'blocks.0') continue;
        const pos = Number(p.id.split('.')[1]) - 1; // blocks.0 is the fixed first block
        grid[(pos * this.nK + ki) * this.nE + ei] = value(p.key);
      }
    }
    this.base.set(r, base);
    this.grids.set(r, grid);
  }

  /** Latency in ms; NaN when the table cannot answer (use LatencyPredictor for the error that names the keys). */
  predict(arch: ArchConfig): number {
    const grid = this.grids.get(arch.r);
    if (!grid) return NaN;
    let sum = this.base.get(arch.r)!;
    const maxDepth = this.space.maxDepth;
    const { ks, e, d } = arch;
    for (let s = 0; s < d.length; s++) {
      for (let j = 0; j < d[s]; j++) {
        const i = s * maxDepth + j;
        sum += grid[(i * this.nK + this.kIndex[ks[i]]) * this.nE + this.eIndex[e[i]]];
      }
    }
    return sum;
  }
}
