import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { readTflite } from '../../tflite/reader';
import { BackendOptions, DeviceBackend, LoadedModel, MeasureOptions, NodeEvent, ProfiledModel } from '../backend';
import { nameKernels } from '../tflite-wasm/attribute';
import type { Fingerprint } from '../fingerprint';
import { AdbDevice, AdbError, AdbOptions, adbOptions, adbTfliteVersion, readPhoneFingerprint } from './adb';
import { BenchmarkOutput, BenchmarkOutputError, parseBenchmarkOutput, profileEvents, tail } from './parser';

/** Each call is a fresh benchmark_model process: its first runs pack weights and warm caches. */
const FRESH_PROCESS_WARMUP = 2;

interface RemoteModel {
  path: string;
  release(): Promise<void>;
}

/** Models on the device, pushed once per content hash and removed when no loaded model uses them. */
class RemoteModels {
  private readonly held = new Map<string, { users: number; pushed: Promise<void> }>();

  constructor(private readonly device: AdbDevice, private readonly dir: string) {}

  async acquire(model: Uint8Array): Promise<RemoteModel> {
    const remote = `${this.dir}/${createHash('sha256').update(model).digest('hex').slice(0, 16)}.tflite`;
    let entry = this.held.get(remote);
    if (!entry) {
      entry = { users: 0, pushed: this.push(model, remote) };
      this.held.set(remote, entry);
      entry.pushed.catch(() => this.held.delete(remote));
    }
    entry.users++;
    try {
      await entry.pushed;
    } catch (e) {
      entry.users--;
      throw e;
    }
    let released = false;
    return {
      path: remote,
      release: async () => {
        if (released) return;
        released = true;
        if (--entry.users > 0) return;
        this.held.delete(remote);
        await this.device.shell('removing a model from the device', ['rm', '-f', remote]);
      },
    };
  }

  private async push(model: Uint8Array, remote: string): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-adb-'));
    try {
      const local = path.join(dir, path.basename(remote));
      fs.writeFileSync(local, model);
      await this.device.push(local, remote);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * An Android phone over adb, timed with TFLite's `benchmark_model` (untested on a real phone here:
 * the tests drive it through a fake adb).
 *
 * Per-run times: benchmark_model prints only count/first/curr/min/max/avg/std of its timed runs,
 * never each run. measure() returns the mean of the call's timed runs once per timed run (so a
 * call of n runs weighs n, and medians over calls are medians of per-call means); runs: 0 is a
 * no-op, as a warm-up in a process of its own would warm nothing that carries over.
 */
export class AdbTfliteBackend implements DeviceBackend {
  readonly name = 'adb-tflite';
  readonly remote = true;
  readonly modelFormat = 'tflite';
  readonly threads: number;
  private readonly o: AdbOptions;
  private readonly device: AdbDevice;
  private readonly models: RemoteModels;
  private readonly version: string;
  private ready: Promise<void> | null = null;

  constructor(options: BackendOptions, env: NodeJS.ProcessEnv = process.env) {
    this.threads = options.threads ?? 1;
    if (!Number.isInteger(this.threads) || this.threads < 1) throw new TailorError('INVALID_OPTION', { option: 'threads', reason: `${this.threads} is not a positive integer` });
    this.o = adbOptions(options, env);
    this.version = adbTfliteVersion(options);
    this.device = new AdbDevice(this.o);
    this.models = new RemoteModels(this.device, `${this.o.remoteDir}/models`);
  }

  runtimeVersion(): string {
    return this.version;
  }

  /** The phone's, read now: a phone that does not answer is a specific error (ADB_DEVICE), not an unknown fingerprint. */
  fingerprint(): Promise<Fingerprint> {
    return readPhoneFingerprint(this.o, this.version);
  }

  /** Once: the device answers, the directories exist, and the binary (if given on the host) is pushed. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await this.device.checkState();
      await this.device.shell('creating the work directory on the device', ['mkdir', '-p', `${this.o.remoteDir}/models`]);
      const host = this.o.benchmarkBinary;
      if (host) {
        if (!fs.statSync(host, { throwIfNoEntry: false })?.isFile()) {
          throw new AdbError('BINARY_MISSING', `options.benchmarkBinary: ${host} is not a file on this computer (a benchmark_model build for the phone's ABI, e.g. android_arm64)`);
        }
        await this.device.push(host, this.o.remoteBinary);
        await this.device.shell('making benchmark_model executable', ['chmod', '755', this.o.remoteBinary]);
      }
    })();
    this.ready.catch(() => (this.ready = null)); // try again on the next load
    return this.ready;
  }

  private async open(model: Uint8Array): Promise<RemoteModel> {
    await this.prepare();
    return this.models.acquire(model);
  }

  /** One benchmark_model process over the model; null for runs: 0. */
  private async benchmark(graph: string, { warmup, runs }: MeasureOptions, profile: boolean): Promise<BenchmarkOutput | null> {
    if (runs <= 0) return null;
    const stdout = await this.device.benchmark({ graph, threads: this.threads, warmup: Math.max(warmup, FRESH_PROCESS_WARMUP), runs, profile });
    const out = parseBenchmarkOutput(stdout);
    if (out.threads !== undefined && out.threads !== this.threads) {
      throw new BenchmarkOutputError(`benchmark_model reports ${out.threads} thread(s), the device was opened with ${this.threads}`);
    }
    if (profile && !out.profile) throw new BenchmarkOutputError(`benchmark_model printed no op profile (--enable_op_profiling=true): ${tail(stdout)}`);
    return out;
  }

  private static times(out: BenchmarkOutput | null): number[] {
    return out ? new Array<number>(out.timed.count).fill(out.timed.avgUs / 1000) : [];
  }

  async load(model: Uint8Array): Promise<LoadedModel> {
    const remote = await this.open(model);
    return {
      measure: async (options) => AdbTfliteBackend.times(await this.benchmark(remote.path, options, false)),
      dispose: () => remote.release(),
    };
  }

  /**
   * Each measure() call is one profiled benchmark_model run; its per-op means (timed runs only)
   * stand for every timed run of the call in finish(), as with tflite-wasm's per-call runners.
   */
  async loadProfiled(model: Uint8Array): Promise<ProfiledModel> {
    const remote = await this.open(model);
    const timedRuns: NodeEvent[][] = [];
    return {
      measure: async (options) => {
        const out = await this.benchmark(remote.path, options, true);
        if (out?.profile) {
          const run = profileEvents(out.profile);
          for (let i = 0; i < out.timed.count; i++) timedRuns.push(run);
        }
        return AdbTfliteBackend.times(out);
      },
      async finish(): Promise<NodeEvent[][]> {
        if (!timedRuns.length) return [];
        // Named after the ops' output tensors, so kernels attribute to pieces as onnxruntime's do.
        const graph = readTflite(model);
        const named = new Map<NodeEvent[], NodeEvent[]>();
        return timedRuns.map((run) => named.get(run) ?? named.set(run, nameKernels(graph, run)).get(run)!);
      },
      dispose: () => remote.release(),
    };
  }
}
