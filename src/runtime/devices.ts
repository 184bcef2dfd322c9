import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { writeJsonAtomic } from '../core/fs-atomic';
import { Workspace } from '../core/workspace';
import type { Fingerprint } from './fingerprint';

/** devices/<id>.json. `backend: "table-only"` marks a device known only through imported tables. */
export interface DeviceDescriptor {
  id: string;
  name: string;
  backend: string;
  options: { threads?: number; [key: string]: unknown };
  fingerprint?: Fingerprint;
  notes?: string;
}

export const TABLE_ONLY = 'table-only';
/** A remote board measured through its `tailor agent`. */
export const AGENT_BACKEND = 'agent';
const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

/** The model format a device's runtime loads, read off its descriptor (cheap: no backend is created). */
export function deviceModelFormat(device: DeviceDescriptor): 'onnx' | 'tflite' {
  if (device.backend === AGENT_BACKEND) return device.options.runtime === 'tflite-wasm' ? 'tflite' : 'onnx';
  return device.backend === 'tflite-wasm' || device.backend === 'adb-tflite' ? 'tflite' : 'onnx';
}

export function checkDeviceId(id: string): void {
  if (!ID_RE.test(id)) throw new TailorError('INVALID_OPTION', { option: '--device', reason: `"${id}" is not a valid device id (letters, digits, . _ -)` });
}

function parseDescriptor(file: string, text: string): DeviceDescriptor {
  const d = parseDescriptorJson(file, text);
  if (d.id !== path.basename(file, '.json')) throw new TailorError('INVALID_DEVICE_FILE', { file, reason: `"id" is "${d.id}" but the file is named ${path.basename(file)}` });
  checkDeviceId(d.id);
  return d;
}

function parseDescriptorJson(file: string, text: string): DeviceDescriptor {
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TailorError('INVALID_DEVICE_FILE', { file, reason: (e as Error).message });
  }
  for (const field of ['id', 'name', 'backend'] as const) {
    if (typeof raw?.[field] !== 'string' || !raw[field]) throw new TailorError('INVALID_DEVICE_FILE', { file, reason: `"${field}" must be a non-empty string` });
  }
  const threads = raw.options?.threads;
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new TailorError('INVALID_DEVICE_FILE', { file, reason: '"options.threads" must be a positive integer' });
  }
  // A remote board (tailor agent) names the runtime that runs its work there.
  if (raw.backend === AGENT_BACKEND && ![undefined, 'ort-cpu', 'tflite-wasm'].includes(raw.options?.runtime)) {
    throw new TailorError('INVALID_DEVICE_FILE', { file, reason: '"options.runtime" of an agent device must be "ort-cpu" or "tflite-wasm"' });
  }
  return { options: {}, ...raw };
}

/** Descriptors of the workspace, falling back to the ones shipped with Tailor. */
export class DeviceRegistry {
  private readonly cache = new Map<string, { mtimeMs: number; descriptor: DeviceDescriptor }>();

  constructor(private readonly ws: Workspace) {}

  private dirs(): string[] {
    return [...new Set([this.ws.devicesDir, this.ws.builtinDevicesDir])];
  }

  /** Valid descriptors; damaged files are skipped here and reported by `problems()`. */
  list(): DeviceDescriptor[] {
    const byId = new Map<string, DeviceDescriptor>();
    for (const id of this.ids()) {
      try {
        const d = this.find(id);
        if (d) byId.set(d.id, d);
      } catch {
        // listed by problems()
      }
    }
    return [...byId.values()];
  }

  problems(): { id: string; error: string }[] {
    const out: { id: string; error: string }[] = [];
    for (const id of this.ids()) {
      try {
        this.find(id);
      } catch (e) {
        out.push({ id, error: (e as Error).message });
      }
    }
    return out;
  }

  private ids(): string[] {
    const ids = new Set<string>();
    for (const dir of this.dirs()) {
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) ids.add(f.slice(0, -'.json'.length));
    }
    return [...ids];
  }

  find(id: string): DeviceDescriptor | null {
    checkDeviceId(id);
    for (const dir of this.dirs()) {
      const file = path.join(dir, `${id}.json`);
      const stat = fs.statSync(file, { throwIfNoEntry: false });
      if (!stat) continue;
      // The service asks for the same descriptors on every request: parse a file once per change.
      const cached = this.cache.get(file);
      if (cached && cached.mtimeMs === stat.mtimeMs) return cached.descriptor;
      const descriptor = parseDescriptor(file, fs.readFileSync(file, 'utf8'));
      this.cache.set(file, { mtimeMs: stat.mtimeMs, descriptor });
      return descriptor;
    }
    return null;
  }

  get(id: string): DeviceDescriptor {
    const d = this.find(id);
    if (!d) throw new TailorError('UNKNOWN_DEVICE', { device: id, known: this.list().map((x) => x.id).join(', ') });
    return d;
  }

  save(d: DeviceDescriptor): string {
    checkDeviceId(d.id);
    const file = path.join(this.ws.devicesDir, `${d.id}.json`);
    writeJsonAtomic(file, d);
    return file;
  }
}
