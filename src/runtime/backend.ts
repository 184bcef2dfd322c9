import { TailorError } from '../core/errors';
import type { Fingerprint } from './fingerprint';

export type ModelFormat = 'onnx' | 'tflite';

export interface MeasureOptions {
  warmup: number;
  runs: number;
}

/** One executed kernel of one run, in execution order. */
export interface NodeEvent {
  name: string;
  opType: string;
  durMs: number;
}

/** A model loaded on a device, ready to be timed repeatedly. */
export interface LoadedModel {
  /** Wall-clock ms per timed run, after warm-up. */
  measure(options: MeasureOptions): Promise<number[]>;
  dispose(): Promise<void>;
}

/** A model loaded with the runtime's profiler on: `finish` returns the kernel timings of every timed run and closes it. */
export interface ProfiledModel extends LoadedModel {
  finish(): Promise<NodeEvent[][]>;
}

/**
 * A device backend: a profiler that talks to the device, paired with a pure parser of
 * what the device reports (tested offline on recorded output). Registered by name.
 */
export interface DeviceBackend {
  readonly name: string;
  readonly threads: number;
  /** The model format the runtime loads: what profile, validate and measure export for it. */
  readonly modelFormat: ModelFormat;
  /** Measures on other hardware than this machine (a board, a phone): this machine's measurement lock does not apply. */
  readonly remote?: boolean;
  runtimeVersion(): string;
  /**
   * The fingerprint of the hardware this backend measures on, read from the device itself, for
   * devices other than this machine (a board's agent, a phone); throws a specific error when the
   * device cannot be read. Absent: the device's fingerprint (this machine's) holds.
   */
  fingerprint?(): Promise<Fingerprint>;
  load(model: Uint8Array): Promise<LoadedModel>;
  loadProfiled(model: Uint8Array): Promise<ProfiledModel>;
  /**
   * The graph the runtime actually executes after its own optimizations (fusions, layout
   * transforms), as a serialized model; for runtimes that can show it (onnxruntime can).
   * Used to check and attribute kernel profiles, never to time anything.
   */
  optimizedModel?(model: Uint8Array): Promise<Uint8Array>;
}

export interface BackendOptions {
  threads?: number;
  [key: string]: unknown;
}

export interface BackendRegistration {
  /** Runs on this machine (its fingerprint is this machine's). */
  local: boolean;
  /** Cheap to call: must not load the runtime itself. */
  runtimeVersion(options: BackendOptions): string;
  create(options: BackendOptions): Promise<DeviceBackend>;
}

const BACKENDS = new Map<string, BackendRegistration>();

export function registerBackend(name: string, registration: BackendRegistration): void {
  BACKENDS.set(name, registration);
}

export function knownBackends(): string[] {
  return [...BACKENDS.keys()];
}

export function backendRegistration(device: string, name: string): BackendRegistration {
  const r = BACKENDS.get(name);
  if (!r) throw new TailorError('UNKNOWN_BACKEND', { device, backend: name, known: knownBackends().join(', ') });
  return r;
}
