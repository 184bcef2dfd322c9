import { Builder } from 'flatbuffers';
import { TailorError } from '../core/errors';
import { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteSubgraph, TfliteTensor } from './model';
import {
  BUFFER, BUILTIN_CODE, CUSTOM_CODE, CUSTOM_PREFIX, ENUMS, FILE_IDENTIFIER, METADATA, MODEL, OPERATOR, OPERATOR_CODE,
  OptionField, OptionsTable, PLACEHOLDER_FOR_GREATER_OP_CODES, QUANTIZATION, SUBGRAPH, TENSOR, TENSOR_TYPES, optionsTableOf,
} from './schema';

type Offset = number;

function fail(what: string, reason: string): never {
  throw new TailorError('TFLITE_EXPORT', { what, reason });
}

function int32Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]);
  return b.endVector();
}
function float32Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addFloat32(values[i]);
  return b.endVector();
}
function int64Vector(b: Builder, values: readonly number[]): Offset {
  b.startVector(8, values.length, 8);
  for (let i = values.length - 1; i >= 0; i--) b.addInt64(BigInt(values[i]));
  return b.endVector();
}
function offsetVector(b: Builder, offsets: readonly Offset[]): Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}
/** Buffer data, 16-byte aligned as the schema asks (force_align: 16) so runtimes can map weights in place. */
function alignedBytes(b: Builder, data: Uint8Array): Offset {
  // Aligning the end of the data to 16 first makes createByteVector's startVector(1, n, 1)
  // land exactly where startVector(1, n, 16) would, and it copies the bytes in one go.
  b.prep(16, data.length);
  return b.createByteVector(data);
}

function isInt32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
}

function writeOptions(b: Builder, table: OptionsTable, options: TfliteOptions, what: string): Offset {
  const known = new Set(table.fields.filter((f): f is OptionField => f !== null).map((f) => f.name));
  for (const key of Object.keys(options)) {
    if (!known.has(key)) fail(what, `${table.name} has no field "${key}" (fields: ${[...known].join(', ') || 'none'})`);
  }
  // Vectors are written before the table starts (flatbuffers cannot nest).
  const vectors = new Map<number, Offset>();
  table.fields.forEach((field, slot) => {
    if (!field || field.type !== 'int32[]' || options[field.name] === undefined) return;
    const value = options[field.name];
    if (!Array.isArray(value) || !value.every(isInt32)) fail(what, `${table.name}.${field.name} must be a list of int32, got ${JSON.stringify(value)}`);
    vectors.set(slot, int32Vector(b, value));
  });
  b.startObject(table.fields.length);
  table.fields.forEach((field, slot) => {
    if (!field) return;
    const value = options[field.name] ?? field.default;
    const bad = (): never => fail(what, `${table.name}.${field.name} must be ${field.type}, got ${JSON.stringify(value)}`);
    switch (field.type) {
      case 'int32[]':
        if (vectors.has(slot)) b.addFieldOffset(slot, vectors.get(slot)!, 0);
        return;
      case 'bool':
        if (typeof value !== 'boolean') bad();
        b.addFieldInt8(slot, value ? 1 : 0, field.default ? 1 : 0);
        return;
      case 'int32':
        if (!isInt32(value)) bad();
        b.addFieldInt32(slot, value as number, field.default as number);
        return;
      case 'float32':
        if (typeof value !== 'number') bad();
        b.addFieldFloat32(slot, value as number, field.default as number);
        return;
      default: {
        const names: readonly string[] = ENUMS[field.type];
        const code = names.indexOf(value as string);
        if (code < 0) fail(what, `${table.name}.${field.name} must be one of ${names.join(', ')}, got ${JSON.stringify(value)}`);
        b.addFieldInt8(slot, code, names.indexOf(field.default as string));
      }
    }
  });
  return b.endObject();
}

function writeQuantization(b: Builder, q: TfliteQuantization): Offset {
  const min = q.min && float32Vector(b, q.min);
  const max = q.max && float32Vector(b, q.max);
  const scale = float32Vector(b, q.scale);
  const zeroPoint = int64Vector(b, q.zeroPoint);
  b.startObject(QUANTIZATION.count);
  if (min) b.addFieldOffset(QUANTIZATION.min, min, 0);
  if (max) b.addFieldOffset(QUANTIZATION.max, max, 0);
  b.addFieldOffset(QUANTIZATION.scale, scale, 0);
  b.addFieldOffset(QUANTIZATION.zeroPoint, zeroPoint, 0);
  b.addFieldInt32(QUANTIZATION.quantizedDimension, q.quantizedDimension, 0);
  return b.endObject();
}

