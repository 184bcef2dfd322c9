import { parseInputShapes } from '../../analysis/analyze';
import { KernelsService } from '../../kernels/kernels.service';
import { GlobalOptions, services } from '../context';
import { formatTable, ms, printJson } from '../format';

export async function run(opts: { device: string; model: string; inputShape?: string[]; json?: boolean }, global: GlobalOptions): Promise<void> {
  const { devices } = services(global);
  const result = new KernelsService(devices).predict(opts.device, opts.model, parseInputShapes(opts.inputShape ?? []));
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
