import { GlobalOptions, services } from '../context';
import { formatTable, printJson } from '../format';

export async function run(opts: { json?: boolean }, global: GlobalOptions): Promise<void> {
  const { devices } = services(global);
  const infos = await Promise.all(devices.list().map((d) => devices.describe(d)));
  if (opts.json) return printJson(infos);
  console.log(
    formatTable(
      ['device', 'backend', 'threads', 'hardware', 'fingerprint'],
      infos.map((d) => [
        d.id, d.backend, d.options.threads ?? '',
        d.live ? `${d.live.cpu}, ${d.live.cores} cores [${d.live.flags.join(' ')}], ${d.live.memoryGb} GB, ${d.live.os}, ${d.live.runtime}` : (d.notes ?? 'table only'),
        d.live?.hash ?? '-',
      ]),
    ),
  );
}
