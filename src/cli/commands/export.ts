import { resolveArch } from '../../core/arch-source';
import { countModel } from '../../core/counters';
import { writeFileAtomic } from '../../core/fs-atomic';
import { buildIR } from '../../core/ir';
import { exportOnnx } from '../../export/onnx';
import { seededWeights } from '../../export/weights';

export async function run(opts: { arch: string; space?: string; format: 'onnx'; out: string; seed: number }): Promise<void> {
  const resolved = resolveArch(opts.arch, opts.space);
  const ir = buildIR(resolved.net);
  const metadata: Record<string, string> = { seed: String(opts.seed), resolution: String(resolved.net.resolution) };
  if (resolved.space) metadata.space = resolved.space.id;
  if (resolved.arch) metadata.arch = JSON.stringify(resolved.arch);
  const bytes = exportOnnx(ir, { weights: seededWeights(opts.seed), metadata });
  writeFileAtomic(opts.out, bytes);
  const c = countModel(ir);
  console.log(`wrote ${opts.out} (${(bytes.length / 2 ** 20).toFixed(2)} MiB, ${c.params} params, ${c.macs} MACs, seed ${opts.seed})`);
}
