import { registerBackend } from './backend';
import { ortVersion } from './ort-cpu/version';

// Backends register lazily: the runtime is loaded only when a device is opened.
registerBackend('ort-cpu', {
  local: true,
  runtimeVersion: ortVersion,
  create: async (options) => {
    const { OrtCpuBackend } = await import('./ort-cpu/backend.js');
    return new OrtCpuBackend(options);
  },
});

export * from './backend';
