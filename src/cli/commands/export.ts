import * as path from 'node:path';
import { resolveArch } from '../../core/arch-source';
import { TailorError } from '../../core/errors';
import { countModel } from '../../core/counters';
import { writeFileAtomic } from '../../core/fs-atomic';
import { ModelIR, buildIR } from '../../core/ir';
import { workspace } from '../../core/workspace';
import { exportOnnx } from '../../export/onnx';
import { exportTflite } from '../../export/tflite';
import { WeightProvider, seededWeights } from '../../export/weights';
import { GlobalOptions } from '../context';

export interface ExportCliOptions {
  arch: string;
  space?: string;
  supernet?: string;
  format: ModelFormat;
  out: string;
  seed: number;
  bnImages: number;
}

type ModelFormat = 'onnx' | 'tflite';
const EXTENSION: Record<ModelFormat, string> = { onnx: '.onnx', tflite: '.tflite' };

/** A model file's extension must not contradict --format (other extensions are the user's business). */
function checkExtension(out: string, format: ModelFormat): void {
  const ext = path.extname(out).toLowerCase();
  const implied = (Object.keys(EXTENSION) as ModelFormat[]).find((f) => EXTENSION[f] === ext);
  if (implied && implied !== format) {
    throw new TailorError('INVALID_OPTION', { option: '--out', reason: `"${out}" is named as a ${implied} file, but --format is ${format}; pass --format ${implied} or name the file *${EXTENSION[format]}` });
  }
}

function encode(format: ModelFormat, ir: ModelIR, weights: WeightProvider, metadata: Record<string, string>): Uint8Array {
  return format === 'tflite' ? exportTflite(ir, { weights, metadata }) : exportOnnx(ir, { weights, metadata });
}

/** A subnet with seeded random weights, or with weights inherited from a trained supernet (--supernet). */
export async function run(opts: ExportCliOptions, global: GlobalOptions): Promise<void> {
  checkExtension(opts.out, opts.format);
  if (opts.supernet) return exportFromSupernet(opts, global);
  const resolved = resolveArch(opts.arch, opts.space);
  const ir = buildIR(resolved.net);
  const metadata: Record<string, string> = { seed: String(opts.seed), resolution: String(resolved.net.resolution) };
  if (resolved.space) metadata.space = resolved.space.id;
  if (resolved.arch) metadata.arch = JSON.stringify(resolved.arch);
  const bytes = encode(opts.format, ir, seededWeights(opts.seed), metadata);
  writeFileAtomic(opts.out, bytes);
  const c = countModel(ir);
  console.log(`wrote ${opts.out} (${(bytes.length / 2 ** 20).toFixed(2)} MiB, ${c.params} params, ${c.macs} MACs, seed ${opts.seed})`);
}

async function exportFromSupernet(opts: ExportCliOptions, global: GlobalOptions): Promise<void> {
  const { initEngine } = await import('../../training/engine.js');
  const { evaluateSubnet, openRun, readRun, runArch, subnetMetadata } = await import('../../training/runs.js');
  const run = readRun(opts.supernet!);
  const arch = runArch(run, opts.arch);
  const engine = await initEngine();
  const { net, data } = await openRun(engine, opts.supernet!, path.join(workspace(global.home).root, '.tailor', 'cache'));
  // The same BN recalibration as `tailor eval`: the file scores what eval reports.
  const { result, subnet } = evaluateSubnet(engine, net, data, arch, opts.bnImages);
  const metadata = subnetMetadata(run, result, subnet);
  // TFLite takes the same pixels in NHWC order.
  if (opts.format === 'tflite' && metadata.preprocess) metadata.preprocess = metadata.preprocess.replace('NCHW', 'NHWC');
  const bytes = encode(opts.format, subnet.ir, subnet.weightProvider(`supernet ${path.resolve(opts.supernet!)}`), metadata);
  writeFileAtomic(opts.out, bytes);
  console.log(`wrote ${opts.out}: ${run.space.id} subnet, top-1 ${(result.top1 * 100).toFixed(2)}% on ${run.dataset}, ${countModel(subnet.ir).params} params`);
  subnet.dispose();
}
