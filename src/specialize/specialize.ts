import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchConfig, archId, minArch, sampleArch } from '../core/arch';
import { countModel } from '../core/counters';
import { TailorError } from '../core/errors';
import { writeFileAtomic, writeJsonAtomic } from '../core/fs-atomic';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, checkResolutions, spaceWithIO } from '../core/space';
import { exportOnnx } from '../export/onnx';
import { exportTflite } from '../export/tflite';
import type { ModelFormat } from '../runtime/backend';
import { LatencyService } from '../latency/latency.service';
import { LatencyTable } from '../latency/table';
import { summarizeValidation } from '../latency/validate';
import type { SubnetMeasurement } from '../accuracy/measurements';
import { AccuracyPredictor } from '../accuracy/predictor';
import { AlgorithmName, EvaluatedArch, feasibleFront } from '../search/archive';
import { evolution } from '../search/evolution';
import { MnasnetRewardKind, mnasnet } from '../search/mnasnet';
import { nsga2 } from '../search/nsga2';
import { ObjectiveBounds, normalizedHypervolume } from '../search/pareto';
import { Evaluated, ObjectiveKey, SearchProblem, constraintViolation, describeBudgets, describeViolations, latencyObjective, objectiveVector } from '../search/problem';
import { randomSearch } from '../search/random';
import { reinforce } from '../search/reinforce';
import type { Dataset } from '../training/datasets';
import type { Engine } from '../training/engine';
import type { ElasticSupernet } from '../training/supernet';
import type { RunInfo } from '../training/runs';
import { paretoSvg, svgToPng } from './plot';
import { EfficiencyPredictor, latencyEfficiency, targetProblem } from './problem';
import { Target, targetBudgets } from './targets';

export const ALGORITHMS: AlgorithmName[] = ['nsga2', 'evolution', 'mnasnet', 'reinforce', 'random'];

export interface SpecializeOptions {
  targets: Target[];
  outDir: string;
  algorithm: AlgorithmName;
  seed: number;
  /** Evaluate every emitted subnet (top-1 on the test split) and measure its latency on attached devices. */
  measure: boolean;
  /** At most this many subnets of each front are exported (spread evenly along latency). */
  maxSubnets: number;
  /** Generations (evolution, mnasnet, nsga2) or policy updates (reinforce); default per algorithm. */
  generations?: number;
  population?: number;
  reward: MnasnetRewardKind;
  /** Resolutions to search; default: every resolution of the space that all the target's device tables have. */
  resolutions?: number[];
  /**
   * Front candidates per target scored on the validation split (the accuracy predictor's protocol)
   * before emission; the emitted front is then drawn from those scores. 0: emit on predictions alone.
   */
  rescore: number;
  /** Validation images for BN recalibration of each emitted subnet; default: the predictor's protocol. */
  bnImages?: number;
  /** With measure: test images that score each emitted subnet (default: the whole test split). */
  testImages?: number;
  onProgress?: (p: { target: string; stage: string; done: number; total: number }) => void;
  warn?: (message: string) => void;
}

export interface EmittedSubnet {
  arch: ArchConfig;
  /** Tailor's top-1 estimate made without the test split: the validation score when rescored, else the predictor's. */
  predictedTop1: number;
  /** What the accuracy predictor said. */
  predictorTop1: number;
  top1Source: 'validation' | 'predictor';
  measuredTop1: number | null;
  latencyMs: Record<string, { predicted: number; measured: number | null }>;
  params: number;
  macs: number;
  sizeBytes: number;
  /** The ONNX model, relative to the target's folder. */
  file: string;
  /** The same subnet and weights as TFLite (NHWC), beside it. */
  tflite: string;
}

export interface ParetoFile {
  target: string;
  algorithm: AlgorithmName;
  seed: number;
  evaluations: number;
  hypervolume: number;
  /** The objectives (minimized; accuracy as -top-1) and the bounds the hypervolume is normalized with (reference 1.1). */
  objectives: string[];
  bounds: ObjectiveBounds;
  space: string;
  supernet: string;
  budgets: ReturnType<typeof targetBudgets>;
  frontSize: number;
  /** With --measure, per device: how the measured latencies compare with the predictions. */
  measured?: Record<string, { speedFactor: number; within10: number; within10AtCurrentSpeed: number; mape: number }>;
  /** Front candidates scored on the validation split before emission (0: none), with the predictor's protocol. */
  rescored: { candidates: number; bnImages: number; evalImages: number };
  /** With --measure: |measured - predicted| top-1 in points, and the same for the predictor's raw values. */
  top1ErrorPoints?: { mean: number; max: number; within1_5: number; predictor: { mean: number; max: number; within1_5: number } };
  subnets: EmittedSubnet[];
}

