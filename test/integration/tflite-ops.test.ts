import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { median } from '../../src/core/latency';
import { sampleArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { exportModel } from '../../src/export/model';
import { seededWeights } from '../../src/export/weights';
import { tfliteModelZoo } from '../../src/kernels/tflite-zoo';
import { TfliteWasmBackend } from '../../src/runtime/tflite-wasm/backend';
import { runTflite } from '../../src/runtime/tflite-wasm/runtime';
import { TfliteNetBuilder } from '../../src/tflite/builder';
import { readTflite } from '../../src/tflite/reader';
import { cli, tempDir } from '../helpers';

async function measure(bytes: Uint8Array): Promise<number> {
  const model = await new TfliteWasmBackend({ threads: 1 }).load(bytes);
  try {
    return median(await model.measure({ warmup: 3, runs: 15 }));
  } finally {
    await model.dispose();
  }
}

describe('TFLite op predictor on the real runtime (tflite-wasm: local-tflite)', () => {
  it('profiles a few sampled graphs, then predicts .tflite models op by op within a loose factor of their measured latency', async () => {
    const home = tempDir();
    const profiled = cli(['profile', '--device', 'local-tflite', '--kernels', '--samples', '20', '--passes', '1', '--json'], home);
    assert.equal(profiled.status, 0, profiled.stderr);
    const summary = JSON.parse(profiled.stdout);
    assert.equal(summary.format, 'tflite');
    assert.ok(summary.types.some((t: { type: string }) => t.type === 'CONV_2D'));
    const stored = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'local-tflite', 'kernels', 'regressors.json'), 'utf8'));
    assert.equal(stored.format, 'tflite');
    assert.equal(stored.backend.name, 'tflite-wasm');
    assert.ok(stored.device.fingerprint?.hash, 'the fingerprint is stored');
    assert.ok(stored.overheadMs > 0 && stored.overheadMs < 1, `fixed cost ${stored.overheadMs}`);

    // one of our exported subnets (its metadata carries no space: not a table lookup) and a MobileNetV2 from the writer
    const space = getSpace('ofa-mbv3-w1.0');
    const arch = sampleArch(space, new Rng(5), [128]);
    const models = {
      'ofa-r128.tflite': exportModel('tflite', buildIR(netFromArch(space, arch)), { weights: seededWeights(0) }),
      'mobilenetv2-w0.5-r128.tflite': tfliteModelZoo(0).find((m) => m.name === 'mobilenetv2-w0.5-r128')!.bytes,
    };
    const dir = path.join(home, 'models');
    fs.mkdirSync(dir);
    for (const [name, bytes] of Object.entries(models)) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      const r = cli(['predict', '--device', 'local-tflite', '--model', file, '--json'], home);
      assert.equal(r.status, 0, r.stderr);
      const p = JSON.parse(r.stdout);
      // every op accounted for: executed, fused into a neighbour, or listed without predictor
      const ops = readTflite(bytes).subgraphs[0].operators;
      assert.equal(p.nodes.length, ops.length, name);
      assert.deepEqual(p.nodes.map((n: { opType: string }) => n.opType), ops.map((o) => o.opcode));
      for (const n of p.nodes) assert.ok(['kernel', 'fused', 'folded', 'unsupported'].includes(n.status), `${n.node}: ${n.status}`);
      assert.equal(p.unsupportedCount, p.nodes.filter((n: { status: string }) => n.status === 'unsupported').length);
      assert.ok(p.nodes.filter((n: { status: string }) => n.status === 'kernel').length >= ops.length / 2);
      assert.ok(Number.isFinite(p.latencyMs) && p.latencyMs > 0, `${name}: ${p.latencyMs}`);
      const measured = await measure(bytes);
      const ratio = p.latencyMs / measured;
      assert.ok(ratio > 0.4 && ratio < 2.5, `${name}: predicted ${p.latencyMs.toFixed(3)} ms, measured ${measured.toFixed(3)} ms (x${ratio.toFixed(2)})`);
    }

    const validated = cli(['validate', '--device', 'local-tflite', '--models', dir, '--passes', '2', '--json'], home);
    assert.equal(validated.status, 0, validated.stderr);
    const report = JSON.parse(validated.stdout);
    assert.deepEqual(report.rows.map((r: { model: string }) => r.model), Object.keys(models).sort());
    for (const row of report.rows) assert.ok(row.measuredMs > 0 && row.predictedMs > 0 && Number.isFinite(row.errorPct), JSON.stringify(row));
    assert.ok(report.within10 >= 0 && report.within10 <= 1 && Number.isFinite(report.mape));
  });

  it('the writer\'s MAX_POOL_2D, CONCATENATION and SOFTMAX run in the runtime as they are defined', async () => {
    const g = new TfliteNetBuilder(0, 'ops');
    const x = g.input([1, 4, 4, 2]);
    const pooled = g.pool('MAX_POOL_2D', x, 2, 2); // [1, 2, 2, 2]
    const joined = g.concat([pooled, pooled], 3); // [1, 2, 2, 4]
    g.output(g.softmax(g.reshape(joined, [1, 16])));
    const input = Float32Array.from({ length: 32 }, (_, i) => Math.sin(i) * 3);
    const [out] = await runTflite(g.bytes(), [input]);
    // reference: NHWC max over 2x2 windows, channels [a, b, a, b], softmax over all 16 values
    const pool: number[] = [];
    for (let oy = 0; oy < 2; oy++) {
      for (let ox = 0; ox < 2; ox++) {
        const at = (c: number) => Math.max(...[0, 1].flatMap((dy) => [0, 1].map((dx) => input[((2 * oy + dy) * 4 + 2 * ox + dx) * 2 + c])));
        pool.push(at(0), at(1), at(0), at(1));
      }
    }
    const exp = pool.map((v) => Math.exp(v - Math.max(...pool)));
    const sum = exp.reduce((a, b) => a + b, 0);
    const expected = exp.map((v) => v / sum);
    assert.equal(out.length, 16);
    out.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-5, `${i}: ${v} vs ${expected[i]}`));
  });
});
