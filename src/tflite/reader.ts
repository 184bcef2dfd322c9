import { TailorError } from '../core/errors';
import { TfliteModel, TfliteOperator, TfliteOptions, TfliteQuantization, TfliteSubgraph, TfliteTensor } from './model';
import {
  BUFFER, BUILTIN_OPERATORS, CUSTOM_CODE, CUSTOM_PREFIX, ENUMS, FILE_IDENTIFIER, METADATA, MODEL, OPERATOR, OPERATOR_CODE,
  OPTIONS_TABLES, QUANTIZATION, SCHEMA_VERSION, SUBGRAPH, TENSOR, TENSOR_TYPES, TENSOR_TYPE_NAMES,
} from './schema';

/**
 * Bounds-checked access to a flatbuffer: flatbuffers' own JS accessors do not check offsets,
 * so a truncated or corrupt file would read garbage (or throw RangeError) instead of failing
 * with a reason. Every offset and vector length is checked against the file size here.
 */
class Flat {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly file: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fail(reason: string): never {
    throw new TailorError('INVALID_TFLITE', { file: this.file, reason });
  }
  check(pos: number, size: number, what: string): void {
    if (!(pos >= 0 && pos + size <= this.bytes.length)) this.fail(`${what} at byte ${pos} (${size} bytes) lies outside the file (${this.bytes.length} bytes); the file is truncated or corrupt`);
  }
  u8(pos: number, what: string): number { this.check(pos, 1, what); return this.view.getUint8(pos); }
  i8(pos: number, what: string): number { this.check(pos, 1, what); return this.view.getInt8(pos); }
  u16(pos: number, what: string): number { this.check(pos, 2, what); return this.view.getUint16(pos, true); }
  i32(pos: number, what: string): number { this.check(pos, 4, what); return this.view.getInt32(pos, true); }
  u32(pos: number, what: string): number { this.check(pos, 4, what); return this.view.getUint32(pos, true); }
  f32(pos: number, what: string): number { this.check(pos, 4, what); return this.view.getFloat32(pos, true); }
  i64(pos: number, what: string): bigint { this.check(pos, 8, what); return this.view.getBigInt64(pos, true); }
  u64(pos: number, what: string): bigint { this.check(pos, 8, what); return this.view.getBigUint64(pos, true); }
  /** Follows a uoffset stored at pos. */
  follow(pos: number, what: string): number {
    const target = pos + this.u32(pos, what);
    this.check(target, 4, what);
    return target;
  }
  table(pos: number, what: string): Table {
    const vtable = pos - this.i32(pos, what);
    const vtableSize = this.u16(vtable, `${what} (vtable)`);
    const tableSize = this.u16(vtable + 2, `${what} (vtable)`);
    if (vtableSize < 4 || vtableSize % 2 !== 0) this.fail(`${what} has a malformed vtable (size ${vtableSize})`);
    this.check(vtable, vtableSize, `${what} (vtable)`);
    this.check(pos, tableSize, what);
    return new Table(this, pos, vtable, vtableSize, tableSize, what);
  }
}

type Scalar = 'u8' | 'i8' | 'i32' | 'u32' | 'f32' | 'u64';
const SCALAR_SIZE: Record<Scalar, number> = { u8: 1, i8: 1, i32: 4, u32: 4, f32: 4, u64: 8 };

