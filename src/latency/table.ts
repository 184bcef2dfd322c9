import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';
import { ArchConfig } from '../core/arch';
import { TailorError } from '../core/errors';
import { writeJsonAtomic } from '../core/fs-atomic';
import { Latency, median } from '../core/latency';
import { Workspace } from '../core/workspace';
import type { Fingerprint } from '../runtime/fingerprint';

export const TABLE_SCHEMA = 'tailor.latency-table/v1';

/**
 * latency-tables/<device>/<space>.json. Entries are grouped by input resolution because the
 * same key can carry different timings at different resolutions (OFA's per-resolution tables do).
 */
export interface LatencyTable {
  schema: typeof TABLE_SCHEMA;
  device: { id: string; fingerprint: Fingerprint | null };
  backend: { name: string; version: string; threads: number };
  space: string;
  created: string;
  updated: string;
  method: {
    /** in-context: kernels timed inside whole networks; ofa-import: OFA's isolated-block tables. */
    name: 'in-context' | 'ofa-import';
    /** Which statistic of an entry the predictor sums. */
    statistic: 'p50' | 'mean';
    seed?: number;
    [detail: string]: unknown;
  };
  resolutions: number[];
  /** Fixed per-inference cost (session call, input copy) per resolution, added once per prediction. */
  overheadMs: Record<string, Latency>;
  entries: Record<string, Record<string, Latency>>;
  /**
   * Fixed subnets timed in every resolution's measurement window. Their median over the windows
   * is the speed the table was measured at; validation times them again to see drift.
   */
  reference?: { archs: ArchConfig[]; msByResolution: Record<string, number[]> };
}

/** Wall time of each reference subnet at the table's speed: the median over the measurement windows. */
export function referenceBaseline(table: LatencyTable): number[] | null {
  const windows = Object.values(table.reference?.msByResolution ?? {});
  if (!table.reference || windows.length === 0) return null;
  return table.reference.archs.map((_, i) => median(windows.map((w) => w[i])));
}

/**
 * Per resolution, baseline / what the references took in that resolution's window (median over
 * references). Entries are stored as measured; the predictor multiplies them by this, so a
 * resolution measured while the machine ran slow does not predict slow.
 */
export function driftScales(table: LatencyTable): Map<number, number> {
  const baseline = referenceBaseline(table);
  const scales = new Map<number, number>();
  if (!baseline) return scales;
  for (const [r, window] of Object.entries(table.reference!.msByResolution)) {
    scales.set(Number(r), median(window.map((ms, i) => baseline[i] / ms)));
  }
  return scales;
}

/** Number of entries over all resolutions. */
export function countEntries(table: Pick<LatencyTable, 'entries'>): number {
  return Object.values(table.entries).reduce((n, group) => n + Object.keys(group).length, 0);
}

/**
 * One writer per table across processes (CLI runs, service jobs, imports). A killed holder's
 * lock goes stale after 10 s; the retries outlast that, so a job resumed right after a crash
 * still gets the table.
 */
