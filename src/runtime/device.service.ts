import { TailorError } from '../core/errors';
import { Workspace } from '../core/workspace';
import { BackendOptions, DeviceBackend, backendRegistration } from './registry';
import { DeviceDescriptor, DeviceRegistry, TABLE_ONLY } from './devices';
import { Fingerprint, localFingerprint } from './fingerprint';

export interface DeviceInfo extends DeviceDescriptor {
  /** Live fingerprint for devices attached to this machine; null for table-only devices. */
  live: Fingerprint | null;
}

/** Devices of a workspace: descriptors, live fingerprints, and opening their backends. */
export class DeviceService {
  readonly registry: DeviceRegistry;
  private readonly fingerprints = new Map<string, Promise<Fingerprint>>();

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

  /** Fingerprint of the hardware and runtime the device measures on; null if that is not this machine. */
  async fingerprint(d: DeviceDescriptor): Promise<Fingerprint | null> {
    if (d.backend === TABLE_ONLY) return null;
    const reg = backendRegistration(d.id, d.backend);
    if (!reg.local) return null;
    const runtime = reg.runtimeVersion(this.options(d));
    if (!this.fingerprints.has(runtime)) {
      const reading = localFingerprint(runtime);
      reading.catch(() => this.fingerprints.delete(runtime)); // try again next time
      this.fingerprints.set(runtime, reading);
    }
    return this.fingerprints.get(runtime)!;
  }

  async describe(d: DeviceDescriptor): Promise<DeviceInfo> {
    return { ...d, live: await this.fingerprint(d) };
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
    return backendRegistration(d.id, d.backend).create(this.options(d, threads));
  }
}
