import * as path from 'node:path';
import { ArchConfig } from '../core/arch';
import { resolveArch } from '../core/arch-source';
import { TailorError } from '../core/errors';
import { getSpace } from '../core/space';
import type { EngineBackend } from './engine';
import type { TrainResult } from './trainer';

export interface TrainRunRequest {
  space: string;
  /** mnist, fashion-mnist, or an image folder. */
  dataset: string;
  out: string;
  epochsScale: number;
  seed: number;
  batchSize: number;
  limit?: number;
  resume?: boolean;
  /** Train only this subnet from scratch. */
  arch?: string;
  engine?: EngineBackend;
}

/** Defaults of the options a training request may omit (CLI options and service train jobs). */
export const TRAIN_DEFAULTS = { epochsScale: 0.02, seed: 0, batchSize: 64 } as const;

export interface RunHooks {
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; message: string }) => void;
  /** Human-readable notes (dataset, engine, skipped files). */
  info?: (message: string) => void;
}

/** Checks a training request before anything heavy loads; returns the parsed parts. */
export function checkTrainRequest(req: TrainRunRequest): { scratchArch?: ArchConfig } {
  const space = getSpace(req.space);
  if (!Number.isFinite(req.epochsScale) || req.epochsScale <= 0) throw new TailorError('INVALID_OPTION', { option: '--epochs-scale', reason: 'must be a positive number' });
  if (!req.arch) return {};
  const resolved = resolveArch(req.arch, space.id);
  if (!resolved.arch || resolved.space?.id !== space.id) throw new TailorError('INVALID_ARCH', { space: space.id, reason: `${req.arch} is not an architecture of this space` });
  return { scratchArch: resolved.arch };
}

/** `tailor train` as a function: the CLI and the service's train jobs both run this. */
export async function trainRun(req: TrainRunRequest, cacheDir: string, hooks: RunHooks = {}): Promise<TrainResult & { scratchArch?: ArchConfig }> {
  const { scratchArch } = checkTrainRequest(req);
  const space = getSpace(req.space);
  const { initEngine } = await import('./engine.js');
  const { loadDataset } = await import('./datasets.js');
  const { trainSupernet } = await import('./trainer.js');
  const { fromScratch, progressiveShrinking, scaledEpochs } = await import('./schedule.js');
  const engine = await initEngine(req.engine);
  const dataset = await loadDataset(req.dataset, { seed: req.seed, resolutions: space.resolutions, cacheDir });
  for (const s of dataset.skipped) hooks.info?.(`warning: skipped unreadable image ${s}`);
  hooks.info?.(`training ${space.id} on ${dataset.name} (${dataset.train.count} train / ${dataset.val.count} val / ${dataset.test.count} test) with tfjs ${engine.backend} (${engine.note})`);
  // Progress over the whole schedule: every epoch of a run has the same number of steps.
  const epochsBefore = new Map<string, number>();
  let epochs = 0;
  for (const phase of scratchArch ? fromScratch(space, scratchArch, req.epochsScale) : progressiveShrinking(space)) {
    epochsBefore.set(phase.name, epochs);
    epochs += scaledEpochs(phase, req.epochsScale);
  }
  const result = await trainSupernet(engine, {
    space, dataset, outDir: path.resolve(req.out), seed: req.seed, epochsScale: req.epochsScale, batchSize: req.batchSize,
    resume: Boolean(req.resume), limit: req.limit, evalImages: 1000, scratchArch, signal: hooks.signal,
    onProgress: (p) => hooks.onProgress?.({
      done: ((epochsBefore.get(p.phase) ?? 0) + p.epoch) * p.steps + p.step, total: epochs * p.steps,
      message: `${p.phase} epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(3)}`,
    }),
  });
  return { ...result, scratchArch };
}
