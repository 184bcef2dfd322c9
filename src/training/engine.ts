import * as os from 'node:os';
import * as path from 'node:path';
import { Worker as NodeWorker } from 'node:worker_threads';
import type * as TF from '@tensorflow/tfjs';
import { TailorError } from '../core/errors';
import { registerWasmGradients } from './gradients';

export type EngineBackend = 'tensorflow' | 'wasm' | 'cpu';

export interface Engine {
  tf: typeof TF;
  backend: EngineBackend;
  /** Why this backend: shown in logs and stored in run metadata. */
  note: string;
  /** Threads the backend's kernels run on (XNNPACK's pool for wasm; 1 for cpu). */
  threads: number;
}

/** Threads for the wasm engine: TAILOR_THREADS, else every core up to XNNPACK's pool of 8. */
export function defaultThreads(): number {
  const fromEnv = Number(process.env.TAILOR_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return Math.min(fromEnv, 8);
  return Math.max(1, Math.min(os.availableParallelism(), 8));
}

/**
 * tfjs ships a threaded SIMD wasm build but turns it off in Node (tfjs issue 3830): its pthread
 * workers are started from blob: URLs, which worker_threads refuses, and it sizes the pool at half
 * the logical cores. This starts the same workers from the package's own worker script, hands them
 * the glue file instead of a blob, and reports enough cores for the pool we ask for (the glue
 * preloads 8 workers, XNNPACK's most; `threads` of them run). Workers are unref'd once ready: an
 * idle pool must not keep the process alive. Returns the threads XNNPACK really runs on, or 0 when
 * the threaded build did not start (its workers terminated, the flag reset for a plain start).
 */
async function initThreadedWasm(tf: typeof TF, threads: number): Promise<number> {
  const wasmPackage = require('@tensorflow/tfjs-backend-wasm') as { setThreadsCount(n: number): void; getThreadsCount(): number };
  const outDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  const workerSource = (require(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string })
    .wasmWorkerContents.replace(/\n/g, '\\n'); // as tfjs escapes it for its blob
  const glue = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  const workers: NodeWorker[] = [];
  class PthreadWorker extends NodeWorker {
    constructor(_blobUrl: string, options?: object) {
      super(workerSource, { ...options, eval: true });
      workers.push(this);
    }
    override postMessage(message: unknown, transfer?: readonly unknown[]): void {
      const m = message as { cmd?: string; urlOrBlob?: unknown };
      super.postMessage(m?.cmd === 'load' && typeof m.urlOrBlob !== 'string' ? { ...m, urlOrBlob: glue } : message, transfer as never);
    }
  }
  // emscripten assigns globalThis.Worker = worker_threads.Worker while it starts; ours must win.
  const previous = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  Object.defineProperty(globalThis, 'Worker', { get: () => PthreadWorker, set: () => undefined, configurable: true });
  // The module object itself (the namespace import is read-only), which is what tfjs's glue reads.
  const osModule = require('node:os') as { cpus: () => os.CpuInfo[] };
  const cpus = osModule.cpus;
  const realCpus = cpus();
  osModule.cpus = () => Array.from({ length: 2 * threads }, (_, i) => realCpus[i % realCpus.length]);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasmPackage.setThreadsCount(threads);
  let started = false;
  try {
    started = await tf.setBackend('wasm');
  } catch {
    started = false;
  } finally {
    osModule.cpus = cpus;
    if (previous) Object.defineProperty(globalThis, 'Worker', previous);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
  if (!started) {
    for (const w of workers) void w.terminate();
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return 0;
  }
  for (const w of workers) w.unref();
  return wasmPackage.getThreadsCount();
}

function hasTfjsNode(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

let current: Engine | null = null;
/** Threads asked for by the process before the engine starts (see oneThreadForLatency). */
let requestedThreads: number | undefined;

/**
 * For a process that also times latency (search --measure, quickstart): the wasm engine then runs
 * on one thread. XNNPACK's idle pthreads spin-wait between ops, which keeps the cores busy and
 * skews onnxruntime's timings in the same process (measured: quickstart's subnets ran 17-20%
 * faster than their table predicted with two engine threads; within 10% on one). Call before the
 * engine starts; false if it already runs on more threads.
 */
export function oneThreadForLatency(): boolean {
  if (wasmThreads !== null) return wasmThreads === 1;
  requestedThreads = 1;
  return true;
}
/** The wasm backend's thread count once it has been initialized (it cannot change afterwards). */
let wasmThreads: number | null = null;

/**
 * Loads TensorFlow.js and picks a backend: tfjs-node (libtensorflow) when it is installed,
 * otherwise the wasm backend (XNNPACK) with our gradient kernels; `cpu` on request (slow, the
 * reference for gradient checks). Loaded on demand: only training commands pay for it.
 */
export async function initEngine(requested?: EngineBackend): Promise<Engine> {
  if (current && (!requested || requested === current.backend)) return current;
  const tf = require('@tensorflow/tfjs') as typeof TF;
  let backend: EngineBackend = requested ?? (hasTfjsNode() ? 'tensorflow' : 'wasm');
  let note = requested ? 'requested' : backend === 'tensorflow' ? '@tensorflow/tfjs-node is installed' : 'default (tfjs-node not installed)';
  if (backend === 'tensorflow') {
    if (!hasTfjsNode()) throw new TailorError('INVALID_OPTION', { option: '--engine', reason: '"tensorflow" needs @tensorflow/tfjs-node, which is not installed' });
    require('@tensorflow/tfjs-node');
  } else {
    // tfjs-node has native gradient kernels; wasm lacks some, and cpu shares the configs so results agree.
    registerWasmGradients(tf);
  }
  let threads = 1;
  let ready: boolean;
  if (backend === 'wasm') {
    require('@tensorflow/tfjs-backend-wasm');
    threads = wasmThreads ?? requestedThreads ?? defaultThreads();
    // Once initialized (threaded or not), the wasm backend instance is reused by later calls.
    const running = threads > 1 && wasmThreads === null ? await initThreadedWasm(tf, threads) : 0;
    if (threads > 1 && wasmThreads === null && running === 0) note += '; the threaded build did not start, one thread';
    ready = running > 0 || (await tf.setBackend('wasm'));
    if (wasmThreads === null) wasmThreads = running || 1;
    threads = wasmThreads;
  } else {
    ready = await tf.setBackend(backend);
  }
  if (!ready) {
    if (requested) throw new TailorError('INVALID_OPTION', { option: '--engine', reason: `the TensorFlow.js backend "${backend}" failed to initialize` });
    backend = 'cpu';
    threads = 1;
    note = 'fallback: the wasm backend failed to initialize';
    await tf.setBackend('cpu');
  }
  await tf.ready();
  current = { tf, backend, note, threads };
  return current;
}
