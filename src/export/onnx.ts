import { onnx } from 'onnx-proto';
import { IrNode, ModelIR, Piece, Shape } from '../core/ir';
import { Activation } from '../core/space';
import { WeightProvider, weightShape } from './weights';

export const ONNX_OPSET = 17;

interface GraphParts {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
}

function floatTensor(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function intsAttr(name: string, ints: number[]): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}
function intAttr(name: string, i: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}
function floatAttr(name: string, f: number): onnx.IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

function activation(parts: GraphParts, act: Activation, input: string, output: string, name: string): void {
  switch (act) {
    case 'relu':
      parts.nodes.push({ name, opType: 'Relu', input: [input], output: [output] });
      return;
    case 'relu6': {
      const lo = `${name}.min`;
      const hi = `${name}.max`;
      parts.initializers.push(floatTensor(lo, [], new Float32Array([0])), floatTensor(hi, [], new Float32Array([6])));
      parts.nodes.push({ name, opType: 'Clip', input: [input, lo, hi], output: [output] });
      return;
    }
    case 'h_swish':
      parts.nodes.push({ name, opType: 'HardSwish', input: [input], output: [output] });
      return;
    case 'h_sigmoid':
      // relu6(x + 3) / 6, as OFA's Hsigmoid
      parts.nodes.push({ name, opType: 'HardSigmoid', input: [input], output: [output], attribute: [floatAttr('alpha', 1 / 6), floatAttr('beta', 0.5)] });
      return;
  }
}

function emitNode(parts: GraphParts, node: IrNode, weights: WeightProvider): void {
  switch (node.op) {
    case 'conv': {
      const w = weights.weights(node);
      const inputs = [node.inputs[0], `${node.name}.weight`];
      parts.initializers.push(floatTensor(`${node.name}.weight`, weightShape(node), w.weight));
      if (w.bias) {
        inputs.push(`${node.name}.bias`);
        parts.initializers.push(floatTensor(`${node.name}.bias`, [node.outChannels], w.bias));
      }
      const pad = Math.floor(node.kernelSize / 2);
      const convOut = node.act ? `${node.name}.pre_act` : node.output;
      parts.nodes.push({
        name: node.name, opType: 'Conv', input: inputs, output: [convOut],
        attribute: [
          intsAttr('kernel_shape', [node.kernelSize, node.kernelSize]), intsAttr('strides', [node.stride, node.stride]),
          intsAttr('pads', [pad, pad, pad, pad]), intsAttr('dilations', [1, 1]), intAttr('group', node.groups),
        ],
      });
      if (node.act) activation(parts, node.act, convOut, node.output, `${node.name}.act`);
      return;
    }
    case 'global_avg_pool':
      parts.nodes.push({ name: node.name, opType: 'GlobalAveragePool', input: node.inputs, output: [node.output] });
      return;
    case 'max_pool': {
      const pad = Math.floor(node.kernelSize / 2);
      parts.nodes.push({
        name: node.name, opType: 'MaxPool', input: node.inputs, output: [node.output],
        attribute: [intsAttr('kernel_shape', [node.kernelSize, node.kernelSize]), intsAttr('strides', [node.stride, node.stride]), intsAttr('pads', [pad, pad, pad, pad])],
      });
      return;
    }
    case 'add': {
      const sum = node.act ? `${node.name}.pre_act` : node.output;
      parts.nodes.push({ name: node.name, opType: 'Add', input: node.inputs, output: [sum] });
      if (node.act) activation(parts, node.act, sum, node.output, `${node.name}.act`);
      return;
    }
    case 'mul':
      parts.nodes.push({ name: node.name, opType: 'Mul', input: node.inputs, output: [node.output] });
      return;
    case 'linear': {
      const w = weights.weights(node);
      const flat = `${node.name}.flat`;
      parts.initializers.push(floatTensor(`${node.name}.weight`, weightShape(node), w.weight));
      parts.initializers.push(floatTensor(`${node.name}.bias`, [node.outFeatures], w.bias ?? new Float32Array(node.outFeatures)));
      parts.nodes.push({ name: `${node.name}.flatten`, opType: 'Flatten', input: node.inputs, output: [flat], attribute: [intAttr('axis', 1)] });
      parts.nodes.push({
        name: node.name, opType: 'Gemm', input: [flat, `${node.name}.weight`, `${node.name}.bias`], output: [node.output],
        attribute: [intAttr('transB', 1)],
      });
      return;
    }
  }
}

function valueInfo(name: string, dims: number[]): onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

export interface OnnxExportOptions {
  weights: WeightProvider;
  /** Stored in the model's metadata_props. */
  metadata?: Record<string, string>;
  graphName?: string;
}

function encode(pieces: Piece[], input: string, inShape: Shape, output: string, outShape: Shape, options: OnnxExportOptions): Uint8Array {
  const parts: GraphParts = { nodes: [], initializers: [] };
  for (const piece of pieces) for (const node of piece.nodes) emitNode(parts, node, options.weights);
  // The classifier's output is 2-D ([1, classes]); everything else is NCHW.
  const last = pieces[pieces.length - 1].nodes.at(-1);
  const outDims = last?.op === 'linear' ? [1, outShape[0]] : [1, ...outShape];
  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'tailor',
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    metadataProps: Object.entries({ weights: options.weights.description, ...options.metadata }).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.graphName ?? 'tailor',
      node: parts.nodes,
      initializer: parts.initializers,
      input: [valueInfo(input, [1, ...inShape])],
      output: [valueInfo(output, outDims)],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Whole network as ONNX (NCHW, batch 1, BN folded). */
export function exportOnnx(ir: ModelIR, options: OnnxExportOptions): Uint8Array {
  return encode(ir.pieces, ir.input, ir.inShape, ir.output, ir.outShape, options);
}

/** Several consecutive pieces (or one) as a standalone ONNX model. */
export function exportPiecesOnnx(pieces: Piece[], options: OnnxExportOptions): Uint8Array {
  const first = pieces[0];
  const last = pieces[pieces.length - 1];
  return encode(pieces, first.input, first.inShape, last.output, last.outShape, { graphName: first.id, ...options });
}
