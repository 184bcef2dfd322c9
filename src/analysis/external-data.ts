import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { TailorError } from '../core/errors';
import { ELEMENT_BYTES, tensorDims, volume } from './tensors';

/** One tensor whose data lives in a file beside the model (ONNX external data). */
export interface ExternalRef {
  tensor: onnx.ITensorProto;
  location: string;
  offset: number;
  /** null: to the end of the file. */
  length: number | null;
}

export function externalRefs(model: onnx.IModelProto): ExternalRef[] {
  const refs: ExternalRef[] = [];
  const graph = model.graph;
  const tensors = [...(graph?.initializer ?? []), ...(graph?.sparseInitializer ?? []).flatMap((s) => [s.values, s.indices].filter((t): t is onnx.ITensorProto => !!t))];
  for (const t of tensors) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const entry = (key: string) => (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
    refs.push({ tensor: t, location: entry('location') ?? '', offset: Number(entry('offset') ?? 0), length: entry('length') !== undefined ? Number(entry('length')) : null });
  }
  return refs;
}

const invalid = (file: string, reason: string): never => {
  throw new TailorError('INVALID_ONNX', { file, reason });
};

/**
 * The external data files of a model, checked: each beside the model (`modelPath`), present, and
 * long enough for the bytes its tensors read. A model without a path (an upload, bytes in memory)
 * cannot have them. `display` names the model in messages.
 */
export function externalDataFiles(refs: ExternalRef[], display: string, modelPath: string | null | undefined): { file: string; location: string; bytes: number }[] {
  if (!refs.length) return [];
  if (!modelPath) {
    const locations = [...new Set(refs.map((r) => r.location))].join(', ');
    invalid(display, `it stores ${refs.length} tensor(s) in external data files (${locations}), which are read beside the model file, and this model came without one (an upload cannot carry them); send a model with its weights inside`);
  }
  const dir = path.dirname(path.resolve(modelPath!));
  const sizes = new Map<string, { location: string; bytes: number }>();
  for (const r of refs) {
    const name = r.tensor.name ?? '';
    const file = path.resolve(dir, r.location);
    if (!r.location || path.isAbsolute(r.location) || path.relative(dir, file).startsWith('..')) {
      invalid(display, `tensor "${name}" names the external data file "${r.location}", which is not a file beside the model`);
    }
    if (!sizes.has(file)) {
      const stat = fs.statSync(file, { throwIfNoEntry: false });
      if (!stat?.isFile()) invalid(display, `tensor "${name}" is stored in the external data file "${r.location}", which is missing (looked for ${file})`);
      sizes.set(file, { location: r.location, bytes: stat!.size });
    }
    const size = sizes.get(file)!.bytes;
    const end = r.length === null ? size : r.offset + r.length;
    if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset > size || !Number.isInteger(end) || end > size) {
      invalid(display, `tensor "${name}" reads bytes ${r.offset}-${end} of the external data file "${r.location}", which has ${size}; the file is truncated or not this model's`);
    }
    const need = volume(tensorDims(r.tensor)) * (ELEMENT_BYTES[r.tensor.dataType ?? 0] ?? NaN);
    if (r.length !== null && Number.isFinite(need) && r.length !== need) {
      invalid(display, `tensor "${name}" has ${r.length} bytes in "${r.location}" but its dims [${tensorDims(r.tensor).join(', ')}] need ${need}`);
    }
  }
  return [...sizes].map(([file, s]) => ({ file, ...s }));
}
