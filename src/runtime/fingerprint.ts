import { createHash } from 'node:crypto';
import type { Workspace } from '../core/workspace';

/** What a table was measured on. `hash` covers the fields that change latency. */
export interface Fingerprint {
  hash: string;
  cpu: string;
  cores: number;
  physicalCores: number;
  flags: string[];
  memoryGb: number;
  os: string;
  arch: string;
  runtime: string;
}

/** CPU flags that change which kernels a runtime picks. */
const RELEVANT_FLAGS = ['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512_vnni', 'avx_vnni', 'amx_tile', 'neon', 'asimd', 'sve'];

export function fingerprintHash(f: Omit<Fingerprint, 'hash'>): string {
  const basis = JSON.stringify([f.cpu, f.cores, f.physicalCores, f.flags, f.memoryGb, f.arch, f.runtime]);
  return createHash('sha256').update(basis).digest('hex').slice(0, 16);
}

/** Reads the local machine with systeminformation (loaded on demand: it is only needed here). */
export async function localFingerprint(runtime: string): Promise<Fingerprint> {
  const si = (await import('systeminformation')).default;
  const [cpu, flags, mem, osInfo] = await Promise.all([si.cpu(), si.cpuFlags(), si.mem(), si.osInfo()]);
  const flagSet = new Set(flags.split(/\s+/));
  const base = {
    cpu: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    cores: cpu.cores,
    physicalCores: cpu.physicalCores,
    flags: RELEVANT_FLAGS.filter((f) => flagSet.has(f)),
    memoryGb: Math.round(mem.total / 2 ** 30),
    os: `${osInfo.distro} ${osInfo.release} (${osInfo.platform} ${osInfo.kernel})`,
    arch: osInfo.arch,
    runtime,
  };
  return { hash: fingerprintHash(base), ...base };
}

export function describeFingerprint(f: Pick<Fingerprint, 'cpu' | 'cores' | 'runtime' | 'hash'>): string {
  return `${f.cpu}, ${f.cores} cores, ${f.runtime} [${f.hash}]`;
}

/** The fields a measurement depends on; the others (flags, memory, OS) are informational. */
export type ComparedFingerprint = Pick<Fingerprint, 'cpu' | 'cores' | 'runtime'>;

export interface FingerprintChange {
  field: 'cpu' | 'cores' | 'runtime';
  recorded: string | number;
  current: string | number;
}

const LABELS: Record<FingerprintChange['field'], string> = { cpu: 'CPU model', cores: 'cores', runtime: 'runtime' };

/**
 * What differs between the fingerprint a table (or regressors file) was measured on and the
 * device's live one. Fields, not hashes: a runtime upgrade shows even if a hash left it out, and
 * memory or OS updates do not make a table stale. null: no comparison possible (a table without
 * fingerprint, e.g. imported; or no live fingerprint: a table-only or remote device not reporting).
 */
export function fingerprintChanges(recorded: ComparedFingerprint | null | undefined, live: ComparedFingerprint | null | undefined): FingerprintChange[] | null {
  if (!recorded || !live) return null;
  return (['cpu', 'cores', 'runtime'] as const)
    .filter((f) => recorded[f] !== live[f])
    .map((field) => ({ field, recorded: recorded[field], current: live[field] }));
}

/** `CPU model "A" → now "B"; runtime "onnxruntime-node 1.29.0" → now "onnxruntime-node 1.30.0"`. */
export function describeChanges(changes: FingerprintChange[]): string {
  const show = (v: string | number) => (typeof v === 'string' ? `"${v}"` : String(v));
  return changes.map((c) => `${LABELS[c.field]} ${show(c.recorded)} → now ${show(c.current)}`).join('; ');
}

/** A device's current fingerprint; `reportedAt` (ISO time) when it is what a remote board reported then, not read just now. */
export type LiveFingerprint = Fingerprint & { reportedAt?: string };

/** Live fingerprints of devices that are not this machine (remote boards), by backend name; `ws` holds what boards reported last. */
type RemoteFingerprint = (device: string, options: { threads?: number; [key: string]: unknown }, ws?: Workspace) => Promise<LiveFingerprint | null>;
const remoteFingerprints = new Map<string, RemoteFingerprint>();

export function registerRemoteFingerprint(backend: string, provider: RemoteFingerprint): void {
  remoteFingerprints.set(backend, provider);
}

/** What a remote device reports about itself; null when its backend has no provider or it is not reporting. */
export async function remoteFingerprint(backend: string, device: string, options: { threads?: number; [key: string]: unknown }, ws?: Workspace): Promise<LiveFingerprint | null> {
  return (await remoteFingerprints.get(backend)?.(device, options, ws)) ?? null;
}
