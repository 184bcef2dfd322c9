import { TailorError } from '../../core/errors';
import { archId } from '../../core/arch';
import { getSpace } from '../../core/space';
import { ValidationReport } from '../../latency/validate';
import { GlobalOptions, services } from '../context';
import { formatTable, pct, printJson } from '../format';
import { progressBar } from '../progress';

export interface ValidateCliOptions {
  device: string;
  space?: string;
  models?: string;
  inputShape?: string[];
  samples: number;
  resolutions?: number[];
  seed: number;
  passes: number;
  calibrate: boolean;
  strict?: boolean;
  json?: boolean;
}

export async function validate(opts: ValidateCliOptions & { space: string }, global: GlobalOptions): Promise<ValidationReport & { warnings: string[] }> {
  const { latency } = services(global);
  const bar = progressBar(`validate ${opts.device}`);
  try {
    return await latency.validate(opts.device, opts.space, { ...opts, onProgress: (p) => bar.update(p.done, p.total, p.message) });
  } finally {
    bar.stop();
  }
}

export function describeValidation(r: ValidationReport): string {
  const space = getSpace(r.space);
  const rows = formatTable(
    ['subnet', 'predicted ms', 'measured ms', 'error'],
    r.rows.map((row) => [archId(space, row.arch), Number(row.predictedMs.toFixed(3)), Number(row.measuredMs.toFixed(3)), `${row.errorPct >= 0 ? '+' : ''}${row.errorPct.toFixed(1)}%`]),
  );
  const u = r.uncalibrated;
  return [
    rows,
    '',
    `${r.samples} subnets on ${r.device}: within 5% ${pct(r.within5)}, within 10% ${pct(r.within10)}, MAPE ${r.mape.toFixed(2)}%, RMSE ${r.rmseMs.toFixed(3)} ms, Spearman ${r.spearman.toFixed(3)}`,
    `device speed vs. table baseline: x${r.speedFactor.toFixed(3)}; without that drift factor: within 5% ${pct(u.within5)}, within 10% ${pct(u.within10)}, MAPE ${u.mape.toFixed(2)}%`,
  ].join('\n');
}

export async function run(opts: ValidateCliOptions, global: GlobalOptions): Promise<void> {
  if (opts.models !== undefined && opts.space !== undefined) throw new TailorError('INVALID_OPTION', { option: '--models', reason: 'give either --space or --models, not both' });
  if (opts.models !== undefined) return (await import('./validate-models.js')).run({ ...opts, models: opts.models }, global);
  if (opts.space === undefined) throw new TailorError('INVALID_OPTION', { option: '--space', reason: 'validate needs --space <id> (lookup table) or --models <dir> (kernel regressors)' });
  if (opts.inputShape?.length) throw new TailorError('INVALID_OPTION', { option: '--input-shape', reason: 'it applies to --models only' });
  const report = await validate({ ...opts, space: opts.space }, global);
  for (const w of report.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(report);
  console.log(describeValidation(report));
}
