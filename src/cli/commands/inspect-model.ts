import { ModelAnalysis, TensorSummary, parseInputShapes } from '../../analysis/analyze';
import { analyzeModelFile } from '../../analysis/model';
import { formatTable, human, pct, printJson } from '../format';

const TOP_NODES = 10;

function bytesText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
}

/** Exact count, with a rounded one beside it when that is shorter to read. */
const count = (n: number) => (n >= 1000 ? `${n} (${human(n)})` : String(n));
const dims = (shape: number[] | null) => (shape ? shape.join('x') || 'scalar' : '?');

function tensorRows(label: string, tensors: TensorSummary[]): string[] {
  return tensors.map((t, i) => `${i === 0 ? label : ''}`.padEnd(9) + `${t.name}  ${t.dtype}  ${dims(t.shape)}`);
}

function opCounts(a: ModelAnalysis): string {
  const counts = new Map<string, number>();
  for (const n of a.nodes) counts.set(n.opType, (counts.get(n.opType) ?? 0) + 1);
  return [...counts].sort((x, y) => y[1] - x[1]).map(([op, n]) => `${op} ${n}`).join(', ');
}

function printSummary(a: ModelAnalysis): void {
  const version = a.format === 'tflite' ? `TFLite schema ${a.opset}` : `opset ${a.opset}`;
  console.log(`model    ${a.file} (${version}${a.producer ? `, ${a.producer}` : ''})`);
  for (const line of [...tensorRows('inputs', a.inputs), ...tensorRows('outputs', a.outputs)]) console.log(line);
  console.log(`nodes    ${a.nodes.length} (${opCounts(a)})`);
  console.log(`params   ${count(a.params)}`);
  console.log(`MACs     ${count(a.macs)}${a.partial ? ` (partial: ${a.nodes.filter((n) => n.macs === null).length} node(s) not counted, see below)` : ''}`);
  const external = a.externalData?.reduce((s, f) => s + f.bytes, 0) ?? 0;
  const files = external ? `files ${bytesText(a.sizeBytes)} (model ${bytesText(a.sizeBytes - external)}, external data ${a.externalData!.map((f) => `${f.location} ${bytesText(f.bytes)}`).join(', ')})` : `file ${bytesText(a.sizeBytes)}`;
  console.log(`size     fp32 weights ${bytesText(a.fp32Bytes)}, ${files}`);
  if (a.weightBytes) {
    const byType = Object.entries(a.weightBytes.byType).map(([type, n]) => `${type} ${bytesText(n)}`).join(', ');
    console.log(`stored   weights ${bytesText(a.weightBytes.total)}${byType ? ` (${byType})` : ''}`);
  }

  const top = a.nodes.filter((n) => (n.macs ?? 0) > 0).sort((x, y) => y.macs! - x.macs!).slice(0, TOP_NODES);
  if (top.length) {
    console.log();
    console.log('top nodes by MACs');
    console.log(
      formatTable(
        ['node', 'op', 'output', 'params', 'MACs', 'share'],
        top.map((n) => [n.name, n.opType, dims(n.outputShapes[0]), n.params, n.macs!, pct(n.macs! / a.macs)]),
      ),
    );
  }
  if (a.unsupported.length) {
    console.log();
    const list = a.unsupported.map((u) => `${u.opType} (${u.nodes.length}: ${u.nodes.slice(0, 3).join(', ')}${u.nodes.length > 3 ? ', ...' : ''})`);
    console.log(`unsupported ops: ${list.join('; ')}`);
  }
  if (a.unresolved.length) {
    if (!a.unsupported.length) console.log();
    console.log(`${a.unresolved.length} node(s) without shapes, not counted in MACs:`);
    for (const u of a.unresolved.slice(0, TOP_NODES)) console.log(`  ${u.node}: ${u.reason}`);
    if (a.unresolved.length > TOP_NODES) console.log(`  ... and ${a.unresolved.length - TOP_NODES} more (see --json)`);
  }
}

export async function inspectModel(file: string, inputShapeSpecs: string[], opts: { json: boolean; allowUnknownOps: boolean }): Promise<void> {
  const analysis = analyzeModelFile(file, { inputShapes: parseInputShapes(inputShapeSpecs), allowUnknownOps: opts.allowUnknownOps });
  if (opts.json) return printJson(analysis);
  printSummary(analysis);
}
