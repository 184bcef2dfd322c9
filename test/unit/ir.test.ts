import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { maxArch, minArch } from '../../src/core/arch';
import { countModel, countPiece } from '../../src/core/counters';
import { buildIR } from '../../src/core/ir';
import { netFromArch, resnetNet } from '../../src/core/net';
import { getSpace } from '../../src/core/space';

const w10 = getSpace('ofa-mbv3-w1.0');
const w12 = getSpace('ofa-mbv3-w1.2');

describe('model IR and counters', () => {
  it('gives every piece OFA shapes and keys', () => {
    const ir = buildIR(netFromArch(w10, maxArch(w10, 224)));
    assert.deepEqual(ir.pieces.map((p) => p.kind).filter((k) => k !== 'block'), ['stem', 'final_expand', 'pool', 'feature_mix', 'logits']);
    assert.equal(ir.pieces.filter((p) => p.kind === 'block').length, 21);
    assert.deepEqual(ir.pieces[0].outShape, [16, 112, 112]);
    assert.equal(ir.pieces[0].key, 'Conv-input:224x224x3-output:112x112x16');
    assert.equal(ir.pieces[1].key, 'expanded_conv-input:112x112x16-output:112x112x16-expand:16-kernel:3-stride:1-idskip:1-se:0-hs:0');
    assert.equal(ir.pieces[2].key, 'expanded_conv-input:112x112x16-output:56x56x24-expand:96-kernel:7-stride:2-idskip:0-se:0-hs:0');
    const last = ir.pieces.at(-1)!;
    assert.equal(last.key, 'Logits-input:1x1x1280-output:1000');
    assert.deepEqual(ir.pieces.find((p) => p.kind === 'final_expand')!.outShape, [960, 7, 7]);
    // odd sizes round up like OFA: 132 -> 66 -> 33 -> 17 -> 9 -> 9 -> 5
    const odd = buildIR(netFromArch(w10, minArch(w10, 132)));
    assert.deepEqual(odd.pieces.find((p) => p.kind === 'final_expand')!.inShape, [160, 5, 5]);
  });

  it('counts the stem and first block by hand', () => {
    const ir = buildIR(netFromArch(w10, maxArch(w10, 224)));
    // stem: 16 x 3 x 3 x 3 = 432 weights, x 112 x 112 outputs
    assert.deepEqual(countPiece(ir.pieces[0]), { params: 432, macs: 432 * 112 * 112, storedValues: 432 + 16 });
    // first block: depthwise 16 x 3 x 3 = 144, pointwise 16 x 16 = 256, both at 112 x 112
    assert.deepEqual(countPiece(ir.pieces[1]), { params: 400, macs: 400 * 112 * 112, storedValues: 400 + 32 });
  });

  it('counts an SE block by hand (stage 2, k5, e4, stride 2)', () => {
    const arch = { ...minArch(w10, 224), ks: Array(20).fill(5), e: Array(20).fill(4) };
    const ir = buildIR(netFromArch(w10, arch));
    const block = ir.pieces.find((p) => p.key.startsWith('expanded_conv-input:56x56x24-output:28x28x40'))!;
    assert.equal(block.key, 'expanded_conv-input:56x56x24-output:28x28x40-expand:96-kernel:5-stride:2-idskip:0-se:1-hs:0');
    // expand 24->96 @56x56, depthwise 96 k5 @28x28, SE 96->24->96 @1x1, project 96->40 @28x28
    const params = 24 * 96 + 96 * 25 + 96 * 24 + 24 * 96 + 96 * 40;
    const macs = 24 * 96 * 56 * 56 + 96 * 25 * 28 * 28 + 96 * 24 + 24 * 96 + 96 * 40 * 28 * 28;
    const c = countPiece(block);
    assert.equal(c.params, params);
    assert.equal(c.macs, macs);
  });

  it('counts whole nets like OFA (computed independently by hand-written formula)', () => {
    assert.deepEqual(countModel(buildIR(netFromArch(w10, maxArch(w10, 224)))).params, 7613280);
    assert.deepEqual(countModel(buildIR(netFromArch(w10, maxArch(w10, 224)))).macs, 566170656);
    const min = countModel(buildIR(netFromArch(w10, minArch(w10, 128))));
    assert.deepEqual([min.params, min.macs], [3395856, 41476224]);
    const mixed = { space: w12.id, ks: Array.from({ length: 20 }, (_, i) => (i % 2 ? 3 : 5)), e: Array.from({ length: 20 }, (_, i) => (i % 2 ? 6 : 4)), d: [3, 2, 4, 3, 2], r: 160 };
    const m = countModel(buildIR(netFromArch(w12, mixed)));
    assert.deepEqual([m.params, m.macs], [6508944, 214135008]);
    assert.ok(m.sizeBytes > 4 * m.params, 'fp32 size includes the folded biases');
  });

  it('builds ResNets (basic and bottleneck blocks, projection shortcuts, a pooled stem) and counts them as published', () => {
    const r18 = buildIR(resnetNet({ resolution: 224, depths: [2, 2, 2, 2], bottleneck: false }));
    assert.equal(r18.pieces[0].key, 'Conv-input:224x224x3-output:56x56x64-maxpool:3');
    assert.equal(r18.pieces[3].key, 'residual-input:56x56x64-output:28x28x128-mid:128-kernel:3-stride:2-bottleneck:0-proj:1');
    assert.deepEqual(r18.pieces[3].nodes.map((n) => n.op), ['conv', 'conv', 'conv', 'add']);
    assert.deepEqual(r18.pieces[2].nodes.map((n) => n.op), ['conv', 'conv', 'add'], 'identity shortcut');
    assert.ok(r18.pieces.filter((p) => p.kind === 'block').every((p) => p.nodes.at(-1)!.op === 'add' && (p.nodes.at(-1) as { act?: string }).act === 'relu'));
    // torchvision's 11,689,512 parameters less 9,600 of BN and the classifier's 1,000 biases; 1.814 GMACs
    assert.deepEqual([countModel(r18).params, countModel(r18).macs], [11678912, 1814073344]);
    // ResNet-50: 25,557,032 less 53,120 of BN and 1,000 biases; 4.089 GMACs
    const r50 = countModel(buildIR(resnetNet({ resolution: 224, depths: [3, 4, 6, 3], bottleneck: true })));
    assert.deepEqual([r50.params, r50.macs], [25502912, 4089184256]);
  });
});
