import { registerBackend } from './backend';
import { ortVersion } from './ort-cpu/version';
import { tfliteVersion } from './tflite-wasm/version';

// Backends register lazily: the runtime is loaded only when a device is opened.
registerBackend('ort-cpu', {
  local: true,
  runtimeVersion: ortVersion,
  create: async (options) => {
    const { OrtCpuBackend } = await import('./ort-cpu/backend.js');
    return new OrtCpuBackend(options);
  },
});

registerBackend('tflite-wasm', {
  local: true,
  runtimeVersion: tfliteVersion,
  create: async (options) => {
    const { TfliteWasmBackend } = await import('./tflite-wasm/backend.js');
    return new TfliteWasmBackend(options);
  },
});

export * from './backend';
