/**
 * A TFLite model as plain data: what the writer takes and the reader returns. Only the schema
 * fields Tailor uses are represented; everything else is dropped on read and absent on write.
 */

/** TFLite's TensorType enum, by name. */
export type TfliteTensorType =
  | 'float32' | 'float16' | 'int32' | 'uint8' | 'int64' | 'string' | 'bool' | 'int16'
  | 'complex64' | 'int8' | 'float64' | 'complex128' | 'uint64' | 'resource' | 'variant'
  | 'uint32' | 'uint16' | 'int4';

/** Affine quantization: real = scale * (q - zeroPoint), per tensor or per channel along quantizedDimension. */
export interface TfliteQuantization {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
  min?: number[];
  max?: number[];
}

export interface TfliteTensor {
  name: string;
  /** NHWC for activations; [out, kh, kw, in] for CONV_2D filters, [1, kh, kw, out] for depthwise. */
  shape: number[];
  /** -1 marks a dynamic dimension. */
  shapeSignature?: number[];
  type: TfliteTensorType;
  /** Index into TfliteModel.buffers; 0 is the empty buffer by convention. */
  buffer: number;
  quantization?: TfliteQuantization;
  isVariable?: boolean;
}

/** Builtin option values by camelCase schema field name; enums as their schema names ('SAME', 'RELU6', ...). */
export type TfliteOptions = Record<string, number | boolean | string | number[]>;

export interface TfliteOperator {
  /** The builtin operator's schema name ('CONV_2D', 'DEPTHWISE_CONV_2D', ...), or `CUSTOM:<code>`. */
  opcode: string;
  /** The operator code's version (1 unless an op feature needs more). */
  version: number;
  /** Tensor indices; -1 for an omitted optional input. */
  inputs: number[];
  outputs: number[];
  /** The builtin options table, or null when the op has none. */
  options: TfliteOptions | null;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteModel {
  /** Schema version: 3. */
  version: number;
  description: string;
  subgraphs: TfliteSubgraph[];
  /** Raw bytes of each buffer; buffers[0] must be empty. */
  buffers: Uint8Array[];
  /** Model metadata entries (name -> bytes of the buffer it points at). */
  metadata: Record<string, Uint8Array>;
}
