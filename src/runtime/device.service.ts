import * as fs from 'node:fs';
import * as path from 'node:path';
import { TailorError } from '../core/errors';
import { Workspace } from '../core/workspace';
import { countEntries, readTable } from '../latency/table';
import { BackendOptions, DeviceBackend, backendRegistration } from './registry';
import { AGENT_BACKEND, DeviceDescriptor, DeviceRegistry, TABLE_ONLY } from './devices';
import { ComparedFingerprint, Fingerprint, LiveFingerprint, describeChanges, fingerprintChanges, localFingerprint, remoteFingerprint } from './fingerprint';

/** What a lookup table or kernel regressors file records about where it was measured. */
export interface MeasuredOn {
  device: { fingerprint: Fingerprint | null };
  backend: { version: string; threads: number };
}

/** One lookup table or kernel regressors file of a device, checked against its live fingerprint. */
export interface DeviceTable {
  kind: 'lookup-table' | 'kernel-regressors';
  /** The space of a lookup table; null for kernel regressors (any ONNX model). */
  space: string | null;
  file: string;
  resolutions: number[];
  entries: number;
  method: string;
  measuredOn: { cpu: string; cores: number; runtime: string; hash: string } | null;
  threads: number | null;
  /** Against the live fingerprint (CPU model, cores, runtime); "unknown" when either side is missing. */
  stale: boolean | 'unknown';
  /** Which fields differ (stale), or why it cannot be told (unknown); null when current. */
  reason: string | null;
  /** Set when the file cannot be read. */
  error?: string;
}

export interface DeviceInfo extends DeviceDescriptor {
  /**
   * Live fingerprint (this machine's, or what a remote device reports; for a board, what its agent
   * reported last, with `reportedAt`); null for table-only devices and silent remote ones.
   */
  live: LiveFingerprint | null;
  tables: DeviceTable[];
}

/** The recorded fields compared; the runtime falls back to backend.version (both are written from the same source). */
function recordedOn(m: MeasuredOn): ComparedFingerprint | null {
  const f = m.device.fingerprint;
  return f ? { cpu: f.cpu, cores: f.cores, runtime: f.runtime || m.backend.version } : null;
}

/** Why a file without a recorded fingerprint cannot be checked (e.g. a table from OFA's YAML). */
const NO_FINGERPRINT = 'the file records no fingerprint (imported)';

type TableSummary = Omit<DeviceTable, 'stale' | 'reason'> & { recorded: ComparedFingerprint | null };

/** Devices of a workspace: descriptors, live fingerprints, and opening their backends. */
export class DeviceService {
  readonly registry: DeviceRegistry;
  private readonly fingerprints = new Map<string, Promise<Fingerprint>>();
  /** Parsed per file and mtime: tables and regressors are megabytes, and GET /devices/:id reads them all. */
  private readonly summaries = new Map<string, { mtimeMs: number; summary: TableSummary }>();

  constructor(readonly ws: Workspace) {
    this.registry = new DeviceRegistry(ws);
  }

  list(): DeviceDescriptor[] {
    return this.registry.list();
  }

  get(id: string): DeviceDescriptor {
    return this.registry.get(id);
  }

  private options(d: DeviceDescriptor, threads?: number): BackendOptions {
    return { ...d.options, threads: threads ?? d.options.threads ?? 1 };
  }

  /**
   * Fingerprint of the hardware and runtime the device measures on: this machine's, or what a remote
   * device reports (a board: what its agent reported last); null for table-only devices and remote
   * devices that do not answer or never reported.
   */
  async fingerprint(d: DeviceDescriptor): Promise<LiveFingerprint | null> {
    if (d.backend === TABLE_ONLY) return null;
    const reg = backendRegistration(d.id, d.backend);
    if (!reg.local) return remoteFingerprint(d.backend, d.id, this.options(d), this.ws);
    const runtime = reg.runtimeVersion(this.options(d));
    if (!this.fingerprints.has(runtime)) {
      const reading = localFingerprint(runtime);
      reading.catch(() => this.fingerprints.delete(runtime)); // try again next time
      this.fingerprints.set(runtime, reading);
    }
    return this.fingerprints.get(runtime)!;
  }

  async describe(d: DeviceDescriptor): Promise<DeviceInfo> {
    const live = await this.fingerprint(d);
    return { ...d, live, tables: this.tables(d, live) };
  }

  /**
   * The fingerprint that measurements through `backend` are made on (tables record it): the device's
   * own reading where the backend has one (the report a board's agent was opened with, a phone's
   * getprop), else the device's. A device that cannot be read is a specific error.
   */
  async measuredOn(d: DeviceDescriptor, backend: DeviceBackend): Promise<Fingerprint> {
    const f = backend.fingerprint ? await backend.fingerprint() : await this.fingerprint(d);
    if (!f) throw new TailorError('FINGERPRINT_UNKNOWN', { device: d.id, reason: `its backend "${d.backend}" reports none` });
    return f;
  }

  /** Why a device's live fingerprint is missing (`live` null): remote devices only; table-only devices have no hardware. */
  private unknownLive(d: DeviceDescriptor): string {
    if (d.backend === TABLE_ONLY) return 'table-only device: no hardware to compare with';
    if (d.backend === AGENT_BACKEND) return `remote agent device: its agent has never reported to a service of this workspace (start it on the board: tailor agent --server <url> --device-id ${d.id})`;
    return `remote ${d.backend} device: no live fingerprint reported (it does not answer)`;
  }

