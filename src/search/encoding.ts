import { ArchConfig, isBlockActive } from '../core/arch';
import { TailorError } from '../core/errors';
import { SearchSpace, blockCount } from '../core/space';

/**
 * Feature layout of OFA's accuracy predictor (MobileNetArchEncoder.arch2feature), in OFA's order:
 * one-hot of the resolution, then one-hot of the kernel size of every block, then one-hot of the
 * expand ratio of every block; skipped blocks stay all zeros, which is how depth is encoded.
 *
 * Resolution is one-hot (not a normalized scalar) as in OFA: its effect on accuracy is not linear,
 * a small MLP learns a per-resolution offset directly, and the same layout can take weights of a
 * predictor trained by OFA's code on the same resolution list.
 */
export interface EncodingLayout {
  resolutionOffset: number;
  kernelOffset: number;
  expandOffset: number;
  featureCount: number;
}

export function encodingLayout(space: SearchSpace): EncodingLayout {
  const blocks = blockCount(space);
  const resolutionOffset = 0;
  const kernelOffset = resolutionOffset + space.resolutions.length;
  const expandOffset = kernelOffset + blocks * space.kernelSizes.length;
  return { resolutionOffset, kernelOffset, expandOffset, featureCount: expandOffset + blocks * space.expandRatios.length };
}

export function featureCount(space: SearchSpace): number {
  return encodingLayout(space).featureCount;
}

function indexOf(space: SearchSpace, list: readonly number[], value: number, what: string): number {
  const i = list.indexOf(value);
  if (i < 0) throw new TailorError('INVALID_ARCH', { space: space.id, reason: `${what} ${value} is not one of ${list.join(', ')}` });
  return i;
}

/** Writes the encoding of `arch` into `out` at `offset` (out must be zero there). */
function encodeInto(space: SearchSpace, arch: ArchConfig, layout: EncodingLayout, out: Float32Array, offset: number): void {
  out[offset + layout.resolutionOffset + indexOf(space, space.resolutions, arch.r, 'resolution')] = 1;
  const kernels = space.kernelSizes.length;
  const expands = space.expandRatios.length;
  for (let block = 0; block < blockCount(space); block++) {
    if (!isBlockActive(space, arch, block)) continue;
    out[offset + layout.kernelOffset + block * kernels + indexOf(space, space.kernelSizes, arch.ks[block], `ks[${block}]`)] = 1;
    out[offset + layout.expandOffset + block * expands + indexOf(space, space.expandRatios, arch.e[block], `e[${block}]`)] = 1;
  }
}

export function encodeArch(space: SearchSpace, arch: ArchConfig): Float32Array {
  const layout = encodingLayout(space);
  const out = new Float32Array(layout.featureCount);
  encodeInto(space, arch, layout, out, 0);
  return out;
}

/** Row-major [archs.length, featureCount] batch, ready for one predictor call. */
export function encodeArchs(space: SearchSpace, archs: readonly ArchConfig[]): Float32Array {
  const layout = encodingLayout(space);
  const out = new Float32Array(archs.length * layout.featureCount);
  archs.forEach((arch, i) => encodeInto(space, arch, layout, out, i * layout.featureCount));
  return out;
}
