import { ArchConfig, uniformArchs } from '../core/arch';
import { buildIR } from '../core/ir';
import { netFromArch } from '../core/net';
import { Rng, deriveSeed } from '../core/rng';
import { SearchSpace, blockCount } from '../core/space';

/**
 * Every key a subnet can use at resolution r. A block's key depends on its stage, whether it
 * is the stage's first block, and its own kernel/expand, so the uniform max-depth nets cover all.
 */
export function keysForResolution(space: SearchSpace, r: number): Set<string> {
  const keys = new Set<string>();
  for (const { arch } of uniformArchs(space, r)) for (const p of buildIR(netFromArch(space, arch)).pieces) keys.add(p.key);
  return keys;
}

/**
 * Whole networks to time at one resolution so that each block key appears in at least
 * `rounds` different networks. Depths vary at random so keys are seen in varied contexts;
 * each block takes its least-seen (kernel, expand) choice, ties broken by the seeded RNG.
 */
export function planResolution(space: SearchSpace, r: number, rounds: number, seed: number): ArchConfig[] {
  const rng = new Rng(deriveSeed(seed, `plan-${space.id}-${r}`));
  const choices = space.kernelSizes.flatMap((k) => space.expandRatios.map((e) => [k, e] as const));
  // seen[stage][first?0:1][choice]
  const seen = space.stages.map(() => [new Array(choices.length).fill(0), new Array(choices.length).fill(0)]);
  const nets: ArchConfig[] = [];
  const n = blockCount(space);
  const count = rounds * choices.length; // first blocks get one occurrence per net
  for (let j = 0; j < count; j++) {
    const ks = Array(n).fill(space.kernelSizes[0]);
    const e = Array(n).fill(space.expandRatios[0]);
    const d = space.stages.map(() => rng.pick(space.depths));
    for (let s = 0; s < space.stages.length; s++) {
      for (let b = 0; b < d[s]; b++) {
        const counts = seen[s][b === 0 ? 0 : 1];
        const least = Math.min(...counts);
        const pick = rng.pick(choices.map((_, c) => c).filter((c) => counts[c] === least));
        counts[pick]++;
        ks[s * space.maxDepth + b] = choices[pick][0];
        e[s * space.maxDepth + b] = choices[pick][1];
      }
    }
    nets.push({ space: space.id, ks, e, d, r });
  }
  return nets;
}