class Table {
  constructor(
    private readonly flat: Flat,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly tableSize: number,
    readonly what: string,
  ) {}
  /** Absolute position of a field, or 0 when absent. */
  private field(slot: number, size: number, name: string): number {
    const entry = 4 + 2 * slot;
    if (entry >= this.vtableSize) return 0;
    const rel = this.flat.u16(this.vtable + entry, this.what);
    if (rel === 0) return 0;
    if (rel + size > this.tableSize) this.flat.fail(`${this.what}: field ${name} lies outside its table`);
    return this.pos + rel;
  }
  scalar(slot: number, kind: Scalar, name: string, def = 0): number {
    const at = this.field(slot, SCALAR_SIZE[kind], name);
    if (!at) return def;
    const what = `${this.what}.${name}`;
    switch (kind) {
      case 'u8': return this.flat.u8(at, what);
      case 'i8': return this.flat.i8(at, what);
      case 'i32': return this.flat.i32(at, what);
      case 'u32': return this.flat.u32(at, what);
      case 'f32': return this.flat.f32(at, what);
      case 'u64': return Number(this.flat.u64(at, what));
    }
  }
  table(slot: number, name: string): Table | null {
    const at = this.field(slot, 4, name);
    return at ? this.flat.table(this.flat.follow(at, `${this.what}.${name}`), `${this.what}.${name}`) : null;
  }
  /** Start and length of a vector of elemSize-byte elements, or null when absent. */
  vector(slot: number, elemSize: number, name: string): { start: number; length: number; what: string } | null {
    const at = this.field(slot, 4, name);
    if (!at) return null;
    const what = `${this.what}.${name}`;
    const pos = this.flat.follow(at, what);
    const length = this.flat.u32(pos, what);
    this.flat.check(pos + 4, length * elemSize, `${what} (${length} elements)`);
    return { start: pos + 4, length, what };
  }
  string(slot: number, name: string): string | null {
    const v = this.vector(slot, 1, name);
    return v && new TextDecoder().decode(this.flat.bytes.subarray(v.start, v.start + v.length));
  }
  bytes(slot: number, name: string): Uint8Array | null {
    const v = this.vector(slot, 1, name);
    return v && new Uint8Array(this.flat.bytes.subarray(v.start, v.start + v.length));
  }
  numbers(slot: number, kind: 'i32' | 'f32' | 'i64', name: string): number[] | null {
    const v = this.vector(slot, kind === 'i64' ? 8 : 4, name);
    if (!v) return null;
    const out: number[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      if (kind === 'i32') out[i] = this.flat.i32(v.start + 4 * i, v.what);
      else if (kind === 'f32') out[i] = this.flat.f32(v.start + 4 * i, v.what);
      else out[i] = Number(this.flat.i64(v.start + 8 * i, v.what));
    }
    return out;
  }
  tables(slot: number, name: string): Table[] {
    const v = this.vector(slot, 4, name);
    if (!v) return [];
    return Array.from({ length: v.length }, (_, i) => {
      const what = `${v.what}[${i}]`;
      return this.flat.table(this.flat.follow(v.start + 4 * i, what), what);
    });
  }
}

