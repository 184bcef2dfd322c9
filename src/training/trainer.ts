import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as TF from '@tensorflow/tfjs';
import type { NamedTensorMap, Scalar, Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { ArchConfig, maxArch } from '../core/arch';
import { TailorError } from '../core/errors';
import { diskFullError, writeJsonAtomic } from '../core/fs-atomic';
import { buildIR } from '../core/ir';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace } from '../core/space';
import { augment, epochBatches, toTensor } from './batches';
import { LoadedCheckpoint, loadCheckpoint, restoreVariables, saveCheckpoint } from './checkpoint';
import { Dataset, ImageSet, checkResolutions, sliceSet } from './datasets';
import { Engine } from './engine';
import { LayerTensors } from './executor';
import { Phase, cosineLr, fromScratch, progressiveShrinking, scaledEpochs } from './schedule';
import { ElasticSupernet, StaticNet } from './supernet';

export const WEIGHT_DECAY = 3e-5;
export const LABEL_SMOOTHING = 0.1;

export interface TrainOptions {
  space: SearchSpace;
  dataset: Dataset;
  outDir: string;
  seed: number;
  epochsScale: number;
  /** Why this scale (recorded in run.json): given, or how the default was derived. */
  epochsScaleReason?: string;
  batchSize: number;
  resume: boolean;
  /** Use at most this many training images (quick runs, tests). */
  limit?: number;
  /** Train only this subnet, from scratch (no progressive shrinking, no distillation): the baseline. */
  scratchArch?: ArchConfig;
  /** Validation images scored after every epoch (max subnet or the scratch arch, BN recalibrated on 500 training images). */
  evalImages: number;
  signal?: AbortSignal;
  onProgress?: (p: { phase: string; epoch: number; epochs: number; step: number; steps: number; loss: number }) => void;
}

export interface EpochLog {
  phase: Phase['name'];
  epoch: number;
  epochs: number;
  lr: number;
  /** Training loss (cross-entropy on labels, plus distillation after the teacher phase). */
  loss: number;
  /** Cross-entropy on the labels alone, comparable across phases. */
  ce: number;
  valTop1: number;
  images: number;
  seconds: number;
}

export interface TrainResult {
  outDir: string;
  log: EpochLog[];
  resumedFrom: { phase: string; epoch: number } | null;
}

export const CHECKPOINT_FILE = 'checkpoint.tlr';
export const LOG_FILE = 'log.jsonl';
export const RUN_FILE = 'run.json';

/** Top-1 in [0, 1] of the active subnet (running BN statistics) on the first `count` images of a set. */
export function top1(engine: Engine, net: { forward(x: Tensor4D): Tensor2D }, d: Dataset, set: ImageSet, count: number, resolution: number, batchSize = 200): number {
  const tf = engine.tf;
  const n = Math.min(count, set.count);
  let correct = 0;
  for (let i = 0; i < n; i += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, n - i) }, (_, j) => i + j);
    correct += tf.tidy(() => {
      const b = toTensor(tf, d, set, idx, resolution);
      return tf.sum(tf.cast(tf.equal(tf.argMax(net.forward(b.x), 1), b.labels), 'int32')).dataSync()[0];
    });
  }
  return n ? correct / n : 0;
}

function losses(tf: typeof TF, logits: Tensor2D, labels: Tensor1D, classes: number, teacher: Tensor2D | null): { total: Scalar; ce: Scalar } {
  const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, classes), logits, undefined, LABEL_SMOOTHING) as Scalar;
  if (!teacher) return { total: ce, ce };
  // Knowledge distillation from the full net: cross-entropy against its soft labels.
  const kd = tf.neg(tf.mean(tf.sum(tf.mul(tf.softmax(teacher), tf.logSoftmax(logits)), 1))) as Scalar;
  return { total: tf.add(ce, kd) as Scalar, ce };
}

function teacherTensors(teacher: StaticNet): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [node, t] of teacher.weights) {
    out.set(`teacher/${node}.weight`, t.weight);
    if (t.bias) out.set(`teacher/${node}.bias`, t.bias);
    if (t.bn) for (const [k, v] of Object.entries(t.bn)) if (k !== 'update') out.set(`teacher/${node}.bn.${k}`, v as Tensor);
  }
  return out;
}

