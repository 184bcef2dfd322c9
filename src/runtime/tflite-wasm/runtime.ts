import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Worker as NodeWorker } from 'node:worker_threads';
import { TailorError } from '../../core/errors';

/**
 * The TFLite runtime (XNNPACK always on) as compiled to WebAssembly by @tensorflow/tfjs-tflite,
 * loaded in plain Node. The emscripten builds target browsers only (web,worker: their Node code
 * is compiled out), so the wasm bytes are handed to the factory and nothing is fetched.
 */

type Build = 'simd' | 'simd-threaded';
const BUILD_FILES: Record<Build, string> = { simd: 'tflite_web_api_cc_simd', 'simd-threaded': 'tflite_web_api_cc_simd_threaded' };
/** wasm32 with memory growth: emscripten's getHeapMax(). */
const HEAP_MAX_MB = 2048;
/** Runners one instance takes before the next goes to another instance (another 2 GB heap). */
const HEAP_BUDGET = 1536 * 2 ** 20;

interface EmTensorInfo {
  id: number;
  dataType: string;
  name: string;
  shape: string;
  data(): ArrayBufferView & ArrayLike<number>;
  delete(): void;
}
interface EmVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}
interface EmRunner {
  GetInputs(): EmVector<EmTensorInfo>;
  GetOutputs(): EmVector<EmTensorInfo>;
  Infer(): boolean;
  GetProfilingSummary(): string;
  delete(): void;
}
interface EmStatusOr {
  ok(): boolean;
  errorMessage(): string;
  /** A raw pointer the caller then owns: deleting the StatusOr does not free the runner. */
  value(): EmRunner;
  delete(): void;
}
interface EmModule {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(ptr: number, size: number, options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number }): EmStatusOr;
  };
}
type Factory = (overrides: Record<string, unknown>) => Promise<EmModule>;

/** One instantiated module. After an abort() the instance is dead (emscripten sets ABORT for good) and a fresh one is made. */
interface Instance {
  readonly build: Build;
  readonly module: EmModule;
  /** Lines printed by the runtime since the last `takeErrors()`; bounded. */
  log: string[];
  /** Count of profiler events dropped because a runner's buffer was full. */
  dropped: number;
  /** Why the instance can no longer be used, or null. */
  dead: string | null;
  workers: NodeWorker[];
  /** Estimated heap bytes of the runners living on it. */
  reserved: number;
}

const NOISE = [/^INFO: Created TensorFlow Lite XNNPACK delegate/, /^Blocking on the main thread is very dangerous/];

function packageDir(): string {
  return path.dirname(require.resolve('@tensorflow/tfjs-tflite/package.json'));
}

/**
 * Pthread workers for the threaded build: emscripten creates browser-style `new Worker(url)`
 * and talks to it with onmessage/postMessage. Inside, worker_threads get what emscripten's
 * worker.js expects of a browser worker: `self`, `location`, `postMessage`, `importScripts`
 * (the factory script, run in the worker's global scope), `onmessage`. Console output of a
 * pthread goes back to the main thread's printErr.
 */
