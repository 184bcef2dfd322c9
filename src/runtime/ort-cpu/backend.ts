import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { TailorError } from '../../core/errors';
import { BackendOptions, DeviceBackend, LoadedModel, MeasureOptions, ProfiledModel } from '../backend';
import { parseOrtProfile } from './parser';
import { ortVersion } from './version';

function inputFeed(ort: typeof Ort, session: Ort.InferenceSession): Record<string, Ort.Tensor> {
  const feed: Record<string, Ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor) throw new TailorError('INVALID_MODEL', { backend: 'ort-cpu', reason: `input ${meta.name} is not a tensor` });
    const dims = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    const size = dims.reduce((a, b) => a * b, 1);
    // Deterministic, non-trivial input values: timing must not depend on the data.
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) data[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
    feed[meta.name] = new ort.Tensor('float32', data, dims);
  }
  return feed;
}

/** onnxruntime-node on the local CPU: CPU execution provider, sequential, `threads` intra-op threads. */
export class OrtCpuBackend implements DeviceBackend {
  readonly name = 'ort-cpu';
  readonly modelFormat = 'onnx';
  readonly threads: number;
  private readonly ort: typeof Ort;

  constructor(options: BackendOptions) {
    this.threads = options.threads ?? 1;
    // Loaded here, not at module load, so commands that never measure start fast.
    this.ort = require('onnxruntime-node') as typeof Ort;
  }

  runtimeVersion(): string {
    return ortVersion();
  }

  private sessionOptions(extra: Ort.InferenceSession.SessionOptions = {}): Ort.InferenceSession.SessionOptions {
    return {
      executionProviders: ['cpu'],
      intraOpNumThreads: this.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      ...extra,
    };
  }

  private async createSession(model: Uint8Array, extra?: Ort.InferenceSession.SessionOptions): Promise<Ort.InferenceSession> {
    try {
      return await this.ort.InferenceSession.create(model, this.sessionOptions(extra));
    } catch (e) {
      throw new TailorError('INVALID_MODEL', { backend: this.name, reason: (e as Error).message.split('\n')[0] });
    }
  }

  async load(model: Uint8Array): Promise<LoadedModel> {
    const session = await this.createSession(model);
    const feed = inputFeed(this.ort, session);
    return {
      measure: (options) => timeRuns(session, feed, options).then((r) => r.times),
      dispose: () => session.release(),
    };
  }

  async optimizedModel(model: Uint8Array): Promise<Uint8Array> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-ort-opt-'));
    try {
      const file = path.join(dir, 'optimized.onnx');
      // logSeverityLevel 3: onnxruntime warns that NCHWc graphs are hardware specific, which is the point here
      const session = await this.createSession(model, { optimizedModelFilePath: file, logSeverityLevel: 3 });
      await session.release();
      return fs.readFileSync(file);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  async loadProfiled(model: Uint8Array): Promise<ProfiledModel> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-ort-'));
    const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
    let session: Ort.InferenceSession;
    try {
      session = await this.createSession(model, { enableProfiling: true, profileFilePrefix: path.join(dir, 'profile') });
    } catch (e) {
      cleanup();
      throw e;
    }
    const feed = inputFeed(this.ort, session);
    let runCount = 0;
    const timed: number[] = [];
    return {
      async measure(options) {
        const r = await timeRuns(session, feed, options, runCount);
        runCount += options.warmup + options.runs;
        timed.push(...r.timedRuns);
        return r.times;
      },
      async finish() {
        try {
          session.endProfiling(); // returns nothing in Node: the file is found by its prefix
          await session.release();
          const file = fs.readdirSync(dir).find((f) => f.startsWith('profile') && f.endsWith('.json'));
          if (!file) throw new Error('onnxruntime wrote no profile file');
          const runs = parseOrtProfile(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
          return timed.map((i) => runs[i]).filter((r) => r !== undefined);
        } finally {
          cleanup();
        }
      },
      async dispose() {
        await session.release();
        cleanup();
      },
    };
  }
}

async function timeRuns(session: Ort.InferenceSession, feed: Record<string, Ort.Tensor>, { warmup, runs }: MeasureOptions, firstIndex = 0) {
  for (let i = 0; i < warmup; i++) await session.run(feed);
  const times: number[] = [];
  const timedRuns: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feed);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    timedRuns.push(firstIndex + warmup + i);
  }
  return { times, timedRuns };
}
