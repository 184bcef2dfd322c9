import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { writeJsonAtomic } from '../core/fs-atomic';
import { MEASUREMENTS_FILE } from '../accuracy/measurements';
import { PREDICTOR_FILE, type PredictorFile } from '../accuracy/predictor';
import type { ParetoFile } from '../specialize/specialize';
import { readCheckpointMeta } from './checkpoint';
import { CHECKPOINT_FILE, LOG_FILE, RUN_FILE, type EpochLog } from './trainer';

/**
 * The service's supernet runs, as folders: `<home>/runs/<run>` (run.json, checkpoint.tlr,
 * log.jsonl, acc-measurements.jsonl, acc-predictor.json) and its searches under
 * `<run>/searches/<search>/<target>/` (pareto.json, pareto.svg, pareto.png, subnet-NN.onnx).
 * Run, search and target ids are folder-safe names; nothing here reaches outside `<home>/runs`.
 */

/** Folder-safe: letters, digits, `.`, `_`, `-`, not starting with a dot (as target names). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SEARCHES_DIR = 'searches';
/** What the service asked a search for, beside its targets' folders (a dot file: never a target name). */
export const SEARCH_REQUEST_FILE = '.search.json';
const PLOTS = ['pareto.json', 'pareto.svg', 'pareto.png'];

export const CONTENT_TYPES: Record<string, string> = {
  '.onnx': 'application/octet-stream',
  '.tflite': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

export function checkId(kind: 'run' | 'search' | 'target' | 'file', id: unknown): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new TailorError('INVALID_OPTION', { option: kind, reason: `${JSON.stringify(id)} is not a folder-safe name (letters, digits, . _ -, at most 64, not starting with . _ or -)` });
  }
  return id;
}

export function runsRoot(home: string): string {
  return path.join(home, 'runs');
}

export function runDir(home: string, run: string): string {
  return path.join(runsRoot(home), checkId('run', run));
}

export function searchDir(home: string, run: string, search: string): string {
  return path.join(runDir(home, run), SEARCHES_DIR, checkId('search', search));
}

/** A run has started training once it has a checkpoint (the trainer refuses to start over it). */
export function runExists(home: string, run: string): boolean {
  return fs.existsSync(path.join(runDir(home, run), CHECKPOINT_FILE));
}

/** The run's folder; 404 when there is no run of that id. */
export function requireRun(home: string, run: string): string {
  const dir = runDir(home, run);
  if (!fs.existsSync(path.join(dir, RUN_FILE))) throw new TailorError('UNKNOWN_RUN', { run, detail: 'create it with a train job' });
  return dir;
}

function requireSearch(home: string, run: string, search: string): string {
  requireRun(home, run);
  const dir = searchDir(home, run, search);
  if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new TailorError('UNKNOWN_SEARCH', { run, search });
  return dir;
}

/** Sub-folders that are not hidden (hidden ones are partial outputs of a search in progress). */
function folders(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && ID_PATTERN.test(e.name))
    .map((e) => e.name)
    .sort();
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function jsonLines<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  const out: T[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // a line cut short by a crash
    }
  }
  return out;
}

/** A search's completed targets: folders with a pareto.json (a search writes each one whole, by rename). */
export function searchTargets(dir: string): string[] {
  return folders(dir).filter((t) => fs.existsSync(path.join(dir, t, 'pareto.json')));
}

/** A search of that name has finished at least one target (a failed or never-run name may be reused). */
export function searchExists(home: string, run: string, search: string): boolean {
  return searchTargets(searchDir(home, run, search)).length > 0;
}

/** Temp files of atomic writes (<file>.<pid>.<time>.tmp) and a search's hidden partial target folders (.<target>.partial-<pid>). */
const STALE = [/^.+\.(\d+)\.\d+\.tmp$/, /^\..+\.partial-(\d+)$/];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what a killed writer left in a run or search folder: temp files and partial folders of
 * processes that no longer exist (never a complete output: those are renamed into place whole).
 */
