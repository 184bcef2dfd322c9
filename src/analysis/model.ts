import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { AnalysisOptions, ModelAnalysis, analyzeOnnx } from './analyze';
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

export function analyzeModelFile(file: string, options: Omit<AnalysisOptions, 'file'> = {}): ModelAnalysis {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    invalidModel(file, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message);
  }
  return analyzeModel(bytes, { ...options, file });
}
