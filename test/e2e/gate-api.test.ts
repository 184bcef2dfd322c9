import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { INestApplication } from '@nestjs/common';
import { analyzeTflite } from '../../src/analysis/tflite';
import { minArch } from '../../src/core/arch';
import { buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { getSpace } from '../../src/core/space';
import { exportPiecesTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { createApp } from '../../src/main';
import { tempDir } from '../helpers';
import { listing, tinyModel, writeExternalModel, writeRegressors } from '../gate-fixtures';

interface Server {
  app: INestApplication;
  url: string;
}

async function start(home: string, modelDir?: string): Promise<Server> {
  const app = await createApp({ home, dataDir: tempDir('tailor-gate-data-'), modelDir, logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, url: `http://127.0.0.1:${port}` };
}

async function post(server: Server, route: string, body: unknown | FormData) {
  const form = body instanceof FormData;
  const res = await fetch(server.url + route, {
    method: 'POST',
    headers: form ? {} : { 'content-type': 'application/json' },
    body: form ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) };
}

function expectError(r: { status: number; json: any }, status: number, message: RegExp) {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.statusCode, status);
  assert.match(r.json.message, message);
}

function upload(bytes: Uint8Array, fields: Record<string, string>, fileName = 'tiny.onnx', fileField = 'model'): FormData {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  form.append(fileField, new Blob([Buffer.from(bytes)]), fileName);
  return form;
}

describe('HTTP: POST /gate and POST /latency/predict { device, model }', () => {
  const root = tempDir('tailor-gate-api-');
  const home = path.join(root, 'home');
  const modelDir = path.join(root, 'models');
  const outside = path.join(root, 'secret');
  let server: Server;
  let bare: Server;

  before(async () => {
    fs.mkdirSync(modelDir, { recursive: true });
    fs.mkdirSync(outside, { recursive: true });
    writeRegressors(home);
    fs.writeFileSync(path.join(modelDir, 'tiny.onnx'), tinyModel());
    fs.mkdirSync(path.join(modelDir, 'team'));
    fs.writeFileSync(path.join(modelDir, 'team', 'big.onnx'), tinyModel({ channels: 32 }));
    fs.writeFileSync(path.join(outside, 'other.onnx'), tinyModel());
    fs.symlinkSync(path.join(outside, 'other.onnx'), path.join(modelDir, 'link.onnx'));
    server = await start(home, modelDir);
    bare = await start(home); // no allowed model directory: uploads only
  });

  after(async () => {
    await server?.app.close();
    await bare?.app.close();
  });

  it('checks a model of the allowed directory by path and returns the JSON report', async () => {
    const before = listing(root);
    const ok = await post(server, '/gate', { model: 'tiny.onnx', limits: { size: '10 kB', params: '1K', latency: { 'local-cpu': '5 ms' } } });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.deepEqual(ok.json, [{
      name: 'tiny.onnx', passed: true,
      metrics: { sizeBytes: fs.statSync(path.join(modelDir, 'tiny.onnx')).size, params: 314, macs: 61_562, latencyMs: { 'local-cpu': { predicted: ok.json[0].metrics.latencyMs['local-cpu'].predicted } } },
      failures: [], notes: [], warnings: [],
    }]);
    assert.ok(ok.json[0].metrics.latencyMs['local-cpu'].predicted > 0);
    const over = await post(server, '/gate', { name: 'big', model: 'team/big.onnx', limits: { params: '1K' } });
    assert.equal(over.status, 200);
    assert.equal(over.json[0].name, 'big');
    assert.equal(over.json[0].passed, false);
    assert.deepEqual(over.json[0].failures.map((f: { check: string }) => f.check), ['params']);
    assert.deepEqual(listing(root), before, 'nothing written');
  });

  it('checks an uploaded model (multipart) without writing it anywhere', async () => {
    const before = listing(root);
    const r = await post(bare, '/gate', upload(tinyModel({ channels: 16 }), { name: 'upload', limits: JSON.stringify({ params: '1K', macs: '1M', latency: { 'local-cpu': '5 ms' } }) }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json[0].name, 'upload');
    assert.equal(r.json[0].passed, true);
    assert.equal(r.json[0].metrics.params, 618);
    const stem = exportPiecesTflite(buildIR(netFromArch(getSpace('ofa-mbv3-w1.0'), minArch(getSpace('ofa-mbv3-w1.0'), 128))).pieces.slice(0, 1), { weights: seededWeights(1) });
    const tfl = await post(bare, '/gate', upload(stem, { limits: JSON.stringify({ size: '1 MB', params: '1K', macs: '1G' }) }, 'stem.tflite'));
    assert.equal(tfl.status, 200, JSON.stringify(tfl.json));
    assert.deepEqual([tfl.json[0].name, tfl.json[0].passed, tfl.json[0].metrics.params], ['stem.tflite', true, analyzeTflite(stem).params]);
    const dyn = await post(bare, '/gate', upload(tinyModel({ dynamic: true }), { limits: '{"macs": "1K"}', inputShape: 'input:1x3x16x16' }, 'dyn.onnx'));
    assert.equal(dyn.status, 200, JSON.stringify(dyn.json));
    assert.equal(dyn.json[0].name, 'dyn.onnx');
    assert.deepEqual(dyn.json[0].failures.map((f: { check: string }) => f.check), ['macs']);
    assert.deepEqual(listing(root), before, 'nothing written');
  });

  it('refuses paths outside the allowed model directory (403), and any path without one', async () => {
    const limits = { size: '1 MB' };
    for (const model of ['../secret/other.onnx', path.join(outside, 'other.onnx'), 'link.onnx', '/etc/passwd', 'team/../../secret/other.onnx']) {
      expectError(await post(server, '/gate', { model, limits }), 403, /outside the server's allowed model directory/);
      expectError(await post(server, '/latency/predict', { device: 'local-cpu', model }), 403, /outside the server's allowed model directory/);
    }
    expectError(await post(bare, '/gate', { model: 'tiny.onnx', limits }), 403, /no allowed model directory \(start it with --model-dir/);
    expectError(await post(bare, '/latency/predict', { device: 'local-cpu', model: 'tiny.onnx' }), 403, /no allowed model directory/);
  });

  it('answers 4xx with a specific message for bad input', async () => {
    const limits = { size: '1 MB' };
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits: { size: '5 XB' } }), 400, /limits\.size: unknown size unit "XB"/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits: { latency: { pixel9: '15 ms' } } }), 400, /unknown device "pixel9"/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits: { sise: '1 MB' } }), 400, /limits\.sise: unknown field/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits, extra: 1 }), 400, /property extra should not exist/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx' }), 400, /limits must be an object/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits, measure: 'yes' }), 400, /measure must be a boolean/);
    expectError(await post(server, '/gate', { model: 'tiny.onnx', limits, strict: 'yes' }), 400, /strict must be a boolean/);
    expectError(await post(bare, '/gate', upload(tinyModel(), { limits: '{"size": "1 MB"}', strict: 'yes' })), 400, /"strict" must be "true" or "false"/);
    expectError(await post(server, '/gate', { model: 'missing.onnx', limits }), 404, /Model file missing\.onnx does not exist/);
    expectError(await post(bare, '/gate', upload(Buffer.from('\x1c\x00\x00\x00TFL3\x00\x00'), { limits: '{"size": "1 MB"}' }, 'm.tflite')), 422, /m\.tflite is not a valid TFLite model/);
    fs.writeFileSync(path.join(modelDir, 'model.tflite'), Buffer.from('\x1c\x00\x00\x00TFL3\x00\x00'));
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'model.tflite' }), 415, /model\.tflite is a TFLite model: device "local-cpu" \(backend ort-cpu\) runs ONNX models/);
    expectError(await post(bare, '/gate', upload(Buffer.from('not a model'), { limits: '{"size": "1 MB"}' })), 422, /tiny\.onnx is not a valid ONNX model/);
    expectError(await post(bare, '/gate', upload(tinyModel({ dynamic: true }), { limits: '{"size": "1 MB"}' })), 422, /input "input" has a dynamic shape/);
    expectError(await post(bare, '/gate', upload(tinyModel(), { limits: '{"size": ' })), 400, /"limits" must be JSON text/);
    expectError(await post(bare, '/gate', upload(tinyModel(), { limits: '{"size": "1 MB"}', colour: 'red' })), 400, /unknown field "colour"/);
    expectError(await post(bare, '/gate', upload(tinyModel(), { limits: '{"size": "1 MB"}' }, 'tiny.onnx', 'file')), 400, /unexpected file field "file".*no model/);
    const noFile = new FormData();
    noFile.append('limits', '{"size": "1 MB"}');
    expectError(await post(bare, '/gate', noFile), 400, /no model: send the ONNX file in the file field "model"/);
  });

  it('POST /latency/predict takes { device, model } and returns the kernel-based prediction', async () => {
    const r = await post(server, '/latency/predict', { device: 'local-cpu', model: 'tiny.onnx' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.device, 'local-cpu');
    assert.equal(r.json.model, 'tiny.onnx', 'named as the client named it, not by its server path');
    assert.ok(r.json.latencyMs > r.json.overheadMs);
    assert.equal(r.json.unsupportedCount, 0);
    assert.ok(r.json.nodes.length >= 5);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'tiny.onnx', arch: 'max' }), 400, /"model" comes without "arch"/);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'tiny.onnx', inputShape: 'input:1x3' }), 400, /Invalid --input-shape|input "input" has rank 4/);
    expectError(await post(server, '/latency/predict', { device: 'pixel9', model: 'tiny.onnx' }), 404, /Unknown device "pixel9"/);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu' }), 400, /give "arch" \(one architecture\), "archs" \(a batch\) or "model"/);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', arch: 'max', inputShape: 'x:1' }), 400, /"inputShape" applies to "model" only/);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', arch: 'max', allowUnknownOps: true }), 400, /"allowUnknownOps" applies to "model" only/);
    // a dynamic input without "inputShape", a file that is not ONNX, an ONNX file cut short
    fs.writeFileSync(path.join(modelDir, 'dynamic.onnx'), tinyModel({ dynamic: true }));
    fs.writeFileSync(path.join(modelDir, 'notes.onnx'), 'these are not the weights you are looking for\n');
    const whole = tinyModel();
    fs.writeFileSync(path.join(modelDir, 'truncated.onnx'), whole.subarray(0, Math.floor(whole.length / 2)));
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'dynamic.onnx' }), 422, /Input "input" of dynamic\.onnx has a dynamic shape \(batchx3xhxw\); send "inputShape": "input:<batch>x3x<h>x<w>"/);
    const sized = await post(server, '/latency/predict', { device: 'local-cpu', model: 'dynamic.onnx', inputShape: 'input:1x3x16x16' });
    assert.equal(sized.status, 200, JSON.stringify(sized.json));
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'notes.onnx' }), 422, /notes\.onnx is not a valid ONNX model: it cannot be decoded .*the file is truncated or not ONNX/);
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'truncated.onnx' }), 422, /truncated\.onnx is not a valid ONNX model: it cannot be decoded .*the file is truncated or not ONNX/);
  });

  it('external data files and unknown ops: read beside the model; a missing file or an unknown op is a 422 naming it', async () => {
    const ext = writeExternalModel(modelDir, 'ext');
    const p = await post(server, '/latency/predict', { device: 'local-cpu', model: 'ext.onnx' });
    assert.equal(p.status, 200, JSON.stringify(p.json));
    const g = await post(server, '/gate', { model: 'ext.onnx', limits: { size: '1 MB', params: '1K' } });
    assert.equal(g.status, 200, JSON.stringify(g.json));
    assert.equal(g.json[0].metrics.sizeBytes, fs.statSync(ext.model).size + fs.statSync(ext.data).size);
    expectError(await post(bare, '/gate', upload(fs.readFileSync(ext.model), { limits: '{"size": "1 MB"}' }, 'ext.onnx')), 422, /ext\.onnx is not a valid ONNX model: it stores 4 tensor\(s\) in external data files \(ext\.data\).*an upload cannot carry them/);
    fs.rmSync(ext.data);
    const missing = /ext\.onnx is not a valid ONNX model: tensor "conv\.w" is stored in the external data file "ext\.data", which is missing/;
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'ext.onnx' }), 422, missing);
    expectError(await post(server, '/gate', { model: 'ext.onnx', limits: { size: '1 MB' } }), 422, missing);

    fs.writeFileSync(path.join(modelDir, 'custom.onnx'), tinyModel({ op: 'Swish' }));
    const unknown = /custom\.onnx has 1 node\(s\) of ops the analysis cannot infer shapes for or count: node "act" \(com\.example\.Swish\)/;
    expectError(await post(server, '/latency/predict', { device: 'local-cpu', model: 'custom.onnx' }), 422, new RegExp(`${unknown.source}.*send "allowUnknownOps": true`));
    expectError(await post(server, '/gate', { model: 'custom.onnx', limits: { params: '1K' } }), 422, new RegExp(`${unknown.source}.*set "allowUnknownOps": true in the budget`));
    const partial = await post(server, '/latency/predict', { device: 'local-cpu', model: 'custom.onnx', allowUnknownOps: true });
    assert.equal(partial.status, 200, JSON.stringify(partial.json));
    assert.ok(partial.json.unsupported.some((u: { node: string }) => u.node === 'act'), JSON.stringify(partial.json.unsupported));
    const gated = await post(server, '/gate', { model: 'custom.onnx', allowUnknownOps: true, limits: { params: '1K' } });
    assert.equal(gated.status, 200, JSON.stringify(gated.json));
    assert.deepEqual([gated.json[0].passed, gated.json[0].partial, gated.json[0].unknownNodes], [true, true, [{ node: 'act', opType: 'com.example.Swish' }]]);
    const uploaded = await post(bare, '/gate', upload(tinyModel({ op: 'Swish' }), { limits: '{"params": "1K"}', allowUnknownOps: 'true' }, 'custom.onnx'));
    assert.equal(uploaded.status, 200, JSON.stringify(uploaded.json));
    expectError(await post(bare, '/gate', upload(tinyModel(), { limits: '{"params": "1K"}', allowUnknownOps: 'yes' })), 400, /"allowUnknownOps" must be "true" or "false"/);
  });
});
