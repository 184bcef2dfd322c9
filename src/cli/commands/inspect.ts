import { resolveArch } from '../../core/arch-source';
import { countModel, countNode } from '../../core/counters';
import { TailorError } from '../../core/errors';
import { allNodes, buildIR } from '../../core/ir';
import { formatTable, human, printJson } from '../format';

interface InspectOptions {
  arch?: string;
  space?: string;
  model?: string;
  inputShape?: string[];
  allowUnknownOps?: boolean;
  json?: boolean;
}

export async function run(opts: InspectOptions): Promise<void> {
  if (opts.model !== undefined && opts.arch !== undefined)
    throw new TailorError('INVALID_OPTION', { option: '--model', reason: 'give either --arch or --model, not both' });
  // The ONNX analysis loads only when asked for (and never onnxruntime).
  if (opts.model !== undefined) return (await import('./inspect-model.js')).inspectModel(opts.model, opts.inputShape ?? [], { json: opts.json ?? false, allowUnknownOps: opts.allowUnknownOps ?? false });
  if (opts.arch === undefined) throw new TailorError('INVALID_OPTION', { option: '--arch', reason: 'inspect needs --arch <arch> or --model <file.onnx>' });
  if (opts.inputShape?.length) throw new TailorError('INVALID_OPTION', { option: '--input-shape', reason: 'it applies to --model only' });
  if (opts.allowUnknownOps) throw new TailorError('INVALID_OPTION', { option: '--allow-unknown-ops', reason: 'it applies to --model only' });
  const resolved = resolveArch(opts.arch, opts.space);
  const ir = buildIR(resolved.net);
  const totals = countModel(ir);
  const layers = allNodes(ir).map((n) => {
    const c = countNode(n);
    const base = { name: n.name, op: n.op, output: [...n.outShape], params: c.params, macs: c.macs };
    return n.op === 'conv'
      ? { ...base, input: [...n.inShape], kernelSize: n.kernelSize, stride: n.stride, groups: n.groups, act: n.act }
      : base;
  });
  if (opts.json) {
    return printJson({
      space: resolved.space?.id ?? null, arch: resolved.arch, kind: resolved.net.kind, resolution: resolved.net.resolution,
      ...totals, layers, pieces: ir.pieces.map((p) => ({ id: p.id, key: p.key })),
    });
  }
  console.log(
    formatTable(
      ['layer', 'op', 'output (CxHxW)', 'k', 's', 'groups', 'act', 'params', 'MACs'],
      layers.map((l) => [
        l.name, l.op, l.output.join('x'), 'kernelSize' in l ? l.kernelSize : '', 'stride' in l ? l.stride : '',
        'groups' in l ? l.groups : '', 'act' in l ? (l.act ?? '') : '', l.params, l.macs,
      ]),
    ),
  );
  console.log();
  console.log(`${resolved.space ? `space ${resolved.space.id}, ` : ''}${resolved.net.kind} at ${resolved.net.resolution}x${resolved.net.resolution}`);
  console.log(`params ${totals.params} (${human(totals.params)}), MACs ${totals.macs} (${human(totals.macs)}), fp32 size ${(totals.sizeBytes / 2 ** 20).toFixed(2)} MiB`);
}
