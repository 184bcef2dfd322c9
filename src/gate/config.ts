import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lilconfigSync } from 'lilconfig';
import { parseInputShapes } from '../analysis/analyze';
import { TailorError } from '../core/errors';
import { DeviceDescriptor, TABLE_ONLY } from '../runtime/devices';
import { ModelRef } from './model';
import { Parsed, parseCount, parseDuration, parseSize } from './units';

/** A limit as a number (bytes, count, ms) and as the user wrote it ("5 MB"), for reports. */
export interface Limit {
  value: number;
  text: string;
}

export interface Limits {
  size?: Limit;
  params?: Limit;
  macs?: Limit;
  /** Per device id. */
  latency?: Record<string, Limit>;
}

export interface Budget {
  name: string;
  model: ModelRef;
  inputShapes?: Record<string, number[]>;
  /** Analyse past ops the analysis does not know (a partial analysis); refused by default (UNKNOWN_OP). */
  allowUnknownOps?: boolean;
  limits: Limits;
  /** Also run the model on each latency device and gate on the measured figure. */
  measure: boolean;
  /**
   * Refuse latency predicted from a table or regressors measured on other hardware or runtime
   * (instead of a warning): set by the config's top-level "strict" (stale tables are a property of
   * the machine, not of a model, so there is no per-budget field).
   */
  strict?: boolean;
}

/** The config file the gate read, and how it was found. */
export interface FoundConfig {
  file: string;
  found: '--config' | 'tailor.budgets.json' | 'package.json';
  raw: unknown;
}

export const CONFIG_FILE = 'tailor.budgets.json';
export const PACKAGE_KEY = 'tailor';

function jsonLoader(file: string, content: string): unknown {
  try {
    return JSON.parse(content);
  } catch (e) {
    throw new TailorError('INVALID_GATE_CONFIG', { source: file, reason: `not valid JSON (${(e as Error).message})` });
  }
}

/**
 * Where the upward search stops: the home directory when the start is inside it, else the
 * filesystem root; lilconfig's default, made explicit so the not-found message can name it.
 */
function configStopDir(cwd: string): string {
  const home = path.resolve(os.homedir());
  const rel = path.relative(home, cwd);
  const inside = rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
  return inside ? home : path.parse(cwd).root;
}

/**
 * Finds the budgets the way size-limit finds its config (lilconfig): `--config F` when given, else
 * from the current directory upward (to the home directory or the root), in each directory
 * `tailor.budgets.json`, else the "tailor" key of its package.json (one without the key is skipped),
 * so `tailor gate` works from any sub-directory of a project, as size-limit does.
 */
export function findGateConfig(opts: { config?: string; cwd?: string }): FoundConfig {
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  if (opts.config !== undefined) {
    const file = path.resolve(cwd, opts.config);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new TailorError('INVALID_GATE_CONFIG', { source: file, reason: err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message });
    }
    const raw = jsonLoader(file, text);
    if (path.basename(file) === 'package.json') {
      const value = (raw as Record<string, unknown> | null)?.[PACKAGE_KEY];
      if (value === undefined) throw new TailorError('INVALID_GATE_CONFIG', { source: file, reason: `it has no "${PACKAGE_KEY}" key` });
      return { file, found: '--config', raw: value };
    }
    return { file, found: '--config', raw };
  }
  const stopDir = configStopDir(cwd);
  const result = lilconfigSync(PACKAGE_KEY, {
    searchPlaces: [CONFIG_FILE, 'package.json'],
    packageProp: PACKAGE_KEY,
    stopDir,
    cache: false,
    ignoreEmptySearchPlaces: false,
    loaders: { '.json': jsonLoader },
  }).search(cwd);
  if (!result) throw new TailorError('GATE_CONFIG_NOT_FOUND', { dir: cwd, stop: stopDir });
  if (result.isEmpty) throw new TailorError('INVALID_GATE_CONFIG', { source: result.filepath, reason: 'the file is empty' });
  return { file: result.filepath, found: path.basename(result.filepath) === 'package.json' ? 'package.json' : CONFIG_FILE, raw: result.config };
}

