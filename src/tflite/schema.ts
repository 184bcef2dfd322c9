/**
 * The parts of TFLite's flatbuffer schema (tensorflow/compiler/mlir/lite/schema/schema.fbs,
 * file identifier "TFL3", schema version 3) that Tailor reads and writes, written by hand.
 * Field slots are the declaration order in the .fbs; a union takes two slots (type, value).
 */
import { TfliteTensorType } from './model';

export const FILE_IDENTIFIER = 'TFL3';
export const SCHEMA_VERSION = 3;

/** Field slots (vtable indices) of the tables Tailor follows. */
export const MODEL = { version: 0, operatorCodes: 1, subgraphs: 2, description: 3, buffers: 4, metadataBuffer: 5, metadata: 6, signatureDefs: 7, count: 8 } as const;
export const SUBGRAPH = { tensors: 0, inputs: 1, outputs: 2, operators: 3, name: 4, count: 5 } as const;
export const TENSOR = { shape: 0, type: 1, buffer: 2, name: 3, quantization: 4, isVariable: 5, sparsity: 6, shapeSignature: 7, hasRank: 8, variantTensors: 9, count: 10 } as const;
export const BUFFER = { data: 0, offset: 1, size: 2, count: 3 } as const;
export const OPERATOR = {
  opcodeIndex: 0, inputs: 1, outputs: 2, builtinOptionsType: 3, builtinOptions: 4, customOptions: 5, customOptionsFormat: 6,
  mutatingVariableInputs: 7, intermediates: 8, largeCustomOptionsOffset: 9, largeCustomOptionsSize: 10, builtinOptions2Type: 11, builtinOptions2: 12, count: 13,
} as const;
export const OPERATOR_CODE = { deprecatedBuiltinCode: 0, customCode: 1, version: 2, builtinCode: 3, count: 4 } as const;
export const QUANTIZATION = { min: 0, max: 1, scale: 2, zeroPoint: 3, detailsType: 4, details: 5, quantizedDimension: 6, count: 7 } as const;
export const METADATA = { name: 0, buffer: 1, count: 2 } as const;

/** TensorType by code, as model.ts names them (BFLOAT16 = 18 has no name there). */
export const TENSOR_TYPES: readonly TfliteTensorType[] = [
  'float32', 'float16', 'int32', 'uint8', 'int64', 'string', 'bool', 'int16', 'complex64', 'int8',
  'float64', 'complex128', 'uint64', 'resource', 'variant', 'uint32', 'uint16', 'int4',
];
/** TensorType's schema names by code, for enum-valued option fields. */
export const TENSOR_TYPE_NAMES = [
  'FLOAT32', 'FLOAT16', 'INT32', 'UINT8', 'INT64', 'STRING', 'BOOL', 'INT16', 'COMPLEX64', 'INT8',
  'FLOAT64', 'COMPLEX128', 'UINT64', 'RESOURCE', 'VARIANT', 'UINT32', 'UINT16', 'INT4', 'BFLOAT16',
] as const;

