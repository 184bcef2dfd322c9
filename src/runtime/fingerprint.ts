import { createHash } from 'node:crypto';

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
