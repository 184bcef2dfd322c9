import { registerBackend } from './backend';
import { registerRemoteFingerprint } from './fingerprint';
import { ortVersion } from './ort-cpu/version';
import { tfliteVersion } from './tflite-wasm/version';
import { adbFingerprint, adbTfliteVersion } from './adb-tflite/adb';

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

registerBackend('adb-tflite', {
  local: false, // an Android phone over adb: this machine's fingerprint is not its own
  runtimeVersion: adbTfliteVersion,
  create: async (options) => {
    const { AdbTfliteBackend } = await import('./adb-tflite/backend.js');
    return new AdbTfliteBackend(options);
  },
});
registerRemoteFingerprint('adb-tflite', adbFingerprint); // the phone's getprop, CPUs, memory

// A remote board whose `tailor agent` pulls work from the service (src/runtime/agent).
registerBackend('agent', {
  local: false,
  runtimeVersion: (options) => `agent ${String(options.runtime ?? 'ort-cpu')}`,
  create: async (options) => (await import('./agent/backend.js')).createAgentBackend(options),
});
registerRemoteFingerprint('agent', async (device, options, ws) => (await import('./agent/backend.js')).remoteDeviceFingerprint(device, options, ws));

export * from './backend';