export async function withTableLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, {
      realpath: false, stale: 10_000, update: 2_000, retries: { retries: 8, minTimeout: 500, maxTimeout: 2_000 },
      onCompromised: (e) => process.stderr.write(`warning: lock on ${file} was lost (${e.message})\n`),
    });
  } catch (e) {
    if ((e as { code?: string }).code === 'ELOCKED') throw new TailorError('TABLE_LOCKED', { table: file, holder: 'another process (profile or import)' });
    throw e;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

export function tablePath(ws: Workspace, device: string, space: string): string {
  return path.join(ws.tablesDir, device, `${space}.json`);
}

function checkLatency(file: string, where: string, v: any): void {
  if (typeof v !== 'object' || v === null) throw new TailorError('CORRUPT_TABLE', { file, reason: `${where} is not an object` });
  for (const f of ['count', 'mean', 'std'] as const) {
    if (typeof v[f] !== 'number' || !Number.isFinite(v[f]) || v[f] < 0) {
      throw new TailorError('CORRUPT_TABLE', { file, reason: `${where}.${f} must be a non-negative number` });
    }
  }
  for (const f of ['p50', 'p90', 'min'] as const) {
    if (v[f] !== null && v[f] !== undefined && (typeof v[f] !== 'number' || !Number.isFinite(v[f]))) {
      throw new TailorError('CORRUPT_TABLE', { file, reason: `${where}.${f} must be a number or null` });
    }
  }
}

/** Parses and checks a table; any damage is a CORRUPT_TABLE error naming the file. */
export function parseTable(file: string, text: string): LatencyTable {
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TailorError('CORRUPT_TABLE', { file, reason: `not valid JSON (${(e as Error).message})` });
  }
  if (raw?.schema !== TABLE_SCHEMA) throw new TailorError('CORRUPT_TABLE', { file, reason: `schema is ${JSON.stringify(raw?.schema)}, expected "${TABLE_SCHEMA}"` });
  if (typeof raw.device?.id !== 'string') throw new TailorError('CORRUPT_TABLE', { file, reason: 'device.id is missing' });
  if (typeof raw.space !== 'string') throw new TailorError('CORRUPT_TABLE', { file, reason: 'space is missing' });
  if (!Array.isArray(raw.resolutions) || !raw.resolutions.every(Number.isInteger)) {
    throw new TailorError('CORRUPT_TABLE', { file, reason: 'resolutions must be an array of integers' });
  }
  if (raw.method?.statistic !== 'p50' && raw.method?.statistic !== 'mean') throw new TailorError('CORRUPT_TABLE', { file, reason: 'method.statistic must be "p50" or "mean"' });
  if (typeof raw.backend?.name !== 'string' || !Number.isInteger(raw.backend?.threads)) throw new TailorError('CORRUPT_TABLE', { file, reason: 'backend must be { name, version, threads }' });
  if (raw.reference !== undefined && (!Array.isArray(raw.reference?.archs) || typeof raw.reference?.msByResolution !== 'object' || raw.reference.msByResolution === null)) {
    throw new TailorError('CORRUPT_TABLE', { file, reason: 'reference must be { archs, msByResolution }' });
  }
  if (typeof raw.entries !== 'object' || raw.entries === null) throw new TailorError('CORRUPT_TABLE', { file, reason: 'entries is missing' });
  for (const r of raw.resolutions) {
    const group = raw.entries[String(r)];
    if (typeof group !== 'object' || group === null) throw new TailorError('CORRUPT_TABLE', { file, reason: `no entries for resolution ${r}` });
    for (const [key, v] of Object.entries(group)) checkLatency(file, `entries["${r}"]["${key}"]`, v);
  }
  for (const [r, v] of Object.entries(raw.overheadMs ?? {})) checkLatency(file, `overheadMs["${r}"]`, v);
  return { overheadMs: {}, ...raw };
}

export function readTable(file: string): LatencyTable {
  return parseTable(file, fs.readFileSync(file, 'utf8'));
}

export function loadTable(ws: Workspace, device: string, space: string): LatencyTable {
  const file = tablePath(ws, device, space);
  if (!fs.existsSync(file)) throw new TailorError('TABLE_NOT_FOUND', { device, space, file });
  return readTable(file);
}

export function saveTable(ws: Workspace, table: LatencyTable): string {
  const file = tablePath(ws, table.device.id, table.space);
  writeJsonAtomic(file, { ...table, resolutions: [...table.resolutions].sort((a, b) => a - b) });
  return file;
}

export interface TableInfo {
  device: string;
  space: string;
  file: string;
  resolutions: number[];
  entries: number;
  method: string;
  /** Set when the file cannot be read: the listing goes on, the problem is shown. */
  error?: string;
}

/** All tables under the workspace; a damaged file is listed with its error instead of failing the listing. */
export function listTables(ws: Workspace): TableInfo[] {
  if (!fs.existsSync(ws.tablesDir)) return [];
  const out: TableInfo[] = [];
  for (const device of fs.readdirSync(ws.tablesDir).sort()) {
    const dir = path.join(ws.tablesDir, device);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const file = path.join(dir, f);
      try {
        const t = readTable(file);
        out.push({ device, space: t.space, file, resolutions: t.resolutions, entries: countEntries(t), method: t.method.name });
      } catch (e) {
        out.push({ device, space: f.replace(/\.json$/, ''), file, resolutions: [], entries: 0, method: 'unknown', error: (e as Error).message });
      }
    }
  }
  return out;
}