interface Context {
  engine: Engine;
  run: RunInfo;
  runDir: string;
  net: ElasticSupernet;
  data: Dataset;
  accuracy: AccuracyPredictor;
  latency: LatencyService;
  /** Validation scores of subnets under the predictor's protocol: the run's measurement cache, loaded once. */
  validation?: Map<string, SubnetMeasurement>;
}

/** Evenly spread picks along the (sorted) front, always both ends. */
export function spreadPick<T>(sorted: T[], count: number): T[] {
  if (sorted.length <= count) return sorted;
  if (count <= 1) return sorted.slice(0, Math.max(0, count));
  const picks = new Set<number>();
  for (let i = 0; i < count; i++) picks.add(Math.round((i * (sorted.length - 1)) / (count - 1)));
  return [...picks].map((i) => sorted[i]);
}

function runAlgorithm(space: SearchSpace, problem: SearchProblem, target: Target, o: SpecializeOptions, resolutions: number[]): { evaluated: EvaluatedArch[]; evaluations: number } {
  const common = { generations: o.generations, population: o.population, resolutions };
  const perDevice = <R extends { evaluated: EvaluatedArch[] }>(search: (device: string, latencyMs: number, seed: number) => R) => {
    // MnasNet-style searches optimize one latency target T each: one per device budget, every evaluated arch kept.
    const byId = new Map<string, EvaluatedArch>();
    for (const [device, budget] of Object.entries(target.devices)) {
      for (const r of search(device, budget.latencyMs, deriveSeed(o.seed, `${target.name}/${device}`)).evaluated) if (!byId.has(r.id)) byId.set(r.id, r);
    }
    return { evaluated: [...byId.values()], evaluations: byId.size };
  };
  switch (o.algorithm) {
    case 'nsga2':
      return nsga2(space, problem, { seed: o.seed, ...common });
    case 'evolution':
      return evolution(space, problem, { seed: o.seed, ...common });
    case 'mnasnet':
      return perDevice((device, latencyMs, seed) => mnasnet(space, problem, { seed, ...common, target: { device, latencyMs }, reward: o.reward }));
    case 'reinforce':
      return perDevice((device, latencyMs, seed) => reinforce(space, problem, { seed, iterations: o.generations, batchSize: o.population, resolutions, target: { device, latencyMs }, reward: o.reward }));
    case 'random':
      return randomSearch(space, problem, { seed: o.seed, samples: (o.population ?? 100) * (o.generations ?? 20), resolutions });
  }
}

/**
 * For each target: search the supernet's subnets with predicted accuracy and latency, keep the
 * feasible Pareto front over (top-1, latency on each device, size), export up to maxSubnets of it
 * with inherited weights (BN recalibrated as tailor eval does), optionally measure them, and write
 * <out>/<target>/pareto.json, pareto.svg and pareto.png.
 */
