import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchConfig } from '../core/arch';
import { resolveArch } from '../core/arch-source';
import { countModel } from '../core/counters';
import { TailorError } from '../core/errors';
import { SearchSpace, getSpace } from '../core/space';
import { toTensor } from './batches';
import { loadCheckpoint, readCheckpointMeta, restoreVariables } from './checkpoint';
import { Dataset, DecodeProgress, ImageSet, loadDataset, sliceSet } from './datasets';
import { Engine } from './engine';
import { ElasticSupernet, StaticNet } from './supernet';
import { CHECKPOINT_FILE, RUN_FILE, top1 } from './trainer';

export interface RunInfo {
  dir: string;
  space: SearchSpace;
  dataset: string;
  seed: number;
  channels: number;
  classes: string[];
}

export function readRun(dir: string): RunInfo {
  const file = path.join(dir, RUN_FILE);
  if (!fs.existsSync(file) || !fs.existsSync(path.join(dir, CHECKPOINT_FILE))) {
    throw new TailorError('INVALID_OPTION', { option: '--supernet', reason: `${dir} is not a training run (no ${RUN_FILE} and ${CHECKPOINT_FILE}); run tailor train first` });
  }
  let meta: { space: string; dataset: string; seed: number; channels: number; classes: string[] };
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TailorError('INVALID_CHECKPOINT', { file, reason: `unreadable (${(e as Error).message})` });
  }
  return { dir, space: getSpace(meta.space), dataset: meta.dataset, seed: meta.seed, channels: meta.channels, classes: meta.classes };
}

/** Refuses a run whose training has not finished (search and predictors need the final supernet). */
export function checkRunFinished(dir: string): void {
  const file = path.join(dir, CHECKPOINT_FILE);
  const meta = readCheckpointMeta(file) as { phase?: number; epoch?: number };
  const phases = (JSON.parse(fs.readFileSync(path.join(dir, RUN_FILE), 'utf8')) as { phases?: { name: string }[] }).phases ?? [];
  if (typeof meta.phase !== 'number' || meta.phase < phases.length) {
    const at = phases[meta.phase ?? 0];
    throw new TailorError('INVALID_OPTION', {
      option: '--supernet',
      reason: `the training in ${dir} has not finished (next: ${at ? `${at.name} epoch ${(meta.epoch ?? 0) + 1}` : 'unknown'}); finish it with tailor train --resume --out ${dir} (and the run's other options)`,
    });
  }
}

/** The trained supernet of a run, with its dataset (same split as in training; an image folder decoded again if its cache is gone). */
export async function openRun(engine: Engine, dir: string, cacheDir: string, onDecode?: DecodeProgress): Promise<{ run: RunInfo; net: ElasticSupernet; data: Dataset }> {
  const run = readRun(dir);
  const net = new ElasticSupernet(engine.tf, run.space, { inputChannels: run.channels, numClasses: run.classes.length }, run.seed);
  const file = path.join(dir, CHECKPOINT_FILE);
  restoreVariables(engine.tf, file, loadCheckpoint(file), net.state());
  const data = await loadDataset(run.dataset, { seed: run.seed, cacheDir, resolutions: run.space.resolutions, onDecode });
  return { run, net, data };
}

/** `--arch` against a run: keywords (max, min, random:<seed>) resolve in the supernet's own space. */
export function runArch(run: RunInfo, source: string): ArchConfig {
  const resolved = resolveArch(source, run.space.id);
  if (!resolved.arch || resolved.space?.id !== run.space.id) {
    throw new TailorError('INVALID_ARCH', { space: run.space.id, reason: `${source} is not a subnet of the supernet's space` });
  }
  return resolved.arch;
}

export interface EvalResult {
  arch: ArchConfig;
  top1: number;
  images: number;
  bnImages: number;
}

export const DEFAULT_BN_IMAGES = 2000;

/**
 * OFA's BN recalibration: the subnet's BN statistics become the average batch statistics over
 * `images` (in batches of 100); returns the subnet as a static network with those statistics.
 */
export function recalibrateOn(engine: Engine, net: ElasticSupernet, data: Dataset, images: ImageSet, arch: ArchConfig): StaticNet {
  const tf = engine.tf;
  net.setActiveSubnet(arch);
  const batches = [];
  for (let i = 0; i < images.count; i += 100) batches.push(toTensor(tf, data, images, Array.from({ length: Math.min(100, images.count - i) }, (_, j) => i + j), arch.r));
  net.recalibrateBN(batches.map((b) => b.x));
  for (const b of batches) {
    b.x.dispose();
    b.labels.dispose();
  }
  return net.getActiveSubnet(arch.r);
}

/**
 * OFA's subnet evaluation: recalibrate BN statistics of the subnet on a fixed subset of the
 * validation split (the first `bnImages`), then top-1 on the test split (its first `testImages`).
 * Deterministic: the same arch always gets the same statistics and the same score.
 */
export function evaluateSubnet(engine: Engine, net: ElasticSupernet, data: Dataset, arch: ArchConfig, bnImages = DEFAULT_BN_IMAGES, testImages = data.test.count): { result: EvalResult; subnet: StaticNet } {
  const n = Math.min(bnImages, data.val.count);
  const subnet = recalibrateOn(engine, net, data, sliceSet(data.val, 0, n), arch);
  const images = Math.min(testImages, data.test.count);
  const score = top1(engine, subnet, data, data.test, images, arch.r);
  return { result: { arch, top1: score, images, bnImages: n }, subnet };
}

export function subnetMetadata(run: RunInfo, result: EvalResult, subnet: StaticNet): Record<string, string> {
  const c = countModel(subnet.ir);
  return {
    arch: JSON.stringify(result.arch), space: run.space.id, dataset: run.dataset, classes: JSON.stringify(run.classes),
    top1: String(result.top1), params: String(c.params), macs: String(c.macs),
    preprocess: 'NCHW float32, pixel / 127.5 - 1, resized to the arch resolution',
  };
}
