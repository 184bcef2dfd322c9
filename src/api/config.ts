import * as path from 'node:path';
import { parseQueueUrl } from '../jobs/redis';

/** Where the service keeps its state: the workspace (devices/, latency-tables/) and the data directory (jobs database). */
export interface TailorConfig {
  home: string;
  dataDir: string;
  /** The only directory whose models HTTP requests may name by path (POST /gate, /latency/predict); null: uploads only. */
  modelDir?: string | null;
  /** TAILOR_QUEUE: a Redis URL shared by several servers (BullMQ); null: the embedded queue. */
  queue?: string | null;
}

export const TAILOR_CONFIG = Symbol('TAILOR_CONFIG');

export function configFromEnv(overrides: Partial<TailorConfig> = {}): TailorConfig {
  const home = path.resolve(overrides.home ?? process.env.TAILOR_HOME ?? process.cwd());
  const dataDir = path.resolve(overrides.dataDir ?? process.env.TAILOR_DATA_DIR ?? path.join(home, '.tailor'));
  const modelDir = overrides.modelDir ?? process.env.TAILOR_MODEL_DIR;
  const queue = overrides.queue !== undefined ? overrides.queue : (process.env.TAILOR_QUEUE ?? null);
  if (queue) parseQueueUrl(queue); // malformed: the service does not start
  return { home, dataDir, modelDir: modelDir ? path.resolve(modelDir) : null, queue: queue || null };
}
