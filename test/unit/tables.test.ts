import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { sampleArch } from '../../src/core/arch';
import { resolveArch } from '../../src/core/arch-source';
import { TailorError } from '../../src/core/errors';
import { buildIR } from '../../src/core/ir';
import { parseKey } from '../../src/core/keys';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace } from '../../src/core/space';
import { workspace } from '../../src/core/workspace';
import { exportOfa, readOfaYaml, tableFromOfa } from '../../src/latency/ofa-format';
import { LatencyPredictor } from '../../src/latency/predictor';
import { driftScales, loadTable, parseTable, saveTable, tablePath } from '../../src/latency/table';
import { calibrationArchs, fitCalibration } from '../../src/profiling/calibration';
import { NET_30MS, NOTE10_YAMLS, OFA, tempDir } from '../helpers';

const w12 = getSpace('ofa-mbv3-w1.2');

function note10Table() {
  return tableFromOfa('note10', w12.id, NOTE10_YAMLS.map(readOfaYaml), null, NOTE10_YAMLS);
}

describe('latency tables', () => {
  it('parses OFA keys', () => {
    const k = parseKey('expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:0')!;
    assert.deepEqual([k.op, k.input, k.output, k.attrs.expand, k.attrs.kernel], ['expanded_conv', [112, 112, 24], [56, 56, 32], 144, 3]);
    assert.deepEqual(parseKey('Logits-input:1x1x1536-output:1000')!.output, [1000]);
    assert.equal(parseKey('Conv-input:1x2-output:3'), null);
  });

  it('our keys for any w1.2 subnet are all in OFA\'s Note10 tables', () => {
    const table = note10Table();
    const rng = new Rng(5);
    for (let i = 0; i < 50; i++) {
      const arch = sampleArch(w12, rng, [160, 176, 192, 208, 224]);
      for (const p of buildIR(netFromArch(w12, arch)).pieces) assert.ok(table.entries[arch.r][p.key], `${p.key} @${arch.r}`);
    }
  });

  it('predicts the note10_lat-30ms net at 29.965 ms from the imported tables (OFA\'s rule)', () => {
    const p = new LatencyPredictor(note10Table()).predictNet(resolveArch(NET_30MS).net);
    assert.ok(Math.abs(p.latencyMs - 29.965) <= 0.01, `got ${p.latencyMs}`);
    assert.equal(p.breakdown.length, 1 + p.breakdown.filter((b) => b.kind === 'block').length + 4);
  });

  it('exports OFA tables back without loss', () => {
    const dir = tempDir();
    const files = exportOfa(note10Table(), dir);
    assert.equal(files.length, 5);
    for (const [i, f] of files.entries()) {
      assert.deepEqual(parse(fs.readFileSync(f, 'utf8')), parse(fs.readFileSync(NOTE10_YAMLS[i], 'utf8')));
      assert.equal(path.basename(f), path.basename(NOTE10_YAMLS[i]));
    }
  });

  it('saves atomically and reloads identically', () => {
    const ws = workspace(tempDir());
    const table = note10Table();
    const file = saveTable(ws, table);
    assert.equal(file, tablePath(ws, 'note10', w12.id));
    assert.deepEqual(loadTable(ws, 'note10', w12.id), table);
    assert.deepEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)], 'no temp files left behind');
  });

  it('rejects corrupt and truncated tables with a specific error', () => {
    const text = JSON.stringify(note10Table());
    const corrupt = (t: string) => assert.throws(() => parseTable('t.json', t), (e: unknown) => e instanceof TailorError && e.code === 'CORRUPT_TABLE');
    corrupt(text.slice(0, text.length / 2));
    corrupt('{}');
    corrupt(text.replace('"mean":', '"mean":"x","was":'));
    corrupt(text.replace(/"resolutions":\[[^\]]*\]/, '"resolutions":[160,999]'));
    assert.throws(() => readOfaYaml(path.join(OFA, 'specialized', 'note10_lat-30ms_top1-78.4_finetune-75', 'net.config')), /not an OFA lookup-table key|mapping/);
  });

  it('names every missing key and refuses resolutions outside the table', () => {
    const table = note10Table();
    delete table.entries['224']['Conv-input:224x224x3-output:112x112x24'];
    const predictor = new LatencyPredictor(table);
    assert.throws(() => predictor.predictNet(resolveArch(NET_30MS).net), (e: unknown) => e instanceof TailorError && e.code === 'MISSING_KEYS' && /Conv-input:224x224x3/.test(e.message));
    const at220 = resolveArch(JSON.stringify({ ...sampleArch(w12, new Rng(1)), r: 220 }));
    assert.throws(() => predictor.predictNet(at220.net), (e: unknown) => e instanceof TailorError && e.code === 'RESOLUTION_NOT_IN_TABLE');
  });

  it('corrects each resolution for the drift of its measurement window', () => {
    const table = note10Table();
    const plain = new LatencyPredictor(note10Table()).predictNet(resolveArch(NET_30MS).net).latencyMs;
    // References ran 10% slower in the 224 window than the median window, 10% faster at 160.
    table.reference = { archs: [], msByResolution: { 160: [0.9, 1.8], 176: [1, 2], 192: [1, 2], 208: [1, 2], 224: [1.1, 2.2] } };
    table.reference.archs = [resolveArch('min', 'ofa-mbv3-w1.2').arch!, resolveArch('max', 'ofa-mbv3-w1.2').arch!];
    assert.deepEqual([...driftScales(table)].map(([r, s]) => [r, Math.round(s * 1000) / 1000]), [[160, 1.111], [176, 1], [192, 1], [208, 1], [224, 0.909]]);
    const corrected = new LatencyPredictor(table).predictNet(resolveArch(NET_30MS).net).latencyMs;
    assert.ok(Math.abs(corrected - plain / 1.1) < 1e-9);
  });

  it('the compiled predictor agrees with the key-by-key predictor', () => {
    const predictor = new LatencyPredictor(note10Table());
    const compiled = predictor.compile(w12);
    const rng = new Rng(9);
    for (let i = 0; i < 200; i++) {
      const arch = sampleArch(w12, rng, [160, 176, 192, 208, 224]);
      assert.ok(Math.abs(compiled.predict(arch) - predictor.predictArch(w12, arch).latencyMs) < 1e-9);
    }
    assert.ok(Number.isNaN(compiled.predict({ ...sampleArch(w12, rng), r: 128 })));
  });

  it('fits the whole-net calibration line, and refuses fits the nets cannot support', () => {
    const rows = [0.1, 0.2, 0.35, 0.5, 0.8].map((summedMs) => ({ summedMs, overheadMs: 0.01, wallMs: 0.9 * summedMs + 0.03 }));
    const fit = fitCalibration(rows)!;
    assert.ok(Math.abs(fit.scale - 0.9) < 1e-6 && Math.abs(fit.offsetMs - 0.03) < 1e-6, JSON.stringify(fit));
    assert.ok(fit.errorPct.after < 1e-3 && fit.errorPct.before > 1, 'the line explains the nets, the plain sum did not');
    // A negative intercept is not a per-inference cost: the line goes through 0 instead.
    const throughZero = fitCalibration([0.1, 0.2, 0.4].map((summedMs) => ({ summedMs, overheadMs: 0, wallMs: 1.2 * summedMs - 0.02 })))!;
    assert.equal(throughZero.offsetMs, 0);
    assert.ok(throughZero.scale > 1 && throughZero.scale < 1.2);
    assert.equal(fitCalibration(rows.slice(0, 2)), null, 'two nets are too few');
    assert.equal(fitCalibration(rows.map((r) => ({ ...r, wallMs: 5 * r.summedMs }))), null, 'a 5x scale is a bad measurement');
  });

  it('calibration nets span the smallest and largest subnets, seeded', () => {
    const archs = calibrationArchs(w12, 192, 10, 3);
    assert.equal(archs.length, 10);
    assert.deepEqual(archs[0], { ...resolveArch('min', w12.id).arch!, r: 192 });
    assert.deepEqual(archs[1], { ...resolveArch('max', w12.id).arch!, r: 192 });
    assert.ok(archs.every((a) => a.r === 192));
    assert.deepEqual(calibrationArchs(w12, 192, 10, 3), archs);
    assert.notDeepEqual(calibrationArchs(w12, 192, 10, 4), archs);
    assert.deepEqual(calibrationArchs(w12, 192, 0, 3), []);
  });

  it('applies a calibration line: pieces scaled, its offset as the fixed cost, breakdown still sums to the total', () => {
    const plain = new LatencyPredictor(note10Table());
    const table = note10Table();
    table.calibration = { 224: { scale: 0.8, offsetMs: 1.5, nets: 12, errorPct: { before: 9, after: 2 } } };
    const calibrated = new LatencyPredictor(table);
    const net = resolveArch(NET_30MS).net;
    const before = plain.predictNet(net);
    const after = calibrated.predictNet(net);
    assert.equal(after.resolution, 224);
    assert.ok(Math.abs(after.latencyMs - (0.8 * (before.latencyMs - before.overheadMs) + 1.5)) < 1e-9);
    assert.ok(Math.abs(after.breakdown.reduce((s, r) => s + r.ms, 0) - after.latencyMs) < 1e-9);
    assert.equal(after.overheadMs, 1.5);
    const rng = new Rng(4);
    const compiled = calibrated.compile(w12);
    for (let i = 0; i < 50; i++) {
      const arch = sampleArch(w12, rng, [192, 224]);
      assert.ok(Math.abs(compiled.predict(arch) - calibrated.predictArch(w12, arch).latencyMs) < 1e-9);
    }
    const file = path.join(tempDir(), 't.json');
    fs.writeFileSync(file, JSON.stringify({ ...table, calibration: { 224: { scale: -1, offsetMs: 0 } } }));
    assert.throws(() => parseTable(file, fs.readFileSync(file, 'utf8')), (e: TailorError) => e.code === 'CORRUPT_TABLE' && /calibration\["224"\]/.test(e.message));
  });
});
