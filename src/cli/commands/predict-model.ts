import { parseInputShapes } from '../../analysis/analyze';
import { analyzeModel, isTfliteBytes } from '../../analysis/model';
import { TailorError } from '../../core/errors';
import { exportedArch } from '../../gate/exported-arch';
import { TFLITE_NO_PREDICTION, readModel } from '../../gate/model';
import type { LatencyService } from '../../latency/latency.service';
import type { DeviceService } from '../../runtime/device.service';
import { KernelsService } from '../../kernels/kernels.service';
import { modelPath } from '../../kernels/store';
import { GlobalOptions, services } from '../context';
import { formatTable, ms, printJson } from '../format';

export async function run(opts: { device: string; model: string; inputShape?: string[]; strict?: boolean; json?: boolean }, global: GlobalOptions): Promise<void> {
  const { devices, latency } = services(global);
  const inputShapes = parseInputShapes(opts.inputShape ?? []);
  const bytes = readModel({ display: opts.model, file: opts.model });
  if (isTfliteBytes(bytes)) return predictTflite(opts, bytes, inputShapes, devices, latency);
  const kernels = new KernelsService(devices);
  // Refused (--strict) before predicting; the warnings lead the predictor's own.
  const stale = await devices.checkMeasuredOn(devices.get(opts.device), kernels.predictor(opts.device).file, { kind: 'kernel regressors file', file: modelPath(devices.ws, opts.device), refresh: `tailor profile --device ${opts.device} --kernels --force` }, opts.strict);
  const prediction = kernels.predict(opts.device, opts.model, inputShapes);
  const result = { ...prediction, warnings: [...stale, ...prediction.warnings] };
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(result);
  console.log(formatTable(['kernel', 'type', 'nodes', 'ms'], result.breakdown.map((b) => [b.kernel, `${b.type}${b.nchwc ? ' (NCHWc)' : ''}`, b.nodes.join(' + ') || '(inserted by the runtime)', Number(b.ms.toFixed(4))])));
  const folded = result.nodes.filter((n) => n.status === 'folded').length;
  console.log();
  if (result.unsupportedCount) {
    console.log(`no predictor for ${result.unsupportedCount} node(s):`);
    for (const u of result.unsupported) console.log(`  ${u.node} (${u.opType}): ${u.reason}`);
  }
  console.log(`${result.device} / ${result.model}: ${ms(result.latencyMs)} (${result.kernels} kernels + fixed cost ${ms(result.overheadMs)}; ${folded} node(s) folded at load${result.unsupportedCount ? `; ${result.unsupportedCount} without predictor, not counted` : ''})`);
}

/** A TFLite model Tailor exported carries its arch: predicted from the device's lookup table, piece by piece. */
async function predictTflite(
  opts: { device: string; model: string; strict?: boolean; json?: boolean }, bytes: Uint8Array, inputShapes: Record<string, number[]>,
  devices: DeviceService, latency: LatencyService,
): Promise<void> {
  devices.get(opts.device);
  const exported = exportedArch(bytes, analyzeModel(bytes, { file: opts.model, inputShapes }));
  if (!exported) {
    throw new TailorError('UNSUPPORTED_MODEL_FORMAT', { file: opts.model, format: 'TFLite', reason: `${TFLITE_NO_PREDICTION}; measure it instead: tailor gate with "measure": true on a tflite-wasm device (local-tflite)` });
  }
  const result = await latency.predict({ device: opts.device, strict: opts.strict, arch: { source: opts.model, arch: exported.arch, space: exported.space, net: exported.net } });
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson({ ...result, model: opts.model, source: 'lookup table (the model carries the arch it was exported from)' });
  console.log(formatTable(['piece', 'key', 'ms'], result.breakdown.map((b) => [b.piece, b.key, Number(b.ms.toFixed(4))])));
  console.log();
  console.log(`${result.device} / ${opts.model} (${result.space} @ ${result.resolution}, from its lookup table: the model carries its arch): ${ms(result.latencyMs)}`);
}
