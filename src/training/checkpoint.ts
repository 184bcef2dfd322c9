import * as fs from 'node:fs';
import type * as TF from '@tensorflow/tfjs';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { TailorError } from '../core/errors';
import { writeFileAtomic } from '../core/fs-atomic';

const MAGIC = 'TAILORCK1';

/** What a checkpoint says besides its tensors. */
export interface CheckpointMeta {
  space: string;
  [key: string]: unknown;
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/**
 * One file: magic, header length, JSON header (meta + tensor table), float32 data. Written
 * atomically (temp file, fsync, rename): an interrupted write or a full disk never replaces a
 * good checkpoint with a partial one (out of space: DISK_FULL, the temp file removed).
 */
export function saveCheckpoint(file: string, meta: CheckpointMeta, tensors: Map<string, Tensor>): void {
  const entries: TensorEntry[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    const raw = t.dataSync();
    const data = raw instanceof Float32Array ? raw : Float32Array.from(raw); // int32 counters too
    entries.push({ name, shape: t.shape, offset, length: data.length });
    chunks.push(data);
    offset += data.length;
  }
  const header = Buffer.from(JSON.stringify({ meta, tensors: entries }));
  const prefix = Buffer.alloc(MAGIC.length + 4);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(header.length, MAGIC.length);
  const body = Buffer.alloc(offset * 4);
  let at = 0;
  for (const c of chunks) {
    Buffer.from(c.buffer, c.byteOffset, c.byteLength).copy(body, at);
    at += c.byteLength;
  }
  writeFileAtomic(file, Buffer.concat([prefix, header, body]), { what: 'the checkpoint', hint: 'free some space, then resume the run (tailor train --resume; resume: true in a train job)' });
}

export interface LoadedCheckpoint {
  meta: CheckpointMeta;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export function loadCheckpoint(file: string): LoadedCheckpoint {
  const bad = (reason: string): never => {
    throw new TailorError('INVALID_CHECKPOINT', { file, reason });
  };
  if (!fs.existsSync(file)) bad('no such file');
  const buf = fs.readFileSync(file);
  if (buf.length < MAGIC.length + 4 || buf.toString('ascii', 0, MAGIC.length) !== MAGIC) bad('not a Tailor checkpoint');
  const headerLength = buf.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  if (buf.length < start + headerLength) bad('truncated header');
  let header: { meta: CheckpointMeta; tensors: TensorEntry[] };
  try {
    header = JSON.parse(buf.toString('utf8', start, start + headerLength));
  } catch {
    return bad('unreadable header');
  }
  const dataStart = start + headerLength;
  const floats = (buf.length - dataStart) / 4;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of header.tensors) {
    if (e.offset + e.length > floats) bad(`truncated data (${e.name})`);
    const data = new Float32Array(e.length);
    Buffer.from(data.buffer).set(buf.subarray(dataStart + e.offset * 4, dataStart + (e.offset + e.length) * 4));
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { meta: header.meta, tensors };
}

/** The meta of a checkpoint, reading only its header (a run's progress without loading its weights). */
export function readCheckpointMeta(file: string): CheckpointMeta {
  const bad = (reason: string): never => {
    throw new TailorError('INVALID_CHECKPOINT', { file, reason });
  };
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return bad('no such file');
  }
  try {
    const prefix = Buffer.alloc(MAGIC.length + 4);
    if (fs.readSync(fd, prefix, 0, prefix.length, 0) < prefix.length || prefix.toString('ascii', 0, MAGIC.length) !== MAGIC) bad('not a Tailor checkpoint');
    const header = Buffer.alloc(prefix.readUInt32LE(MAGIC.length));
    if (fs.readSync(fd, header, 0, header.length, prefix.length) < header.length) bad('truncated header');
    try {
      return (JSON.parse(header.toString('utf8')) as { meta: CheckpointMeta }).meta;
    } catch {
      return bad('unreadable header');
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Copies checkpoint tensors into variables of the same names and shapes. */
export function restoreVariables(tf: typeof TF, file: string, loaded: LoadedCheckpoint, variables: Map<string, Variable>, prefix = ''): void {
  for (const [name, v] of variables) {
    const t = loaded.tensors.get(prefix + name);
    if (!t) throw new TailorError('INVALID_CHECKPOINT', { file, reason: `tensor ${prefix + name} is missing (checkpoint of another space or dataset?)` });
    if (t.shape.join('x') !== v.shape.join('x')) {
      throw new TailorError('INVALID_CHECKPOINT', { file, reason: `tensor ${prefix + name} has shape ${t.shape.join('x')}, the supernet needs ${v.shape.join('x')}` });
    }
    tf.tidy(() => v.assign(tf.tensor(t.data, t.shape)));
  }
}
