import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { DeviceService } from '../runtime/device.service';
import { KERNEL_PROFILE_DEFAULTS, KernelProfileOptions, KernelProfileResult, profileKernels } from './profile';
import { KernelPredictor, ModelPrediction } from './predict';
import { loadKernelModelFile, modelPath } from './store';
import { MODEL_VALIDATE_DEFAULTS, ModelValidateOptions, ModelValidationReport, validateModels } from './validate';

/** Kernel-level latency models for arbitrary ONNX models: profile kernels, predict, validate. */
export class KernelsService {
  private readonly cache = new Map<string, { mtimeMs: number; predictor: KernelPredictor }>();

  constructor(readonly devices: DeviceService) {}

  async profile(req: Partial<KernelProfileOptions> & { device: string; threads?: number }): Promise<KernelProfileResult> {
    const device = this.devices.get(req.device);
    const backend = await this.devices.open(device, 'be profiled', req.threads);
    const fingerprint = await this.devices.fingerprint(device);
    if (!fingerprint) throw new TailorError('UNKNOWN_BACKEND', { device: device.id, backend: device.backend, known: 'backends that run on this machine' });
    const d = KERNEL_PROFILE_DEFAULTS;
    return profileKernels(this.devices.ws, device, backend, fingerprint, {
      seed: req.seed ?? d.seed, samples: req.samples ?? d.samples, batchSize: req.batchSize ?? d.batchSize, warmup: req.warmup ?? d.warmup,
      passes: req.passes ?? d.passes, wallRunsPerPass: req.wallRunsPerPass ?? d.wallRunsPerPass, profileRunsPerPass: req.profileRunsPerPass ?? d.profileRunsPerPass,
      force: req.force, signal: req.signal, onProgress: req.onProgress,
    });
  }

  /** Cached per regressors file, reloaded when it changes. */
  predictor(device: string): KernelPredictor {
    this.devices.get(device);
    const file = modelPath(this.devices.ws, device);
    const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.predictor;
    const predictor = new KernelPredictor(loadKernelModelFile(this.devices.ws, device).model);
    this.cache.set(file, { mtimeMs, predictor });
    return predictor;
  }

  predict(device: string, modelFile: string, inputShapes?: Record<string, number[]>): ModelPrediction {
    const predictor = this.predictor(device);
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(modelFile);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new TailorError('INVALID_ONNX', { file: modelFile, reason: err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message });
    }
    return predictor.predict(bytes, { file: modelFile, inputShapes });
  }

  async validate(device: string, dir: string, options: Partial<ModelValidateOptions> & { threads?: number } = {}): Promise<ModelValidationReport> {
    const descriptor = this.devices.get(device);
    this.devices.checkMeasurable(descriptor, 'be validated (nothing to measure on)');
    const predictor = this.predictor(device);
    const threads = options.threads ?? (predictor.file.backend.threads >= 1 ? predictor.file.backend.threads : undefined);
    const backend = await this.devices.open(descriptor, 'be validated', threads);
    return validateModels(predictor, dir, backend, { ...MODEL_VALIDATE_DEFAULTS, ...options });
  }
}