/** BuiltinOperator names by code (0..207). */
export const BUILTIN_OPERATORS: readonly string[] = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE', 'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED',
  'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D', 'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU',
  'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH', 'CONCAT_EMBEDDINGS',
  'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD', 'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE',
  'MEAN', 'SUB', 'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2', 'SPLIT',
  'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM', 'ARG_MAX', 'MINIMUM', 'LESS', 'NEG',
  'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE', 'SIN', 'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE',
  'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT', 'SHAPE', 'POW', 'ARG_MIN',
  'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN',
  'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL', 'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE',
  'MIRROR_PAD', 'ABS', 'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE',
  'RANK', 'ELU', 'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE',
  'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM', 'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM', 'CALL_ONCE',
  'BROADCAST_TO', 'RFFT2D', 'CONV_3D', 'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE', 'HASHTABLE_FIND', 'HASHTABLE_IMPORT', 'HASHTABLE_SIZE',
  'REDUCE_ALL', 'CONV_3D_TRANSPOSE', 'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE', 'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL', 'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL',
  'GELU', 'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1', 'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX', 'UNSORTED_SEGMENT_SUM', 'ATAN2', 'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST',
  'BITWISE_XOR', 'RIGHT_SHIFT', 'STABLEHLO_LOGISTIC', 'STABLEHLO_ADD', 'STABLEHLO_DIVIDE', 'STABLEHLO_MULTIPLY', 'STABLEHLO_MAXIMUM', 'STABLEHLO_RESHAPE', 'STABLEHLO_CLAMP', 'STABLEHLO_CONCATENATE',
  'STABLEHLO_BROADCAST_IN_DIM', 'STABLEHLO_CONVOLUTION', 'STABLEHLO_SLICE', 'STABLEHLO_CUSTOM_CALL', 'STABLEHLO_REDUCE', 'STABLEHLO_ABS', 'STABLEHLO_AND', 'STABLEHLO_COSINE', 'STABLEHLO_EXPONENTIAL', 'STABLEHLO_FLOOR',
  'STABLEHLO_LOG', 'STABLEHLO_MINIMUM', 'STABLEHLO_NEGATE', 'STABLEHLO_OR', 'STABLEHLO_POWER', 'STABLEHLO_REMAINDER', 'STABLEHLO_RSQRT', 'STABLEHLO_SELECT', 'STABLEHLO_SUBTRACT', 'STABLEHLO_TANH',
  'STABLEHLO_SCATTER', 'STABLEHLO_COMPARE', 'STABLEHLO_CONVERT', 'STABLEHLO_DYNAMIC_SLICE', 'STABLEHLO_DYNAMIC_UPDATE_SLICE', 'STABLEHLO_PAD', 'STABLEHLO_IOTA', 'STABLEHLO_DOT_GENERAL', 'STABLEHLO_REDUCE_WINDOW', 'STABLEHLO_SORT',
  'STABLEHLO_WHILE', 'STABLEHLO_GATHER', 'STABLEHLO_TRANSPOSE', 'DILATE', 'STABLEHLO_RNG_BIT_GENERATOR', 'REDUCE_WINDOW', 'STABLEHLO_COMPOSITE', 'COMPLEX',
];
export const BUILTIN_CODE: ReadonlyMap<string, number> = new Map(BUILTIN_OPERATORS.map((name, code) => [name, code]));
export const CUSTOM_CODE = 32;
/** OperatorCode.deprecated_builtin_code is a byte: codes above this live only in builtin_code. */
export const PLACEHOLDER_FOR_GREATER_OP_CODES = 127;
/** Opcode names of custom operators: `CUSTOM:<custom_code>`. */
export const CUSTOM_PREFIX = 'CUSTOM:';

