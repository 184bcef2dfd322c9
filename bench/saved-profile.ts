import * as fs from 'node:fs';
import * as path from 'node:path';
import { Workspace, workspace } from '../src/core/workspace';
import { KernelsService } from '../src/kernels/kernels.service';
import { profilePath, readKernelProfile } from '../src/kernels/store';
import type { ModelValidationReport } from '../src/kernels/validate';
import { summarizeValidation } from '../src/latency/validate';
import { DeviceService } from '../src/runtime/device.service';

/** The kernel/op benches' workspace (`.bench/<name>`, kept between runs) and its kernels service. */
export function benchKernels(name: string): { home: string; ws: Workspace; kernels: KernelsService } {
  const home = path.resolve(__dirname, '..', '..', '.bench', name);
  const ws = workspace(home);
  return { home, ws, kernels: new KernelsService(new DeviceService(ws)) };
}

/** A model validation printed per model, in total (with and without the drift factor) and per kind of model. */
export function printModelValidation(report: ModelValidationReport, kindOf: Map<string, string>): void {
  for (const row of report.rows) {
    const unsupported = row.unsupportedNodes ? ` (${row.unsupportedNodes} ops without predictor)` : '';
    console.log(`${row.model.padEnd(30)} ${row.predictedMs.toFixed(3).padStart(12)} ${row.measuredMs.toFixed(3).padStart(12)} ${(row.errorPct >= 0 ? '+' : '') + row.errorPct.toFixed(1)}%${unsupported}`);
  }
  console.log();
  const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
  console.log(`${report.samples} models: within 5% ${pct(report.within5)}, within 10% ${pct(report.within10)}, MAPE ${report.mape.toFixed(2)}%, Spearman ${report.spearman.toFixed(3)}`);
  console.log(`drift factor x${report.speedFactor.toFixed(3)}; uncalibrated: within 5% ${pct(report.uncalibrated.within5)}, within 10% ${pct(report.uncalibrated.within10)}, MAPE ${report.uncalibrated.mape.toFixed(2)}%`);
  for (const kind of new Set(kindOf.values())) {
    const rows = report.rows.filter((row) => kindOf.get(row.model) === kind);
    const s = summarizeValidation(rows);
    console.log(`  ${kind.padEnd(12)} ${rows.length} models: within 10% ${pct(s.within10)}, MAPE ${s.mape.toFixed(2)}%`);
  }
}

/**
 * What the kernel/op benches do with the device's saved profile: start over when asked to or when
 * it cannot be read (a profile of another Tailor version) or holds graphs of another sampler
 * version (`sampler`: the version profiling records), else extend it; `reuse` when it is already
 * complete for `samples` (profiling then only reloads it).
 */
export function savedProfileState(ws: Workspace, device: string, samples: number, freshRequested: boolean, sampler?: number): { fresh: boolean; reuse: boolean } {
  const file = profilePath(ws, device);
  let existing: ReturnType<typeof readKernelProfile> | null = null;
  try {
    existing = fs.existsSync(file) ? readKernelProfile(file) : null;
  } catch {
    // a profile of another Tailor version: start over
  }
  const outdated = !!existing && sampler !== undefined && (existing.method.sampler ?? 1) !== sampler;
  const fresh = freshRequested || (fs.existsSync(file) && !existing) || outdated;
  return { fresh, reuse: !fresh && !!existing?.complete && existing.graphs.length >= samples };
}

/** A profiling progress callback that prints to stderr at most every 10 s, and at the end. */
export function throttledProgress(): (p: { done: number; total: number; message: string }) => void {
  let last = 0;
  return (p) => {
    if (Date.now() - last > 10_000 || p.done === p.total) {
      last = Date.now();
      process.stderr.write(`profile: ${p.done}/${p.total} ${p.message}\n`);
    }
  };
}
