import { onnx } from 'onnx-proto';

/** protobufjs decodes int64 fields as Long objects (the `long` package is installed). */
export type IntLike = number | { toNumber(): number };

export function toNumber(v: IntLike | null | undefined): number {
  if (v == null) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

const DT = onnx.TensorProto.DataType;

/** Bytes per element of each ONNX data type (STRING has no fixed size). */
export const ELEMENT_BYTES: Record<number, number> = {
  [DT.FLOAT]: 4, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.UINT16]: 2, [DT.INT16]: 2, [DT.INT32]: 4, [DT.INT64]: 8,
  [DT.BOOL]: 1, [DT.FLOAT16]: 2, [DT.DOUBLE]: 8, [DT.UINT32]: 4, [DT.UINT64]: 8, [DT.COMPLEX64]: 8,
  [DT.COMPLEX128]: 16, [DT.BFLOAT16]: 2,
  // float8 variants (ONNX 1.14+); onnx-proto predates them but decodes the numbers fine
  17: 1, 18: 1, 19: 1, 20: 1,
};

const DTYPE_NAMES: Record<number, string> = {
  [DT.FLOAT]: 'float32', [DT.UINT8]: 'uint8', [DT.INT8]: 'int8', [DT.UINT16]: 'uint16', [DT.INT16]: 'int16',
  [DT.INT32]: 'int32', [DT.INT64]: 'int64', [DT.STRING]: 'string', [DT.BOOL]: 'bool', [DT.FLOAT16]: 'float16',
  [DT.DOUBLE]: 'float64', [DT.UINT32]: 'uint32', [DT.UINT64]: 'uint64', [DT.COMPLEX64]: 'complex64',
  [DT.COMPLEX128]: 'complex128', [DT.BFLOAT16]: 'bfloat16',
};

export function dtypeName(dtype: number): string {
  return DTYPE_NAMES[dtype] ?? `type${dtype}`;
}

export function isFloatType(dtype: number): boolean {
  return dtype === DT.FLOAT || dtype === DT.DOUBLE || dtype === DT.FLOAT16 || dtype === DT.BFLOAT16;
}

export function isIntegerType(dtype: number): boolean {
  return [DT.UINT8, DT.INT8, DT.UINT16, DT.INT16, DT.INT32, DT.INT64, DT.UINT32, DT.UINT64].includes(dtype);
}

/**
 * Constants that count as parameters: floating point weights and 8-bit quantized weights.
 * Wider integers and booleans are shapes, axes and indices, not weights.
 */
export function isWeightType(dtype: number): boolean {
  return isFloatType(dtype) || dtype === DT.INT8 || dtype === DT.UINT8 || (dtype >= 17 && dtype <= 20);
}

export function volume(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensorDims(t: onnx.ITensorProto): number[] {
  return (t.dims ?? []).map(toNumber);
}

export function isExternal(t: onnx.ITensorProto): boolean {
  return t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

/** Number of elements the tensor's data fields actually hold (undefined when stored externally). */
function storedElements(t: onnx.ITensorProto): number | undefined {
  if (isExternal(t)) return undefined;
  const dtype = t.dataType ?? 0;
  if (t.rawData && t.rawData.length > 0) {
    const size = ELEMENT_BYTES[dtype];
    return size ? t.rawData.length / size : undefined;
  }
  switch (dtype) {
    case DT.FLOAT: return t.floatData?.length ?? 0;
    case DT.COMPLEX64: return (t.floatData?.length ?? 0) / 2;
    case DT.DOUBLE: return t.doubleData?.length ?? 0;
    case DT.COMPLEX128: return (t.doubleData?.length ?? 0) / 2;
    case DT.INT64: return t.int64Data?.length ?? 0;
    case DT.UINT32: case DT.UINT64: return t.uint64Data?.length ?? 0;
    case DT.STRING: return t.stringData?.length ?? 0;
    default: return t.int32Data?.length ?? 0;
  }
}

/** Why the tensor's data does not match its dims, or undefined when it does. */
export function tensorDataProblem(t: onnx.ITensorProto): string | undefined {
  const dims = tensorDims(t);
  if (dims.some((d) => d < 0 || !Number.isInteger(d))) return `has invalid dims [${dims.join(', ')}]`;
  const stored = storedElements(t);
  if (stored === undefined) return undefined;
  const expected = volume(dims);
  if (stored !== expected) return `holds ${stored} values but its dims [${dims.join(', ')}] need ${expected}`;
  return undefined;
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function bfloatToFloat(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (bits & 0xffff) << 16);
  return view.getFloat32(0);
}

function readRaw(raw: Uint8Array, dtype: number, count: number): number[] | undefined {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = new Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case DT.FLOAT: out[i] = view.getFloat32(i * 4, true); break;
      case DT.DOUBLE: out[i] = view.getFloat64(i * 8, true); break;
      case DT.INT64: out[i] = Number(view.getBigInt64(i * 8, true)); break;
      case DT.UINT64: out[i] = Number(view.getBigUint64(i * 8, true)); break;
      case DT.INT32: out[i] = view.getInt32(i * 4, true); break;
      case DT.UINT32: out[i] = view.getUint32(i * 4, true); break;
      case DT.INT16: out[i] = view.getInt16(i * 2, true); break;
      case DT.UINT16: out[i] = view.getUint16(i * 2, true); break;
      case DT.INT8: out[i] = view.getInt8(i); break;
      case DT.UINT8: case DT.BOOL: out[i] = view.getUint8(i); break;
      case DT.FLOAT16: out[i] = halfToFloat(view.getUint16(i * 2, true)); break;
      case DT.BFLOAT16: out[i] = bfloatToFloat(view.getUint16(i * 2, true)); break;
      default: return undefined;
    }
  }
  return out;
}

/**
 * The tensor's values as plain numbers (row-major), or undefined when they cannot be read
 * here (external data, strings, complex or float8 types). int64 beyond 2^53 loses precision,
 * which is harmless for the shapes, axes and slice bounds this is used for.
 */
export function tensorValues(t: onnx.ITensorProto): number[] | undefined {
  if (isExternal(t)) return undefined;
  const dtype = t.dataType ?? 0;
  const count = volume(tensorDims(t));
  if (t.rawData && t.rawData.length > 0) return readRaw(t.rawData, dtype, count);
  switch (dtype) {
    case DT.FLOAT: return (t.floatData ?? []).map(Math.fround);
    case DT.DOUBLE: return [...(t.doubleData ?? [])];
    case DT.INT64: return (t.int64Data ?? []).map(toNumber);
    case DT.UINT32: case DT.UINT64: return (t.uint64Data ?? []).map(toNumber);
    case DT.INT32: case DT.INT16: case DT.INT8: case DT.UINT16: case DT.UINT8: case DT.BOOL:
      return [...(t.int32Data ?? [])];
    case DT.FLOAT16: return (t.int32Data ?? []).map(halfToFloat);
    case DT.BFLOAT16: return (t.int32Data ?? []).map(bfloatToFloat);
    default: return undefined;
  }
}

/** Converts values to what a tensor of `dtype` would hold (Cast semantics for the types we fold). */
export function castValues(values: number[], dtype: number): number[] {
  if (dtype === DT.BOOL) return values.map((v) => (v !== 0 ? 1 : 0));
  if (dtype === DT.FLOAT) return values.map(Math.fround);
  if (isIntegerType(dtype)) return values.map((v) => Math.trunc(v));
  return values;
}

export const DataType = DT;