function printable(bytes: Uint8Array): string {
  return [...bytes].map((c) => (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}

function readOptions(flat: Flat, op: Table): TfliteOptions | null {
  const type = op.scalar(OPERATOR.builtinOptionsType, 'u8', 'builtin_options_type');
  const table = OPTIONS_TABLES.get(type);
  if (!table) return null;
  const t = op.table(OPERATOR.builtinOptions, `builtin_options (${table.name})`);
  const options: TfliteOptions = {};
  table.fields.forEach((field, slot) => {
    if (!field) return;
    if (!t) {
      options[field.name] = Array.isArray(field.default) ? [...field.default] : field.default;
      return;
    }
    switch (field.type) {
      case 'int32[]':
        options[field.name] = t.numbers(slot, 'i32', field.name) ?? [];
        return;
      case 'bool':
        options[field.name] = t.scalar(slot, 'u8', field.name, field.default ? 1 : 0) !== 0;
        return;
      case 'int32':
        options[field.name] = t.scalar(slot, 'i32', field.name, field.default as number);
        return;
      case 'float32':
        options[field.name] = t.scalar(slot, 'f32', field.name, field.default as number);
        return;
      default: {
        const names: readonly string[] = ENUMS[field.type];
        const code = t.scalar(slot, 'i8', field.name, names.indexOf(field.default as string));
        if (names[code] === undefined) flat.fail(`${t.what}.${field.name} has value ${code}, not one of ${field.type}'s`);
        options[field.name] = names[code];
      }
    }
  });
  return options;
}

function readQuantization(q: Table): TfliteQuantization | undefined {
  const scale = q.numbers(QUANTIZATION.scale, 'f32', 'scale') ?? [];
  const zeroPoint = q.numbers(QUANTIZATION.zeroPoint, 'i64', 'zero_point') ?? [];
  const min = q.numbers(QUANTIZATION.min, 'f32', 'min');
  const max = q.numbers(QUANTIZATION.max, 'f32', 'max');
  const quantizedDimension = q.scalar(QUANTIZATION.quantizedDimension, 'i32', 'quantized_dimension');
  // Converters write an empty table for float tensors: that is "not quantized".
  if (scale.length === 0 && zeroPoint.length === 0 && !min && !max && quantizedDimension === 0) return undefined;
  const out: TfliteQuantization = { scale, zeroPoint, quantizedDimension };
  if (min) out.min = min;
  if (max) out.max = max;
  return out;
}

function readTensor(flat: Flat, t: Table, bufferCount: number): TfliteTensor {
  const name = t.string(TENSOR.name, 'name') ?? '';
  const typeCode = t.scalar(TENSOR.type, 'i8', 'type');
  const type = TENSOR_TYPES[typeCode];
  if (type === undefined) flat.fail(`${t.what} ("${name}") has tensor type ${TENSOR_TYPE_NAMES[typeCode] ?? typeCode}, which Tailor does not read`);
  const buffer = t.scalar(TENSOR.buffer, 'u32', 'buffer');
  if (buffer >= bufferCount) flat.fail(`${t.what} ("${name}") refers to buffer ${buffer}, but the model has ${bufferCount} buffers`);
  const tensor: TfliteTensor = { name, shape: t.numbers(TENSOR.shape, 'i32', 'shape') ?? [], type, buffer };
  const signature = t.numbers(TENSOR.shapeSignature, 'i32', 'shape_signature');
  if (signature) tensor.shapeSignature = signature;
  const q = t.table(TENSOR.quantization, 'quantization');
  const quantization = q && readQuantization(q);
  if (quantization) tensor.quantization = quantization;
  if (t.scalar(TENSOR.isVariable, 'u8', 'is_variable') !== 0) tensor.isVariable = true;
  return tensor;
}

function readOperatorCode(flat: Flat, c: Table): string {
  // As TFLite's GetBuiltinCode: the larger of the two fields (old files only set the byte).
  const code = Math.max(c.scalar(OPERATOR_CODE.deprecatedBuiltinCode, 'i8', 'deprecated_builtin_code'), c.scalar(OPERATOR_CODE.builtinCode, 'i32', 'builtin_code'));
  if (code === CUSTOM_CODE) return CUSTOM_PREFIX + (c.string(OPERATOR_CODE.customCode, 'custom_code') ?? '');
  if (code < 0) flat.fail(`${c.what} has builtin code ${code}`);
  // A code from a newer schema is still an op: name it so callers can say which op they cannot handle.
  return BUILTIN_OPERATORS[code] ?? `BUILTIN_${code}`;
}

function readSubgraph(flat: Flat, g: Table, codes: { opcode: string; version: number }[], bufferCount: number): TfliteSubgraph {
  const tensors = g.tables(SUBGRAPH.tensors, 'tensors').map((t) => readTensor(flat, t, bufferCount));
  const tensorIndices = (values: number[] | null, what: string, optional: boolean): number[] => {
    for (const i of values ?? []) {
      if (i >= tensors.length || i < (optional ? -1 : 0)) flat.fail(`${what} refers to tensor ${i}, but the subgraph has ${tensors.length} tensors`);
    }
    return values ?? [];
  };
  const operators = g.tables(SUBGRAPH.operators, 'operators').map((op): TfliteOperator => {
    const index = op.scalar(OPERATOR.opcodeIndex, 'u32', 'opcode_index');
    const code = codes[index] ?? flat.fail(`${op.what} uses operator code ${index}, but the model has ${codes.length}`);
    return {
      opcode: code.opcode,
      version: code.version,
      inputs: tensorIndices(op.numbers(OPERATOR.inputs, 'i32', 'inputs'), `${op.what} (${code.opcode}) input`, true),
      outputs: tensorIndices(op.numbers(OPERATOR.outputs, 'i32', 'outputs'), `${op.what} (${code.opcode}) output`, false),
      options: readOptions(flat, op),
    };
  });
  return {
    name: g.string(SUBGRAPH.name, 'name') ?? '',
    tensors,
    inputs: tensorIndices(g.numbers(SUBGRAPH.inputs, 'i32', 'inputs'), `${g.what} input`, false),
    outputs: tensorIndices(g.numbers(SUBGRAPH.outputs, 'i32', 'outputs'), `${g.what} output`, false),
    operators,
  };
}

/** The inverse of writeTflite for the fields in model.ts; any malformed input gives INVALID_TFLITE with the reason. */
export function readTflite(bytes: Uint8Array, file = 'model'): TfliteModel {
  const flat = new Flat(bytes, file);
  if (bytes.length === 0) flat.fail('the file is empty');
  if (bytes.length < 8) flat.fail(`the file has only ${bytes.length} bytes, fewer than a FlatBuffer header (8)`);
  const identifier = bytes.subarray(4, 8);
  if (printable(identifier) !== FILE_IDENTIFIER) flat.fail(`it carries file identifier "${printable(identifier)}", not "${FILE_IDENTIFIER}"`);
  try {
    return readModel(flat);
  } catch (e) {
    // Defence in depth: checks above should catch every bad offset first.
    if (e instanceof RangeError || e instanceof TypeError) flat.fail(`the file is truncated or corrupt (${e.message})`);
    throw e;
  }
}

function readModel(flat: Flat): TfliteModel {
  const model = flat.table(flat.follow(0, 'the root table offset'), 'Model');
  const version = model.scalar(MODEL.version, 'u32', 'version');
  if (version !== SCHEMA_VERSION) flat.fail(`schema version ${version}; Tailor reads version ${SCHEMA_VERSION}`);

  const buffers = model.tables(MODEL.buffers, 'buffers').map((b) => {
    if (b.scalar(BUFFER.offset, 'u64', 'offset') > 1) flat.fail(`${b.what} keeps its data outside the flatbuffer (models over 2 GB), which Tailor does not read`);
    return b.bytes(BUFFER.data, 'data') ?? new Uint8Array(0);
  });
  if (buffers.length === 0) flat.fail('it has no buffers (buffer 0, the empty sentinel, is required)');

  const codes = model.tables(MODEL.operatorCodes, 'operator_codes').map((c) => ({
    opcode: readOperatorCode(flat, c),
    version: c.scalar(OPERATOR_CODE.version, 'i32', 'version', 1),
  }));
  const subgraphs = model.tables(MODEL.subgraphs, 'subgraphs').map((g) => readSubgraph(flat, g, codes, buffers.length));
  if (subgraphs.length === 0) flat.fail('it has no subgraphs');

  const metadata: Record<string, Uint8Array> = {};
  const metadataBuffers = new Set<number>();
  for (const m of model.tables(MODEL.metadata, 'metadata')) {
    const name = m.string(METADATA.name, 'name') ?? '';
    const buffer = m.scalar(METADATA.buffer, 'u32', 'buffer');
    if (buffer >= buffers.length) flat.fail(`metadata "${name}" refers to buffer ${buffer}, but the model has ${buffers.length} buffers`);
    metadata[name] = buffers[buffer];
    metadataBuffers.add(buffer);
  }
  // Metadata buffers at the end that no tensor uses are not model data (the writer appends them there).
  const tensorBuffers = new Set(subgraphs.flatMap((g) => g.tensors.map((t) => t.buffer)));
  let end = buffers.length;
  while (end > 1 && metadataBuffers.has(end - 1) && !tensorBuffers.has(end - 1)) end--;

  return {
    version,
    description: model.string(MODEL.description, 'description') ?? '',
    subgraphs,
    buffers: buffers.slice(0, end),
    metadata,
  };
}
