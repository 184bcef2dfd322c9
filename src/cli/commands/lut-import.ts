import { countEntries } from '../../latency/table';
import { GlobalOptions, services } from '../context';

export async function run(opts: { format: 'ofa'; device: string; space: string }, global: GlobalOptions, files: string[]): Promise<void> {
  const { latency } = services(global);
  const { file, table, createdDevice } = await latency.importOfa(opts.device, opts.space, files);
  if (createdDevice) console.log(`created table-only device ${createdDevice}`);
  console.log(`wrote ${file}: resolutions ${table.resolutions.join(', ')}, ${countEntries(table)} entries`);
}
