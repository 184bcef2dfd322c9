import * as fs from 'node:fs';
import * as path from 'node:path';
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
}

/** All tables under the workspace, without validating every entry. */
export function listTables(ws: Workspace): TableInfo[] {
  if (!fs.existsSync(ws.tablesDir)) return [];
  const out: TableInfo[] = [];
  for (const device of fs.readdirSync(ws.tablesDir).sort()) {
    const dir = path.join(ws.tablesDir, device);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const t = readTable(path.join(dir, f));
      const entries = Object.values(t.entries).reduce((n, g) => n + Object.keys(g).length, 0);
      out.push({ device, space: t.space, file: path.join(dir, f), resolutions: t.resolutions, entries, method: t.method.name });
    }
  }
  return out;
}