function writeTensor(b: Builder, t: TfliteTensor, bufferCount: number, what: string): Offset {
  const type = TENSOR_TYPES.indexOf(t.type);
  if (type < 0) fail(what, `unknown tensor type "${t.type}"`);
  if (!Number.isInteger(t.buffer) || t.buffer < 0 || t.buffer >= bufferCount) fail(what, `buffer ${t.buffer} is not one of the model's ${bufferCount} buffers`);
  for (const dims of [t.shape, t.shapeSignature ?? []]) if (!dims.every(isInt32)) fail(what, `shape ${JSON.stringify(dims)} is not a list of int32`);
  const shape = int32Vector(b, t.shape);
  const name = b.createString(t.name);
  const quantization = t.quantization && writeQuantization(b, t.quantization);
  const signature = t.shapeSignature && int32Vector(b, t.shapeSignature);
  b.startObject(TENSOR.count);
  b.addFieldOffset(TENSOR.shape, shape, 0);
  b.addFieldInt8(TENSOR.type, type, 0);
  b.addFieldInt32(TENSOR.buffer, t.buffer, 0);
  b.addFieldOffset(TENSOR.name, name, 0);
  if (quantization) b.addFieldOffset(TENSOR.quantization, quantization, 0);
  b.addFieldInt8(TENSOR.isVariable, t.isVariable ? 1 : 0, 0);
  if (signature) b.addFieldOffset(TENSOR.shapeSignature, signature, 0);
  // Every shape Tailor writes has a known rank; without has_rank a [] shape would mean "unknown rank".
  b.addFieldInt8(TENSOR.hasRank, 1, 0);
  return b.endObject();
}

class OperatorCodes {
  readonly keys: string[] = [];
  private readonly index = new Map<string, number>();
  indexOf(op: TfliteOperator, what: string): number {
    if (!op.opcode.startsWith(CUSTOM_PREFIX) && !BUILTIN_CODE.has(op.opcode)) fail(what, `unknown builtin operator "${op.opcode}"`);
    if (!Number.isInteger(op.version) || op.version < 1) fail(what, `operator version must be a positive integer, got ${op.version}`);
    const key = `${op.opcode}\u0000${op.version}`;
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.keys.length;
      this.keys.push(key);
      this.index.set(key, i);
    }
    return i;
  }
  write(b: Builder): Offset {
    const codes = this.keys.map((key) => {
      const [opcode, version] = key.split('\u0000');
      const custom = opcode.startsWith(CUSTOM_PREFIX) ? b.createString(opcode.slice(CUSTOM_PREFIX.length)) : 0;
      const code = custom ? CUSTOM_CODE : BUILTIN_CODE.get(opcode)!;
      b.startObject(OPERATOR_CODE.count);
      b.addFieldInt8(OPERATOR_CODE.deprecatedBuiltinCode, Math.min(code, PLACEHOLDER_FOR_GREATER_OP_CODES), 0);
      if (custom) b.addFieldOffset(OPERATOR_CODE.customCode, custom, 0);
      b.addFieldInt32(OPERATOR_CODE.version, Number(version), 1);
      b.addFieldInt32(OPERATOR_CODE.builtinCode, code, 0);
      return b.endObject();
    });
    return offsetVector(b, codes);
  }
}

function writeOperator(b: Builder, op: TfliteOperator, opcodeIndex: number, tensorCount: number, what: string): Offset {
  for (const t of [...op.inputs, ...op.outputs]) {
    if (!Number.isInteger(t) || t < -1 || t >= tensorCount) fail(what, `tensor index ${t} is outside the subgraph's ${tensorCount} tensors`);
  }
  const inputs = int32Vector(b, op.inputs);
  const outputs = int32Vector(b, op.outputs);
  let options = 0;
  let optionsType = 0;
  if (op.options) {
    const table = optionsTableOf(op.opcode);
    if (!table) fail(what, `Tailor knows no builtin options table for ${op.opcode}; pass options: null`);
    options = writeOptions(b, table, op.options, what);
    optionsType = table.code;
  }
  b.startObject(OPERATOR.count);
  b.addFieldInt32(OPERATOR.opcodeIndex, opcodeIndex, 0);
  b.addFieldOffset(OPERATOR.inputs, inputs, 0);
  b.addFieldOffset(OPERATOR.outputs, outputs, 0);
  b.addFieldInt8(OPERATOR.builtinOptionsType, optionsType, 0);
  if (options) b.addFieldOffset(OPERATOR.builtinOptions, options, 0);
  return b.endObject();
}

