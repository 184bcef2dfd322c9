import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { TailorError } from '../core/errors';
import { writeFileAtomic } from '../core/fs-atomic';
import { Latency } from '../core/latency';
import { parseKey } from '../core/keys';
import { LatencyTable, TABLE_SCHEMA } from './table';

/**
 * OFA's lookup tables: one YAML file per resolution ("<r>_lookup_table.yaml"), each a map
 * key -> { count, mean, std } in ms. Imported entries keep exactly those three numbers.
 */
export interface OfaTableFile {
  resolution: number;
  entries: Record<string, Latency>;
}

function invalid(file: string, reason: string): never {
  throw new TailorError('INVALID_OFA_TABLE', { file, reason });
}

export function parseOfaYaml(file: string, text: string): OfaTableFile {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    invalid(file, `not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) invalid(file, 'expected a mapping of key -> {count, mean, std}');
  const entries: Record<string, Latency> = {};
  let resolution: number | null = null;
  for (const [key, v] of Object.entries(raw as Record<string, any>)) {
    const parsed = parseKey(key);
    if (!parsed) invalid(file, `"${key}" is not an OFA lookup-table key`);
    for (const f of ['count', 'mean', 'std']) {
      if (typeof v?.[f] !== 'number' || !Number.isFinite(v[f]) || v[f] < 0) invalid(file, `${key}: "${f}" must be a non-negative number`);
    }
    if (parsed.op === 'Conv') resolution = parsed.input[0];
    entries[key] = { count: v.count, mean: v.mean, std: v.std, p50: null, p90: null, min: null };
  }
  const fromName = /^(\d+)_lookup_table\.ya?ml$/.exec(path.basename(file));
  resolution = fromName ? Number(fromName[1]) : resolution;
  if (resolution === null) invalid(file, 'cannot tell its resolution (no "<r>_lookup_table.yaml" name and no first Conv entry)');
  return { resolution, entries };
}

export function readOfaYaml(file: string): OfaTableFile {
  if (!fs.existsSync(file)) invalid(file, 'file not found');
  return parseOfaYaml(file, fs.readFileSync(file, 'utf8'));
}

/** Builds (or extends) a table-only table from OFA files; later files win on the same resolution. */
export function tableFromOfa(device: string, space: string, files: OfaTableFile[], base: LatencyTable | null, sources: string[]): LatencyTable {
  const now = new Date().toISOString();
  const table: LatencyTable = base ?? {
    schema: TABLE_SCHEMA,
    device: { id: device, fingerprint: null },
    backend: { name: 'imported', version: 'OFA lookup table', threads: 0 },
    space,
    created: now,
    updated: now,
    method: { name: 'ofa-import', statistic: 'mean', sources },
    resolutions: [],
    overheadMs: {},
    entries: {},
  };
  for (const f of files) {
    table.entries[String(f.resolution)] = f.entries;
    if (!table.resolutions.includes(f.resolution)) table.resolutions.push(f.resolution);
  }
  table.resolutions.sort((a, b) => a - b);
  table.updated = now;
  return table;
}

export function ofaYamlText(entries: Record<string, Latency>): string {
  const out: Record<string, { count: number; mean: number; std: number }> = {};
  for (const [key, l] of Object.entries(entries)) out[key] = { count: l.count, mean: l.mean, std: l.std };
  return stringify(out, { lineWidth: 0 });
}

/** Writes one "<r>_lookup_table.yaml" per resolution; returns the files written. */
export function exportOfa(table: LatencyTable, outDir: string): string[] {
  return table.resolutions.map((r) => {
    const file = path.join(outDir, `${r}_lookup_table.yaml`);
    writeFileAtomic(file, ofaYamlText(table.entries[String(r)]));
    return file;
  });
}
