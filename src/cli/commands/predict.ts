import { GlobalOptions, services } from '../context';
import { formatTable, ms, printJson } from '../format';

export async function run(opts: { device: string; arch: string; space?: string; strict?: boolean; json?: boolean }, global: GlobalOptions): Promise<void> {
  const { latency } = services(global);
  const result = await latency.predict(opts);
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (opts.json) return printJson(result);
  console.log(formatTable(['piece', 'key', 'ms'], result.breakdown.map((b) => [b.piece, b.key, Number(b.ms.toFixed(4))])));
  console.log();
  console.log(`${result.device} / ${result.space} @ ${result.resolution}: ${ms(result.latencyMs)} (sum of table ${result.statistic}s${result.overheadMs ? ', fixed cost included' : ''})`);
}
