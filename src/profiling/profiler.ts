import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';
import { TailorError } from '../core/errors';
import { buildIR, Piece } from '../core/ir';
import { median, summarize } from '../core/latency';
import { netFromArch } from '../core/net';
import { SearchSpace } from '../core/space';
import { Workspace } from '../core/workspace';
import { exportOnnx, exportPiecesOnnx } from '../export/onnx';
import { seededWeights } from '../export/weights';
import { LatencyTable, TABLE_SCHEMA, readTable, saveTable, tablePath } from '../latency/table';
import { DeviceBackend, LoadedModel, NodeEvent, ProfiledModel } from '../runtime/backend';
import { DeviceDescriptor, TABLE_ONLY } from '../runtime/devices';
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
  /** Re-measure resolutions the table already has; replace a table from other hardware (kept as .bak). */
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

export const DEFAULT_PROFILE_OPTIONS = { seed: 0, rounds: 3, warmup: 3, passes: 5, wallRunsPerPass: 4, profileRunsPerPass: 2 };

function overheadProbe(r: number, channels: number): Uint8Array {
  const piece: Piece = {
    id: 'probe', kind: 'pool', key: 'probe', input: 'input', inShape: [channels, r, r], output: 'probe.pool', outShape: [channels, 1, 1],
    nodes: [{ op: 'global_avg_pool', name: 'probe.pool', inputs: ['input'], output: 'probe.pool', inShape: [channels, r, r], outShape: [channels, 1, 1] }],
  };
  return exportPiecesOnnx([piece], { weights: seededWeights(0) });
}

/**
 * Times one resolution's plan: each network unprofiled (wall time) and profiled (kernel times),
 * plus plain-only extras (overhead probe, speed references), in round-robin passes so that a
 * slow moment of a shared machine spreads over all of them.
 */
async function measurePlan(backend: DeviceBackend, models: Uint8Array[], extras: Uint8Array[], options: ProfileOptions, onPass: (pass: number) => void) {
  const plain: LoadedModel[] = [];
  const extra: LoadedModel[] = [];
  const profiled: ProfiledModel[] = [];
  try {
    for (const m of extras) extra.push(await backend.load(m));
    for (const m of models) {
      options.signal?.throwIfAborted();
      plain.push(await backend.load(m));
      profiled.push(await backend.loadProfiled(m));
    }
    for (const m of [...extra, ...plain, ...profiled]) await m.measure({ warmup: options.warmup, runs: 0 });
    const wall = models.map(() => [] as number[]);
    const extraWall = extras.map(() => [] as number[]);
    for (let pass = 0; pass < options.passes; pass++) {
      options.signal?.throwIfAborted();
      // The extras (probe, references) are cheap and set the scale of everything else: time them twice as often.
      for (let i = 0; i < extras.length; i++) extraWall[i].push(...(await extra[i].measure({ warmup: 1, runs: 2 * options.wallRunsPerPass })));
      for (let i = 0; i < models.length; i++) {
        wall[i].push(...(await plain[i].measure({ warmup: 1, runs: options.wallRunsPerPass })));
        await profiled[i].measure({ warmup: 1, runs: options.profileRunsPerPass });
      }
      onPass(pass + 1);
    }
    const runs: NodeEvent[][][] = [];
    for (const p of profiled.splice(0)) runs.push(await p.finish());
    return { wall, runs, extraWall };
  } finally {
    for (const m of [...extra, ...plain, ...profiled]) await m.dispose();
  }
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
  if (device.backend === TABLE_ONLY) throw new TailorError('TABLE_ONLY_DEVICE', { device: device.id, action: 'be profiled' });
  if (options.resolutions.length === 0) throw new TailorError('INVALID_OPTION', { option: '--resolutions', reason: 'no resolution given' });
  const bad = options.resolutions.filter((r) => !space.resolutions.includes(r));
  if (bad.length) throw new TailorError('INVALID_OPTION', { option: '--resolutions', reason: `${bad.join(', ')} not in ${space.id} (${space.resolutions.join(', ')})` });

  const file = tablePath(ws, device.id, space.id);
  const release = await lockTable(file);
  try {
    return await profileLocked(file, device, backend, fingerprint, space, options, ws);
  } finally {
    await release();
  }
}

