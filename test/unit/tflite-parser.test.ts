import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { nameKernels } from '../../src/runtime/tflite-wasm/attribute';
import { kernelMeans, parseProfilingSummary } from '../../src/runtime/tflite-wasm/parser';
import { TfliteModel } from '../../src/tflite/model';
import { FIXTURES } from '../helpers';

// Recorded with @tensorflow/tfjs-tflite 0.0.1-alpha.10 (SIMD build, 1 thread), GetProfilingSummary() text:
// an ofa-mbv3-tiny SE block with h_swish (10 ops, all in one XNNPACK partition), summarized after
// 3 runs and again (same runner) after 13 runs; and conv -> TANH -> conv + add, where TANH is
// not delegated and splits the graph into two XNNPACK partitions, summarized after 4 runs.
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, 'tflite-profile', name), 'utf8');
const after3 = fixture('se-block-after-3-runs.txt');
const after13 = fixture('se-block-after-13-runs.txt');
const partitions = fixture('two-partitions-4-runs.txt');

/** "Timings (microseconds): ... curr=N": the whole buffer's total of a section as of that summary, exact to 1 µs. */
const sectionTotalsUs = (text: string) => [...text.matchAll(/curr=(\d+)/g)].map((m) => Number(m[1]));

describe('TFLite profile summary parser (offline, recorded output)', () => {
  it('reads both Run Order tables: interpreter nodes and XNNPACK operators', () => {
    const s = parseProfilingSummary(after3);
    assert.deepEqual(s.nodes, [{ nodeType: 'TfLiteXNNPackDelegate', firstMs: 1.313, avgMs: 0.666, timesCalled: 3, name: '[blocks.10.project]:10' }]);
    assert.equal(s.delegateOps.length, 10);
    assert.deepEqual(s.delegateOps[2], { nodeType: 'DelegateOpInvoke', firstMs: 0.439, avgMs: 0.341, timesCalled: 3, name: 'Delegate/Convolution (NHWC, F32) IGEMM:2' });
    assert.deepEqual(
      s.delegateOps.map((r) => r.name.replace(/^Delegate\/(.*):\d+$/, '$1')),
      ['Convolution (NHWC, F32) GEMM', 'HardSwish (NC, F32)', 'Convolution (NHWC, F32) IGEMM', 'HardSwish (NC, F32)', 'Global Average Pooling (NWC, F32)',
        'Convolution (NHWC, F32) GEMM', 'Convolution (NHWC, F32) GEMM', 'Multiply (ND, F32)', 'Multiply (ND, F32)', 'Convolution (NHWC, F32) GEMM'],
    );
  });

  it('a second summary re-reads the whole buffer into the same statistics (13 runs + 3 earlier = 16 samples, 2 summaries)', () => {
    const s = parseProfilingSummary(after13);
    assert.ok(s.delegateOps.every((r) => r.timesCalled === 8), 'times called = 16 samples / 2 summaries');
  });

  it('means per run: over all runs from one summary, over the runs between two summaries', () => {
    const all = kernelMeans(null, { summary: parseProfilingSummary(after3), runs: 3 });
    assert.equal(all.length, 10, 'the delegate node is replaced by its 10 operators');
    assert.deepEqual(all[0], { name: 'Delegate/Convolution (NHWC, F32) GEMM:0', opType: 'Convolution (NHWC, F32) GEMM', durMs: 0.066 });

    const window = kernelMeans({ summary: parseProfilingSummary(after3), runs: 3 }, { summary: parseProfilingSummary(after13), runs: 13 });
    assert.deepEqual(window.map((e) => e.name), all.map((e) => e.name));
    // IGEMM:2: 3 runs averaged 0.341; 16 samples (3 + 13 runs) average 0.200 -> the last 10 runs sum to 16 * 0.2 - 2 * 3 * 0.341
    assert.ok(Math.abs(window[2].durMs - (16 * 0.2 - 6 * 0.341) / 10) < 1e-12);
    assert.ok(window[2].durMs < 0.341, 'the first runs (cold) are left out');
    // The operators of the window add up to the section totals the runtime prints in µs (to print rounding).
    const [, internal3] = sectionTotalsUs(after3);
    const [, internal13] = sectionTotalsUs(after13);
    const sum = window.reduce((a, e) => a + e.durMs, 0);
    assert.ok(Math.abs(sum - (internal13 - internal3) / 10 / 1000) < (10 * 0.0005 * (16 + 6)) / 10, `${sum} vs ${(internal13 - internal3) / 10000}`);
    assert.ok(window.every((e) => e.durMs >= 0));
    assert.deepEqual(kernelMeans({ summary: parseProfilingSummary(after3), runs: 3 }, { summary: parseProfilingSummary(after3), runs: 3 }), []);
  });

  it('several partitions: interpreter nodes in run order, each partition as one event (their operators cannot be told apart)', () => {
    const s = parseProfilingSummary(partitions);
    assert.deepEqual(s.delegateOps.map((r) => [r.name, r.timesCalled]), [['Delegate/Add (ND, F32):1', 4], ['Delegate/Convolution (NHWC, F32) GEMM:0', 8]]);
    const events = kernelMeans(null, { summary: s, runs: 4 });
    assert.deepEqual(events, [
      { name: '[conv1]:4', opType: 'TfLiteXNNPackDelegate', durMs: 0.135 },
      { name: '[tanh]:1', opType: 'TANH', durMs: 0.171 },
      { name: '[add]:5', opType: 'TfLiteXNNPackDelegate', durMs: 0.934 },
    ]);
  });

  it('rejects text that is not a profile summary', () => {
    assert.throws(() => parseProfilingSummary(''), /no "Run Order" table/);
    assert.throws(() => parseProfilingSummary('== Run Order ==\n\tfoo\n'), /has no header/);
    assert.throws(() => parseProfilingSummary(after3.replace('0.341', 'x.yz')), /unreadable numbers/);
  });
});

