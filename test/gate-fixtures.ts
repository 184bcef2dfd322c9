import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import { FEATURE_NAMES } from '../src/kernels/features';
import { KERNEL_TYPES } from '../src/kernels/fusion';
import { KERNEL_MODEL_SCHEMA, KernelModelFile } from '../src/kernels/store';
import { Graph, floatTensor } from './onnx-graphs';

/** A small conv net (conv-relu-pool-gemm, 1x3x16x16 -> 1x10); `channels` changes its size. */
export function tinyModel(opts: { channels?: number; dynamic?: boolean; op?: string } = {}): Uint8Array {
  const c = opts.channels ?? 8;
  const g = new Graph(13).input('input', opts.dynamic ? ['batch', 3, 'h', 'w'] : [1, 3, 16, 16]);
  g.init(floatTensor('conv.w', [c, 3, 3, 3]), floatTensor('conv.b', [c]), floatTensor('fc.w', [10, c]), floatTensor('fc.b', [10]));
  let x = g.op('Conv', ['input', 'conv.w', 'conv.b'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv' });
  x = g.op(opts.op ?? 'Relu', [x], {}, { name: 'act', ...(opts.op && !['Relu', 'Sigmoid'].includes(opts.op) ? { domain: 'com.example' } : {}) });
  x = g.op('GlobalAveragePool', [x], {}, { name: 'pool' });
  x = g.op('Flatten', [x], {}, { name: 'flatten' });
  x = g.op('Gemm', [x, 'fc.w', 'fc.b'], { transB: 1 }, { name: 'fc' });
  g.output(x);
  return g.bytes(opts.op && !['Relu', 'Sigmoid'].includes(opts.op) ? { extraOpsets: [{ domain: 'com.example', version: 1 }] } : {});
}

/** The same net with its weights in an external data file ("<name>.data" beside it). */
export function writeExternalModel(dir: string, name: string): { model: string; data: string } {
  const model = onnx.ModelProto.decode(tinyModel());
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer!) {
    const raw = t.rawData!;
    t.externalData = [{ key: 'location', value: `${name}.data` }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(raw.length) }];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
    chunks.push(raw);
    offset += raw.length;
  }
  const data = path.join(dir, `${name}.data`);
  fs.writeFileSync(data, Buffer.concat(chunks));
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return { model: file, data };
}

/**
 * Kernel regressors for a device without profiling it: every kernel type predicted by a fixed
 * ms per unit of work (no forests), so predictions are deterministic and instant.
 */
export function writeRegressors(home: string, device = 'local-cpu', msPerWork = 1e-6, overheadMs = 0.05): string {
  const file: KernelModelFile = {
    schema: KERNEL_MODEL_SCHEMA,
    device: { id: device, fingerprint: null },
    backend: { name: 'ort-cpu', version: 'test', threads: 1 },
    created: '2025-01-01T00:00:00.000Z',
    seed: 0,
    blockSize: 0,
    features: [...FEATURE_NAMES],
    target: 'log(ms/work)',
    overheadMs,
    reference: { graphs: [], ms: [] },
    models: Object.fromEntries(KERNEL_TYPES.map((t) => [t, { samples: 3, medianMsPerWork: msPerWork, forest: null, fitMapePct: 0 }])),
  };
  const out = path.join(home, 'latency-tables', device, 'kernels', 'regressors.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(file));
  return out;
}

/** Every file under a directory (relative paths), to show nothing was written beside a model. */
export function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true }).map(String).sort();
}

