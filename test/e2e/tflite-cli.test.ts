import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { exportPiecesOnnx } from '../../src/export/onnx';
import { exportPiecesTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { cli, tempDir } from '../helpers';

const SPACE = 'ofa-mbv3-tiny@in1-out10';
const ARCH = { ks: Array(20).fill(5), e: Array(20).fill(4), d: [3, 2, 4, 2, 3], r: 20 };

describe('TFLite devices from the CLI (tflite-wasm: local-tflite)', () => {
  it('profiles a lookup table, validates it, and predicts exported .tflite subnets from it', () => {
    const home = tempDir();
    const profiled = cli(['profile', '--device', 'local-tflite', '--space', SPACE, '--resolutions', '20', '--rounds', '1', '--passes', '2', '--json'], home);
    assert.equal(profiled.status, 0, profiled.stderr);
    const table = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'local-tflite', `${SPACE}.json`), 'utf8'));
    assert.equal(table.backend.name, 'tflite-wasm');
    assert.match(table.backend.version, /tfjs-tflite/);
    // the pieces of every profiled network got their own kernels (attributed through the TFLite op
    // names); the global pool of a 3x3 map and the 512x10 classifier can take under the profile's 1 µs
    const entries = Object.entries(table.entries['20'] as Record<string, { p50: number }>);
    for (const [key, lat] of entries) assert.ok(/^(AvgPool2D|Logits)-/.test(key) ? lat.p50 >= 0 : lat.p50 > 0, `${key}: ${lat.p50}`);

    const validated = cli(['validate', '--device', 'local-tflite', '--space', SPACE, '--samples', '3', '--passes', '3', '--json'], home);
    assert.equal(validated.status, 0, validated.stderr);
    const report = JSON.parse(validated.stdout);
    assert.equal(report.rows.length, 3);
    for (const row of report.rows) assert.ok(row.measuredMs > 0 && row.predictedMs > 0);

    const model = path.join(home, 'net.tflite');
    assert.equal(cli(['export', '--space', SPACE, '--arch', JSON.stringify(ARCH), '--format', 'tflite', '--out', model], home).status, 0);
    const byModel = cli(['predict', '--device', 'local-tflite', '--model', model, '--json'], home);
    assert.equal(byModel.status, 0, byModel.stderr);
    const byArch = cli(['predict', '--device', 'local-tflite', '--space', SPACE, '--arch', JSON.stringify(ARCH), '--json'], home);
    assert.equal(JSON.parse(byModel.stdout).latencyMs, JSON.parse(byArch.stdout).latencyMs, 'the model is predicted as the arch it carries');
  });

  it('refuses what it cannot predict or profile, with exit code 2', () => {
    const home = tempDir();
    const space = getSpace(SPACE);
    const piece = path.join(home, 'stem.tflite');
    fs.writeFileSync(piece, exportPiecesTflite(buildIR(netFromArch(space, { ...ARCH, space: space.id })).pieces.slice(0, 1), { weights: seededWeights(0) }));
    // not an exported subnet: the TFLite op regressors would answer, and this device has none yet
    const r = cli(['predict', '--device', 'local-tflite', '--model', piece], home);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /No kernel regressors for device "local-tflite" \(looked for .*\)\. Run: tailor profile --device local-tflite --kernels/);
    // a model in the format the device does not run
    const onnx = path.join(home, 'stem.onnx');
    fs.writeFileSync(onnx, exportPiecesOnnx(buildIR(netFromArch(space, { ...ARCH, space: space.id })).pieces.slice(0, 1), { weights: seededWeights(0) }));
    const mismatch = cli(['predict', '--device', 'local-tflite', '--model', onnx], home);
    assert.equal(mismatch.status, 2);
    assert.match(mismatch.stderr, /stem\.onnx is an ONNX model: device "local-tflite" \(backend tflite-wasm\) runs TFLite models/);
    const reverse = cli(['predict', '--device', 'local-cpu', '--model', piece], home);
    assert.equal(reverse.status, 2);
    assert.match(reverse.stderr, /stem\.tflite is a TFLite model: device "local-cpu" \(backend ort-cpu\) runs ONNX models/);
  });
});
