import * as fs from 'node:fs';
import { ResolvedArch, resolveArch } from '../core/arch-source';
import { TailorError } from '../core/errors';
import { getSpace } from '../core/space';
import { Workspace } from '../core/workspace';
import { DeviceService } from '../runtime/device.service';
import { TABLE_ONLY } from '../runtime/devices';
import { exportOfa, readOfaYaml, tableFromOfa } from './ofa-format';
import { LatencyPredictor, Prediction } from './predictor';
import { LatencyTable, loadTable, readTable, saveTable, tablePath, withTableLock } from './table';
import { MeasureItem, DEFAULT_VALIDATE_OPTIONS, ValidateOptions, ValidationReport, measureAgainstTable, validateTable } from './validate';

export interface PredictRequest {
  device: string;
  arch: string | ResolvedArch;
  space?: string;
  /** Refuse (instead of warn) when the table was measured on other hardware. */
  strict?: boolean;
}

export interface PredictResult extends Prediction {
  arch: ResolvedArch['arch'];
  warnings: string[];
}

/** Tables, predictions, validation and OFA interop: what `predict`, `validate` and `lut` do. */
export class LatencyService {
  private readonly predictors = new Map<string, { mtimeMs: number; predictor: LatencyPredictor }>();

  constructor(
    readonly ws: Workspace,
    readonly devices: DeviceService,
  ) {}

  table(device: string, space: string): LatencyTable {
    this.devices.get(device);
    getSpace(space);
    return loadTable(this.ws, device, space);
  }

  /** Cached per table file, reloaded when the file changes. */
  predictor(device: string, space: string): LatencyPredictor {
    this.devices.get(device);
    getSpace(space);
    const file = tablePath(this.ws, device, space);
    const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
    const cached = this.predictors.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.predictor;
    const predictor = new LatencyPredictor(loadTable(this.ws, device, space));
    this.predictors.set(file, { mtimeMs, predictor });
    return predictor;
  }

  /**
   * Warnings (or, when strict, FINGERPRINT_MISMATCH) for a table measured on other hardware or
   * runtime than `device` has now. `device` is the one the table was loaded for (its folder).
   */
  async checkFingerprint(table: LatencyTable, strict = false, device = table.device.id): Promise<string[]> {
    return this.devices.checkMeasuredOn(this.devices.get(device), table, { kind: 'latency table', file: tablePath(this.ws, device, table.space), refresh: `tailor profile --device ${device} --space ${table.space} --force` }, strict);
  }

  async predict(req: PredictRequest): Promise<PredictResult> {
    const resolved = typeof req.arch === 'string' ? resolveArch(req.arch, req.space) : req.arch;
    const spaceId = resolved.space?.id ?? req.space;
    if (!spaceId) {
      throw new TailorError('INVALID_OPTION', { option: '--space', reason: 'this network is not a subnet of a known space; pass --space to pick the table' });
    }
    const predictor = this.predictor(req.device, spaceId);
    const warnings = await this.checkFingerprint(predictor.table, req.strict, req.device);
    return { ...predictor.predictNet(resolved.net), arch: resolved.arch, warnings };
  }

  async validate(device: string, space: string, options: Partial<ValidateOptions> & { samples: number; threads?: number; strict?: boolean }): Promise<ValidationReport & { warnings: string[] }> {
    const descriptor = this.devices.get(device);
    this.devices.checkMeasurable(descriptor, 'be validated (nothing to measure on)');
    const predictor = this.predictor(device, space);
    const warnings = await this.checkFingerprint(predictor.table, options.strict, device);
    // Measure with the thread count the table was made with.
    const tableThreads = predictor.table.backend.threads >= 1 ? predictor.table.backend.threads : undefined;
    const backend = await this.devices.open(descriptor, 'be validated', options.threads ?? tableThreads);
    const report = await validateTable(predictor, getSpace(space), backend, { ...DEFAULT_VALIDATE_OPTIONS, ...options });
    return { ...report, warnings };
  }

  /** Measures given models end to end on the device (validate's protocol) next to their table predictions. */
  async measure(device: string, space: string, items: MeasureItem[], options: Partial<ValidateOptions> & { threads?: number } = {}) {
    const descriptor = this.devices.get(device);
    this.devices.checkMeasurable(descriptor, 'measure models');
    const predictor = this.predictor(device, space);
    const tableThreads = predictor.table.backend.threads >= 1 ? predictor.table.backend.threads : undefined;
    const backend = await this.devices.open(descriptor, 'measure models', options.threads ?? tableThreads);
    return measureAgainstTable(predictor, getSpace(space), backend, items, { ...DEFAULT_VALIDATE_OPTIONS, ...options });
  }

  /** Imports OFA YAML tables into a table-only device (created when the id is new). Everything is checked before anything is written. */
  async importOfa(device: string, space: string, files: string[]): Promise<{ file: string; table: LatencyTable; createdDevice: string | null }> {
    const s = getSpace(space);
    if (files.length === 0) throw new TailorError('INVALID_OPTION', { option: 'files', reason: 'give at least one <r>_lookup_table.yaml' });
    const parsed = files.map(readOfaYaml);
    const outside = parsed.filter((f) => !s.resolutions.includes(f.resolution));
    if (outside.length) throw new TailorError('INVALID_OFA_TABLE', { file: files[parsed.indexOf(outside[0])], reason: `resolution ${outside[0].resolution} is not in ${space}` });
    const descriptor = this.devices.registry.find(device);
    if (descriptor && descriptor.backend !== TABLE_ONLY) {
      throw new TailorError('INVALID_OPTION', { option: '--device', reason: `"${device}" is attached hardware (${descriptor.backend}); import OFA tables into a new device id` });
    }
    const file = tablePath(this.ws, device, space);
    return withTableLock(file, async () => {
      const base = fs.existsSync(file) ? readTable(file) : null;
      if (base && base.method.name !== 'ofa-import') {
        throw new TailorError('INVALID_OPTION', { option: '--device', reason: `${file} holds measured (${base.method.name}) data; import into another device id` });
      }
      const table = tableFromOfa(device, space, parsed, base, files);
      let createdDevice: string | null = null;
      if (!descriptor) {
        createdDevice = this.devices.registry.save({
          id: device, name: device, backend: TABLE_ONLY, options: {},
          notes: `Table-only device: latency tables imported from OFA (${files.length} file(s)). Predict works; profile and validate need attached hardware.`,
        });
      }
      return { file: saveTable(this.ws, table), table, createdDevice };
    });
  }

  exportOfa(device: string, space: string, outDir: string): string[] {
    return exportOfa(this.table(device, space), outDir);
  }
}