export interface ParseContext {
  /** Named in messages: the config file, or "(request)" over HTTP. */
  source: string;
  devices: { get(id: string): DeviceDescriptor; list(): DeviceDescriptor[] };
  /** Turns a budget's "model" into a model reference; throws with `where` in the message when it is unusable. */
  resolveModel(model: string, where: string): ModelRef;
}

const BUDGET_FIELDS = ['name', 'model', 'inputShape', 'limits', 'measure', 'allowUnknownOps'];
const LIMIT_FIELDS = ['size', 'params', 'macs', 'latency'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Model paths in a config file are relative to the file's directory. */
export function fileModelResolver(baseDir: string, source: string): ParseContext['resolveModel'] {
  return (model, where) => {
    const file = path.resolve(baseDir, model);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) throw new TailorError('INVALID_GATE_CONFIG', { source, reason: `${where}.model: model file "${model}" not found (looked for ${file})` });
    if (!stat.isFile()) throw new TailorError('INVALID_GATE_CONFIG', { source, reason: `${where}.model: "${model}" is not a file (${file})` });
    return { display: model, file };
  };
}

export function parseGateConfig(raw: unknown, ctx: ParseContext): Budget[] {
  const fail = (reason: string): never => {
    throw new TailorError('INVALID_GATE_CONFIG', { source: ctx.source, reason });
  };
  if (!isObject(raw)) fail('expected an object { "budgets": [ ... ] }');
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) if (key !== 'budgets' && key !== 'strict') fail(`unknown field "${key}" (expected { "budgets": [ ... ], "strict"? })`);
  if (obj.strict !== undefined && typeof obj.strict !== 'boolean') fail('"strict" must be true or false');
  if (!Array.isArray(obj.budgets)) fail('"budgets" must be an array of { name, model, inputShape?, limits, measure?, allowUnknownOps? }');
  const list = obj.budgets as unknown[];
  if (!list.length) fail('"budgets" is empty');
  // A top-level "strict" holds for every budget.
  const budgets = list.map((b, i) => parseBudget(b, `budgets[${i}]`, ctx)).map((b) => (obj.strict === true ? { ...b, strict: true } : b));
  const seen = new Set<string>();
  budgets.forEach((b, i) => {
    if (seen.has(b.name)) fail(`budgets[${i}].name: "${b.name}" is used by an earlier budget; names must be unique (reports and baselines match budgets by name)`);
    seen.add(b.name);
  });
  return budgets;
}

