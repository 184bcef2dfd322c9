import { TailorError } from '../../core/errors';
import { GlobalOptions, services } from '../context';
import { formatTable, ms, printJson } from '../format';

export async function run(opts: { device: string; arch?: string; model?: string; inputShape?: string[]; allowUnknownOps?: boolean; space?: string; strict?: boolean; json?: boolean }, global: GlobalOptions): Promise<void> {
  if (opts.model !== undefined && opts.arch !== undefined) throw new TailorError('INVALID_OPTION', { option: '--model', reason: 'give either --arch or --model, not both' });
  // The kernel regressors (and ml-random-forest) load only for --model: the table path stays fast to start.
  if (opts.model !== undefined) return (await import('./predict-model.js')).run({ ...opts, model: opts.model }, global);
  if (opts.arch === undefined) throw new TailorError('INVALID_OPTION', { option: '--arch', reason: 'predict needs --arch <arch> (lookup table) or --model <file.onnx> (kernel regressors)' });
  if (opts.inputShape?.length) throw new TailorError('INVALID_OPTION', { option: '--input-shape', reason: 'it applies to --model only' });
  if (opts.allowUnknownOps) throw new TailorError('INVALID_OPTION', { option: '--allow-unknown-ops', reason: 'it applies to --model only' });
  const { latency } = services(global);
  const result = await latency.predict({ ...opts, arch: opts.arch });
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(result);
  console.log(formatTable(['piece', 'key', 'ms'], result.breakdown.map((b) => [b.piece, b.key, Number(b.ms.toFixed(4))])));
  console.log();
  console.log(`${result.device} / ${result.space} @ ${result.resolution}: ${ms(result.latencyMs)} (sum of table ${result.statistic}s${result.overheadMs ? ', fixed cost included' : ''})`);
}
