import * as fs from 'node:fs';
import { Workspace } from '../src/core/workspace';
import { profilePath, readKernelProfile } from '../src/kernels/store';

/**
 * What the kernel/op benches do with the device's saved profile: start over when asked to or when
 * it cannot be read (a profile of another Tailor version) or holds graphs of another sampler
 * version (`sampler`: the version profiling records), else extend it; `reuse` when it is already
 * complete for `samples` (profiling then only reloads it).
 */
export function savedProfileState(ws: Workspace, device: string, samples: number, freshRequested: boolean, sampler?: number): { fresh: boolean; reuse: boolean } {
  const file = profilePath(ws, device);
  let existing: ReturnType<typeof readKernelProfile> | null = null;
  try {
    existing = fs.existsSync(file) ? readKernelProfile(file) : null;
  } catch {
    // a profile of another Tailor version: start over
  }
  const outdated = !!existing && sampler !== undefined && (existing.method.sampler ?? 1) !== sampler;
  const fresh = freshRequested || (fs.existsSync(file) && !existing) || outdated;
  return { fresh, reuse: !fresh && !!existing?.complete && existing.graphs.length >= samples };
}

/** A profiling progress callback that prints to stderr at most every 10 s, and at the end. */
export function throttledProgress(): (p: { done: number; total: number; message: string }) => void {
  let last = 0;
  return (p) => {
    if (Date.now() - last > 10_000 || p.done === p.total) {
      last = Date.now();
      process.stderr.write(`profile: ${p.done}/${p.total} ${p.message}\n`);
    }
  };
}