  /**
   * Warnings for a table or regressors file (`what`) measured on other hardware or runtime than
   * the device has now (for a board, as its agent last reported); with `strict`, FINGERPRINT_MISMATCH
   * instead. Nothing when the device has no hardware (table-only: its imported tables are all there
   * is of it). What cannot be checked, a file that records no fingerprint (imported) or a remote
   * device whose fingerprint is unknown, is refused with `strict` (FINGERPRINT_UNKNOWN), else passes
   * without a word (`tailor devices` lists such files as "unknown").
   */
  async checkMeasuredOn(d: DeviceDescriptor, m: MeasuredOn, what: { kind: string; file: string; refresh: string }, strict = false): Promise<string[]> {
    if (d.backend === TABLE_ONLY) return [];
    const recorded = recordedOn(m);
    // Reading the live fingerprint costs a systeminformation call (or an adb round trip): not for files that record none.
    if (!recorded) {
      if (strict) throw new TailorError('FINGERPRINT_UNKNOWN', { what: what.kind, file: what.file, device: d.id, reason: NO_FINGERPRINT });
      return [];
    }
    const live = await this.fingerprint(d);
    if (!live) {
      if (strict) throw new TailorError('FINGERPRINT_UNKNOWN', { what: what.kind, file: what.file, device: d.id, reason: this.unknownLive(d) });
      return [];
    }
    const changes = fingerprintChanges(recorded, live)!;
    if (!changes.length) return [];
    const err = new TailorError('FINGERPRINT_MISMATCH', { what: what.kind, file: what.file, device: d.id, changes: describeChanges(changes), reported: live.reportedAt });
    if (strict) throw err;
    return [`${err.message} Its predictions may not hold here; re-measure (${what.refresh}), or pass --strict to refuse.`];
  }

  /** The device's lookup tables and kernel regressors, each marked stale or not against `live`. */
  tables(d: DeviceDescriptor, live: Fingerprint | null): DeviceTable[] {
    // Loaded here only: other commands need no kernel code.
    const { modelPath, loadKernelModelFile } = require('../kernels/store') as typeof import('../kernels/store');
    const dir = path.join(this.ws.tablesDir, d.id);
    const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort() : [];
    const summaries = names.map((n) => this.summary(path.join(dir, n), 'lookup-table', path.basename(n, '.json'), (file) => {
      const t = readTable(file);
      return { m: t, space: t.space, resolutions: t.resolutions, entries: countEntries(t), method: t.method.name };
    }));
    if (fs.existsSync(modelPath(this.ws, d.id))) {
      summaries.push(this.summary(modelPath(this.ws, d.id), 'kernel-regressors', null, () => {
        const k = loadKernelModelFile(this.ws, d.id).model;
        return { m: k, space: null, resolutions: [], entries: Object.keys(k.models).length, method: k.format === 'tflite' ? 'TFLite op regressors' : 'kernel regressors' };
      }));
    }
    return summaries.map(({ recorded, ...s }): DeviceTable => {
      const unknown = s.error ? 'the file cannot be read'
        : !live ? this.unknownLive(d)
        : !recorded ? NO_FINGERPRINT : null;
      if (unknown) return { ...s, stale: 'unknown', reason: unknown };
      const changes = fingerprintChanges(recorded, live)!;
      return { ...s, stale: changes.length > 0, reason: changes.length ? describeChanges(changes) : null };
    });
  }

  private summary(
    file: string, kind: DeviceTable['kind'], space: string | null,
    read: (file: string) => Pick<DeviceTable, 'space' | 'resolutions' | 'entries' | 'method'> & { m: MeasuredOn },
  ): TableSummary {
    const mtimeMs = fs.statSync(file).mtimeMs;
    const cached = this.summaries.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.summary;
    let summary: TableSummary;
    try {
      const { m, ...rest } = read(file);
      const recorded = recordedOn(m);
      const f = m.device.fingerprint;
      summary = { kind, file, ...rest, measuredOn: f && recorded ? { ...recorded, hash: f.hash } : null, threads: m.backend.threads, recorded };
    } catch (e) {
      // Listed with its error: one damaged file does not hide the others.
      summary = { kind, space, file, resolutions: [], entries: 0, method: 'unknown', measuredOn: null, threads: null, recorded: null, error: (e as Error).message };
    }
    this.summaries.set(file, { mtimeMs, summary });
    return summary;
  }

  /** Table-only devices have nothing to measure on. */
  checkMeasurable(d: DeviceDescriptor, action: string): void {
    if (d.backend === TABLE_ONLY) throw new TailorError('TABLE_ONLY_DEVICE', { device: d.id, action });
  }

  async open(d: DeviceDescriptor, action: string, threads?: number): Promise<DeviceBackend> {
    this.checkMeasurable(d, action);
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
      throw new TailorError('INVALID_OPTION', { option: '--threads', reason: 'must be a positive integer' });
    }
    return backendRegistration(d.id, d.backend).create({ ...this.options(d, threads), deviceId: d.id });
  }
}
