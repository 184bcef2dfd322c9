import { TfliteModel } from '../../tflite/model';
import { NodeEvent } from '../backend';

/**
 * The XNNPACK operators (as the profile names them) a TFLite builtin op can become. XNNPACK
 * fuses some ops away (a PAD into the next convolution, RELU/RELU6 into a clamp of the op before,
 * a RESHAPE may vanish), so an op may have no operator; one never has two.
 */
const XNNPACK_OPS: Record<string, RegExp> = {
  CONV_2D: /^Convolution\b/,
  DEPTHWISE_CONV_2D: /^Convolution\b/,
  TRANSPOSE_CONV: /^Deconvolution\b/,
  FULLY_CONNECTED: /^Fully Connected\b/,
  BATCH_MATMUL: /^Batch Matrix Multiply\b|^Fully Connected\b/,
  ADD: /^Add\b/,
  SUB: /^Subtract\b/,
  MUL: /^Multiply\b/,
  DIV: /^Divide\b/,
  MAXIMUM: /^Maximum\b/,
  MINIMUM: /^Minimum\b/,
  HARD_SWISH: /^HardSwish\b/,
  LOGISTIC: /^Sigmoid\b/,
  TANH: /^Tanh\b/,
  RELU: /^Clamp\b/,
  RELU6: /^Clamp\b/,
  RELU_N1_TO_1: /^Clamp\b/,
  LEAKY_RELU: /^Leaky ReLU\b/,
  ELU: /^ELU\b/,
  PRELU: /^PReLU\b/,
  MEAN: /Average Pooling\b|^Mean\b|^Sum\b/,
  SUM: /^Sum\b/,
  AVERAGE_POOL_2D: /Average Pooling\b/,
  MAX_POOL_2D: /^Max Pooling\b/,
  PAD: /Pad\b/,
  RESHAPE: /^Copy\b|^Reshape\b/,
  SQUEEZE: /^Copy\b/,
  EXPAND_DIMS: /^Copy\b/,
  CONCATENATION: /^Concatenate\b|^Copy\b/,
  TRANSPOSE: /^Transpose\b/,
  SOFTMAX: /^SoftMax\b|^Softmax\b/,
  RESIZE_BILINEAR: /^Resize Bilinear\b/,
  SLICE: /^Slice\b/,
  STRIDED_SLICE: /^Slice\b/,
  SPLIT: /^Split\b|^Slice\b/,
  DEPTH_TO_SPACE: /^Depth To Space\b/,
  SQUARED_DIFFERENCE: /^Squared Difference\b/,
};

/** How far past fused-away ops an XNNPACK operator may be matched to its TFLite op. */
const MAX_SKIP = 3;

const DELEGATE_OP = /^Delegate\//;
const INTERPRETER_NODE = /^\[(.*)\]:\d+$/;

/**
 * Names each kernel of a tflite-wasm profile after the TFLite op it ran: the op's first output
 * tensor (our exporter names tensors after IR nodes, "blocks.3.depthwise", so kernels can be
 * attributed to pieces like onnxruntime's). XNNPACK runs its operators in the model's op order;
 * each is matched to the next op whose kind it can be, past at most MAX_SKIP fused-away ops.
 * A kernel that matches nothing keeps its runtime name (it then counts with the op before it).
 * Interpreter nodes ("[tensor]:index") are named by their output tensor.
 */
export function nameKernels(model: TfliteModel, events: NodeEvent[]): NodeEvent[] {
  const graph = model.subgraphs[0];
  const outputName = (op: number) => graph.tensors[graph.operators[op].outputs[0]]?.name ?? '';
  let next = 0;
  return events.map((event) => {
    const node = INTERPRETER_NODE.exec(event.name);
    if (node) return { ...event, name: node[1] };
    if (!DELEGATE_OP.test(event.name)) return event;
    for (let op = next; op < Math.min(graph.operators.length, next + MAX_SKIP + 1); op++) {
      if (XNNPACK_OPS[graph.operators[op].opcode]?.test(event.opType)) {
        next = op + 1;
        return { ...event, name: outputName(op) };
      }
    }
    return event;
  });
}
