import { archId, sampleArch } from '../core/arch';
import { Rng, deriveSeed } from '../core/rng';
import type { RunHooks } from '../training/train-run';
import type { MeasureProtocol } from './measurements';
import type { PredictorFile } from './predictor';

/**
 * Defaults of the options an accuracy-predictor request may omit (CLI options and service jobs).
 * evalImages has none: each subnet is scored on the whole rest of the validation split, since a
 * 2000-image slice differs from the test split by a point or two, for every subnet alike.
 */
export const ACC_PREDICTOR_DEFAULTS = { samples: 200, seed: 0, bnImages: 500, epochs: 150 } as const;

export interface AccPredictorRequest {
  supernet: string;
  samples: number;
  seed: number;
  bnImages: number;
  /** Validation images after the BN ones that score each subnet; default: all of them. */
  evalImages?: number;
  epochs: number;
}

export interface AccPredictorReport {
  file: string;
  samples: PredictorFile['samples'];
  measuredNow: number;
  protocol: MeasureProtocol;
  heldOut: PredictorFile['heldOut'];
  seed: number;
}

/**
 * `tailor acc-predictor` as a function (CLI and service jobs): measure the seeded sample of
 * subnets not measured before (each appended to the run's cache as it is taken), train the MLP,
 * store it in the run.
 */
export async function buildAccuracyPredictor(req: AccPredictorRequest, cacheDir: string, hooks: RunHooks = {}): Promise<AccPredictorReport> {
  const { checkRunFinished, readRun, openRun } = await import('../training/runs.js');
  const run = readRun(req.supernet);
  checkRunFinished(req.supernet);
  const { initEngine } = await import('../training/engine.js');
  const { appendMeasurement, checkProtocol, measureSubnet, readMeasurements } = await import('./measurements.js');
  const { savePredictor, trainAccuracyPredictor } = await import('./predictor.js');
  const engine = await initEngine();
  const { net, data } = await openRun(engine, req.supernet, cacheDir, hooks.onDecode);
  try {
    const protocol = { bnImages: req.bnImages, evalImages: req.evalImages ?? Math.max(0, data.val.count - req.bnImages) };
    checkProtocol(data, protocol);
    // The sample is a function of the seed alone, so a rerun (or a larger --samples) reuses every cached measurement.
    const rng = new Rng(deriveSeed(req.seed, 'acc-predictor-samples'));
    const archs = new Map<string, ReturnType<typeof sampleArch>>();
    for (let tries = 0; archs.size < req.samples && tries < req.samples * 20; tries++) {
      const arch = sampleArch(run.space, rng);
      archs.set(archId(run.space, arch), arch);
    }
    const cached = readMeasurements(req.supernet, run.space, protocol);
    const todo = [...archs].filter(([id]) => !cached.has(id));
    hooks.info?.(`${archs.size} subnets: ${archs.size - todo.length} measured before, ${todo.length} to measure (BN on ${protocol.bnImages} validation images, top-1 on the next ${protocol.evalImages})`);
    for (const [i, [, arch]] of todo.entries()) {
      hooks.signal?.throwIfAborted();
      const m = await measureSubnet(engine, net, data, run.space, arch, protocol);
      appendMeasurement(req.supernet, m);
      cached.set(m.id, m);
      hooks.onProgress?.({ done: i + 1, total: todo.length + 1, message: `measured ${i + 1}/${todo.length}: top-1 ${(m.top1 * 100).toFixed(1)}%` });
    }
    const measured = [...archs.keys()].map((id) => cached.get(id)!);
    const file = trainAccuracyPredictor(engine.tf, run.space, measured, {
      seed: req.seed, protocol, epochs: req.epochs,
      onEpoch: (epoch, epochs, loss) => hooks.onProgress?.({ done: todo.length + (epoch + 1) / epochs, total: todo.length + 1, message: `training the predictor: epoch ${epoch + 1}/${epochs}, loss ${loss.toExponential(2)}` }),
    });
    return { file: savePredictor(req.supernet, file), samples: file.samples, measuredNow: todo.length, protocol, heldOut: file.heldOut, seed: req.seed };
  } finally {
    net.dispose();
  }
}