function writeSubgraph(b: Builder, g: TfliteSubgraph, index: number, codes: OperatorCodes, bufferCount: number): Offset {
  const what = `subgraph ${index} ("${g.name}")`;
  const tensors = g.tensors.map((t, i) => writeTensor(b, t, bufferCount, `${what}, tensor ${i} ("${t.name}")`));
  for (const t of [...g.inputs, ...g.outputs]) {
    if (!Number.isInteger(t) || t < 0 || t >= g.tensors.length) fail(what, `input/output tensor ${t} is outside its ${g.tensors.length} tensors`);
  }
  const operators = g.operators.map((op, i) => {
    const opWhat = `${what}, operator ${i} (${op.opcode})`;
    return writeOperator(b, op, codes.indexOf(op, opWhat), g.tensors.length, opWhat);
  });
  const tensorsVector = offsetVector(b, tensors);
  const inputs = int32Vector(b, g.inputs);
  const outputs = int32Vector(b, g.outputs);
  const operatorsVector = offsetVector(b, operators);
  const name = b.createString(g.name);
  b.startObject(SUBGRAPH.count);
  b.addFieldOffset(SUBGRAPH.tensors, tensorsVector, 0);
  b.addFieldOffset(SUBGRAPH.inputs, inputs, 0);
  b.addFieldOffset(SUBGRAPH.outputs, outputs, 0);
  b.addFieldOffset(SUBGRAPH.operators, operatorsVector, 0);
  b.addFieldOffset(SUBGRAPH.name, name, 0);
  return b.endObject();
}

function writeBuffer(b: Builder, data: Uint8Array): Offset {
  const vector = data.length > 0 ? alignedBytes(b, data) : 0;
  b.startObject(BUFFER.count);
  if (vector) b.addFieldOffset(BUFFER.data, vector, 0);
  return b.endObject();
}

/**
 * A TfliteModel as a .tflite file (schema version 3). Metadata entries get buffers of their own,
 * appended after model.buffers; operator codes are shared by every operator with the same opcode
 * and version.
 */
export function writeTflite(model: TfliteModel): Uint8Array {
  if (model.buffers.length === 0 || model.buffers[0].length !== 0) fail('the model', 'buffers[0] must exist and be empty (the sentinel buffer of tensors without data)');
  const metadata = Object.entries(model.metadata);
  const buffers = [...model.buffers, ...metadata.map(([, bytes]) => bytes)];
  const size = buffers.reduce((sum, data) => sum + data.length + 16, 0);
  const b = new Builder(Math.min(size + (1 << 20), 2 ** 31 - 1));

  // Buffers first: they are the bulk, and written early they sit at the end of the file, after the graph.
  const bufferOffsets = buffers.map((data) => writeBuffer(b, data));
  const codes = new OperatorCodes();
  const subgraphs = model.subgraphs.map((g, i) => writeSubgraph(b, g, i, codes, model.buffers.length));
  const metadataOffsets = metadata.map(([name], i) => {
    const nameOffset = b.createString(name);
    b.startObject(METADATA.count);
    b.addFieldOffset(METADATA.name, nameOffset, 0);
    b.addFieldInt32(METADATA.buffer, model.buffers.length + i, 0);
    return b.endObject();
  });
  const codesVector = codes.write(b);
  const subgraphsVector = offsetVector(b, subgraphs);
  const description = b.createString(model.description);
  const buffersVector = offsetVector(b, bufferOffsets);
  const metadataVector = offsetVector(b, metadataOffsets);
  b.startObject(MODEL.count);
  b.addFieldInt32(MODEL.version, model.version, 0);
  b.addFieldOffset(MODEL.operatorCodes, codesVector, 0);
  b.addFieldOffset(MODEL.subgraphs, subgraphsVector, 0);
  b.addFieldOffset(MODEL.description, description, 0);
  b.addFieldOffset(MODEL.buffers, buffersVector, 0);
  if (metadata.length > 0) b.addFieldOffset(MODEL.metadata, metadataVector, 0);
  b.finish(b.endObject(), FILE_IDENTIFIER);
  // asUint8Array is a view into the builder's (larger) buffer: copy out exactly the file.
  return b.asUint8Array().slice();
}
