import * as fs from 'node:fs';
import { PROFILE_DEFAULTS, REFERENCE_RUNS_FACTOR } from '../core/defaults';
import { TailorError } from '../core/errors';
import { buildIR, ModelIR, Piece } from '../core/ir';
import { median, summarize } from '../core/latency';
import { netFromArch } from '../core/net';
import { SearchSpace, checkResolutions } from '../core/space';
import { Workspace } from '../core/workspace';
import { exportModel, exportModelPieces } from '../export/model';
import { seededWeights } from '../export/weights';
import { LatencyTable, TABLE_SCHEMA, readTable, saveTable, tablePath, withTableLock } from '../latency/table';
import { DeviceBackend, ModelFormat } from '../runtime/backend';
import { DeviceDescriptor } from '../runtime/devices';
import { withMeasurementLock } from '../runtime/machine-lock';
import { measureProfiledRoundRobin } from '../runtime/measure';
import { Fingerprint, describeFingerprint } from '../runtime/fingerprint';
import { scaledPieceTimes } from './attribute';
import { keysForResolution, planResolution } from './plan';
import { referenceArchs } from './reference';

export interface ProfileOptions {
  resolutions: number[];
  seed: number;
  /** Each block key is timed inside at least this many different networks. */
  rounds: number;
  /** Untimed runs of every model before timing starts. */
  warmup: number;
  /** Round-robin passes over all networks of a resolution. */
  passes: number;
  /** Unprofiled (wall time) runs per network and pass. */
  wallRunsPerPass: number;
  /** Profiled (kernel timing) runs per network and pass. */
  profileRunsPerPass: number;
  /** Start a new table; an existing one (even from other hardware) is kept as <space>.json.bak-<time>. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: ProfileProgress) => void;
}

export interface ProfileProgress {
  done: number;
  total: number;
  resolution: number;
  message: string;
}

export interface ProfileResult {
  file: string;
  table: LatencyTable;
  measuredResolutions: number[];
  skippedResolutions: number[];
  networksMeasured: number;
  secondsPerResolution: Record<string, number>;
}

export const DEFAULT_PROFILE_OPTIONS = PROFILE_DEFAULTS;

function overheadProbe(format: ModelFormat, r: number, channels: number): Uint8Array {
  const piece: Piece = {
    id: 'probe', kind: 'pool', key: 'probe', input: 'input', inShape: [channels, r, r], output: 'probe.pool', outShape: [channels, 1, 1],
    nodes: [{ op: 'global_avg_pool', name: 'probe.pool', inputs: ['input'], output: 'probe.pool', inShape: [channels, r, r], outShape: [channels, 1, 1] }],
  };
  return exportModelPieces(format, [piece], { weights: seededWeights(0) });
}


/**
 * Times one resolution's plan: each network unprofiled (wall time) and profiled (kernel times),
 * plus plain-only extras (overhead probe, speed references, timed twice as often: they are
 * cheap), all round-robin so a slow moment of a shared machine spreads over every model.
 */
async function measurePlan(backend: DeviceBackend, irs: ModelIR[], extras: Uint8Array[], options: ProfileOptions, onPass: (pass: number) => void) {
  const r = await measureProfiledRoundRobin(
    backend, irs.map((ir) => () => exportModel(backend.modelFormat, ir, { weights: seededWeights(options.seed) })), extras,
    { ...options, extraRunsFactor: REFERENCE_RUNS_FACTOR }, onPass,
  );
  return { extraWall: r.extraWall, wall: r.wall, kernels: r.events };
}

/**
 * Builds a device's table for a space by timing kernels in context: for each resolution, whole
 * networks chosen to cover every key run round-robin with and without the runtime's profiler;
 * kernels are attributed to pieces and scaled to the measured wall time, and a tiny probe model
 * gives the fixed per-inference cost. The table is saved after every resolution, so an
 * interrupted run resumes at the first resolution it lacks.
 */
export async function profileSpace(
  ws: Workspace,
  device: DeviceDescriptor,
  backend: DeviceBackend,
  fingerprint: Fingerprint,
  space: SearchSpace,
  options: ProfileOptions,
): Promise<ProfileResult> {
  if (options.resolutions.length === 0) throw new TailorError('INVALID_OPTION', { option: '--resolutions', reason: 'no resolution given' });
  checkResolutions(space, options.resolutions, '--resolutions');
  const file = tablePath(ws, device.id, space.id);
  return withTableLock(file, async () => {
    let table: LatencyTable | null = fs.existsSync(file) ? readTable(file) : null;
    // One table, one machine, one runtime setup: never mix measurements.
    if (table && !options.force && (table.device.fingerprint?.hash !== fingerprint.hash || table.backend.threads !== backend.threads)) {
      const recorded = table.device.fingerprint ? describeFingerprint(table.device.fingerprint) : 'none (imported)';
      throw new TailorError('FINGERPRINT_MISMATCH', {
        file, table: `${recorded}, ${table.backend.threads} thread(s)`, current: `${describeFingerprint(fingerprint)}, ${backend.threads} thread(s)`,
      });
    }
    if (table && options.force) {
      fs.renameSync(file, `${file}.bak-${Date.now()}`);
      table = null;
    }
    const todo = options.resolutions.filter((r) => !table?.resolutions.includes(r));
    const skipped = options.resolutions.filter((r) => !todo.includes(r));
    const total = todo.length * (options.passes + 1);
    let done = 0;
    let networks = 0;
    const secondsPerResolution: Record<string, number> = {};
    const refs = referenceArchs(space);
    const refModels = refs.map((a) => exportModel(backend.modelFormat, buildIR(netFromArch(space, a)), { weights: seededWeights(options.seed) }));

    for (const r of todo) {
      const started = Date.now();
      const plan = planResolution(space, r, options.rounds, options.seed);
      options.onProgress?.({ done, total, resolution: r, message: `r=${r}: loading ${plan.length} networks` });
      done++;
      const irs = plan.map((arch) => buildIR(netFromArch(space, arch)));
      const { wall, kernels, extraWall } = await withMeasurementLock(
        backend,
        () => measurePlan(backend, irs, [overheadProbe(backend.modelFormat, r, space.inputChannels), ...refModels], options, (pass) => {
          options.onProgress?.({ done: done + pass - 1, total, resolution: r, message: `r=${r}: pass ${pass}/${options.passes}` });
        }),
        () => options.onProgress?.({ done, total, resolution: r, message: `r=${r}: waiting for another measurement on this machine` }),
      );
      done += options.passes;
      networks += irs.length;
      const [overhead, ...refWall] = extraWall;
      const overheadMs = median(overhead);
      const samples = new Map<string, number[]>();
      irs.forEach((ir, i) => {
        const times = scaledPieceTimes(kernels[i], ir.pieces.map((p) => p.id), median(wall[i]), overheadMs);
        for (const p of ir.pieces) (samples.get(p.key) ?? samples.set(p.key, []).get(p.key)!).push(times.get(p.id)!);
      });
      const missing = [...keysForResolution(space, r)].filter((k) => !samples.has(k));
      if (missing.length) throw new Error(`profiling plan missed ${missing.length} keys at r=${r} (bug): ${missing.slice(0, 3).join(', ')}`);
      secondsPerResolution[r] = Math.round((Date.now() - started) / 100) / 10;
      const now = new Date().toISOString();
      table ??= {
        schema: TABLE_SCHEMA,
        device: { id: device.id, fingerprint },
        backend: { name: backend.name, version: backend.runtimeVersion(), threads: backend.threads },
        space: space.id,
        created: now,
        updated: now,
        method: {
          name: 'in-context', statistic: 'p50', seed: options.seed, rounds: options.rounds, warmup: options.warmup, passes: options.passes,
          wallRunsPerPass: options.wallRunsPerPass, profileRunsPerPass: options.profileRunsPerPass, secondsPerResolution: {},
        },
        resolutions: [],
        overheadMs: {},
        entries: {},
        reference: { archs: refs, msByResolution: {} },
      };
      table.entries[String(r)] = Object.fromEntries([...samples].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, summarize(v)]));
      table.overheadMs[String(r)] = summarize(overhead);
      table.reference!.msByResolution[r] = refWall.map((ms) => Math.round(median(ms) * 1e6) / 1e6);
      (table.method.secondsPerResolution as Record<string, number>)[r] = secondsPerResolution[r];
      if (!table.resolutions.includes(r)) table.resolutions.push(r);
      table.updated = now;
      saveTable(ws, table);
    }
    return {
      file, table: table ?? readTable(file), measuredResolutions: todo, skippedResolutions: skipped,
      networksMeasured: networks, secondsPerResolution,
    };
  });
}