/** The BuiltinOptions union's members in declaration order: type code = index + 1 (0 is NONE). */
export const BUILTIN_OPTIONS_UNION: readonly string[] = [
  'Conv2DOptions', 'DepthwiseConv2DOptions', 'ConcatEmbeddingsOptions', 'LSHProjectionOptions', 'Pool2DOptions', 'SVDFOptions', 'RNNOptions',
  'FullyConnectedOptions', 'SoftmaxOptions', 'ConcatenationOptions', 'AddOptions', 'L2NormOptions', 'LocalResponseNormalizationOptions', 'LSTMOptions',
  'ResizeBilinearOptions', 'CallOptions', 'ReshapeOptions', 'SkipGramOptions', 'SpaceToDepthOptions', 'EmbeddingLookupSparseOptions', 'MulOptions',
  'PadOptions', 'GatherOptions', 'BatchToSpaceNDOptions', 'SpaceToBatchNDOptions', 'TransposeOptions', 'ReducerOptions', 'SubOptions', 'DivOptions',
  'SqueezeOptions', 'SequenceRNNOptions', 'StridedSliceOptions', 'ExpOptions', 'TopKV2Options', 'SplitOptions', 'LogSoftmaxOptions', 'CastOptions',
  'DequantizeOptions', 'MaximumMinimumOptions', 'ArgMaxOptions', 'LessOptions', 'NegOptions', 'PadV2Options', 'GreaterOptions', 'GreaterEqualOptions',
  'LessEqualOptions', 'SelectOptions', 'SliceOptions', 'TransposeConvOptions', 'SparseToDenseOptions', 'TileOptions', 'ExpandDimsOptions', 'EqualOptions',
  'NotEqualOptions', 'ShapeOptions', 'PowOptions', 'ArgMinOptions', 'FakeQuantOptions', 'PackOptions', 'LogicalOrOptions', 'OneHotOptions',
  'LogicalAndOptions', 'LogicalNotOptions', 'UnpackOptions', 'FloorDivOptions', 'SquareOptions', 'ZerosLikeOptions', 'FillOptions',
  'BidirectionalSequenceLSTMOptions', 'BidirectionalSequenceRNNOptions', 'UnidirectionalSequenceLSTMOptions', 'FloorModOptions', 'RangeOptions',
  'ResizeNearestNeighborOptions', 'LeakyReluOptions', 'SquaredDifferenceOptions', 'MirrorPadOptions', 'AbsOptions', 'SplitVOptions', 'UniqueOptions',
  'ReverseV2Options', 'AddNOptions', 'GatherNdOptions', 'CosOptions', 'WhereOptions', 'RankOptions', 'ReverseSequenceOptions', 'MatrixDiagOptions',
  'QuantizeOptions', 'MatrixSetDiagOptions', 'HardSwishOptions', 'IfOptions', 'WhileOptions', 'DepthToSpaceOptions', 'NonMaxSuppressionV4Options',
  'NonMaxSuppressionV5Options', 'ScatterNdOptions', 'SelectV2Options', 'DensifyOptions', 'SegmentSumOptions', 'BatchMatMulOptions', 'CumsumOptions',
  'CallOnceOptions', 'BroadcastToOptions', 'Rfft2dOptions', 'Conv3DOptions', 'HashtableOptions', 'HashtableFindOptions', 'HashtableImportOptions',
  'HashtableSizeOptions', 'VarHandleOptions', 'ReadVariableOptions', 'AssignVariableOptions', 'RandomOptions', 'BucketizeOptions', 'GeluOptions',
  'DynamicUpdateSliceOptions', 'UnsortedSegmentProdOptions', 'UnsortedSegmentMaxOptions', 'UnsortedSegmentMinOptions', 'UnsortedSegmentSumOptions',
  'ATan2Options', 'SignOptions', 'BitcastOptions', 'BitwiseXorOptions', 'RightShiftOptions',
];

/** Byte-sized enums used by option fields, names by value. */
export const ENUMS = {
  Padding: ['SAME', 'VALID'],
  ActivationFunctionType: ['NONE', 'RELU', 'RELU_N1_TO_1', 'RELU6', 'TANH', 'SIGN_BIT'],
  FullyConnectedOptionsWeightsFormat: ['DEFAULT', 'SHUFFLED4x16INT8'],
  TensorType: TENSOR_TYPE_NAMES,
} as const satisfies Record<string, readonly string[]>;
export type EnumName = keyof typeof ENUMS;
export type Padding = (typeof ENUMS.Padding)[number];
export type ActivationFunctionType = (typeof ENUMS.ActivationFunctionType)[number];

/** How an option field is stored: a scalar, an int vector, or a byte enum stored by value, read back by name. */
export type OptionFieldType = 'bool' | 'int32' | 'float32' | 'int32[]' | EnumName;
export interface OptionField {
  /** camelCase of the schema field name (stride_w -> strideW). */
  name: string;
  type: OptionFieldType;
  /** The schema default, in the form TfliteOptions holds it. */
  default: number | boolean | string | number[];
}
export interface OptionsTable {
  name: string;
  /** BuiltinOptions union type code. */
  code: number;
  /** By slot; null for a deprecated slot. */
  fields: (OptionField | null)[];
}

const int = (name: string, def = 0): OptionField => ({ name, type: 'int32', default: def });
const bool = (name: string, def = false): OptionField => ({ name, type: 'bool', default: def });
const float = (name: string, def = 0): OptionField => ({ name, type: 'float32', default: def });
const ints = (name: string): OptionField => ({ name, type: 'int32[]', default: [] });
const enumField = (name: string, type: EnumName): OptionField => ({ name, type, default: ENUMS[type][0] });
const activation = enumField('fusedActivationFunction', 'ActivationFunctionType');
const padding = enumField('padding', 'Padding');