export async function specialize(ctx: Context, o: SpecializeOptions): Promise<ParetoFile[]> {
  const space = ctx.run.space;
  // Tables and counts are those of the trained network: the run's input channels and classes.
  const tableSpace = spaceWithIO(space, { inputChannels: ctx.run.channels, numClasses: ctx.run.classes.length });
  const results: ParetoFile[] = [];
  const scoredWith = ctx.accuracy.file.protocol.bnImages;
  if (o.rescore > 0 && o.bnImages !== undefined && o.bnImages !== scoredWith) {
    o.warn?.(`emitted subnets are recalibrated on ${o.bnImages} images but were scored on the validation split with ${scoredWith} (the predictor's protocol): their predictedTop1 may be off`);
  }
  for (const target of o.targets) {
    const latency = new Map<string, EfficiencyPredictor>();
    for (const device of Object.keys(target.devices)) {
      const predictor = ctx.latency.predictor(device, tableSpace.id);
      latency.set(device, latencyEfficiency(device, predictor, tableSpace));
    }
    const resolutions = searchResolutions(tableSpace, [...latency.keys()].map((d) => ctx.latency.predictor(d, tableSpace.id).table), o);
    const budgets = targetBudgets(target);
    const problem = targetProblem(tableSpace, { predict: (archs) => ctx.accuracy.predict(archs, space) }, latency, budgets);
    o.onProgress?.({ target: target.name, stage: `searching (${o.algorithm})`, done: 0, total: 1 });
    let searched: { evaluated: EvaluatedArch[]; evaluations: number };
    try {
      searched = runAlgorithm(space, problem, target, o, resolutions);
    } catch (e) {
      if (e instanceof TailorError && e.code === 'NO_FEASIBLE_ARCH') throw budgetsNotMet(space, target, problem, [], resolutions, o.seed);
      throw e;
    }
    const { evaluated, evaluations } = searched;
    // The emitted front: top-1 against latency on each of the target's devices, what a user picks
    // from. (NSGA-II also minimizes size while searching; budgets are hard constraints.)
    const objectives: ObjectiveKey[] = ['accuracy', ...problem.devices.map(latencyObjective)];
    const front = feasibleFront(evaluated, objectives);
    if (!front.length) throw budgetsNotMet(space, target, problem, evaluated, resolutions, o.seed);
    const vectors = evaluated.filter((e) => e.feasible).map((e) => objectiveVector(e, objectives));
    const bounds: ObjectiveBounds = {
      ideal: objectives.map((_, j) => Math.min(...vectors.map((v) => v[j]))),
      nadir: objectives.map((_, j) => Math.max(...vectors.map((v) => v[j]))),
    };
    const hypervolume = normalizedHypervolume(front.map((e) => objectiveVector(e, objectives)), bounds);
    const primary = Object.keys(target.devices)[0];
    const byLatency = <T extends EvaluatedArch>(list: T[]) => [...list].sort((a, b) => a.latencyMs[primary] - b.latencyMs[primary]);
    // The predictor errs by a point or so, and the front collects the subnets it over-rates most:
    // scoring the candidates on the validation split removes that bias before anything is emitted.
    const protocol = ctx.accuracy.file.protocol;
    let pick: { e: EvaluatedArch; predictorTop1: number }[];
    let rescored = 0;
    if (o.rescore > 0) {
      const candidates = spreadPick(byLatency(front), Math.max(o.rescore, o.maxSubnets));
      rescored = candidates.length;
      const scores = await validationScores(ctx, candidates.map((c) => c.arch), (done) =>
        o.onProgress?.({ target: target.name, stage: `scoring ${candidates.length} front candidates on the validation split`, done, total: candidates.length }));
      const predictorTop1 = new Map(candidates.map((c) => [c.id, c.accuracy]));
      const validated = feasibleFront(candidates.map((c, i) => ({ ...c, accuracy: scores[i] })), objectives);
      pick = spreadPick(byLatency(validated), o.maxSubnets).map((e) => ({ e, predictorTop1: predictorTop1.get(e.id)! }));
    } else {
      pick = spreadPick(byLatency(front), o.maxSubnets).map((e) => ({ e, predictorTop1: e.accuracy }));
    }

    // Written into a hidden folder and renamed at the end: a failed run leaves nothing that looks complete.
    const finalDir = path.join(o.outDir, target.name);
    const dir = path.join(o.outDir, `.${target.name}.partial-${process.pid}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const subnets: EmittedSubnet[] = [];
    const bytesOf: Record<ModelFormat, Uint8Array>[] = [];
    for (const [i, { e, predictorTop1 }] of pick.entries()) {
      o.onProgress?.({ target: target.name, stage: o.measure ? 'exporting and evaluating' : 'exporting', done: i, total: pick.length });
      const { subnet, measuredTop1 } = await emitSubnet(ctx, e.arch, o);
      const stem = `subnet-${String(i + 1).padStart(2, '0')}`;
      const file = `${stem}.onnx`;
      const c = countModel(subnet.ir);
      const weights = subnet.weightProvider(`supernet ${path.resolve(ctx.runDir)}`);
      const metadata = (layout: 'NCHW' | 'NHWC') => ({
        arch: JSON.stringify(e.arch), space: space.id, dataset: ctx.run.dataset, classes: JSON.stringify(ctx.run.classes),
        predictedTop1: String(e.accuracy), ...(measuredTop1 !== null ? { top1: String(measuredTop1) } : {}),
        params: String(c.params), macs: String(c.macs), target: target.name,
        latencyMs: JSON.stringify(e.latencyMs), seed: String(o.seed), algorithm: o.algorithm,
        preprocess: `${layout} float32, pixel / 127.5 - 1, resized to the arch resolution`,
      });
      const models = { onnx: exportOnnx(subnet.ir, { weights, metadata: metadata('NCHW') }), tflite: exportTflite(subnet.ir, { weights, metadata: metadata('NHWC') }) };
      writeFileAtomic(path.join(dir, file), models.onnx);
      writeFileAtomic(path.join(dir, `${stem}.tflite`), models.tflite);
      subnet.dispose();
      bytesOf.push(models);
      subnets.push({
        arch: e.arch, predictedTop1: e.accuracy, predictorTop1, top1Source: o.rescore > 0 ? 'validation' : 'predictor', measuredTop1,
        latencyMs: Object.fromEntries(Object.entries(e.latencyMs).map(([d, ms]) => [d, { predicted: ms, measured: null }])),
        params: e.params, macs: e.macs, sizeBytes: e.sizeBytes, file, tflite: `${stem}.tflite`,
      });
    }
    const pareto: ParetoFile = {
      target: target.name, algorithm: o.algorithm, seed: o.seed, evaluations, hypervolume, objectives, bounds,
      space: tableSpace.id, supernet: path.resolve(ctx.runDir), budgets, frontSize: front.length,
      rescored: { candidates: rescored, bnImages: protocol.bnImages, evalImages: protocol.evalImages },
      subnets,
    };
    if (o.measure) await measureEmitted(ctx, target, tableSpace, subnets, bytesOf, pareto, o);
    writeJsonAtomic(path.join(dir, 'pareto.json'), pareto);
    const svg = paretoSvg({
      title: `${target.name}: ${o.algorithm}, ${evaluations} subnets evaluated, ${front.length} on the front`,
      xLabel: `predicted latency on ${primary} (ms)`,
      yLabel: 'predicted top-1 (%)',
      all: evaluated.map((e) => ({ x: e.latencyMs[primary], y: 100 * e.accuracy, feasible: e.feasible })),
      front: front.map((e) => ({ x: e.latencyMs[primary], y: 100 * e.accuracy })),
      emitted: subnets.map((s, i) => ({ x: s.latencyMs[primary].predicted, y: 100 * s.predictedTop1, label: String(i + 1) })),
      emittedLegend: o.rescore > 0 ? 'emitted subnet (validation top-1)' : 'emitted subnet',
      budgets: [{ x: target.devices[primary].latencyMs, label: `budget ${target.devices[primary].latencyMs} ms` }],
    });
    writeFileAtomic(path.join(dir, 'pareto.svg'), svg);
    const png = path.join(dir, 'pareto.png');
    await svgToPng(svg, png);
    const old = `${finalDir}.old-${process.pid}`;
    if (fs.existsSync(finalDir)) fs.renameSync(finalDir, old);
    fs.renameSync(dir, finalDir);
    fs.rmSync(old, { recursive: true, force: true });
    results.push(pareto);
  }
  return results;
}

/**
 * No subnet meets the target: the closest ones (least total relative excess) among those the
 * search evaluated, or among seeded samples and the smallest subnet when it kept none, and the
 * budget that binds (the one the closest subnet still exceeds).
 */
function budgetsNotMet(space: SearchSpace, target: Target, problem: SearchProblem, evaluated: EvaluatedArch[], resolutions: number[], seed: number): TailorError {
  let pool: Evaluated[] = evaluated;
  if (!pool.length) {
    const rng = new Rng(deriveSeed(seed, `${target.name}/closest`));
    pool = problem.evaluate([minArch(space, Math.min(...resolutions)), ...Array.from({ length: 500 }, () => sampleArch(space, rng, resolutions))]);
  }
  const budgets = problem.budgets;
  const closest = [...pool].sort((a, b) => constraintViolation(a, budgets) - constraintViolation(b, budgets)).slice(0, 3);
  return new TailorError('BUDGETS_NOT_MET', {
    space: space.id, target: target.name, budgets: describeBudgets(budgets), evaluated: pool.length,
    binding: describeViolations(closest[0], budgets),
    closest: closest.map((e) => `${archId(space, e.arch)} (top-1 ${(100 * e.accuracy).toFixed(1)}%, ${describeViolations(e, budgets)})`).join('; '),
  });
}

/** The resolutions a target can be searched at: requested (or all of the space) that every device's table covers. */
function searchResolutions(space: SearchSpace, tables: LatencyTable[], o: SpecializeOptions): number[] {
  const wanted = o.resolutions ?? space.resolutions;
  checkResolutions(space, wanted, '--resolutions');
  const covered = wanted.filter((r) => tables.every((t) => t.resolutions.includes(r)));
  const missing = wanted.filter((r) => !covered.includes(r));
  if (!covered.length) {
    const t = tables.find((x) => !wanted.some((r) => x.resolutions.includes(r))) ?? tables[0];
    throw new TailorError('RESOLUTION_NOT_IN_TABLE', { resolution: wanted.join(', '), device: t.device.id, space: space.id, available: t.resolutions.join(', ') || 'none' });
  }
  if (missing.length && !o.resolutions) o.warn?.(`searching resolutions ${covered.join(', ')} only: the tables of this target's devices lack ${missing.join(', ')} (profile them to search those too)`);
  if (missing.length && o.resolutions) {
    throw new TailorError('RESOLUTION_NOT_IN_TABLE', { resolution: missing.join(', '), device: tables.find((t) => missing.some((r) => !t.resolutions.includes(r)))!.device.id, space: space.id, available: covered.join(', ') });
  }
  return covered;
}

/** BN recalibration as tailor eval does; with --measure also top-1 on the test split (the same numbers eval reports). */
async function emitSubnet(ctx: Context, arch: ArchConfig, o: SpecializeOptions) {
  const { evaluateSubnet, recalibrateOn } = await import('../training/runs.js');
  const { sliceSet } = await import('../training/datasets.js');
  if (o.measure) {
    const { result, subnet } = evaluateSubnet(ctx.engine, ctx.net, ctx.data, arch, o.bnImages ?? ctx.accuracy.file.protocol.bnImages, o.testImages);
    return { subnet, measuredTop1: result.top1 };
  }
  const n = Math.min(o.bnImages ?? ctx.accuracy.file.protocol.bnImages, ctx.data.val.count);
  return { subnet: recalibrateOn(ctx.engine, ctx.net, ctx.data, sliceSet(ctx.data.val, 0, n), arch), measuredTop1: null };
}

async function measureEmitted(ctx: Context, target: Target, tableSpace: SearchSpace, subnets: EmittedSubnet[], bytes: Record<ModelFormat, Uint8Array>[], pareto: ParetoFile, o: SpecializeOptions): Promise<void> {
  pareto.measured = {};
  for (const device of Object.keys(target.devices)) {
    const descriptor = ctx.latency.devices.get(device);
    if (descriptor.backend === 'table-only') {
      o.warn?.(`${device} is a table-only device: nothing to measure on, its latencies stay predictions`);
      continue;
    }
    const items = subnets.map((s, i) => ({ bytes: (format: ModelFormat) => bytes[i][format], tableMs: s.latencyMs[device].predicted }));
    const { rows, speedFactor } = await ctx.latency.measure(device, tableSpace.id, items, {
      onProgress: (p) => o.onProgress?.({ target: target.name, stage: `measuring on ${device}`, done: p.done, total: p.total }),
    });
    rows.forEach((r, i) => (subnets[i].latencyMs[device].measured = r.measuredMs));
    const raw = summarizeValidation(rows.map((r) => ({ predictedMs: r.tableMs, measuredMs: r.measuredMs })));
    const calibrated = summarizeValidation(rows);
    pareto.measured[device] = { speedFactor, within10: raw.within10, within10AtCurrentSpeed: calibrated.within10, mape: raw.mape };
  }
  const summary = (estimate: (s: EmittedSubnet) => number) => {
    const errors = subnets.map((s) => 100 * Math.abs((s.measuredTop1 ?? NaN) - estimate(s)));
    return { mean: errors.reduce((a, b) => a + b, 0) / errors.length, max: Math.max(...errors), within1_5: errors.filter((e) => e <= 1.5).length / errors.length };
  };
  pareto.top1ErrorPoints = { ...summary((s) => s.predictedTop1), predictor: summary((s) => s.predictorTop1) };
}

/**
 * Top-1 of each arch under the accuracy predictor's protocol (BN on the first validation images,
 * top-1 on the rest), from the run's measurement cache or measured now and appended to it: a
 * rerun, another target or a later acc-predictor never scores a subnet twice.
 */
async function validationScores(ctx: Context, archs: ArchConfig[], onProgress: (done: number) => void): Promise<number[]> {
  const { appendMeasurement, measureSubnet, readMeasurements } = await import('../accuracy/measurements.js');
  const protocol = ctx.accuracy.file.protocol;
  ctx.validation ??= readMeasurements(ctx.runDir, ctx.run.space, protocol);
  const out: number[] = [];
  for (const arch of archs) {
    const id = archId(ctx.run.space, arch);
    let m = ctx.validation.get(id);
    if (!m) {
      m = await measureSubnet(ctx.engine, ctx.net, ctx.data, ctx.run.space, arch, protocol);
      appendMeasurement(ctx.runDir, m);
      ctx.validation.set(id, m);
    }
    out.push(m.top1);
    onProgress(out.length);
  }
  return out;
}

