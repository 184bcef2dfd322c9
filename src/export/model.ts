import type { ModelIR, Piece } from '../core/ir';
import type { ModelFormat } from '../runtime/backend';
import { exportOnnx, exportPiecesOnnx } from './onnx';
import { exportPiecesTflite, exportTflite } from './tflite';
import type { WeightProvider } from './weights';

export interface ExportOptions {
  weights: WeightProvider;
  metadata?: Record<string, string>;
}

/** A whole network in the format a device's runtime loads (same weights, same names, either format). */
export function exportModel(format: ModelFormat, ir: ModelIR, options: ExportOptions): Uint8Array {
  return format === 'tflite' ? exportTflite(ir, options) : exportOnnx(ir, options);
}

/** Consecutive pieces as a standalone model in the device's format. */
export function exportModelPieces(format: ModelFormat, pieces: Piece[], options: ExportOptions): Uint8Array {
  return format === 'tflite' ? exportPiecesTflite(pieces, options) : exportPiecesOnnx(pieces, options);
}
