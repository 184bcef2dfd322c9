import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ACC_PREDICTOR_DEFAULTS, AccPredictorReport, AccPredictorRequest } from '../accuracy/build';
import { TailorError } from '../core/errors';
import { LatencyService } from '../latency/latency.service';
import { TABLE_ONLY } from '../runtime/devices';
import { SEARCH_DEFAULTS, SearchRequest, checkSearchRequest } from '../specialize/search-run';
import type { ParetoFile } from '../specialize/specialize';
import { Target, parseTargets } from '../specialize/targets';
import { checkId, recordSearch, removeStaleOutputs, requireRun, runDir, runExists, searchDir, searchExists } from '../training/catalog';
import { BUILTIN_DATASETS } from '../training/datasets';
import { checkRunFinished, readRun } from '../training/runs';
import { TRAIN_DEFAULTS, TrainRunRequest, checkTrainRequest } from '../training/train-run';
import { CHECKPOINT_FILE, TrainResult } from '../training/trainer';
import { JobContext, JobRunner } from './job.service';
import { runInWorker } from './job-worker';

/** Training, predictor and search jobs share this queue: one at a time, apart from device measurements. */
export const TRAINER_DEVICE = 'trainer';

export interface SupernetJobDirs {
  /** Runs live in <home>/runs. */
  home: string;
  /** Dataset cache (the CLI's: <home>/.tailor/cache). */
  cacheDir: string;
}

export type TrainJobParams = Omit<TrainRunRequest, 'out'> & { name: string };
export type AccPredictorJobParams = Omit<AccPredictorRequest, 'supernet'> & { run: string };
export type SearchJobParams = Omit<SearchRequest, 'supernet' | 'out' | 'targets'> & { run: string; name: string; targets: Target[] };

const ARCH_KEYWORD = /^(max|min|random:\d+)$/;

