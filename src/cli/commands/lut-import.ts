import { GlobalOptions, services } from '../context';

export async function run(opts: { format: 'ofa'; device: string; space: string }, global: GlobalOptions, files: string[]): Promise<void> {
  const { latency } = services(global);
  const { file, table, createdDevice } = latency.importOfa(opts.device, opts.space, files);
  if (createdDevice) console.log(`created table-only device ${createdDevice}`);
  const entries = Object.values(table.entries).reduce((n, g) => n + Object.keys(g).length, 0);
  console.log(`wrote ${file}: resolutions ${table.resolutions.join(', ')}, ${entries} entries`);
}
