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
});