/** One budget entry, validated field by field; every message names the field. */
export function parseBudget(raw: unknown, at: string, ctx: ParseContext): Budget {
  let where = at;
  const fail = (field: string, reason: string): never => {
    throw new TailorError('INVALID_GATE_CONFIG', { source: ctx.source, reason: `${where}${field ? `.${field}` : ''}: ${reason}` });
  };
  if (!isObject(raw)) fail('', 'expected an object { name, model, inputShape?, limits, measure?, allowUnknownOps? }');
  const b = raw as Record<string, unknown>;
  if (typeof b.name === 'string' && b.name.trim()) where = `${at} ("${b.name.trim()}")`;
  for (const key of Object.keys(b)) if (!BUDGET_FIELDS.includes(key)) fail(key, `unknown field (known: ${BUDGET_FIELDS.join(', ')})`);
  if (typeof b.name !== 'string' || !b.name.trim()) fail('name', 'must be a non-empty string');
  const name = (b.name as string).trim();
  if (typeof b.model !== 'string' || !b.model.trim()) fail('model', 'must be the path of an ONNX model');
  if (b.measure !== undefined && typeof b.measure !== 'boolean') fail('measure', 'must be true or false');
  const measure = b.measure === true;
  if (b.allowUnknownOps !== undefined && typeof b.allowUnknownOps !== 'boolean') fail('allowUnknownOps', 'must be true or false');

  let inputShapes: Record<string, number[]> | undefined;
  if (b.inputShape !== undefined) inputShapes = parseInputShapeField(b.inputShape, (reason) => fail('inputShape', reason));

  if (!isObject(b.limits)) fail('limits', 'must be an object { size?, params?, macs?, latency?: { "<device>": "15 ms" } }');
  const l = b.limits as Record<string, unknown>;
  for (const key of Object.keys(l)) if (!LIMIT_FIELDS.includes(key)) fail(`limits.${key}`, `unknown field (known: ${LIMIT_FIELDS.join(', ')})`);
  const limit = (field: string, v: unknown, parse: (v: unknown) => Parsed): Limit | undefined => {
    if (v === undefined) return undefined;
    const p = parse(v);
    if (!p.ok) return fail(`limits.${field}`, p.reason);
    return { value: p.value, text: typeof v === 'number' ? String(v) : (v as string).trim() };
  };
  const limits: Limits = {
    size: limit('size', l.size, parseSize),
    params: limit('params', l.params, parseCount),
    macs: limit('macs', l.macs, parseCount),
  };
  if (l.latency !== undefined) {
    if (!isObject(l.latency) || !Object.keys(l.latency).length) fail('limits.latency', 'must be an object { "<device id>": "15 ms", ... } with at least one device');
    limits.latency = {};
    for (const [device, v] of Object.entries(l.latency as Record<string, unknown>)) {
      let d: DeviceDescriptor;
      try {
        d = ctx.devices.get(device);
      } catch (e) {
        if (e instanceof TailorError && (e.code === 'UNKNOWN_DEVICE' || e.code === 'INVALID_OPTION'))
          return fail('limits.latency', `unknown device "${device}" (known devices: ${ctx.devices.list().map((x) => x.id).join(', ') || 'none'})`);
        throw e;
      }
      if (measure && d.backend === TABLE_ONLY) fail('measure', `device "${device}" is a table-only device (no hardware attached): it can predict, but not measure`);
      limits.latency[device] = limit(`latency.${device}`, v, parseDuration)!;
    }
  }
  for (const k of Object.keys(limits) as (keyof Limits)[]) if (limits[k] === undefined) delete limits[k];
  if (!Object.keys(limits).length) fail('limits', `is empty: give at least one of ${LIMIT_FIELDS.join(', ')}`);
  if (measure && !limits.latency) fail('measure', 'true needs a latency limit (the devices to measure on)');

  const model = ctx.resolveModel((b.model as string).trim(), where);
  return { name, model, ...(inputShapes ? { inputShapes } : {}), ...(b.allowUnknownOps === true ? { allowUnknownOps: true } : {}), limits, measure };
}

/** "input:1x3x224x224", a list of those, or { "input": [1, 3, 224, 224] } / { "input": "1x3x224x224" }. */
function parseInputShapeField(v: unknown, fail: (reason: string) => never): Record<string, number[]> {
  let specs: string[];
  if (typeof v === 'string') specs = [v];
  else if (Array.isArray(v) && v.every((s) => typeof s === 'string')) specs = v as string[];
  else if (isObject(v)) {
    specs = Object.entries(v).map(([name, dims]) => {
      if (typeof dims === 'string') return `${name}:${dims}`;
      if (Array.isArray(dims) && dims.every((d) => typeof d === 'number')) return `${name}:${dims.join('x')}`;
      return fail(`input "${name}": expected dims such as [1, 3, 224, 224] or "1x3x224x224"`);
    });
  } else return fail('expected "name:1x3x224x224", a list of those, or { "name": [1, 3, 224, 224] }');
  try {
    return parseInputShapes(specs);
  } catch (e) {
    if (e instanceof TailorError) return fail(e.params.value !== undefined ? `"${e.params.value}": ${e.params.reason}` : e.message);
    throw e;
  }
}
