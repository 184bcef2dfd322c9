import type { DeviceInfo, DeviceTable } from '../../runtime/device.service';
import { AGENT_BACKEND, TABLE_ONLY } from '../../runtime/devices';
import { GlobalOptions, services } from '../context';
import { formatTable, printJson } from '../format';

const resolutions = (r: number[]) => (r.length === 0 ? '-' : r.length <= 4 ? r.join(',') : `${r[0]}..${r[r.length - 1]} (${r.length})`);

function status(t: DeviceTable): string {
  if (t.error) return `unknown: ${t.error}`;
  if (t.stale === 'unknown') return `unknown: ${t.reason}`;
  return t.stale ? `STALE: ${t.reason}` : 'current';
}

/** This machine's hardware, what a remote device reports (a board: as its agent last reported it), or why there is none. */
function hardware(d: DeviceInfo): string {
  const f = d.live;
  if (d.backend === AGENT_BACKEND) {
    if (!f) return 'remote (agent), never reported';
    return `remote (agent): ${f.cpu}, ${f.cores} cores, ${f.runtime}${f.reportedAt ? `, as last reported ${f.reportedAt}` : ''}`;
  }
  if (f) return `${f.cpu}, ${f.cores} cores [${f.flags.join(' ')}], ${f.memoryGb} GB, ${f.os}, ${f.runtime}`;
  return d.backend === TABLE_ONLY ? (d.notes ?? 'table only') : `remote (${d.backend}), not answering`;
}

export async function run(opts: { json?: boolean }, global: GlobalOptions): Promise<void> {
  const { devices } = services(global);
  const infos = await Promise.all(devices.list().map((d) => devices.describe(d)));
  if (opts.json) return printJson(infos);
  console.log(
    formatTable(
      ['device', 'backend', 'threads', 'hardware', 'fingerprint'],
      infos.map((d) => [
        d.id, d.backend, d.options.threads ?? '',
        hardware(d),
        d.live?.hash ?? '-',
      ]),
    ),
  );
  const tables = infos.flatMap((d) => d.tables.map((t) => [
    d.id, t.kind === 'kernel-regressors' ? 'kernel regressors' : t.space ?? '', resolutions(t.resolutions),
    t.measuredOn ? `${t.measuredOn.cpu}, ${t.measuredOn.cores} cores, ${t.measuredOn.runtime}` : t.error ? '-' : 'no fingerprint (imported)',
    status(t),
  ]));
  if (!tables.length) return;
  console.log();
  console.log(formatTable(['device', 'table', 'resolutions', 'measured on', 'status'], tables));
}
