import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { readTflite } from '../tflite/reader';
import { AnalysisOptions, ModelAnalysis, analyzeOnnx, declaredDims, decodeModel } from './analyze';
import { analyzeTflite } from './tflite';

export type ModelFormat = 'onnx' | 'tflite';

/** TFLite flatbuffers carry the file identifier "TFL3" at bytes 4..8; ONNX (protobuf) never starts so. */
export function isTfliteBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
}

/** By content; a `.tflite` name without the identifier goes to the TFLite reader, which says what is wrong. */
export function modelFormat(bytes: Uint8Array, name = ''): ModelFormat {
  return isTfliteBytes(bytes) || /\.tflite$/i.test(name) ? 'tflite' : 'onnx';
}

/** A model file that cannot be read, named as the format its name says. */
export function invalidModel(file: string, reason: string): never {
  throw new TailorError(/\.tflite$/i.test(file) ? 'INVALID_TFLITE' : 'INVALID_ONNX', { file, reason });
}

/** ONNX or TFLite analysis, picked by content (docs/model-analysis.md). */
export function analyzeModel(bytes: Uint8Array, options: AnalysisOptions = {}): ModelAnalysis {
  return modelFormat(bytes, options.file) === 'tflite' ? analyzeTflite(bytes, options) : analyzeOnnx(bytes, options);
}

/** `file` as the user named it: in messages, and where external data files are looked for. */
export function analyzeModelFile(file: string, options: Omit<AnalysisOptions, 'file' | 'path'> = {}): ModelAnalysis {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    invalidModel(file, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message);
  }
  return analyzeModel(bytes, { ...options, file, path: file });
}

/** The graph inputs whose size the model leaves open (a dim_param, a missing dim, -1 in TFLite's shape signature). */
export function dynamicInputNames(bytes: Uint8Array, file = 'model'): string[] {
  if (modelFormat(bytes, file) === 'tflite') {
    const graph = readTflite(bytes, file).subgraphs[0];
    return (graph?.inputs ?? []).map((i) => graph.tensors[i]).filter((t) => t && (t.shapeSignature ?? t.shape).some((d) => d < 0)).map((t) => t.name);
  }
  const graph = decodeModel(bytes, file).graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? [])
    .filter((vi) => !initializers.has(vi.name) && !declaredDims(vi)?.every((d) => typeof d === 'number'))
    .map((vi) => vi.name ?? '');
}
