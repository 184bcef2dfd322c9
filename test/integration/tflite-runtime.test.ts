import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type * as Ort from 'onnxruntime-node';
import { resolveArch } from '../../src/core/arch-source';
import { sampleArch, uniformArchs } from '../../src/core/arch';
import { isTailorError } from '../../src/core/errors';
import { ConvNode, ModelIR, Piece, Shape, buildIR } from '../../src/core/ir';
import { netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { SearchSpace, getSpace, listSpaces } from '../../src/core/space';
import { exportOnnx, exportPiecesOnnx } from '../../src/export/onnx';
import { exportPiecesTflite, exportTflite } from '../../src/export/tflite';
import { seededWeights } from '../../src/export/weights';
import { backendRegistration } from '../../src/runtime/registry';
import { MAX_PROFILED_RUNS, TfliteWasmBackend, runTflite } from '../../src/runtime/tflite-wasm/backend';
import { TfliteModel } from '../../src/tflite/model';
import { writeTflite } from '../../src/tflite/writer';
import { OFA, REPO } from '../helpers';

const ort = require('onnxruntime-node') as typeof Ort;
const weights = seededWeights(7);
const tiny = getSpace('ofa-mbv3-tiny');
const w10 = getSpace('ofa-mbv3-w1.0');

function randomInput(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.float() * 2 - 1);
}
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];

function toNhwc(x: Float32Array, [c, h, w]: Shape): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < c; i++) for (let j = 0; j < h * w; j++) y[j * c + i] = x[i * h * w + j];
  return y;
}
function toNchw(x: Float32Array, [c, h, w]: Shape): Float32Array {
  const y = new Float32Array(x.length);
  for (let i = 0; i < c; i++) for (let j = 0; j < h * w; j++) y[i * h * w + j] = x[j * c + i];
  return y;
}

async function runOrt(model: Uint8Array, x: Float32Array, shape: Shape): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, ...shape]) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The same pieces through onnxruntime (NCHW) and the TFLite runtime (the same input as NHWC); outputs compared as NCHW. */
async function compare(pieces: Piece[], ir?: ModelIR): Promise<{ diff: number; scale: number }> {
  const inShape = pieces[0].inShape;
  const outShape = pieces[pieces.length - 1].outShape;
  const x = randomInput(inShape[0] * inShape[1] * inShape[2], 11);
  const want = await runOrt(ir ? exportOnnx(ir, { weights }) : exportPiecesOnnx(pieces, { weights }), x, inShape);
  const [got] = await runTflite(ir ? exportTflite(ir, { weights }) : exportPiecesTflite(pieces, { weights }), [toNhwc(x, inShape)]);
  assert.equal(got.length, want.length);
  return { diff: maxAbsDiff(toNchw(got, outShape), want), scale: Math.max(1, ...Array.from(want, Math.abs)) };
}

function tinyNet(seed = 1, r = 32): ModelIR {
  return buildIR(netFromArch(tiny, { ...sampleArch(tiny, new Rng(seed)), r }));
}

function oneOpModel(opcode: string, shape: number[]): Uint8Array {
  const model: TfliteModel = {
    version: 3,
    description: 'test',
    subgraphs: [{
      name: 'main',
      tensors: [{ name: 'x', shape, type: 'float32', buffer: 0 }, { name: 'y', shape, type: 'float32', buffer: 0 }],
      inputs: [0], outputs: [1],
      operators: [{ opcode, version: 1, inputs: [0], outputs: [1], options: null }],
    }],
    buffers: [new Uint8Array(0)],
    metadata: {},
  };
  return writeTflite(model);
}