const WORKER_BOOT = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const vm = require('node:vm');
globalThis.self = globalThis;
globalThis.location = { href: workerData.url };
globalThis.postMessage = (msg, transfer) => parentPort.postMessage(msg, transfer);
globalThis.importScripts = (...files) => { for (const f of files) vm.runInThisContext(fs.readFileSync(f, 'utf8'), { filename: f }); };
for (const k of ['log', 'info', 'warn', 'error']) console[k] = (...a) => parentPort.postMessage({ cmd: 'printErr', text: a.join(' '), threadId: 0 });
parentPort.on('message', (data) => self.onmessage({ data }));
importScripts(workerData.url);
`;

/** The threaded build's workers; unref'd once the module is ready, as idle pool workers must not keep the process alive. */
interface WorkerPool {
  workers: NodeWorker[];
  ready: boolean;
  onError(e: Error): void;
}

function workerClass(pool: WorkerPool) {
  return class BrowserStyleWorker {
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    /**
     * emscripten runs a pthread on a pool worker only once that worker reported "loaded", which
     * arrives as a message the main thread handles only when idle; XNNPACK's thread pool waits
     * for its threads synchronously, so a worker made after start-up (more threads than the
     * pool's 8) would deadlock. A worker handles "load" synchronously before any "run" message,
     * so it can take "run" at once.
     */
    loaded = true;
    private readonly worker: NodeWorker;
    constructor(url: string) {
      this.worker = new NodeWorker(WORKER_BOOT, { eval: true, workerData: { url } });
      this.worker.on('message', (data) => this.onmessage?.({ data }));
      // not emscripten's onerror: it rethrows, which would crash the process
      this.worker.on('error', (e) => pool.onError(e));
      if (pool.ready) this.worker.unref();
      pool.workers.push(this.worker);
    }
    postMessage(msg: unknown, transfer?: readonly unknown[]) {
      this.worker.postMessage(msg, transfer as never);
    }
    terminate() {
      void this.worker.terminate();
    }
  };
}

function loadFactory(build: Build, WorkerShim?: unknown): Factory {
  const file = path.join(packageDir(), 'wasm', `${BUILD_FILES[build]}.js`);
  if (build === 'simd') return require(file) as Factory;
  // `Worker` is bound for this script only, not as a global other libraries would take for a browser.
  const source = `(function (Worker) {${fs.readFileSync(file, 'utf8')}\nreturn tflite_web_api_ModuleFactory;\n})`;
  return (vm.runInThisContext(source, { filename: file }) as (w: unknown) => Factory)(WorkerShim);
}

async function instantiate(build: Build): Promise<Instance> {
  const dir = path.join(packageDir(), 'wasm');
  const js = path.join(dir, `${BUILD_FILES[build]}.js`);
  let inst: Instance | undefined;
  let failStartup: (e: Error) => void = () => undefined;
  const startupFailed = new Promise<never>((_, reject) => (failStartup = reject));
  const markDead = (why: string) => {
    if (inst && !inst.dead) kill(inst, why);
  };
  const pool: WorkerPool = {
    workers: [],
    ready: false,
    onError: (e) => (inst ? markDead(`a runtime thread failed: ${e.message}`) : failStartup(e)),
  };
  const record = (text: string) => {
    if (!inst) return;
    const line = text.replace(/^Thread \d+: /, ''); // printed by a pthread
    if (line.includes('Dropping ProfileBuffer event')) inst.dropped++;
    else if (!NOISE.some((re) => re.test(line))) {
      inst.log.push(line);
      if (inst.log.length > 200) inst.log.splice(0, inst.log.length - 200);
    }
  };
  let module: EmModule;
  try {
    const factory = loadFactory(build, build === 'simd-threaded' ? workerClass(pool) : undefined);
    module = await Promise.race([
      factory({
        wasmBinary: fs.readFileSync(js.replace(/\.js$/, '.wasm')),
        // where the threaded build's workers find the worker script and the factory script
        mainScriptUrlOrBlob: js,
        locateFile: (f: string) => path.join(dir, f),
        print: record,
        printErr: record,
        onAbort: (what: unknown) => markDead(`the runtime aborted${what ? `: ${String(what)}` : ''}`),
      }),
      startupFailed,
    ]);
  } catch (e) {
    for (const w of pool.workers) void w.terminate();
    throw new TailorError('TFLITE_RUNTIME', { action: `start its ${build} WebAssembly build`, reason: (e as Error).message });
  }
  pool.ready = true;
  for (const w of pool.workers) w.unref();
  inst = { build, module, log: [], dropped: 0, dead: null, workers: pool.workers, reserved: 0 };
  return inst;
}

function kill(inst: Instance, why: string): void {
  inst.dead = why;
  for (const w of inst.workers) void w.terminate();
}

/**
 * Live instances per build. One 2 GB heap holds a few dozen loaded networks (a network takes
 * about 2.5 times its file size: the flatbuffer, read in place, plus XNNPACK's packed weights),
 * fewer than the table profiler keeps loaded, so runners spread over instances by estimated size;
 * an abort then also takes down only the runners of one instance.
 */
const live = new Map<Build, Instance[]>();
const starting = new Map<Build, Promise<Instance>>();

/** An instance of the build with `bytes` reserved on it: the first with room, else a new one. */
async function reserve(build: Build, bytes: number): Promise<Instance> {
  for (;;) {
    const list = (live.get(build) ?? []).filter((i) => !i.dead);
    live.set(build, list);
    const fit = list.find((i) => i.reserved === 0 || i.reserved + bytes <= HEAP_BUDGET);
    if (fit) {
      fit.reserved += bytes;
      return fit;
    }
    let pending = starting.get(build);
    if (!pending) {
      pending = instantiate(build)
        .then((inst) => (live.get(build)!.push(inst), inst))
        .finally(() => starting.delete(build));
      starting.set(build, pending);
    }
    await pending;
  }
}

/** Gives back a runner's reservation; an instance left empty goes away unless it is the build's last. */
function release(inst: Instance, bytes: number): void {
  inst.reserved -= bytes;
  const list = live.get(inst.build) ?? [];
  if (inst.reserved <= 0 && !inst.dead && list.length > 1) {
    list.splice(list.indexOf(inst), 1);
    kill(inst, 'retired');
  }
}

/** ERROR lines the runtime printed since the last call, deduplicated (TFLite reports each failure twice). */
function takeErrors(inst: Instance): string[] {
  const lines = inst.log.filter((l) => l.startsWith('ERROR: ')).map((l) => l.slice(7).replace(/^third_party\/\S+ /, '').trim());
  inst.log = [];
  return [...new Set(lines)].filter((l) => !l.startsWith('See instructions') && !/Failed to apply the default TensorFlow Lite delegate/.test(l));
}

/* ---------------- model inspection: what the runtime would only say as "Can't initialize model" ---------------- */

const TYPE_BYTES = [4, 2, 4, 1, 8, 0, 1, 2, 8, 1, 8, 16, 8, 0, 0, 4, 2, 1];

export interface ModelFacts {
  operators: number;
  /** Bytes of all non-constant tensors of the main subgraph (an upper bound of the activation memory). */
  activationBytes: number;
  largestActivationBytes: number;
}

/**
 * Bounds-checked walk of the flatbuffer parts the runtime needs first: a truncated or damaged
 * file gets a specific reason instead of the runtime's "Can't initialize model" (or an abort).
 */
export function inspectTfliteModel(bytes: Uint8Array): ModelFacts {
  const bad = (reason: string): never => {
    throw new TailorError('INVALID_MODEL', { backend: 'tflite-wasm', reason });
  };
  if (bytes.length < 8) bad(`not a TFLite model: ${bytes.length} bytes`);
  const id = String.fromCharCode(...bytes.subarray(4, 8));
  if (id !== 'TFL3') bad('not a TFLite model (no "TFL3" file identifier at byte 4)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = (pos: number, size: number, what: string) => {
    if (pos < 0 || pos + size > bytes.length) bad(`truncated or corrupt: ${what} lies beyond the end of the file (${bytes.length} bytes)`);
    return pos;
  };
  const u32 = (pos: number, what: string) => view.getUint32(at(pos, 4, what), true);
  const field = (table: number, index: number, what: string): number => {
    const vtable = table - view.getInt32(at(table, 4, what), true);
    const vlen = view.getUint16(at(vtable, 4, `${what} vtable`), true);
    if (4 + 2 * index + 2 > vlen) return 0;
    const off = view.getUint16(at(vtable + 4 + 2 * index, 2, `${what} vtable`), true);
    return off ? table + off : 0;
  };
  const ref = (pos: number, what: string) => pos + u32(pos, what);
  const vector = (table: number, index: number, what: string): { start: number; length: number } | null => {
    const f = field(table, index, what);
    if (!f) return null;
    const v = ref(f, what);
    return { start: v + 4, length: u32(v, what) };
  };
  const root = u32(0, 'the root table');
  const subgraphs = vector(root, 2, 'the subgraph list');
  if (!subgraphs || subgraphs.length === 0) bad('the model has no subgraph');
  const main = ref(at(subgraphs!.start, 4, 'the subgraph list'), 'subgraph 0');
  const ops = vector(main, 3, 'the operator list');
  const tensors = vector(main, 0, 'the tensor list');
  const buffers = vector(root, 4, 'the buffer list');
  const constant = new Set<number>();
  if (buffers) {
    at(buffers.start, 4 * buffers.length, 'the buffer list');
    for (let b = 0; b < buffers.length; b++) {
      const table = ref(buffers.start + 4 * b, `buffer ${b}`);
      const data = vector(table, 0, `buffer ${b}`);
      if (data) {
        at(data.start, data.length, `the data of buffer ${b}`);
        if (data.length > 0) constant.add(b);
      }
      const offset = field(table, 1, `buffer ${b}`);
      if (offset) {
        // data stored after the flatbuffer (models over 2 GB)
        const start = Number(view.getBigUint64(at(offset, 8, `buffer ${b}`), true));
        const size = field(table, 2, `buffer ${b}`);
        if (start > 1) {
          at(start, size ? Number(view.getBigUint64(at(size, 8, `buffer ${b}`), true)) : 0, `the data of buffer ${b}`);
          constant.add(b);
        }
      }
    }
  }
  let activationBytes = 0;
  let largestActivationBytes = 0;
  if (tensors) {
    at(tensors.start, 4 * tensors.length, 'the tensor list');
    for (let t = 0; t < tensors.length; t++) {
      const table = ref(tensors.start + 4 * t, `tensor ${t}`);
      const bufField = field(table, 2, `tensor ${t}`);
      if (bufField && constant.has(u32(bufField, `tensor ${t}`))) continue;
      const shape = vector(table, 0, `tensor ${t}`);
      const typeField = field(table, 1, `tensor ${t}`);
      let n = TYPE_BYTES[typeField ? bytes[at(typeField, 1, `tensor ${t}`)] : 0] ?? 4;
      if (shape) {
        at(shape.start, 4 * shape.length, `the shape of tensor ${t}`);
        for (let i = 0; i < shape.length; i++) n *= Math.max(view.getInt32(shape.start + 4 * i, true), 1);
      }
      activationBytes += n;
      largestActivationBytes = Math.max(largestActivationBytes, n);
    }
  }
  return { operators: ops?.length ?? 0, activationBytes, largestActivationBytes };
}

/* ---------------- the runner ---------------- */

export interface TensorInfo {
  name: string;
  dataType: string;
  shape: number[];
}

export interface RunnerOptions {
  threads: number;
  /** Profiler on, with room for this many events (the runtime drops events beyond it). */
  profileEntries?: number;
}

const MB = 1 << 20;

/**
 * One TFLite interpreter (TFLiteWebModelRunner) on the wasm heap. It owns the model bytes it
 * was built from (TFLite reads the flatbuffer in place, so they live as long as the runner),
 * and frees both on dispose. Tensor views point into the heap, which moves when it grows:
 * they are taken afresh for every read and write.
 */
export class TfliteRunner {
  private disposed = false;
  private overflowed = false;

  private constructor(
    private readonly inst: Instance,
    private readonly runner: EmRunner,
    private readonly modelPtr: number,
    private readonly reserved: number,
    readonly facts: ModelFacts,
  ) {}

  static async create(model: Uint8Array, options: RunnerOptions): Promise<TfliteRunner> {
    const facts = inspectTfliteModel(model);
    const threads = options.threads;
    if (!Number.isInteger(threads) || threads < 1) throw new TailorError('INVALID_OPTION', { option: 'threads', reason: `${threads} is not a positive integer` });
    // ~100 bytes per profiler entry, allocated up front
    const bytes = 2.5 * model.length + facts.activationBytes + 100 * (options.profileEntries ?? 0) + MB;
    const inst = await reserve(threads > 1 ? 'simd-threaded' : 'simd', bytes);
    const m = inst.module;
    inst.log = [];
    let ptr = 0;
    try {
      ptr = m._malloc(model.length);
      if (!ptr) throw new TailorError('TFLITE_RUNTIME', { action: 'load the model', reason: `no room for ${model.length} bytes on the WebAssembly heap` });
      m.HEAPU8.set(model, ptr);
      const status = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, model.length, {
        numThreads: threads,
        enableProfiling: options.profileEntries !== undefined,
        maxProfilingBufferEntries: options.profileEntries ?? 1,
      });
      try {
        if (!status.ok()) {
          const errors = takeErrors(inst);
          throw new TailorError('INVALID_MODEL', { backend: 'tflite-wasm', reason: errors.length ? errors.join('; ') : status.errorMessage() });
        }
        return new TfliteRunner(inst, status.value(), ptr, bytes, facts);
      } finally {
        status.delete();
      }
    } catch (e) {
      if (inst.dead) throw abortError(inst, 'load the model', facts);
      if (ptr) m._free(ptr);
      release(inst, bytes);
      throw e;
    }
  }

  /** Runs `fn` on the module; an abort kills the instance, never the process. */
  private guard<T>(action: string, fn: () => T): T {
    if (this.disposed) throw new TailorError('TFLITE_RUNTIME', { action, reason: 'the model was already disposed' });
    if (this.inst.dead) throw new TailorError('TFLITE_RUNTIME', { action, reason: `${this.inst.dead}; load the model again` });
    try {
      return fn();
    } catch (e) {
      if (this.inst.dead) throw abortError(this.inst, action, this.facts);
      throw e;
    }
  }

  private tensors(which: 'inputs' | 'outputs'): EmTensorInfo[] {
    const v = which === 'inputs' ? this.runner.GetInputs() : this.runner.GetOutputs();
    try {
      return Array.from({ length: v.size() }, (_, i) => v.get(i));
    } finally {
      v.delete();
    }
  }

  private describe(which: 'inputs' | 'outputs'): TensorInfo[] {
    return this.guard(`read the model's ${which}`, () =>
      this.tensors(which).map((t) => {
        const info = { name: t.name, dataType: t.dataType, shape: t.shape ? t.shape.split(',').map(Number) : [] };
        t.delete();
        return info;
      }),
    );
  }

  inputs(): TensorInfo[] {
    return this.describe('inputs');
  }

  outputs(): TensorInfo[] {
    return this.describe('outputs');
  }

  /** Writes input `index` (its element count must match; float32 inputs only, like Tailor's models). */
  setInput(index: number, data: ArrayLike<number>): void {
    this.guard('set the model input', () => {
      const ts = this.tensors('inputs');
      try {
        const t = ts[index];
        if (!t) throw new TailorError('TFLITE_RUNTIME', { action: 'set the model input', reason: `the model has ${ts.length} input(s), not ${index + 1}` });
        if (t.dataType !== 'float32') throw new TailorError('INVALID_MODEL', { backend: 'tflite-wasm', reason: `input ${t.name} is ${t.dataType}, not float32` });
        const view = t.data() as Float32Array;
        if (view.length !== data.length) throw new TailorError('TFLITE_RUNTIME', { action: 'set the model input', reason: `input ${t.name} [${t.shape}] has ${view.length} values, got ${data.length}` });
        view.set(data);
      } finally {
        for (const t of ts) t.delete();
      }
    });
  }

  infer(): void {
    this.guard('run the model', () => {
      const dropped = this.inst.dropped;
      const ok = this.runner.Infer();
      if (this.inst.dropped > dropped) this.overflowed = true;
      if (!ok) {
        const errors = takeErrors(this.inst);
        throw new TailorError('TFLITE_RUNTIME', { action: 'run the model', reason: errors.join('; ') || 'Infer() failed' });
      }
    });
  }

  /** Copies of every output, as float32 (other types converted). */
  readOutputs(): Float32Array[] {
    return this.guard('read the model outputs', () => {
      const ts = this.tensors('outputs');
      try {
        return ts.map((t) => Float32Array.from(t.data()));
      } finally {
        for (const t of ts) t.delete();
      }
    });
  }

  /** The runtime's profiling summary: cumulative over every summary taken so far (see parser.ts). */
  profilingSummary(): string {
    return this.guard('read the profile', () => this.runner.GetProfilingSummary());
  }

  /** Whether the profiler dropped events of this runner (its buffer was full). */
  profileOverflowed(): boolean {
    return this.overflowed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // A dead instance's memory is garbage as a whole; nothing to free in it.
    if (this.inst.dead) return;
    try {
      this.runner.delete();
      this.inst.module._free(this.modelPtr);
    } catch {
      // an abort during teardown has already marked the instance dead
    }
    release(this.inst, this.reserved);
  }
}

