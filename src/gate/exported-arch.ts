import { onnx } from 'onnx-proto';
import type { ModelAnalysis } from '../analysis/analyze';
import { ArchConfig, validateArch } from '../core/arch';
import { countModel } from '../core/counters';
import { buildIR } from '../core/ir';
import { NetSpec, netFromArch } from '../core/net';
import { SearchSpace, getSpace, spaceWithIO } from '../core/space';
import { readTflite } from '../tflite/reader';

/** A subnet Tailor exported (ONNX or TFLite): the space and arch its metadata names, checked against the model. */
export interface ExportedArch {
  space: SearchSpace;
  arch: ArchConfig;
  net: NetSpec;
}

function metadataOf(bytes: Uint8Array, format: 'onnx' | 'tflite'): Record<string, string> {
  if (format === 'tflite') {
    return Object.fromEntries(Object.entries(readTflite(bytes).metadata).map(([k, v]) => [k, Buffer.from(v).toString('utf8')]));
  }
  return Object.fromEntries(onnx.ModelProto.decode(bytes).metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
}

/**
 * The arch a model was exported from, so its latency can come from the device's lookup table
 * (exact for our own subnets) instead of the kernel regressors. Null for any other model, and for
 * one whose input, classes or MACs no longer match the arch its metadata claims (an edited model).
 */
export function exportedArch(bytes: Uint8Array, analysis: ModelAnalysis): ExportedArch | null {
  const format = analysis.format === 'tflite' ? 'tflite' : 'onnx';
  try {
    const meta = metadataOf(bytes, format);
    if (!meta.space || !meta.arch) return null;
    const inShape = analysis.inputs[0]?.shape;
    const outShape = analysis.outputs[0]?.shape;
    if (analysis.inputs.length !== 1 || !inShape || inShape.length !== 4 || !outShape) return null;
    // NCHW for ONNX, NHWC for TFLite
    const [channels, height, width] = format === 'onnx' ? inShape.slice(1) : [inShape[3], inShape[1], inShape[2]];
    // The arch names the space it was searched in; the table is that of the trained network's input and classes.
    const arch = validateArch(JSON.parse(meta.arch), getSpace(meta.space));
    const space = spaceWithIO(getSpace(meta.space), { inputChannels: channels, numClasses: outShape[outShape.length - 1] });
    if (arch.r !== height || arch.r !== width) return null;
    const net = netFromArch(space, arch);
    // Stored weights and biases, give or take the exports' few constants (clip bounds, TFLite's 1/6 of h-sigmoid).
    const values = countModel(buildIR(net)).sizeBytes / 4;
    if (Math.abs(analysis.params - values) > 0.01 * values) return null;
    return { space, arch, net };
  } catch {
    return null; // no readable metadata, an unknown space or a malformed arch: not one of ours
  }
}