export function removeStaleOutputs(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    const pid = STALE.map((r) => r.exec(name)?.[1]).find((x) => x !== undefined);
    if (pid === undefined || Number(pid) === process.pid || alive(Number(pid))) continue;
    fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Written by the service when a search starts: what was asked (targets, algorithm, seed, ...). */
export function recordSearch(dir: string, request: Record<string, unknown>): void {
  fs.mkdirSync(dir, { recursive: true });
  writeJsonAtomic(path.join(dir, SEARCH_REQUEST_FILE), { ...request, started: new Date().toISOString() });
}

interface RunJson {
  space: string;
  dataset: string;
  classes: string[];
  channels: number;
  seed: number;
  epochsScale: number;
  batchSize: number;
  limit: number | null;
  schedule: string;
  scratchArch: unknown;
  engine: string;
  phases: { name: string; epochs: number }[];
}

function trainingState(dir: string, meta: RunJson) {
  const total = meta.phases.reduce((s, p) => s + p.epochs, 0);
  let at: { phase?: number; epoch?: number } = { phase: 0, epoch: 0 };
  const file = path.join(dir, CHECKPOINT_FILE);
  if (fs.existsSync(file)) {
    try {
      at = readCheckpointMeta(file) as typeof at;
    } catch {
      // unreadable: reported as not started
    }
  }
  const phase = typeof at.phase === 'number' ? at.phase : 0;
  const done = meta.phases.slice(0, phase).reduce((s, p) => s + p.epochs, 0) + (phase < meta.phases.length ? (at.epoch ?? 0) : 0);
  const finished = phase >= meta.phases.length;
  return { finished, epochsDone: Math.min(done, total), epochs: total, next: finished ? null : { phase: meta.phases[phase]?.name ?? null, epoch: at.epoch ?? 0 } };
}

const predictorCache = new Map<string, { mtimeMs: number; summary: PredictorSummary | null }>();
export type PredictorSummary = Pick<PredictorFile, 'samples' | 'heldOut' | 'protocol' | 'seed' | 'epochs' | 'hidden' | 'created'>;

/** The stored accuracy predictor's figures (not its weights), cached by file time: it is megabytes of JSON. */
function predictorSummary(dir: string): PredictorSummary | null {
  const file = path.join(dir, PREDICTOR_FILE);
  const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs;
  if (mtimeMs === undefined) return null;
  const cached = predictorCache.get(file);
  if (cached?.mtimeMs === mtimeMs) return cached.summary;
  const p = readJson<PredictorFile>(file);
  const summary = p && { samples: p.samples, heldOut: p.heldOut, protocol: p.protocol, seed: p.seed, epochs: p.epochs, hidden: p.hidden, created: p.created };
  predictorCache.set(file, { mtimeMs, summary });
  return summary;
}

function downloadUrl(run: string, search: string, target: string, file: string): string {
  return `/runs/${run}/searches/${search}/targets/${target}/${file}`;
}

function describeSearch(home: string, run: string, search: string) {
  const dir = searchDir(home, run, search);
  const request = readJson<Record<string, unknown> & { targets?: { name: string }[] }>(path.join(dir, SEARCH_REQUEST_FILE));
  const targets = searchTargets(dir).map((name) => {
    const p = readJson<ParetoFile>(path.join(dir, name, 'pareto.json'));
    const subnets = p?.subnets ?? [];
    return {
      name, algorithm: p?.algorithm, seed: p?.seed, evaluations: p?.evaluations, hypervolume: p?.hypervolume, frontSize: p?.frontSize, budgets: p?.budgets,
      subnets: subnets.map((s) => ({ file: s.file, predictedTop1: s.predictedTop1, measuredTop1: s.measuredTop1, latencyMs: s.latencyMs, params: s.params, macs: s.macs, url: downloadUrl(run, search, name, s.file) })),
      plots: { svg: downloadUrl(run, search, name, 'pareto.svg'), png: downloadUrl(run, search, name, 'pareto.png') },
    };
  });
  const requested = request?.targets?.map((t) => t.name) ?? targets.map((t) => t.name);
  return {
    id: search,
    request,
    complete: requested.length > 0 && requested.every((t) => targets.some((x) => x.name === t)),
    targets,
    pareto: `/runs/${run}/searches/${search}/pareto`,
  };
}

/** Runs with a run.json, by id. */
export function listRuns(home: string) {
  return folders(runsRoot(home))
    .filter((id) => fs.existsSync(path.join(runsRoot(home), id, RUN_FILE)))
    .map((id) => {
      const dir = path.join(runsRoot(home), id);
      const meta = readJson<RunJson>(path.join(dir, RUN_FILE));
      if (!meta) return { id, error: `${RUN_FILE} is unreadable` };
      const predictor = predictorSummary(dir);
      return {
        id, space: meta.space, dataset: meta.dataset, schedule: meta.schedule, ...trainingState(dir, meta),
        predictor: predictor && { samples: predictor.samples, heldOut: predictor.heldOut },
        searches: folders(path.join(dir, SEARCHES_DIR)),
      };
    });
}

/** One run: its run.json, training progress and epoch log, predictor figures, and searches with their targets. */
export function describeRun(home: string, run: string) {
  const dir = requireRun(home, run);
  const meta = readJson<RunJson>(path.join(dir, RUN_FILE));
  if (!meta) throw new TailorError('INVALID_CHECKPOINT', { file: `${run}/${RUN_FILE}`, reason: 'unreadable' });
  const log = jsonLines<EpochLog>(path.join(dir, LOG_FILE));
  const phases = meta.phases.map((p) => {
    const epochs = log.filter((e) => e.phase === p.name);
    const last = epochs.at(-1);
    return { phase: p.name, epochs: p.epochs, logged: epochs.length, loss: last?.loss ?? null, ce: last?.ce ?? null, valTop1: last?.valTop1 ?? null, seconds: Math.round(10 * epochs.reduce((s, e) => s + e.seconds, 0)) / 10 };
  });
  return {
    id: run,
    run: meta,
    training: { ...trainingState(dir, meta), phases, lastEpoch: log.at(-1) ?? null },
    measurements: jsonLines(path.join(dir, MEASUREMENTS_FILE)).length,
    predictor: predictorSummary(dir),
    searches: folders(path.join(dir, SEARCHES_DIR)).map((s) => describeSearch(home, run, s)),
  };
}

/** The pareto.json of every finished target of a search. */
export function readPareto(home: string, run: string, search: string): { run: string; search: string; targets: ParetoFile[] } {
  const dir = requireSearch(home, run, search);
  const targets = searchTargets(dir).map((t) => readJson<ParetoFile>(path.join(dir, t, 'pareto.json'))).filter((p): p is ParetoFile => p !== null);
  return { run, search, targets };
}

/**
 * A file a search emitted: pareto.json/svg/png of a target, or a model its pareto.json lists.
 * The path is checked against the runs folder after resolving symlinks.
 */
export function resolveDownload(home: string, run: string, search: string, target: string, file: string): { file: string; contentType: string; size: number; name: string } {
  checkId('run', run);
  checkId('search', search);
  checkId('target', target);
  checkId('file', file);
  const dir = requireSearch(home, run, search);
  const targetDir = path.join(dir, target);
  const pareto = readJson<ParetoFile>(path.join(targetDir, 'pareto.json'));
  if (!pareto) throw new TailorError('RUN_FILE_NOT_FOUND', { run, search, what: `target "${target}"` });
  const emitted = [...PLOTS, ...pareto.subnets.flatMap((s) => (s.tflite ? [s.file, s.tflite] : [s.file]))];
  const type = CONTENT_TYPES[path.extname(file).toLowerCase()];
  if (!emitted.includes(file) || !type) throw new TailorError('RUN_FILE_NOT_FOUND', { run, search, what: `file "${file}" in target "${target}" (it has ${emitted.join(', ')})` });
  let real: string;
  try {
    real = fs.realpathSync(path.join(targetDir, file));
  } catch {
    throw new TailorError('RUN_FILE_NOT_FOUND', { run, search, what: `file "${file}" in target "${target}"` });
  }
  const root = fs.realpathSync(runsRoot(home));
  const rel = path.relative(root, real);
  const stat = fs.statSync(real);
  if (rel.startsWith('..') || path.isAbsolute(rel) || !stat.isFile()) throw new TailorError('RUN_FILE_NOT_FOUND', { run, search, what: `file "${file}" in target "${target}"` });
  return { file: real, contentType: type, size: stat.size, name: `${target}-${file}` };
}