function abortError(inst: Instance, action: string, facts: ModelFacts): TailorError {
  const heapMb = Math.round(inst.module.HEAPU8.length / MB);
  const activationMb = Math.round(facts.activationBytes / MB);
  const errors = takeErrors(inst);
  // abort() carries no message when malloc fails; big heaps or big models make that the likely cause
  const memory = heapMb > HEAP_MAX_MB / 2 || activationMb > HEAP_MAX_MB / 4
    ? ` (most likely out of memory: the model's activation tensors total ${activationMb} MB, the largest ${Math.round(facts.largestActivationBytes / MB)} MB, and the WebAssembly heap, at ${heapMb} MB, can grow to ${HEAP_MAX_MB} MB at most)`
    : '';
  return new TailorError('TFLITE_RUNTIME', { action, reason: `${inst.dead}${memory}${errors.length ? `; ${errors.join('; ')}` : ''}` });
}

/** Deterministic, non-trivial input values: timing must not depend on the data. */
export function fillDeterministicInputs(runner: TfliteRunner): void {
  runner.inputs().forEach((t, i) => {
    const size = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let j = 0; j < size; j++) data[j] = ((j * 2654435761) % 1000) / 1000 - 0.5;
    runner.setInput(i, data);
  });
}

/** Runs a model once on the given float32 inputs (in the model's input order) and returns copies of its outputs. */
export async function runTflite(model: Uint8Array, inputs: Float32Array[], threads = 1): Promise<Float32Array[]> {
  const runner = await TfliteRunner.create(model, { threads });
  try {
    const n = runner.inputs().length;
    if (inputs.length !== n) throw new TailorError('TFLITE_RUNTIME', { action: 'run the model', reason: `the model has ${n} input(s), got ${inputs.length}` });
    inputs.forEach((x, i) => runner.setInput(i, x));
    runner.infer();
    return runner.readOutputs();
  } finally {
    runner.dispose();
  }
}
