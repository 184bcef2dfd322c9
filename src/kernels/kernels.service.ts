import * as fs from 'node:fs';
import { TailorError } from '../core/errors';
import { DeviceService } from '../runtime/device.service';
import { invalidModel, modelFormat } from '../analysis/model';
import { deviceModelFormat } from '../runtime/devices';
import { KERNEL_PROFILE_DEFAULTS, KernelProfileOptions, KernelProfileResult, profileKernels } from './profile';
import { KernelPredictor, ModelPrediction } from './predict';
import { KernelModelFile, loadKernelModelFile, modelPath } from './store';
import { TFLITE_PROFILE_DEFAULTS, profileTfliteOps } from './tflite-profile';
import { TfliteOpPredictor } from './tflite-predict';
import { MODEL_VALIDATE_DEFAULTS, ModelValidateOptions, ModelValidationReport, validateModels } from './validate';

/** The kernel regressors of an onnxruntime device, or the op regressors of a device whose runtime loads TFLite. */
export type ModelPredictor = KernelPredictor | TfliteOpPredictor;

/**
 * Kernel-level latency models for arbitrary models: profile kernels, predict, validate. ONNX
 * models on onnxruntime devices (kernel regressors), TFLite models on devices whose runtime loads
 * TFLite (op regressors); one store format, the format recorded in the files.
 */
export class KernelsService {
  private readonly cache = new Map<string, { mtimeMs: number; predictor: ModelPredictor }>();

  constructor(readonly devices: DeviceService) {}

  async profile(req: Partial<KernelProfileOptions> & { device: string; threads?: number }): Promise<KernelProfileResult<string>> {
    const device = this.devices.get(req.device);
    const backend = await this.devices.open(device, 'be profiled', req.threads);
    const fingerprint = await this.devices.measuredOn(device, backend);
    if (backend.modelFormat === 'tflite') {
      const t = TFLITE_PROFILE_DEFAULTS;
      return profileTfliteOps(this.devices.ws, device, backend, fingerprint, {
        seed: req.seed ?? t.seed, samples: req.samples ?? t.samples, batchSize: req.batchSize ?? t.batchSize, warmup: req.warmup ?? t.warmup,
        passes: req.passes ?? t.passes, wallRunsPerPass: req.wallRunsPerPass ?? t.wallRunsPerPass, profileRunsPerPass: req.profileRunsPerPass ?? t.profileRunsPerPass,
        force: req.force, signal: req.signal, onProgress: req.onProgress,
      });
    }
    const d = KERNEL_PROFILE_DEFAULTS;
    return profileKernels(this.devices.ws, device, backend, fingerprint, {
      seed: req.seed ?? d.seed, samples: req.samples ?? d.samples, batchSize: req.batchSize ?? d.batchSize, warmup: req.warmup ?? d.warmup,
      passes: req.passes ?? d.passes, wallRunsPerPass: req.wallRunsPerPass ?? d.wallRunsPerPass, profileRunsPerPass: req.profileRunsPerPass ?? d.profileRunsPerPass,
      force: req.force, signal: req.signal, onProgress: req.onProgress,
    });
  }

  /** Cached per regressors file, reloaded when it changes; ONNX or TFLite by the file's format. */
  predictor(device: string): ModelPredictor {
    this.devices.get(device);
    const file = modelPath(this.devices.ws, device);
    const mtimeMs = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? -1;
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.predictor;
    const { model } = loadKernelModelFile(this.devices.ws, device);
    const predictor = model.format === 'tflite' ? new TfliteOpPredictor(model) : new KernelPredictor(model as KernelModelFile);
    this.cache.set(file, { mtimeMs, predictor });
    return predictor;
  }

  /**
   * Warnings when the device's regressors were measured on other hardware or runtime (refused
   * instead with `strict`: FINGERPRINT_MISMATCH), checked as validate --space checks its table:
   * the one check behind predict --model, validate --models, the gate and POST /latency/predict.
   */
  checkMeasuredOn(device: string, strict?: boolean): Promise<string[]> {
    const predictor = this.predictor(device); // no regressors: KERNELS_NOT_FOUND, before the fingerprint is read
    return this.devices.checkMeasuredOn(this.devices.get(device), predictor.file, { kind: 'kernel regressors file', file: modelPath(this.devices.ws, device), refresh: `tailor profile --device ${device} --kernels --force` }, strict);
  }

  /**
   * A model in another format than the device's runtime loads is refused up front (before the
   * regressors are looked for): ONNX on a TFLite device, TFLite on an onnxruntime device.
   */
  checkFormat(device: string, bytes: Uint8Array, file: string): void {
    const descriptor = this.devices.get(device);
    const runs = deviceModelFormat(descriptor);
    const is = modelFormat(bytes, file);
    if (runs === is) return;
    const name = (f: string) => (f === 'tflite' ? 'TFLite' : 'ONNX');
    const instead = runs === 'tflite' ? 'an onnxruntime device (e.g. local-cpu)' : 'a device whose runtime loads TFLite (e.g. local-tflite)';
    throw new TailorError('UNSUPPORTED_MODEL_FORMAT', {
      file, format: name(is),
      reason: `device "${device}" (backend ${descriptor.backend}) runs ${name(runs)} models; predict its ${name(runs)} form on this device, or this model on ${instead}`,
    });
  }

  predict(device: string, modelFile: string, inputShapes?: Record<string, number[]>): ModelPrediction {
    let bytes: Uint8Array;
    try {
      bytes = fs.readFileSync(modelFile);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      invalidModel(modelFile, err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'it is a directory' : err.message);
    }
    this.checkFormat(device, bytes, modelFile);
    return this.predictor(device).predict(bytes, { file: modelFile, path: modelFile, inputShapes });
  }

  async validate(device: string, dir: string, options: Partial<ModelValidateOptions> & { threads?: number; strict?: boolean } = {}): Promise<ModelValidationReport> {
    const descriptor = this.devices.get(device);
    this.devices.checkMeasurable(descriptor, 'be validated (nothing to measure on)');
    const predictor = this.predictor(device);
    const warnings = await this.checkMeasuredOn(device, options.strict);
    const threads = options.threads ?? (predictor.file.backend.threads >= 1 ? predictor.file.backend.threads : undefined);
    const backend = await this.devices.open(descriptor, 'be validated', threads);
    return validateModels(predictor, dir, backend, { ...MODEL_VALIDATE_DEFAULTS, ...options }, warnings);
  }
}