/** Without undefined values: omitted params take the defaults. */
function given(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

/** Over HTTP an arch is inline (JSON object or text) or a keyword, never a path on the server. */
function inlineArch(arch: unknown): string | undefined {
  if (arch === undefined || arch === null) return undefined;
  if (typeof arch === 'object' && !Array.isArray(arch)) return JSON.stringify(arch);
  if (typeof arch === 'string' && (ARCH_KEYWORD.test(arch) || arch.trim().startsWith('{'))) return arch;
  throw new TailorError('INVALID_OPTION', { option: 'params.arch', reason: 'an arch JSON object (or its text), max, min or random:<seed>; files are not read over HTTP' });
}

/** The job's context as the hooks of a task run in a worker process. */
function hooks(ctx: JobContext, warn?: (m: string) => void) {
  return { signal: ctx.signal, onProgress: (p: { done: number; total: number; message: string }) => ctx.progress(p.done, p.total, p.message), warn };
}

const runLocked = (run: string, holder: string) => new TailorError('RUN_LOCKED', { what: `Run "${run}"`, holder });

/** A search's default name: the algorithm, the seed and when it was asked for. */
function searchName(algorithm: string, seed: number): string {
  const at = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${algorithm}-seed${seed}-${at}-${randomBytes(2).toString('hex')}`;
}

/**
 * train, acc-predictor and search jobs: adapters from job params (ids of runs and searches under
 * <home>/runs) to the functions the CLI runs, each run in a worker process (job-worker.ts).
 */
export function supernetRunners(latency: LatencyService, dirs: SupernetJobDirs): Record<'train' | 'acc-predictor' | 'search', JobRunner> {
  const { home, cacheDir } = dirs;
  return {
    train: {
      prepare(raw) {
        const p = { ...TRAIN_DEFAULTS, ...given(raw) } as TrainJobParams;
        const name = checkId('run', p.name);
        if (!(BUILTIN_DATASETS as readonly string[]).includes(p.dataset)) {
          throw new TailorError('INVALID_OPTION', { option: 'params.dataset', reason: `${JSON.stringify(p.dataset)}: the service trains on ${BUILTIN_DATASETS.join(', ')}` });
        }
        const params: TrainJobParams = { ...p, name, arch: inlineArch(p.arch) };
        checkTrainRequest({ ...params, out: runDir(home, name) });
        const exists = runExists(home, name);
        if (params.resume && !exists) throw new TailorError('UNKNOWN_RUN', { run: name, detail: 'nothing to resume' });
        if (!params.resume && exists) throw new TailorError('RUN_EXISTS', { what: `Run "${name}"`, hint: 'pass resume: true to continue its training, or choose another name' });
        return { device: TRAINER_DEVICE, params };
      },
      lock: (params) => `run:${params.name}`,
      lockGroup: 'run',
      lockError: (params, holder) => runLocked(String(params.name), holder),
      async run(params, ctx) {
        const { name, ...req } = params as TrainJobParams;
        const out = runDir(home, name);
        // An interrupted job continues exactly from its last checkpoint (it starts over only when it had none).
        const resume = Boolean(req.resume) || (ctx.attempt > 1 && fs.existsSync(path.join(out, CHECKPOINT_FILE)));
        removeStaleOutputs(out); // a killed attempt's temp files
        const result = (await runInWorker({ kind: 'train', request: { ...req, out, resume } }, cacheDir, hooks(ctx))) as TrainResult;
        return { run: name, epochsTrained: result.log.length, resumedFrom: result.resumedFrom, lastEpoch: result.log.at(-1) ?? null };
      },
    },

    'acc-predictor': {
      prepare(raw) {
        const p = { ...ACC_PREDICTOR_DEFAULTS, ...given(raw) } as AccPredictorJobParams;
        const dir = requireRun(home, checkId('run', p.run));
        readRun(dir);
        checkRunFinished(dir);
        return { device: TRAINER_DEVICE, params: p };
      },
      lock: (params) => `run:${params.run}`,
      lockGroup: 'run',
      lockError: (params, holder) => runLocked(String(params.run), holder),
      async run(params, ctx) {
        const { run, ...req } = params as AccPredictorJobParams;
        removeStaleOutputs(runDir(home, run));
        const report = (await runInWorker({ kind: 'acc-predictor', request: { ...req, supernet: runDir(home, run) } }, cacheDir, hooks(ctx))) as AccPredictorReport;
        return { run, samples: report.samples, measuredNow: report.measuredNow, protocol: report.protocol, heldOut: report.heldOut, seed: report.seed };
      },
    },

    search: {
      prepare(raw) {
        const p = { ...SEARCH_DEFAULTS, ...given(raw) } as Omit<SearchJobParams, 'name' | 'targets'> & { name?: string; targets: unknown };
        const run = checkId('run', p.run);
        const supernet = requireRun(home, run);
        const name = checkId('search', p.name ?? searchName(p.algorithm, p.seed));
        if (searchExists(home, run, name)) throw new TailorError('RUN_EXISTS', { what: `Search "${name}" of run "${run}"`, hint: 'choose another name' });
        const targets = parseTargets('params.targets', JSON.stringify({ targets: p.targets }));
        const params: SearchJobParams = { ...p, name, targets };
        checkSearchRequest({ ...params, supernet, out: searchDir(home, run, name) }, latency);
        // Measuring the emitted subnets occupies a device: queue there (the first measurable one of the targets).
        const measuring = params.measure ? targets.flatMap((t) => Object.keys(t.devices)).find((d) => latency.devices.get(d).backend !== TABLE_ONLY) : undefined;
        return { device: measuring ?? TRAINER_DEVICE, params };
      },
      lock: (params) => `search:${params.run}/${params.name}`,
      lockError: (params, holder) => new TailorError('RUN_LOCKED', { what: `Search "${params.name}" of run "${params.run}"`, holder }),
      async run(params, ctx) {
        const { run, name, ...req } = params as SearchJobParams;
        const out = searchDir(home, run, name);
        removeStaleOutputs(out); // a killed attempt's partial targets
        recordSearch(out, { name, run, ...req });
        const warnings: string[] = [];
        const request = { ...req, supernet: runDir(home, run), out };
        const results = (await runInWorker({ kind: 'search', request, home }, cacheDir, hooks(ctx, (m) => warnings.push(m)))) as ParetoFile[];
        return {
          run, search: name, warnings,
          targets: results.map((r) => ({ target: r.target, evaluations: r.evaluations, hypervolume: r.hypervolume, frontSize: r.frontSize, subnets: r.subnets.map((s) => s.file) })),
        };
      },
    },
  };
}