function restoreTeacher(tf: typeof TF, net: ElasticSupernet, loaded: LoadedCheckpoint): StaticNet | null {
  if (!loaded.tensors.has('teacher/stem.conv.weight')) return null;
  const arch = maxArch(net.space);
  const ir = buildIR(net.activeNetFor(arch));
  const weights = new Map<string, LayerTensors>();
  const get = (name: string) => {
    const t = loaded.tensors.get(`teacher/${name}`);
    return t ? tf.tensor(t.data, t.shape) : undefined;
  };
  for (const piece of ir.pieces) {
    for (const node of piece.nodes) {
      if (node.op !== 'conv' && node.op !== 'linear') continue;
      const bnGamma = get(`${node.name}.bn.gamma`);
      weights.set(node.name, {
        weight: get(`${node.name}.weight`)!,
        bias: get(`${node.name}.bias`),
        bn: bnGamma && { gamma: bnGamma, beta: get(`${node.name}.bn.beta`)!, mean: get(`${node.name}.bn.mean`)!, variance: get(`${node.name}.bn.variance`)! },
      });
    }
  }
  return new StaticNet(tf, arch, ir, weights);
}

/** One line more in log.jsonl; out of space, the log is cut back to its last whole line (DISK_FULL). */
function appendLogLine(file: string, entry: EpochLog): void {
  const line = JSON.stringify(entry) + '\n';
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  try {
    fs.appendFileSync(file, line);
  } catch (e) {
    if (fs.existsSync(file)) fs.truncateSync(file, size);
    throw diskFullError(e, file, Buffer.byteLength(line), { what: 'the training log', hint: "this epoch's checkpoint is saved: free some space, then resume the run (tailor train --resume; resume: true in a train job)" });
  }
}

const RECALIBRATION_IMAGES = 500;

function recalibrateOnTrain(tf: typeof TF, net: ElasticSupernet, d: Dataset, train: ImageSet, resolution: number): void {
  const n = Math.min(RECALIBRATION_IMAGES, train.count);
  const batches = [];
  for (let i = 0; i < n; i += 100) batches.push(toTensor(tf, d, train, Array.from({ length: Math.min(100, n - i) }, (_, j) => i + j), resolution));
  net.recalibrateBN(batches.map((b) => b.x));
  tf.dispose(batches.flatMap((b) => [b.x, b.labels]));
}

/**
 * Progressive shrinking (OFA): the full net, then elastic kernel, depth and expand, each phase
 * sampling subnets within its choices, accumulating their gradients for one SGD-Nesterov step
 * (cosine LR, weight decay off BN and biases, label smoothing), distilling from the full net.
 * A checkpoint after every epoch (atomic); with `resume`, training continues exactly where the
 * checkpoint left it (every random choice is derived from the seed, phase and epoch).
 */