async function rejects(p: Promise<unknown>, code: string, reason: RegExp): Promise<void> {
  await assert.rejects(p, (e) => {
    assert.ok(isTailorError(e), `not a TailorError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, reason);
    return true;
  });
}

describe('TFLite runtime (tflite-wasm backend, real runtime)', () => {
  const good = exportTflite(tinyNet(), { weights });
  const goodInput = randomInput(32 * 32 * 3, 5);

  it('is registered lazily: loading the registry loads no runtime', () => {
    const script = `require(${JSON.stringify(path.join(REPO, '.test-build', 'src', 'runtime', 'registry.js'))});
      process.stdout.write(JSON.stringify(Object.keys(require.cache).filter((f) => /tflite-wasm[\\\\/](backend|runtime)|tflite_web_api/.test(f))));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
    assert.match(backendRegistration('local-tflite', 'tflite-wasm').runtimeVersion({ threads: 1 }), /^@tensorflow\/tfjs-tflite 0\.0\.1-alpha\.10$/);
  });

  it('measures and profiles a whole net: one event per XNNPACK operator, in execution order, named after its TFLite op', async () => {
    const backend = await backendRegistration('local-tflite', 'tflite-wasm').create({ threads: 1 });
    assert.equal(backend.name, 'tflite-wasm');
    assert.equal(backend.threads, 1);
    const plain = await backend.load(good);
    const wall = await plain.measure({ warmup: 3, runs: 10 });
    await plain.dispose();
    assert.equal(wall.length, 10);
    assert.ok(wall.every((t) => t > 0));

    // as measureInterleaved drives it: warm-up only, then passes of one untimed + timed runs
    const profiled = await backend.loadProfiled(good);
    await profiled.measure({ warmup: 3, runs: 0 });
    for (let pass = 0; pass < 3; pass++) assert.equal((await profiled.measure({ warmup: 1, runs: 2 })).length, 2);
    const runs = await profiled.finish();
    assert.equal(runs.length, 6, 'one (representative) run per timed run');
    const run = runs[0];
    // each measure() call profiles on a fresh runner: its runs share the call's kernel means
    assert.deepEqual(runs[1], run);
    assert.deepEqual(runs[5].map((e) => e.name), run.map((e) => e.name));
    // XNNPACK fuses PAD into the conv and turns RESHAPE into a copy: never more operators than TFLite ops
    const tfliteOps = tinyNet().pieces.flatMap((p) => p.nodes).length;
    assert.ok(run.length >= tfliteOps * 0.8 && run.length <= 3 * tfliteOps, `${run.length} events for ${tfliteOps} IR nodes`);
    // every XNNPACK operator is named after the TFLite op it runs, so each piece gets its own kernels
    const pieceOf = (name: string) => /^(stem|blocks\.\d+|final_expand|feature_mix|pool|classifier)\./.exec(name)?.[1];
    run.forEach((e) => {
      assert.ok(pieceOf(e.name), `${e.opType} not matched to a TFLite op: ${e.name}`);
      assert.ok(e.durMs >= 0 && Number.isFinite(e.durMs));
    });
    assert.deepEqual([...new Set(run.map((e) => pieceOf(e.name)))], tinyNet().pieces.map((p) => p.id));
    const types = new Set(run.map((e) => e.opType));
    for (const t of ['Convolution (NHWC, F32) GEMM', 'Convolution (NHWC, F32) DWConv', 'HardSwish (NC, F32)', 'Global Average Pooling (NWC, F32)', 'Multiply (ND, F32)', 'Fully Connected (NC, F32) GEMM']) {
      assert.ok(types.has(t), `no ${t} in ${[...types].join(', ')}`);
    }
    // the median over the three profiled calls: one preempted call must not decide
    const kernelsMs = median(runs.map((r) => r.reduce((a, e) => a + e.durMs, 0)));
    // loose: a shared machine; the profiler adds its own cost
    assert.ok(kernelsMs > 0.1 * median(wall) && kernelsMs < 10 * median(wall), `kernels ${kernelsMs} ms, wall ${median(wall)} ms`);

    const capped = await backend.loadProfiled(good);
    await rejects(capped.measure({ warmup: 0, runs: MAX_PROFILED_RUNS + 1 }), 'TFLITE_RUNTIME', /at most 256 runs/);
    assert.deepEqual(await capped.finish(), []);
  });

  it('rejects bad models with a specific reason; the process survives and good models still run', async () => {
    const [before] = await runTflite(good, [goodInput]);
    const backend = new TfliteWasmBackend({ threads: 1 });
    const random = Uint8Array.from(randomInput(4000, 3), (v) => Math.floor((v + 1) * 127));
    await rejects(backend.load(random), 'INVALID_MODEL', /not a TFLite model \(no "TFL3" file identifier/);
    await rejects(backend.load(good.subarray(0, good.length >> 1)), 'INVALID_MODEL', /truncated or corrupt: .* beyond the end of the file/);
    await rejects(backend.loadProfiled(good.subarray(0, 16)), 'INVALID_MODEL', /truncated or corrupt/);
    await rejects(backend.load(oneOpModel('CUSTOM:TailorNoSuchOp', [1, 4, 4, 4])), 'INVALID_MODEL', /unresolved custom op: TailorNoSuchOp/);
    await rejects(backend.load(oneOpModel('HARD_SWISH', [1, 4096, 4096, 64])), 'INVALID_MODEL', /bytes overflowed/);
    // 2 x 1.2 GB of activations: TFLite's arena cannot be allocated, emscripten abort()s
    await rejects(backend.load(oneOpModel('HARD_SWISH', [1, 1024, 1024, 280])), 'TFLITE_RUNTIME', /runtime aborted .*out of memory/);
    await rejects(runTflite(good, [new Float32Array(10)]), 'TFLITE_RUNTIME', /has 3072 values, got 10/);
    const [after] = await runTflite(good, [goodInput]);
    assert.deepEqual(after, before, 'a fresh runtime instance after the abort gives the same outputs');
  });

  it('2 threads (the threaded build, pthreads on worker_threads) give the same outputs as 1 thread', async () => {
    const net = buildIR(netFromArch(w10, { ...sampleArch(w10, new Rng(3)), r: 128 }));
    const model = exportTflite(net, { weights });
    const x = randomInput(3 * 128 * 128, 4);
    const [one] = await runTflite(model, [toNhwc(x, net.inShape)]);
    const [two] = await runTflite(model, [toNhwc(x, net.inShape)], 2);
    assert.ok(maxAbsDiff(one, two) <= 1e-6 * Math.max(1, ...Array.from(one, Math.abs)), `max diff ${maxAbsDiff(one, two)}`);
    const backend = new TfliteWasmBackend({ threads: 2 });
    const loaded = await backend.load(good);
    assert.equal((await loaded.measure({ warmup: 1, runs: 3 })).length, 3);
    await loaded.dispose();
    const profiled = await backend.loadProfiled(good);
    await profiled.measure({ warmup: 2, runs: 2 });
    const runs = await profiled.finish();
    assert.equal(runs.length, 2);
    assert.ok(runs[0].length > 10);
  });
});

/** What a block exercises: depthwise kernel and stride, odd input size, activation, SE (h_sigmoid gate), residual, no expand conv. */
function blockTags(p: Piece): string[] {
  const convs = p.nodes.filter((n): n is ConvNode => n.op === 'conv');
  const dw = convs.find((c) => c.groups > 1)!;
  const se = p.nodes.some((n) => n.op === 'mul');
  return [`k${dw.kernelSize}`, `s${dw.stride}`, p.inShape[1] % 2 ? 'odd' : 'even', String(dw.act), se ? 'se' : '', p.nodes.some((n) => n.op === 'add') ? 'residual' : '', convs.length === 2 && !se ? 'no-expand' : ''];
}

/** One piece per op kind of a space: the stem, blocks by blockTags, the head pieces. */
function coveringPieces(space: SearchSpace, resolutions: number[]): Piece[] {
  const byKind = new Map<string, Piece>();
  for (const r of resolutions) {
    for (const { arch } of uniformArchs(space, r).filter((u) => u.e === space.expandRatios[0])) {
      for (const piece of buildIR(netFromArch(space, arch)).pieces) {
        const kind = piece.kind === 'block' ? blockTags(piece).join('-') : piece.kind;
        if (!byKind.has(kind)) byKind.set(kind, piece);
      }
    }
  }
  return [...byKind.values()];
}

describe('TFLite export = ONNX export, numerically (onnxruntime vs the TFLite runtime)', () => {
  it('every op kind, one small piece each, within 1e-4', async () => {
    // tiny at 20 and 28 px: stride-2 blocks on odd sizes (5 -> 3, 7 -> 4); w1.0 at 128: stride 2 on even sizes, 1000 classes
    const pieces = [...coveringPieces(tiny, [20, 28]), ...coveringPieces(w10, [128])];
    const kinds = new Set(pieces.map((p) => p.kind));
    for (const k of ['stem', 'block', 'final_expand', 'pool', 'feature_mix', 'logits']) assert.ok(kinds.has(k as Piece['kind']), k);
    const blocks = pieces.filter((p) => p.kind === 'block');
    for (const tag of ['k3', 'k5', 'k7', 's1', 's2', 'odd', 'even', 'se', 'residual', 'relu', 'h_swish', 'no-expand']) {
      assert.ok(blocks.some((p) => blockTags(p).includes(tag)), `no block with ${tag}`);
    }
    assert.ok(blocks.some((p) => p.nodes.some((n) => n.op === 'conv' && n.act === 'h_sigmoid')), 'no SE gate with h_sigmoid');
    const failures: string[] = [];
    for (const piece of pieces) {
      const { diff } = await compare([piece]);
      if (!(diff <= 1e-4)) failures.push(`${piece.id} ${piece.key}: max abs diff ${diff}`);
    }
    assert.deepEqual(failures, []);
  });

  it('whole random nets of every space (and a ProxylessNAS net) agree within 1e-4 relative to the largest logit', async () => {
    const nets: [string, ModelIR][] = [];
    for (const space of listSpaces()) {
      const r = space.id === 'ofa-mbv3-tiny' ? 28 : 128;
      for (const seed of [1, 2]) nets.push([`${space.id} random:${seed} r${r}`, buildIR(netFromArch(space, { ...sampleArch(space, new Rng(seed)), r }))]);
    }
    nets.push(['ProxylessNAS (OFA 1080ti_gpu64 net, relu6) r128', buildIR(resolveArch(path.join(OFA, 'specialized', '1080ti_gpu64-12ms_top1-72.6_finetune-25')).net)]);
    const failures: string[] = [];
    for (const [label, ir] of nets) {
      // fp32 through 20+ layers of seeded (not trained) weights: logits reach the hundreds, where one ulp is ~3e-5
      const { diff, scale } = await compare(ir.pieces, ir);
      if (!(diff <= 1e-4 * scale)) failures.push(`${label}: max abs diff ${diff} at logits up to ${scale}`);
    }
    assert.deepEqual(failures, []);
  });
});
