import { GlobalOptions, services } from '../context';

export async function run(opts: { format: 'ofa'; device: string; space: string; out: string }, global: GlobalOptions): Promise<void> {
  const { latency } = services(global);
  for (const f of latency.exportOfa(opts.device, opts.space, opts.out)) console.log(`wrote ${f}`);
}
