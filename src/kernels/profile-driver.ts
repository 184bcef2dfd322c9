import * as fs from 'node:fs';
import { REFERENCE_RUNS_FACTOR } from '../core/defaults';
import { TailorError } from '../core/errors';
import { median, summarize } from '../core/latency';
import { Workspace } from '../core/workspace';
import { withTableLock } from '../latency/table';
import { DeviceBackend, NodeEvent } from '../runtime/backend';
import { DeviceDescriptor } from '../runtime/devices';
import { Fingerprint, describeFingerprint } from '../runtime/fingerprint';
import { measureProfiledRoundRobin } from '../runtime/measure';
import type { KernelProfileOptions, KernelProfileResult } from './profile';
import {
  KERNEL_PROFILE_SCHEMA, KernelModelFile, KernelProfile, ProfiledGraph,
  profilePath, readKernelProfile, saveKernelModel, saveKernelProfile,
} from './store';

/** One sampled profiling graph, built and planned, ready to be timed. */
export interface PreparedProfileGraph<K extends string> {
  index: number;
  id: string;
  family: string;
  bytes: Uint8Array;
  outputBytes: number;
  kernels: { id: string; type: K; x: number[]; work: number }[];
}

export type MeasuredWindow = Awaited<ReturnType<typeof measureProfiledRoundRobin>>;

