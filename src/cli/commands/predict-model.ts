import * as fs from 'node:fs';
import { parseInputShapes } from '../../analysis/analyze';
import { analyzeModel, isTfliteBytes } from '../../analysis/model';
import { TailorError } from '../../core/errors';
import { exportedArch } from '../../gate/exported-arch';
import { readModel } from '../../gate/model';
import type { LatencyService } from '../../latency/latency.service';
import type { DeviceService } from '../../runtime/device.service';
import { deviceModelFormat } from '../../runtime/devices';
import { KernelsService } from '../../kernels/kernels.service';
import { modelPath } from '../../kernels/store';
import { GlobalOptions, services } from '../context';
import { formatTable, ms, printJson } from '../format';

type PredictModelOptions = { device: string; model: string; inputShape?: string[]; allowUnknownOps?: boolean; strict?: boolean; json?: boolean };

/** Folded nodes named in the text output, at most this many (all of them are in --json). */
const FOLDED_SHOWN = 8;

/** A lookup table lacks what the subnet needs: an answer of the op regressors instead, where the device has them. */
const TABLE_GAPS = ['TABLE_NOT_FOUND', 'RESOLUTION_NOT_IN_TABLE', 'MISSING_KEYS'];

export async function run(opts: PredictModelOptions, global: GlobalOptions): Promise<void> {
  const { devices, latency } = services(global);
  const inputShapes = parseInputShapes(opts.inputShape ?? []);
  const bytes = readModel({ display: opts.model, file: opts.model });
  const notes: string[] = [];
  if (isTfliteBytes(bytes)) {
    const outcome = await predictExportedTflite(opts, bytes, inputShapes, devices, latency);
    if (outcome === 'predicted') return;
    if (outcome === 'no-table') notes.push('the model carries the arch Tailor exported it from, but the device has no lookup table covering it: predicted op by op');
  }
  const kernels = new KernelsService(devices);
  // An ONNX model on a TFLite device, or a TFLite model on an onnxruntime device: refused before the regressors are looked for.
  kernels.checkFormat(opts.device, bytes, opts.model);
  // Refused (--strict) before predicting; the warnings lead the predictor's own.
  const stale = await kernels.checkMeasuredOn(opts.device, opts.strict);
  const prediction = kernels.predictor(opts.device).predict(bytes, { file: opts.model, path: opts.model, inputShapes, allowUnknownOps: opts.allowUnknownOps });
  const result = { ...prediction, warnings: [...notes, ...stale, ...prediction.warnings] };
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(result);
  const tflite = isTfliteBytes(bytes);
  const what = tflite ? 'op' : 'kernel';
  console.log(formatTable([what, tflite ? 'kind' : 'type', tflite ? 'ops' : 'nodes', 'ms'], result.breakdown.map((b) => [b.kernel, `${b.type}${b.nchwc ? ' (NCHWc)' : ''}${tflite && b.act ? ` +${b.act}` : ''}`, b.nodes.join(' + ') || '(inserted by the runtime)', Number(b.ms.toFixed(4))])));
  const foldedNodes = result.nodes.filter((n) => n.status === 'folded').map((n) => n.node);
  const folded = foldedNodes.length;
  const fused = result.nodes.filter((n) => n.status === 'fused').length;
  console.log();
  if (folded) console.log(`folded at load: ${foldedNodes.slice(0, FOLDED_SHOWN).join(', ')}${folded > FOLDED_SHOWN ? `, and ${folded - FOLDED_SHOWN} more (see --json)` : ''}`);
  if (result.unsupportedCount) {
    console.log(`no predictor for ${result.unsupportedCount} ${tflite ? 'op' : 'node'}(s):`);
    for (const u of result.unsupported) console.log(`  ${u.node} (${u.opType}): ${u.reason}`);
  }
  const counted = tflite ? `${result.kernels} ops + fixed cost ${ms(result.overheadMs)}; ${fused} op(s) fused into a neighbour${folded ? `, ${folded} folded at load` : ''}` : `${result.kernels} kernels + fixed cost ${ms(result.overheadMs)}; ${folded} node(s) folded at load`;
  console.log(`${result.device} / ${result.model}: ${ms(result.latencyMs)} (${counted}${result.unsupportedCount ? `; ${result.unsupportedCount} without predictor, not counted` : ''}) [${what} regressors]`);
}

/**
 * A TFLite model Tailor exported carries its arch: predicted from the device's lookup table, piece
 * by piece. 'not-ours' for any other model; 'no-table' when a TFLite device has no table for it
 * but has op regressors (those answer instead).
 */
async function predictExportedTflite(opts: PredictModelOptions, bytes: Uint8Array, inputShapes: Record<string, number[]>, devices: DeviceService, latency: LatencyService): Promise<'predicted' | 'not-ours' | 'no-table'> {
  const descriptor = devices.get(opts.device);
  const exported = exportedArch(bytes, analyzeModel(bytes, { file: opts.model, path: opts.model, inputShapes, allowUnknownOps: opts.allowUnknownOps }));
  if (!exported) return 'not-ours';
  let result;
  try {
    result = await latency.predict({ device: opts.device, strict: opts.strict, arch: { source: opts.model, arch: exported.arch, space: exported.space, net: exported.net } });
  } catch (e) {
    const regressors = deviceModelFormat(descriptor) === 'tflite' && fs.existsSync(modelPath(devices.ws, opts.device));
    if (e instanceof TailorError && TABLE_GAPS.includes(e.code) && regressors) return 'no-table';
    throw e;
  }
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) {
    printJson({ ...result, model: opts.model, source: 'lookup table (the model carries the arch it was exported from)' });
    return 'predicted';
  }
  console.log(formatTable(['piece', 'key', 'ms'], result.breakdown.map((b) => [b.piece, b.key, Number(b.ms.toFixed(4))])));
  console.log();
  console.log(`${result.device} / ${opts.model} (${result.space} @ ${result.resolution}, from its lookup table: the model carries its arch): ${ms(result.latencyMs)}`);
  return 'predicted';
}
