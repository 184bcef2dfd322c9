import { registerBackend } from './backend';

// Backends register lazily: the runtime is loaded only when a device is opened.
registerBackend('ort-cpu', {
  local: true,
  runtimeVersion: () => `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
  create: async (options) => {
    const { OrtCpuBackend } = await import('./ort-cpu/backend.js');
    return new OrtCpuBackend(options);
  },
});

export * from './backend';
