import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { externalDataFiles, externalRefs } from '../analysis/external-data';
import { invalidModel, modelFormat } from '../analysis/model';
import { TailorError } from '../core/errors';
import { readTflite } from '../tflite/reader';
import { writeTflite } from '../tflite/writer';

/** A model a budget checks: a file on disk, or bytes uploaded over HTTP. */
export interface ModelRef {
  /** As the user named it (the config's path, the upload's file name): shown in reports and messages. */
  display: string;
  /** Absolute path; null for an uploaded model (which has no directory, so no external data). */
  file: string | null;
  bytes?: Uint8Array;
}

/** The backend that measures TFLite models (src/runtime/tflite-wasm); every other backend runs ONNX. */
export const TFLITE_BACKEND = 'tflite-wasm';
export const TFLITE_NO_PREDICTION = 'TFLite models get a predicted latency from a lookup table when Tailor exported them, or from the TFLite op regressors of a device whose runtime loads TFLite (tailor profile --device local-tflite --kernels); this device has neither for this model';

/** The model's bytes (read once; the gate never writes anything beside the model). */
export function readModel(ref: ModelRef): Uint8Array {
  if (ref.bytes) return ref.bytes;
  try {
    return fs.readFileSync(ref.file!);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new TailorError('MODEL_NOT_FOUND', { file: ref.display, detail: ref.file !== ref.display ? `resolved to ${ref.file}` : undefined });
    invalidModel(ref.display, err.code === 'EISDIR' ? 'it is a directory' : err.message);
  }
}

function decode(bytes: Uint8Array, display: string): onnx.ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new TailorError('INVALID_ONNX', { file: display, reason: `it cannot be decoded (${(e as Error).message}); the file is truncated or not ONNX` });
  }
}

/**
 * The model as the device runtime should load it, built in memory: external data inlined (a
 * runtime loading bytes cannot find files, and a remote board has none of them) and dynamic input
 * dims pinned to the given shapes (the runtime would otherwise run them at 1). The original bytes
 * when neither applies. The external data files were checked by the analysis (src/analysis/external-data.ts).
 */
export function runtimeBytes(bytes: Uint8Array, ref: ModelRef, inputShapes: Record<string, number[]> | undefined): Uint8Array {
  if (modelFormat(bytes, ref.display) === 'tflite') return pinTfliteInputs(bytes, ref, inputShapes);
  const model = decode(bytes, ref.display);
  let changed = false;
  const refs = externalRefs(model);
  if (refs.length) {
    externalDataFiles(refs, ref.display, ref.file); // every file present and long enough
    const dir = path.dirname(ref.file!);
    const contents = new Map<string, Buffer>();
    for (const r of refs) {
      const file = path.resolve(dir, r.location);
      if (!contents.has(file)) contents.set(file, fs.readFileSync(file));
      const data = contents.get(file)!;
      r.tensor.rawData = data.subarray(r.offset, r.length === null ? data.length : r.offset + r.length);
      r.tensor.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
      r.tensor.externalData = [];
    }
    changed = true;
  }
  for (const [name, dims] of Object.entries(inputShapes ?? {})) {
    const tensorType = model.graph?.input?.find((i) => i.name === name)?.type?.tensorType;
    if (!tensorType) continue;
    tensorType.shape = { dim: dims.map((d) => ({ dimValue: d })) };
    changed = true;
  }
  return changed ? onnx.ModelProto.encode(model).finish() : bytes;
}

/** TFLite: the input tensors get the budget's shapes (the interpreter sizes everything else from them at load). */
function pinTfliteInputs(bytes: Uint8Array, ref: ModelRef, inputShapes: Record<string, number[]> | undefined): Uint8Array {
  if (!inputShapes || !Object.keys(inputShapes).length) return bytes;
  const model = readTflite(bytes, ref.display);
  const graph = model.subgraphs[0];
  for (const i of graph.inputs) {
    const dims = inputShapes[graph.tensors[i].name];
    if (dims) graph.tensors[i] = { ...graph.tensors[i], shape: [...dims], shapeSignature: [...dims] };
  }
  return writeTflite(model);
}