/** One writer per table across processes (CLI runs, service jobs); a killed holder's lock goes stale. */
async function lockTable(file: string): Promise<() => Promise<void>> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    return await lockfile.lock(file, { realpath: false, stale: 15_000, update: 5_000 });
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOCKED') throw new TailorError('TABLE_LOCKED', { table: file, holder: 'another profiling run' });
    throw e;
  }
}

async function profileLocked(
  file: string,
  device: DeviceDescriptor,
  backend: DeviceBackend,
  fingerprint: Fingerprint,
  space: SearchSpace,
  options: ProfileOptions,
  ws: Workspace,
): Promise<ProfileResult> {
  let table: LatencyTable | null = fs.existsSync(file) ? readTable(file) : null;
  // One table, one machine, one runtime setup: never mix measurements.
  if (table && (table.device.fingerprint?.hash !== fingerprint.hash || table.backend.threads !== backend.threads)) {
    if (!options.force) {
      const recorded = table.device.fingerprint ? describeFingerprint(table.device.fingerprint) : 'none (imported)';
      throw new TailorError('FINGERPRINT_MISMATCH', {
        file, table: `${recorded}, ${table.backend.threads} thread(s)`, current: `${describeFingerprint(fingerprint)}, ${backend.threads} thread(s)`,
      });
    }
    fs.renameSync(file, `${file}.bak-${Date.now()}`);
    table = null;
  }
  const todo = options.resolutions.filter((r) => options.force || !table?.resolutions.includes(r));
  const skipped = options.resolutions.filter((r) => !todo.includes(r));
  const total = todo.length * (options.passes + 1);
  let done = 0;
  let measured = 0;
  const secondsPerResolution: Record<string, number> = {};

  for (const r of todo) {
    const started = Date.now();
    const plan = planResolution(space, r, options.rounds, options.seed);
    options.onProgress?.({ done, total, resolution: r, message: `r=${r}: loading ${plan.length} networks` });
    done++;
    const irs = plan.map((arch) => buildIR(netFromArch(space, arch)));
    const models = irs.map((ir) => exportOnnx(ir, { weights: seededWeights(options.seed) }));
    const refs = referenceArchs(space);
    const extras = [overheadProbe(r, space.inputChannels), ...refs.map((a) => exportOnnx(buildIR(netFromArch(space, a)), { weights: seededWeights(options.seed) }))];
    const { wall, runs, extraWall } = await measurePlan(backend, models, extras, options, (pass) => {
      options.onProgress?.({ done: done + pass - 1, total, resolution: r, message: `r=${r}: pass ${pass}/${options.passes}` });
    });
    done += options.passes;
    measured += models.length;
    const refNow = extraWall.slice(1).map(median);
    const overhead = extraWall[0];
    const overheadMs = median(overhead);
    const samples = new Map<string, number[]>();
    irs.forEach((ir, i) => {
      const times = scaledPieceTimes(runs[i], ir.pieces.map((p) => p.id), median(wall[i]), overheadMs);
      for (const p of ir.pieces) (samples.get(p.key) ?? samples.set(p.key, []).get(p.key)!).push(times.get(p.id)!);
    });
    const missing = [...keysForResolution(space, r)].filter((k) => !samples.has(k));
    if (missing.length) throw new Error(`profiling plan missed ${missing.length} keys at r=${r} (bug): ${missing.slice(0, 3).join(', ')}`);
    secondsPerResolution[r] = (Date.now() - started) / 1000;
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
    table.reference!.msByResolution[r] = refNow.map((ms) => Math.round(ms * 1e6) / 1e6);
    (table.method.secondsPerResolution as Record<string, number>)[r] = Math.round(secondsPerResolution[r] * 10) / 10;
    if (!table.resolutions.includes(r)) table.resolutions.push(r);
    table.updated = now;
    saveTable(ws, table);
  }
  if (!table) table = readTable(file);
  return { file, table, measuredResolutions: todo, skippedResolutions: skipped, networksMeasured: measured, secondsPerResolution };
}
