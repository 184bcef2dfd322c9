import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchConfig } from '../core/arch';
import { resolveArch } from '../core/arch-source';
import { TailorError } from '../core/errors';
import { getSpace } from '../core/space';
import { readCheckpointMeta } from './checkpoint';
import type { DecodeProgress } from './datasets';
import type { EngineBackend } from './engine';
import { DEFAULT_RUN_IMAGES } from './schedule';
import type { TrainResult } from './trainer';

export interface TrainRunRequest {
  space: string;
  /** mnist, fashion-mnist, or an image folder. */
  dataset: string;
  out: string;
  /** Omitted: derived from the training set's size (defaultEpochsScale), or the run's own when resuming. */
  epochsScale?: number;
  seed: number;
  batchSize: number;
  limit?: number;
  resume?: boolean;
  /** Train only this subnet from scratch. */
  arch?: string;
  engine?: EngineBackend;
}

/** Defaults of the options a training request may omit (CLI options and service train jobs). */
export const TRAIN_DEFAULTS = { seed: 0, batchSize: 64 } as const;
/** What an omitted epochs scale becomes (help texts). */
export const EPOCHS_SCALE_DEFAULT = `chosen from the training set's size (about ${DEFAULT_RUN_IMAGES.toLocaleString('en-US')} images over the run), the run's own when resuming`;

export interface RunHooks {
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; message: string }) => void;
  /** Human-readable notes (dataset, engine, skipped files). */
  info?: (message: string) => void;
  /** An image folder's decode, before the work itself (each resolution not cached yet; long for a large folder). */
  onDecode?: DecodeProgress;
}

/** Checks a training request before anything heavy loads; returns the parsed parts. */
export function checkTrainRequest(req: TrainRunRequest): { scratchArch?: ArchConfig } {
  const space = getSpace(req.space);
  if (req.epochsScale !== undefined && (!Number.isFinite(req.epochsScale) || req.epochsScale <= 0)) throw new TailorError('INVALID_OPTION', { option: '--epochs-scale', reason: 'must be a positive number' });
  if (!req.arch) return {};
  const resolved = resolveArch(req.arch, space.id);
  if (!resolved.arch || resolved.space?.id !== space.id) throw new TailorError('INVALID_ARCH', { space: space.id, reason: `${req.arch} is not an architecture of this space` });
  return { scratchArch: resolved.arch };
}

/**
 * The scale a run trains at: the one asked for; resuming without one, the run's own (its checkpoint
 * says which); otherwise the default for the dataset's size.
 */
function chooseEpochsScale(req: TrainRunRequest, checkpoint: string, byDefault: () => { scale: number; reason: string }): { scale: number; reason: string } {
  if (req.epochsScale !== undefined) return { scale: req.epochsScale, reason: 'given' };
  if (req.resume && fs.existsSync(checkpoint)) {
    const meta = readCheckpointMeta(checkpoint) as { epochsScale?: unknown; epochsScaleReason?: unknown };
    if (typeof meta.epochsScale === 'number') return { scale: meta.epochsScale, reason: typeof meta.epochsScaleReason === 'string' ? meta.epochsScaleReason : 'given' };
  }
  return byDefault();
}

/** `tailor train` as a function: the CLI and the service's train jobs both run this. */
export async function trainRun(req: TrainRunRequest, cacheDir: string, hooks: RunHooks = {}): Promise<TrainResult & { scratchArch?: ArchConfig }> {
  const { scratchArch } = checkTrainRequest(req);
  const space = getSpace(req.space);
  const { initEngine } = await import('./engine.js');
  const { loadDataset } = await import('./datasets.js');
  const { CHECKPOINT_FILE, trainSupernet } = await import('./trainer.js');
  const { defaultEpochsScale, fromScratch, progressiveShrinking, scaledEpochs } = await import('./schedule.js');
  const engine = await initEngine(req.engine);
  const dataset = await loadDataset(req.dataset, { seed: req.seed, resolutions: space.resolutions, cacheDir, onDecode: hooks.onDecode });
  for (const s of dataset.skipped) hooks.info?.(`warning: skipped unreadable image ${s}`);
  const trainImages = Math.min(req.limit ?? Infinity, dataset.train.count);
  const { scale: epochsScale, reason } = chooseEpochsScale(req, path.join(path.resolve(req.out), CHECKPOINT_FILE), () => defaultEpochsScale(space, trainImages));
  hooks.info?.(`training ${space.id} on ${dataset.name} (${dataset.train.count} train / ${dataset.val.count} val / ${dataset.test.count} test) with tfjs ${engine.backend} (${engine.note}${engine.backend === 'wasm' ? `, ${engine.threads} thread${engine.threads > 1 ? 's' : ''}` : ''}), epochs-scale ${epochsScale} (${reason})`);
  // Progress over the whole schedule: every epoch of a run has the same number of steps.
  const epochsBefore = new Map<string, number>();
  let epochs = 0;
  for (const phase of scratchArch ? fromScratch(space, scratchArch, epochsScale) : progressiveShrinking(space)) {
    epochsBefore.set(phase.name, epochs);
    epochs += scaledEpochs(phase, epochsScale);
  }
  const result = await trainSupernet(engine, {
    space, dataset, outDir: path.resolve(req.out), seed: req.seed, epochsScale, epochsScaleReason: reason, batchSize: req.batchSize,
    resume: Boolean(req.resume), limit: req.limit, evalImages: 1000, scratchArch, signal: hooks.signal,
    onProgress: (p) => hooks.onProgress?.({
      done: ((epochsBefore.get(p.phase) ?? 0) + p.epoch) * p.steps + p.step, total: epochs * p.steps,
      message: `${p.phase} epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(3)}`,
    }),
  });
  return { ...result, scratchArch };
}
