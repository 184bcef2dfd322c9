import { LoadedModel } from './backend';

export interface InterleaveOptions {
  /** Untimed runs of each model before the first pass. */
  warmup: number;
  passes: number;
  /** Timed runs per pass, after one untimed run: one count for all models or one per model. */
  runsPerPass: number | number[];
  signal?: AbortSignal;
  onPass?: (pass: number, passes: number) => void;
}

/**
 * Times several loaded models round-robin, so slow drifts of a shared machine (other tenants,
 * clock changes) spread over all models instead of biasing whichever ran in a bad moment.
 * Returns every timed run of each model, in ms.
 */
export async function measureInterleaved<M extends LoadedModel>(models: M[], options: InterleaveOptions): Promise<number[][]> {
  const samples = models.map(() => [] as number[]);
  for (const m of models) {
    options.signal?.throwIfAborted();
    await m.measure({ warmup: options.warmup, runs: 0 });
  }
  for (let pass = 0; pass < options.passes; pass++) {
    options.signal?.throwIfAborted();
    for (let i = 0; i < models.length; i++) {
      const runs = typeof options.runsPerPass === 'number' ? options.runsPerPass : options.runsPerPass[i];
      samples[i].push(...(await models[i].measure({ warmup: 1, runs })));
    }
    options.onPass?.(pass + 1, options.passes);
  }
  return samples;
}