describe('naming XNNPACK kernels after the TFLite ops they run', () => {
  const op = (opcode: string, output: number) => ({ opcode, version: 1, inputs: [0], outputs: [output], options: null });
  const names = ['input', 'stem.conv.pre_act', 'stem.conv', 'blocks.1.depthwise.pad', 'blocks.1.depthwise', 'blocks.1.add', 'classifier.linear.flat', 'classifier.linear'];
  const model: TfliteModel = {
    version: 3, description: '', buffers: [new Uint8Array(0)], metadata: {},
    subgraphs: [{
      name: 'main', inputs: [0], outputs: [7],
      tensors: names.map((name) => ({ name, shape: [1], type: 'float32' as const, buffer: 0 })),
      operators: [op('CONV_2D', 1), op('HARD_SWISH', 2), op('PAD', 3), op('DEPTHWISE_CONV_2D', 4), op('ADD', 5), op('RESHAPE', 6), op('FULLY_CONNECTED', 7)],
    }],
  };
  const ev = (opType: string, i: number) => ({ name: `Delegate/${opType}:${i}`, opType, durMs: 0.01 });

  it('matches operators in order, past ops XNNPACK fused away (PAD into the conv, a RESHAPE dropped)', () => {
    const events = [ev('Convolution (NHWC, F32) IGEMM', 0), ev('HardSwish (NC, F32)', 1), ev('Convolution (NHWC, F32) DWConv', 2), ev('Add (ND, F32)', 3), ev('Fully Connected (NC, F32) GEMM', 4)];
    assert.deepEqual(nameKernels(model, events).map((e) => e.name), ['stem.conv.pre_act', 'stem.conv', 'blocks.1.depthwise', 'blocks.1.add', 'classifier.linear']);
    assert.deepEqual(nameKernels(model, events).map((e) => e.opType), events.map((e) => e.opType), 'op types stay as the runtime printed them');
  });

  it('keeps the runtime name of an operator that matches no op (it counts with the kernel before it); interpreter nodes by their tensor', () => {
    const events = [ev('Convolution (NHWC, F32) IGEMM', 0), ev('Transpose (ND, X32)', 1), ev('HardSwish (NC, F32)', 2), { name: '[blocks.1.add]:4', opType: 'ADD', durMs: 0.02 }];
    assert.deepEqual(nameKernels(model, events).map((e) => e.name), ['stem.conv.pre_act', 'Delegate/Transpose (ND, X32):1', 'stem.conv', 'blocks.1.add']);
  });
});
