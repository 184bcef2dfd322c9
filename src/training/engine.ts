import type * as TF from '@tensorflow/tfjs';
import { TailorError } from '../core/errors';
import { registerWasmGradients } from './gradients';

export type EngineBackend = 'tensorflow' | 'wasm' | 'cpu';

export interface Engine {
  tf: typeof TF;
  backend: EngineBackend;
  /** Why this backend: shown in logs and stored in run metadata. */
  note: string;
}

function hasTfjsNode(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

let current: Engine | null = null;

/**
 * Loads TensorFlow.js and picks a backend: tfjs-node (libtensorflow) when it is installed,
 * otherwise the wasm backend (XNNPACK) with our gradient kernels; `cpu` on request (slow, the
 * reference for gradient checks). Loaded on demand: only training commands pay for it.
 */
export async function initEngine(requested?: EngineBackend): Promise<Engine> {
  if (current && (!requested || requested === current.backend)) return current;
  const tf = require('@tensorflow/tfjs') as typeof TF;
  let backend: EngineBackend = requested ?? (hasTfjsNode() ? 'tensorflow' : 'wasm');
  let note = requested ? 'requested' : backend === 'tensorflow' ? '@tensorflow/tfjs-node is installed' : 'default (tfjs-node not installed)';
  if (backend === 'tensorflow') {
    if (!hasTfjsNode()) throw new TailorError('INVALID_OPTION', { option: '--engine', reason: '"tensorflow" needs @tensorflow/tfjs-node, which is not installed' });
    require('@tensorflow/tfjs-node');
  } else {
    // tfjs-node has native gradient kernels; wasm lacks some, and cpu shares the configs so results agree.
    registerWasmGradients(tf);
  }
  if (backend === 'wasm') require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(backend))) {
    if (requested) throw new TailorError('INVALID_OPTION', { option: '--engine', reason: `the TensorFlow.js backend "${backend}" failed to initialize` });
    backend = 'cpu';
    note = 'fallback: the wasm backend failed to initialize';
    await tf.setBackend('cpu');
  }
  await tf.ready();
  current = { tf, backend, note };
  return current;
}
