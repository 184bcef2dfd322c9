import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { Budgets } from '../search/problem';

/** One deployment target: devices with latency budgets, plus optional size limits. */
export interface Target {
  name: string;
  devices: Record<string, { latencyMs: number }>;
  maxParams?: number;
  maxMacs?: number;
  maxSizeBytes?: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function fail(file: string, reason: string): never {
  throw new TailorError('INVALID_TARGETS', { file, reason });
}

function positive(file: string, where: string, v: unknown, optional: boolean): number | undefined {
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(file, `${where} must be a positive number (got ${JSON.stringify(v)})`);
  return v;
}

/** `{ "targets": [ { "name", "devices": { "<id>": { "latencyMs": n } }, "maxParams"?, "maxMacs"?, "maxSizeBytes"? } ] }`, checked field by field. */
export function parseTargets(file: string, text: string): Target[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    fail(file, `not JSON (${(e as Error).message})`);
  }
  const list = (raw as { targets?: unknown })?.targets;
  if (!Array.isArray(list) || list.length === 0) fail(file, 'expected { "targets": [ ... ] } with at least one target');
  const names = new Set<string>();
  return list.map((t: unknown, i: number) => {
    const where = `targets[${i}]`;
    if (!t || typeof t !== 'object') fail(file, `${where} must be an object`);
    const o = t as Record<string, unknown>;
    const known = ['name', 'devices', 'maxParams', 'maxMacs', 'maxSizeBytes'];
    const unknown = Object.keys(o).filter((k) => !known.includes(k));
    if (unknown.length) fail(file, `${where} has unknown field(s) ${unknown.join(', ')} (known: ${known.join(', ')})`);
    if (typeof o.name !== 'string' || !NAME.test(o.name)) fail(file, `${where}.name must be a folder-safe name (letters, digits, . _ -)`);
    if (names.has(o.name)) fail(file, `target name "${o.name}" is used twice`);
    names.add(o.name);
    const devices = o.devices as Record<string, unknown> | undefined;
    if (!devices || typeof devices !== 'object' || Array.isArray(devices) || Object.keys(devices).length === 0) fail(file, `${where}.devices must map at least one device id to { "latencyMs": n }`);
    const parsed: Target['devices'] = {};
    for (const [id, budget] of Object.entries(devices)) {
      parsed[id] = { latencyMs: positive(file, `${where}.devices.${id}.latencyMs`, (budget as { latencyMs?: unknown })?.latencyMs, false)! };
    }
    return {
      name: o.name, devices: parsed,
      maxParams: positive(file, `${where}.maxParams`, o.maxParams, true),
      maxMacs: positive(file, `${where}.maxMacs`, o.maxMacs, true),
      maxSizeBytes: positive(file, `${where}.maxSizeBytes`, o.maxSizeBytes, true),
    };
  });
}

export function readTargets(file: string): Target[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new TailorError('INVALID_TARGETS', { file, reason: `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
  }
  return parseTargets(file, text);
}

export function targetBudgets(t: Target): Budgets {
  return {
    latencyMs: Object.fromEntries(Object.entries(t.devices).map(([id, b]) => [id, b.latencyMs])),
    maxParams: t.maxParams, maxMacs: t.maxMacs, maxSizeBytes: t.maxSizeBytes,
  };
}