/** What a model format (ONNX kernels, TFLite ops) supplies to the shared profiling loop of `runKernelProfile`. */
export interface KernelProfileFormat<K extends string, G extends PreparedProfileGraph<K>> {
  /** Written into a new profile; absent: ONNX. */
  format?: 'tflite';
  /** Refuses a backend this format cannot profile (after the options are checked). */
  checkBackend?(): void;
  /** Refuses an existing profile of another format (before its fingerprint and seed are compared). */
  checkExisting?(profile: KernelProfile<K>, file: string): void;
  /** Version of the sampled graphs, recorded in a new profile; a profile of another version is never extended. */
  samplerVersion?: number;
  blockSize(): Promise<number>;
  referenceIds(seed: number): string[];
  /** Models timed in every window beside the graphs: probes first, then the drift references. */
  extras(seed: number): Uint8Array[];
  /** Progress word for a batch being prepared. */
  preparing: string;
  /** Builds and plans sampled graph `index` (the profile holds what the plan needs, e.g. its block size). */
  prepare(index: number, profile: KernelProfile<K>): G | Promise<G>;
  /** Runs one window's measurement under the lock it needs; `note` reports progress (e.g. a retry). */
  measure(run: () => Promise<MeasuredWindow>, onWait: () => void, note: (message: string) => void): Promise<MeasuredWindow>;
  /** Splits the extras' wall times into the fixed-cost probe, the output cost (ms per MiB) and the references. */
  splitExtras(extraWall: number[][]): { overhead: number[]; outputMsPerMiB: number; references: number[][] };
  /** Per planned kernel: the median profiled time and event count, and how the plan agreed with what ran. */
  measureKernels(graph: G, runs: NodeEvent[][]): { ms: Map<string, number>; events: Map<string, number>; agreement: ProfiledGraph<K>['agreement'] };
  train(p: KernelProfile<K>): KernelModelFile<K>;
  /** What one random forest is trained per, in progress messages ("kernel type", "op kind"). */
  trainedPer: string;
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/**
 * The profiling loop both formats share: under the profile's lock, --force keeps the old file as
 * .bak, an existing profile is resumed (same fingerprint, threads and seed), missing graphs are
 * timed in round-robin windows of `batchSize` with the format's extras, the profile is saved after
 * every window, then the regressors are trained and saved.
 */
export async function runKernelProfile<K extends string, G extends PreparedProfileGraph<K>>(
  ws: Workspace, device: DeviceDescriptor, backend: DeviceBackend, fingerprint: Fingerprint, o: KernelProfileOptions, f: KernelProfileFormat<K, G>,
): Promise<KernelProfileResult<K>> {
  if (!Number.isInteger(o.samples) || o.samples < 1) throw new TailorError('INVALID_OPTION', { option: '--samples', reason: 'must be a positive integer' });
  f.checkBackend?.();
  const file = profilePath(ws, device.id);
  const started = Date.now();
  return withTableLock(file, async () => {
    // --force starts over without reading the old file (it may be damaged); it is kept as .bak
    if (o.force && fs.existsSync(file)) fs.renameSync(file, `${file}.bak-${Date.now()}`);
    let profile: KernelProfile<K> | null = fs.existsSync(file) ? readKernelProfile<K>(file) : null;
    if (profile) f.checkExisting?.(profile, file);
    if (profile && !o.force) {
      if (profile.device.fingerprint?.hash !== fingerprint.hash || profile.backend.threads !== backend.threads) {
        const recorded = profile.device.fingerprint ? describeFingerprint(profile.device.fingerprint) : 'none';
        throw new TailorError('FINGERPRINT_MISMATCH', { file, table: `${recorded}, ${profile.backend.threads} thread(s)`, current: `${describeFingerprint(fingerprint)}, ${backend.threads} thread(s)` });
      }
      if (profile.method.seed !== o.seed) {
        throw new TailorError('INVALID_OPTION', { option: '--seed', reason: `${file} was measured with seed ${profile.method.seed}; pass --seed ${profile.method.seed} to extend it, or --force to start over` });
      }
      if (f.samplerVersion !== undefined && (profile.method.sampler ?? 1) !== f.samplerVersion) {
        throw new TailorError('KERNEL_PROFILE_OUTDATED', { file, recorded: profile.method.sampler ?? 1, current: f.samplerVersion });
      }
    }
    const now = new Date().toISOString();
    if (!profile) {
      const blockSize = await f.blockSize();
      profile = {
        // key order as the files have always been written: `format` right after `schema`, absent for ONNX
        schema: KERNEL_PROFILE_SCHEMA, ...(f.format ? { format: f.format } : {}), device: { id: device.id, fingerprint },
        backend: { name: backend.name, version: backend.runtimeVersion(), threads: backend.threads }, created: now, updated: now,
        method: {
          seed: o.seed, samples: o.samples, batchSize: o.batchSize, warmup: o.warmup, passes: o.passes, wallRunsPerPass: o.wallRunsPerPass, profileRunsPerPass: o.profileRunsPerPass,
          ...(f.samplerVersion !== undefined ? { sampler: f.samplerVersion } : {}),
        },
        blockSize, overheadMs: [], outputMsPerMiB: [], reference: { graphs: f.referenceIds(o.seed), msByBatch: [] }, graphs: [], complete: false,
      };
    }
    const p = profile;
    p.method.samples = Math.max(p.method.samples, o.samples);
    const have = new Set(p.graphs.map((gr) => gr.index));
    const todo = Array.from({ length: o.samples }, (_, i) => i).filter((i) => !have.has(i));
    const batches: number[][] = [];
    for (let i = 0; i < todo.length; i += o.batchSize) batches.push(todo.slice(i, i + o.batchSize));
    const total = batches.length * (o.passes + 1) + 1;
    let done = 0;
    const extras = f.extras(o.seed);
    for (const batch of batches) {
      o.signal?.throwIfAborted();
      const what = `graphs ${batch[0] + 1}-${batch[batch.length - 1] + 1}/${o.samples}`;
      o.onProgress?.({ done, total, message: `${what}: ${f.preparing}` });
      const prepared: G[] = [];
      for (const i of batch) prepared.push(await f.prepare(i, p));
      done++;
      const { wall, events, extraWall } = await f.measure(
        () => measureProfiledRoundRobin(backend, prepared.map((gr) => () => gr.bytes), extras, { ...o, extraRunsFactor: REFERENCE_RUNS_FACTOR }, (pass) => o.onProgress?.({ done: done + pass - 1, total, message: `${what}: pass ${pass}/${o.passes}` })),
        () => o.onProgress?.({ done, total, message: 'waiting for another measurement on this machine' }),
        (message) => o.onProgress?.({ done, total, message: `${what}: ${message}` }),
      );
      done += o.passes;
      const { overhead, outputMsPerMiB, references } = f.splitExtras(extraWall);
      const batchIndex = p.overheadMs.length;
      p.overheadMs.push(summarize(overhead));
      p.outputMsPerMiB.push(outputMsPerMiB);
      p.reference.msByBatch.push(references.map((r) => round6(median(r))));
      prepared.forEach((gr, i) => {
        const m = f.measureKernels(gr, events[i]);
        p.graphs.push({
          index: gr.index, id: gr.id, family: gr.family, batch: batchIndex, wallMs: median(wall[i]), outputBytes: gr.outputBytes,
          kernels: gr.kernels.map((k) => ({ ...k, ms: round6(m.ms.get(k.id)!), events: m.events.get(k.id)! })),
          agreement: m.agreement,
        });
      });
      p.graphs.sort((a, b) => a.index - b.index);
      p.updated = new Date().toISOString();
      saveKernelProfile(ws, p);
    }
    o.onProgress?.({ done, total, message: `training one random forest per ${f.trainedPer}` });
    p.complete = p.graphs.length >= p.method.samples;
    saveKernelProfile(ws, p);
    const model = f.train(p);
    const modelFile = saveKernelModel(ws, model);
    o.onProgress?.({ done: total, total, message: 'done' });
    return { profileFile: file, modelFile, profile: p, model, measuredGraphs: todo.length, skippedGraphs: o.samples - todo.length, seconds: (Date.now() - started) / 1000 };
  });
}
