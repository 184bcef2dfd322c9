import { parseInputShapes } from '../../analysis/analyze';
import { KernelsService } from '../../kernels/kernels.service';
import { GlobalOptions, services } from '../context';
import { formatTable, pct, printJson } from '../format';
import { progressBar } from '../progress';
import type { ValidateCliOptions } from './validate';

export async function run(opts: ValidateCliOptions & { models: string }, global: GlobalOptions): Promise<void> {
  const { devices } = services(global);
  const inputShapes = parseInputShapes(opts.inputShape ?? []);
  const bar = progressBar(`validate ${opts.device}`);
  let r;
  try {
    r = await new KernelsService(devices).validate(opts.device, opts.models, {
      passes: opts.passes, calibrate: opts.calibrate, inputShapes, strict: opts.strict, onProgress: (p) => bar.update(p.done, p.total, p.message),
    });
  } finally {
    bar.stop();
  }
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(r);
  console.log(formatTable(['model', 'predicted ms', 'measured ms', 'error'], r.rows.map((row) => [row.model, Number(row.predictedMs.toFixed(3)), Number(row.measuredMs.toFixed(3)), `${row.errorPct >= 0 ? '+' : ''}${row.errorPct.toFixed(1)}%`])));
  const u = r.uncalibrated;
  console.log();
  console.log(`${r.samples} models on ${r.device}: within 5% ${pct(r.within5)}, within 10% ${pct(r.within10)}, MAPE ${r.mape.toFixed(2)}%, RMSE ${r.rmseMs.toFixed(3)} ms, Spearman ${r.spearman.toFixed(3)}`);
  console.log(`device speed vs. kernel profile: x${r.speedFactor.toFixed(3)}; without that drift factor: within 5% ${pct(u.within5)}, within 10% ${pct(u.within10)}, MAPE ${u.mape.toFixed(2)}%`);
}
