import { listSpaces } from '../../core/space';
import { formatTable, printJson } from '../format';

export async function run(opts: { json?: boolean }): Promise<void> {
  const spaces = listSpaces();
  if (opts.json) return printJson(spaces);
  console.log(
    formatTable(
      ['space', 'kernel', 'expand', 'depth', 'resolutions', 'stage widths'],
      spaces.map((s) => [
        s.id, s.kernelSizes.join('/'), s.expandRatios.join('/'), s.depths.join('/'),
        `${s.resolutions[0]}..${s.resolutions[s.resolutions.length - 1]} (${s.resolutions.length})`, s.stages.map((st) => st.width).join(' '),
      ]),
    ),
  );
}