const TABLE_FIELDS: Record<string, (OptionField | null)[]> = {
  Conv2DOptions: [padding, int('strideW'), int('strideH'), activation, int('dilationWFactor', 1), int('dilationHFactor', 1), enumField('quantizedBiasType', 'TensorType')],
  DepthwiseConv2DOptions: [padding, int('strideW'), int('strideH'), int('depthMultiplier'), activation, int('dilationWFactor', 1), int('dilationHFactor', 1)],
  Pool2DOptions: [padding, int('strideW'), int('strideH'), int('filterWidth'), int('filterHeight'), activation],
  FullyConnectedOptions: [activation, enumField('weightsFormat', 'FullyConnectedOptionsWeightsFormat'), bool('keepNumDims'), bool('asymmetricQuantizeInputs'), enumField('quantizedBiasType', 'TensorType')],
  SoftmaxOptions: [float('beta')],
  ConcatenationOptions: [int('axis'), activation],
  AddOptions: [activation, bool('potScaleInt16', true)],
  SubOptions: [activation, bool('potScaleInt16', true)],
  MulOptions: [activation],
  DivOptions: [activation],
  ReshapeOptions: [ints('newShape')],
  ReducerOptions: [bool('keepDims')],
  PadOptions: [],
  TransposeOptions: [],
  HardSwishOptions: [],
  // new_height, new_width are deprecated but keep their slots
  ResizeBilinearOptions: [null, null, bool('alignCorners'), bool('halfPixelCenters')],
  ResizeNearestNeighborOptions: [bool('alignCorners'), bool('halfPixelCenters')],
  SqueezeOptions: [ints('squeezeDims')],
  StridedSliceOptions: [int('beginMask'), int('endMask'), int('ellipsisMask'), int('newAxisMask'), int('shrinkAxisMask'), bool('offset')],
  BatchMatMulOptions: [bool('adjX'), bool('adjY'), bool('asymmetricQuantizeInputs')],
  SplitOptions: [int('numSplits')],
  GatherOptions: [int('axis'), int('batchDims')],
  GeluOptions: [bool('approximate')],
};

function unionCode(name: string): number {
  const index = BUILTIN_OPTIONS_UNION.indexOf(name);
  if (index < 0) throw new Error(`schema.ts: ${name} is not a BuiltinOptions member`);
  return index + 1;
}

/** The options tables Tailor reads and writes, by union type code. */
export const OPTIONS_TABLES: ReadonlyMap<number, OptionsTable> = new Map(
  Object.entries(TABLE_FIELDS).map(([name, fields]) => [unionCode(name), { name, code: unionCode(name), fields }]),
);
const TABLE_BY_NAME = new Map([...OPTIONS_TABLES.values()].map((t) => [t.name, t]));

/** Which options table each builtin operator carries (the pairing TFLite's op parsers expect). */
const OP_OPTIONS: Record<string, string> = {
  CONV_2D: 'Conv2DOptions', DEPTHWISE_CONV_2D: 'DepthwiseConv2DOptions',
  AVERAGE_POOL_2D: 'Pool2DOptions', MAX_POOL_2D: 'Pool2DOptions', L2_POOL_2D: 'Pool2DOptions',
  FULLY_CONNECTED: 'FullyConnectedOptions', SOFTMAX: 'SoftmaxOptions', CONCATENATION: 'ConcatenationOptions',
  ADD: 'AddOptions', SUB: 'SubOptions', MUL: 'MulOptions', DIV: 'DivOptions', RESHAPE: 'ReshapeOptions',
  MEAN: 'ReducerOptions', SUM: 'ReducerOptions', REDUCE_PROD: 'ReducerOptions', REDUCE_MAX: 'ReducerOptions',
  REDUCE_MIN: 'ReducerOptions', REDUCE_ANY: 'ReducerOptions', REDUCE_ALL: 'ReducerOptions',
  PAD: 'PadOptions', TRANSPOSE: 'TransposeOptions', HARD_SWISH: 'HardSwishOptions',
  RESIZE_BILINEAR: 'ResizeBilinearOptions', RESIZE_NEAREST_NEIGHBOR: 'ResizeNearestNeighborOptions',
  SQUEEZE: 'SqueezeOptions', STRIDED_SLICE: 'StridedSliceOptions', BATCH_MATMUL: 'BatchMatMulOptions',
  SPLIT: 'SplitOptions', GATHER: 'GatherOptions', GELU: 'GeluOptions',
};

export function optionsTableOf(opcode: string): OptionsTable | undefined {
  const name = OP_OPTIONS[opcode];
  return name === undefined ? undefined : TABLE_BY_NAME.get(name);
}
