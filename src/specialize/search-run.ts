import * as path from 'node:path';
import { checkResolutions, spaceWithIO } from '../core/space';
import type { LatencyService } from '../latency/latency.service';
import { AGENT_BACKEND } from '../runtime/devices';
import type { AlgorithmName } from '../search/archive';
import type { RunHooks } from '../training/train-run';
import type { ParetoFile } from './specialize';
import { Target, readTargets } from './targets';

export interface SearchRequest {
  supernet: string;
  /** A targets.json path, or the targets themselves. */
  targets: string | Target[];
  out: string;
  algorithm: AlgorithmName;
  seed: number;
  measure?: boolean;
  maxSubnets: number;
  generations?: number;
  population?: number;
  reward: 'soft' | 'hard';
  /** Front candidates per target scored on the validation split before emission (0: predictions only). */
  rescore: number;
  /** Default: the accuracy predictor's protocol, so emitted subnets carry the statistics they were scored with. */
  bnImages?: number;
  testImages?: number;
  resolutions?: number[];
  strict?: boolean;
}

/** Defaults of the options a search request may omit (CLI options and service search jobs). */
export const SEARCH_DEFAULTS = { algorithm: 'nsga2', seed: 0, maxSubnets: 8, reward: 'soft', rescore: 24 } as const satisfies Partial<SearchRequest>;

/**
 * Every input checked before the engine loads (synchronously: the service checks a job before
 * queueing it): targets, remote boards to measure on (reachable), the run (finished), its predictor,
 * the devices and their tables.
 */
export function checkSearchRequest(req: SearchRequest, latency: LatencyService) {
  // Loaded when first needed (they do not load tfjs): `tailor --help` stays fast.
  const { checkRunFinished, readRun } = require('../training/runs') as typeof import('../training/runs');
  const { loadPredictorFile } = require('../accuracy/predictor') as typeof import('../accuracy/predictor');
  const targets = typeof req.targets === 'string' ? readTargets(req.targets) : req.targets;
  // Measuring on a remote board goes through the service its agent connects to: refused now, not after the search.
  if (req.measure) {
    const { checkAgentReachable } = require('../runtime/agent/backend') as typeof import('../runtime/agent/backend');
    for (const t of targets) for (const device of Object.keys(t.devices)) if (latency.devices.get(device).backend === AGENT_BACKEND) checkAgentReachable(device);
  }
  const run = readRun(req.supernet);
  checkRunFinished(req.supernet);
  const predictorFile = loadPredictorFile(req.supernet, run.space);
  if (req.resolutions) checkResolutions(run.space, req.resolutions, '--resolutions');
  // Tables are those of the trained network: the run's input channels and classes.
  const tableSpace = spaceWithIO(run.space, { inputChannels: run.channels, numClasses: run.classes.length });
  for (const t of targets) for (const device of Object.keys(t.devices)) latency.predictor(device, tableSpace.id);
  return { targets, run, predictorFile, tableSpace };
}

/** `tailor search` as a function: the CLI and the service's search jobs both run this. */
export async function searchRun(req: SearchRequest, cacheDir: string, latency: LatencyService, hooks: RunHooks & { warn?: (m: string) => void } = {}): Promise<ParetoFile[]> {
  const { targets, predictorFile, tableSpace } = checkSearchRequest(req, latency);
  // A stale table is refused (--strict) or warned about once per device, before the engine loads.
  for (const device of new Set(targets.flatMap((t) => Object.keys(t.devices)))) {
    for (const w of await latency.checkFingerprint(latency.predictor(device, tableSpace.id).table, req.strict, device)) hooks.warn?.(w);
  }
  const { openRun } = await import('../training/runs.js');
  const { AccuracyPredictor } = await import('../accuracy/predictor.js');
  const { initEngine, oneThreadForLatency } = await import('../training/engine.js');
  const { specialize } = await import('./specialize.js');
  if (req.measure && !oneThreadForLatency()) hooks.warn?.('the training engine already runs on several threads in this process: latencies measured here may be skewed');
  const engine = await initEngine();
  const { run, net, data } = await openRun(engine, req.supernet, cacheDir, hooks.onDecode);
  const accuracy = new AccuracyPredictor(engine.tf, predictorFile);
  try {
    return await specialize(
      { engine, run, runDir: req.supernet, net, data, accuracy, latency },
      {
        targets, outDir: path.resolve(req.out), algorithm: req.algorithm, seed: req.seed, measure: Boolean(req.measure), maxSubnets: req.maxSubnets,
        generations: req.generations, population: req.population, reward: req.reward, rescore: req.rescore, bnImages: req.bnImages, testImages: req.testImages, resolutions: req.resolutions,
        // Progress over all targets: each target is one unit, its stages fractions of it.
        onProgress: (p) => hooks.onProgress?.({
          done: Math.max(0, targets.findIndex((t) => t.name === p.target)) + (p.total > 0 ? Math.min(1, p.done / p.total) : 0),
          total: targets.length, message: `${p.target}: ${p.stage}`,
        }),
        warn: hooks.warn,
      },
    );
  } finally {
    accuracy.dispose();
    net.dispose();
  }
}
