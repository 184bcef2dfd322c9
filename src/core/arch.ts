import { TailorError } from './errors';
import { Rng } from './rng';
import { SearchSpace, blockCount } from './space';

/** OFA-compatible architecture config: kernel size and expand ratio per block, depth per stage, resolution. */
export interface ArchConfig {
  space: string;
  ks: number[];
  e: number[];
  d: number[];
  r: number;
}

function fail(space: SearchSpace, reason: string): never {
  throw new TailorError('INVALID_ARCH', { space: space.id, reason });
}

function checkList(space: SearchSpace, name: string, value: unknown, length: number, allowed: number[]): number[] {
  if (!Array.isArray(value)) fail(space, `"${name}" must be an array of ${length} integers`);
  if (value.length !== length) fail(space, `"${name}" has ${value.length} entries, the space needs ${length}`);
  value.forEach((v, i) => {
    if (!allowed.includes(v as number)) fail(space, `${name}[${i}] = ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  });
  return value as number[];
}

/**
 * Validates a raw object against a space and returns a normalized config.
 * Accepts OFA's `r: [224]` form and an `image_size` alias.
 */
export function validateArch(raw: unknown, space: SearchSpace): ArchConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(space, 'expected a JSON object with ks, e, d and r');
  const obj = raw as Record<string, unknown>;
  if (obj.space !== undefined && obj.space !== space.id) fail(space, `config says space "${String(obj.space)}"`);
  const blocks = blockCount(space);
  const ks = checkList(space, 'ks', obj.ks, blocks, space.kernelSizes);
  const e = checkList(space, 'e', obj.e, blocks, space.expandRatios);
  const d = checkList(space, 'd', obj.d, space.stages.length, space.depths);
  let r = obj.r ?? obj.image_size;
  if (Array.isArray(r) && r.length === 1) r = r[0];
  if (typeof r !== 'number' || !space.resolutions.includes(r)) {
    const list = space.resolutions;
    fail(space, `resolution ${JSON.stringify(r)} is not in the space (${list[0]}..${list[list.length - 1]}: ${list.join(', ')})`);
  }
  return { space: space.id, ks: [...ks], e: [...e], d: [...d], r };
}

export function maxArch(space: SearchSpace, r = Math.max(...space.resolutions)): ArchConfig {
  const n = blockCount(space);
  return {
    space: space.id,
    ks: Array(n).fill(Math.max(...space.kernelSizes)),
    e: Array(n).fill(Math.max(...space.expandRatios)),
    d: Array(space.stages.length).fill(Math.max(...space.depths)),
    r,
  };
}

export function minArch(space: SearchSpace, r = Math.min(...space.resolutions)): ArchConfig {
  const n = blockCount(space);
  return {
    space: space.id,
    ks: Array(n).fill(Math.min(...space.kernelSizes)),
    e: Array(n).fill(Math.min(...space.expandRatios)),
    d: Array(space.stages.length).fill(Math.min(...space.depths)),
    r,
  };
}

/** Uniform sample over the space, as OFA's sample_active_subnet; `resolutions` narrows the resolution choice. */
export function sampleArch(space: SearchSpace, rng: Rng, resolutions: readonly number[] = space.resolutions): ArchConfig {
  const n = blockCount(space);
  return {
    space: space.id,
    ks: Array.from({ length: n }, () => rng.pick(space.kernelSizes)),
    e: Array.from({ length: n }, () => rng.pick(space.expandRatios)),
    d: space.stages.map(() => rng.pick(space.depths)),
    r: rng.pick(resolutions),
  };
}

/** Every block at kernel k and expand e, all stages at full depth: together these touch every block key of a resolution. */
export function uniformArchs(space: SearchSpace, r: number): { k: number; e: number; arch: ArchConfig }[] {
  const n = blockCount(space);
  return space.kernelSizes.flatMap((k) =>
    space.expandRatios.map((e) => ({ k, e, arch: { space: space.id, ks: Array(n).fill(k), e: Array(n).fill(e), d: space.stages.map(() => space.maxDepth), r } })),
  );
}

/** Blocks of stage s that are active under depth d: the first d. */
export function isBlockActive(space: SearchSpace, arch: ArchConfig, blockIndex: number): boolean {
  return (blockIndex % space.maxDepth) < arch.d[Math.floor(blockIndex / space.maxDepth)];
}

/** Canonical form: settings of skipped blocks do not change the network, so they are normalized away for comparisons. */
export function archId(space: SearchSpace, arch: ArchConfig): string {
  const parts: string[] = [];
  for (let i = 0; i < blockCount(space); i++) {
    parts.push(isBlockActive(space, arch, i) ? `${arch.ks[i]}${arch.e[i]}` : '--');
  }
  return `r${arch.r}-d${arch.d.join('')}-${parts.join('')}`;
}
