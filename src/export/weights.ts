import { ConvNode, LinearNode, hasBias } from '../core/ir';
import { Rng, deriveSeed } from '../core/rng';

export interface InferenceWeights {
  /** conv: [out, in / groups, k, k]; linear: [out, in]. BN already folded in. */
  weight: Float32Array;
  bias: Float32Array | null;
}

/** Source of a node's inference weights; random-but-seeded here, a trained supernet later. */
export interface WeightProvider {
  readonly description: string;
  weights(node: ConvNode | LinearNode): InferenceWeights;
}

export function weightShape(node: ConvNode | LinearNode): number[] {
  return node.op === 'conv'
    ? [node.outChannels, node.inChannels / node.groups, node.kernelSize, node.kernelSize]
    : [node.outFeatures, node.inFeatures];
}

/**
 * He-normal weights and small biases, seeded per tensor name: the same node of the same
 * arch gets the same values whether exported whole, as a piece, or to another format.
 */
export function seededWeights(seed: number): WeightProvider {
  const fill = (name: string, length: number, std: number) => {
    const rng = new Rng(deriveSeed(seed, name));
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = rng.normal() * std;
    return out;
  };
  return {
    description: `random (seed ${seed})`,
    weights(node) {
      const shape = weightShape(node);
      const length = shape.reduce((a, b) => a * b, 1);
      const fanIn = length / shape[0];
      return {
        weight: fill(`${node.name}.weight`, length, Math.sqrt(2 / fanIn)),
        bias: hasBias(node) ? fill(`${node.name}.bias`, shape[0], 0.01) : null,
      };
    },
  };
}