export async function trainSupernet(engine: Engine, options: TrainOptions): Promise<TrainResult> {
  const tf = engine.tf;
  const { space, dataset: d } = options;
  fs.mkdirSync(options.outDir, { recursive: true });
  const checkpointFile = path.join(options.outDir, CHECKPOINT_FILE);
  const logFile = path.join(options.outDir, LOG_FILE);
  const phases = options.scratchArch ? fromScratch(space, options.scratchArch, options.epochsScale) : progressiveShrinking(space);
  checkResolutions(d, options.scratchArch ? [options.scratchArch.r] : space.resolutions);
  const io = { inputChannels: d.channels, numClasses: d.classes.length };
  const net = new ElasticSupernet(tf, space, io, options.seed);
  // Each phase is its own training run, as in OFA: a fresh optimizer (also: sorting channels
  // before the expand phases would otherwise leave momentum on the wrong channels).
  let optimizer = tf.train.momentum(phases[0].lr, 0.9, true);
  const state = net.state();
  const byVariable = new Map<string, string>([...state].map(([stable, v]) => [v.name, stable]));
  const decayed = net.decayedVariables();
  const trainable = net.trainableVariables();
  let teacher: StaticNet | null = null;
  let start = { phase: 0, epoch: 0 };
  let resumedFrom: TrainResult['resumedFrom'] = null;
  const meta = {
    space: space.id, dataset: d.source, classes: d.classes, channels: d.channels, split: d.split, seed: options.seed,
    epochsScale: options.epochsScale, epochsScaleReason: options.epochsScaleReason ?? 'given', batchSize: options.batchSize, limit: options.limit ?? null,
    schedule: options.scratchArch ? 'scratch' : 'progressive-shrinking', scratchArch: options.scratchArch ?? null,
  };

  if (options.resume) {
    const loaded = loadCheckpoint(checkpointFile);
    for (const key of ['space', 'dataset', 'seed', 'epochsScale', 'batchSize', 'limit', 'scratchArch'] as const) {
      if (JSON.stringify(loaded.meta[key] ?? null) !== JSON.stringify(meta[key])) {
        throw new TailorError('INVALID_CHECKPOINT', { file: checkpointFile, reason: `it was made with ${key} ${JSON.stringify(loaded.meta[key])}, this run has ${JSON.stringify(meta[key])}` });
      }
    }
    restoreVariables(tf, checkpointFile, loaded, state);
    const optWeights = [...state].map(([stable, v]) => ({ stable, name: `${v.name}/momentum` })).filter((w) => loaded.tensors.has(`opt/${w.stable}`));
    if (optWeights.length) {
      const iter = loaded.tensors.get('opt/iter');
      const weights = [
        ...(iter ? [{ name: 'iter', tensor: tf.scalar(Math.round(iter.data[0]), 'int32') }] : []),
        ...optWeights.map((w) => {
          const t = loaded.tensors.get(`opt/${w.stable}`)!;
          return { name: w.name, tensor: tf.tensor(t.data, t.shape) };
        }),
      ];
      await optimizer.setWeights(weights);
      tf.dispose(weights.map((w) => w.tensor));
    }
    teacher = restoreTeacher(tf, net, loaded);
    start = { phase: loaded.meta.phase as number, epoch: loaded.meta.epoch as number };
    resumedFrom = { phase: phases[start.phase]?.name ?? 'done', epoch: start.epoch };
  } else if (fs.existsSync(checkpointFile)) {
    throw new TailorError('INVALID_OPTION', { option: '--out', reason: `${options.outDir} already holds a training run; pass --resume to continue it or choose another --out` });
  }
  writeJsonAtomic(path.join(options.outDir, RUN_FILE), { ...meta, engine: engine.backend, phases: phases.map((p) => ({ ...p, epochs: scaledEpochs(p, options.epochsScale) })) });

  const train: ImageSet = options.limit ? sliceSet(d.train, 0, options.limit) : d.train;
  const log: EpochLog[] = [];
  const maxRes = Math.max(...space.resolutions);

  for (let p = start.phase; p < phases.length; p++) {
    const phase = phases[p];
    const epochs = scaledEpochs(phase, options.epochsScale);
    const firstEpoch = p === start.phase ? start.epoch : 0;
    if (firstEpoch === 0) {
      if (p > 0) {
        optimizer.dispose();
        optimizer = tf.train.momentum(phase.lr, 0.9, true);
      }
      if (phase.sortStage !== null) net.sortChannels(phase.sortStage);
    }
    if (phase.distill && !teacher) {
      net.setActiveSubnet({ ...maxArch(space), r: maxRes });
      teacher = net.getActiveSubnet(maxRes);
    }
    const choices = { kernelSizes: phase.kernelSizes, expandRatios: phase.expandRatios, depths: phase.depths };
    for (let epoch = firstEpoch; epoch < epochs; epoch++) {
      const started = Date.now();
      const rng = new Rng(deriveSeed(options.seed, `${phase.name}/${epoch}`));
      const batches = epochBatches(train.count, Math.min(options.batchSize, train.count), rng, true);
      let lossSum = 0;
      let ceSum = 0;
      let lr = phase.lr;
      for (let b = 0; b < batches.length; b++) {
        options.signal?.throwIfAborted();
        lr = cosineLr(phase.lr, epoch * batches.length + b, epochs * batches.length);
        optimizer.setLearningRate(lr);
        const resolution = phase.arch ? phase.arch.r : rng.pick(space.resolutions); // elastic resolution: one per batch
        const batch = augment(tf, d, toTensor(tf, d, train, batches[b], resolution), rng);
        // The teacher normalizes with batch statistics, as OFA's teacher in train mode: its running
        // statistics blend every resolution it was trained at, and would give poor soft labels.
        const soft = phase.distill && teacher ? tf.tidy(() => teacher!.forward(batch.x, { batchStats: true })) : null;
        const summed: NamedTensorMap = {};
        for (let s = 0; s < phase.subnetsPerStep; s++) {
          if (phase.arch) net.setActiveSubnet(phase.arch);
          else net.sampleActiveSubnet(rng, choices);
          let ce: Scalar | null = null;
          const { value, grads } = tf.variableGrads(() => {
            const l = losses(tf, net.forward(batch.x, { training: true }), batch.labels, io.numClasses, soft);
            ce = tf.keep(l.ce);
            return l.total;
          }, trainable);
          lossSum += value.dataSync()[0] / phase.subnetsPerStep;
          ceSum += (ce as Scalar | null)!.dataSync()[0] / phase.subnetsPerStep;
          value.dispose();
          (ce as Scalar | null)?.dispose();
          for (const [name, g] of Object.entries(grads)) {
            const prev = summed[name];
            summed[name] = prev ? tf.add(prev, g) : g;
            if (prev) {
              prev.dispose();
              g.dispose();
            }
          }
        }
        // tfjs optimizers keep their slots by position: give every variable a gradient, every step,
        // in the same order (zeros where the sampled subnets did not use it), plus weight decay.
        const ordered = tf.tidy(() =>
          trainable.map((v) => {
            const g = summed[v.name];
            if (!g) return { name: v.name, tensor: tf.zerosLike(v) }; // unused by this step's subnets: no decay either
            return { name: v.name, tensor: decayed.has(v) ? tf.add(g, tf.mul(v, WEIGHT_DECAY)) : g };
          }),
        );
        optimizer.applyGradients(ordered);
        for (const g of Object.values(summed)) g.dispose();
        for (const g of ordered) g.tensor.dispose();
        soft?.dispose();
        batch.x.dispose();
        batch.labels.dispose();
        options.onProgress?.({ phase: phase.name, epoch, epochs, step: b + 1, steps: batches.length, loss: lossSum / (b + 1) });
      }
      // Indicative top-1 of the max subnet (or the scratch arch): running statistics are a blend
      // of subnets and resolutions, so recalibrate BN first (on training images), as OFA validates.
      const watched = phase.arch ?? { ...maxArch(space), r: maxRes };
      net.setActiveSubnet(watched);
      recalibrateOnTrain(tf, net, d, train, watched.r);
      const valTop1 = top1(engine, { forward: (x) => net.forward(x, { training: false }) }, d, d.val, options.evalImages, watched.r);
      const entry: EpochLog = {
        phase: phase.name, epoch, epochs, lr, loss: lossSum / Math.max(1, batches.length), ce: ceSum / Math.max(1, batches.length), valTop1, images: batches.length * options.batchSize,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      };
      const done = epoch + 1 === epochs ? { phase: p + 1, epoch: 0 } : { phase: p, epoch: epoch + 1 };
      const tensors = new Map<string, Tensor>(state);
      const optWeights = await optimizer.getWeights();
      for (const w of optWeights) {
        const stable = w.name === 'iter' ? 'iter' : byVariable.get(w.name.replace(/\/momentum$/, ''));
        if (stable) tensors.set(`opt/${stable}`, w.tensor);
      }
      if (teacher) for (const [k, v] of teacherTensors(teacher)) tensors.set(k, v);
      // The checkpoint first: a crash before the log line loses a line, never duplicates one.
      saveCheckpoint(checkpointFile, { ...meta, ...done, updated: new Date().toISOString() }, tensors);
      optWeights.find((w) => w.name === 'iter')?.tensor.dispose();
      log.push(entry);
      appendLogLine(logFile, entry);
    }
  }
  return { outDir: options.outDir, log, resumedFrom };
}

