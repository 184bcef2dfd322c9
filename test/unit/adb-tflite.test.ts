import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { FINISHED, JobStore } from '../../src/jobs/job-store';
import { JobService } from '../../src/jobs/job.service';
import { jobRunners } from '../../src/jobs/runners';
import { LatencyService } from '../../src/latency/latency.service';
import { ProfilingService } from '../../src/profiling/profiling.service';
import { DeviceService } from '../../src/runtime/device.service';
import { AdbError, adbOptions, adbTfliteVersion, benchmarkCommand, classifyAdbMessage, parseGetprop, phoneFingerprint, shellQuote } from '../../src/runtime/adb-tflite/adb';
import { parseBenchmarkOutput, profileEvents } from '../../src/runtime/adb-tflite/parser';
import { remoteFingerprint } from '../../src/runtime/fingerprint';
import { backendRegistration } from '../../src/runtime/registry';
import { nameKernels } from '../../src/runtime/tflite-wasm/attribute';
import { TfliteModel } from '../../src/tflite/model';
import { writeTflite } from '../../src/tflite/writer';
import { FIXTURES, tempDir } from '../helpers';
import { waitFor } from '../http';

// The fixtures are written in benchmark_model's documented output format (see the comment at the
// top of each), not recorded from a phone: no phone is attached here.
const fixturePath = (name: string) => path.join(FIXTURES, 'benchmark-model', name);
const fixture = (name: string) => fs.readFileSync(fixturePath(name), 'utf8');

// The ops of the fixtures' model, by output tensor (as Tailor's exporter names them).
const OPS: [string, string][] = [
  ['CONV_2D', 'stem.conv'], ['HARD_SWISH', 'stem.act'], ['DEPTHWISE_CONV_2D', 'blocks.1.depthwise'], ['CONV_2D', 'blocks.1.project'],
  ['ADD', 'blocks.1.add'], ['CONV_2D', 'blocks.2.expand'], ['PAD', 'blocks.2.depthwise.pad'], ['DEPTHWISE_CONV_2D', 'blocks.2.depthwise'],
  ['CONV_2D', 'blocks.2.project'], ['MEAN', 'pool'], ['RESHAPE', 'classifier.flat'], ['FULLY_CONNECTED', 'classifier.linear'],
];
const MODEL: TfliteModel = {
  version: 3, description: '', buffers: [new Uint8Array(0)], metadata: {},
  subgraphs: [{
    name: 'main', inputs: [0], outputs: [OPS.length],
    tensors: ['input', ...OPS.map(([, name]) => name)].map((name) => ({ name, shape: [1], type: 'float32' as const, buffer: 0 })),
    operators: OPS.map(([opcode], i) => ({ opcode, version: 1, inputs: [i], outputs: [i + 1], options: null })),
  }],
};
/** What XNNPACK runs of MODEL: the PAD fused into its depthwise conv, the RESHAPE a copy. */
const XNNPACK_NAMES = OPS.map(([, name]) => name).filter((n) => n !== 'blocks.2.depthwise.pad');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('benchmark_model output parser (documented format)', () => {
  it('plain timings: warm-up and timed runs told apart by their "Running benchmark" loops', () => {
    const out = parseBenchmarkOutput(fixture('plain-timings.txt'));
    assert.deepEqual(out.warmup, { count: 5, firstUs: 2213, currUs: 1187, minUs: 1176, maxUs: 2213, avgUs: 1399.4, stdUs: 407 });
    assert.deepEqual(out.timed, { count: 50, firstUs: 1191, currUs: 1203, minUs: 1180, maxUs: 1222, avgUs: 1191.84, stdUs: 9 });
    assert.equal(out.threads, 1);
    assert.equal(out.xnnpack, true);
    assert.equal(out.initMs, 12.418);
    assert.equal(out.profile, null);
  });

  it('op profiling without a delegate: one builtin kernel per TFLite op; the initialization profile is not the runs\'', () => {
    const out = parseBenchmarkOutput(fixture('op-profiling-no-delegate.txt'));
    assert.deepEqual(out.warmup, { count: 1, firstUs: 2874, currUs: 2874, minUs: 2874, maxUs: 2874, avgUs: 2874, stdUs: 0 }, '"count=1 curr=X": one run');
    assert.deepEqual(out.timed, { count: 20, firstUs: 1508, currUs: 1460, minUs: 1456, maxUs: 1545, avgUs: 1476.55, stdUs: 19 });
    assert.equal(out.xnnpack, false);
    const p = out.profile!;
    assert.deepEqual(p.opTotal, { count: 20, firstUs: 1532, currUs: 1405, minUs: 1356, maxUs: 1532, avgUs: 1409, stdUs: 31 });
    assert.deepEqual(p.nodes[0], { nodeType: 'CONV_2D', firstMs: 0.412, avgMs: 0.386, timesCalled: 1, name: '[stem.conv]:0' });
    const events = profileEvents(p);
    assert.deepEqual(events.map((e) => [e.name, e.opType]), OPS.map(([op, name], i) => [`[${name}]:${i}`, op]));
    assert.deepEqual(events.map((e) => e.durMs), [0.386, 0.064, 0.139, 0.188, 0.027, 0.297, 0.041, 0.109, 0.131, 0.016, 0.001, 0.01]);
    // The ops of a mean run add up to the section's per-run total (to print rounding of 0.5 µs per op).
    assert.ok(Math.abs(sum(events.map((e) => e.durMs)) * 1000 - p.opTotal.avgUs) <= events.length * 0.5);
    assert.deepEqual(nameKernels(MODEL, events).map((e) => e.name), OPS.map(([, name]) => name));
  });

  it('XNNPACK as one delegate node: its operators from "Delegate internal", named after the ops they ran', () => {
    const out = parseBenchmarkOutput(fixture('xnnpack-delegate-internal.txt'));
    assert.deepEqual(out.timed, { count: 20, firstUs: 612, currUs: 599, minUs: 596, maxUs: 619, avgUs: 605.6, stdUs: 6 });
    const p = out.profile!;
    assert.deepEqual(p.nodes, [{ nodeType: 'TfLiteXNNPackDelegate', firstMs: 1.042, avgMs: 0.57, timesCalled: 1, name: '[classifier.linear]:12' }]);
    assert.equal(p.delegateOps.length, 11);
    const events = profileEvents(p);
    assert.deepEqual(events[0], { name: 'Delegate/Convolution (NHWC, F32) IGEMM:0', opType: 'Convolution (NHWC, F32) IGEMM', durMs: 0.162 });
    assert.deepEqual(events.map((e) => e.durMs), [0.162, 0.021, 0.057, 0.071, 0.009, 0.118, 0.046, 0.054, 0.006, 0.001, 0.004]);
    assert.ok(sum(events.map((e) => e.durMs)) <= p.nodes[0].avgMs, 'the operators run inside the delegate node');
    assert.deepEqual(nameKernels(MODEL, events).map((e) => e.name), XNNPACK_NAMES);
  });

  it('newest output, 4 threads: XNNPACK operators inline in Run Order, no delegate node', () => {
    const out = parseBenchmarkOutput(fixture('xnnpack-inline-4-threads.txt'));
    assert.equal(out.threads, 4);
    assert.deepEqual(out.warmup, { count: 3, firstUs: 1102, currUs: 431, minUs: 431, maxUs: 1102, avgUs: 660, stdUs: 312 });
    assert.deepEqual(out.timed, { count: 30, firstUs: 271, currUs: 262, minUs: 262, maxUs: 291, avgUs: 271.333, stdUs: 7 });
    const p = out.profile!;
    assert.equal(p.delegateOps.length, 0);
    assert.equal(p.opTotal.count, 30);
    const events = profileEvents(p);
    assert.deepEqual(events[2], { name: 'Delegate/Convolution (NHWC, F32) DWConv:2', opType: 'Convolution (NHWC, F32) DWConv', durMs: 0.021 });
    assert.deepEqual(events.map((e) => e.durMs), [0.058, 0.008, 0.021, 0.026, 0.003, 0.042, 0.017, 0.019, 0.002, 0, 0.001]);
    assert.ok(!events.some((e) => /ModifyGraphWithDelegate|AllocateTensors/.test(e.name)), 'the initialization profile is skipped');
    assert.deepEqual(nameKernels(MODEL, events).map((e) => e.name), XNNPACK_NAMES);
  });

  it('old builds: no "INFO: " prefix, no profile header, a [start] column, names without node index, times called 0', () => {
    const out = parseBenchmarkOutput(fixture('legacy-start-column.txt'));
    assert.equal(out.threads, 4);
    assert.deepEqual(out.warmup, { count: 1, firstUs: 1933, currUs: 1933, minUs: 1933, maxUs: 1933, avgUs: 1933, stdUs: 0 });
    assert.deepEqual(out.timed, { count: 50, firstUs: 1466, currUs: 1428, minUs: 1428, maxUs: 1498, avgUs: 1450.86, stdUs: 20 });
    const events = profileEvents(out.profile!);
    assert.deepEqual(events[1], { name: '[stem.act]:1', opType: 'HARD_SWISH', durMs: 0.064 }, '[first]/[avg ms] found past [start]; called once');
    assert.deepEqual(nameKernels(MODEL, events).map((e) => e.name), OPS.map(([, name]) => name));
  });

  // Two XNNPACK partitions around an op XNNPACK does not take (TANH): built from the formats above.
  const row = (type: string, first: string, avg: string, times: number, name: string) => `\t${type}\t${first}\t${avg}\t 50.000%\t 50.000%\t     0.000\t        ${times}\t${name}`;
  const header = '\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]';
  const output = (rows: string[], internal: string[] = []) => [
    'INFO: Running benchmark for at least 2 iterations and at least 0 seconds but terminate if exceeding 150 seconds.',
    'INFO: count=2 first=900 curr=700 min=700 max=900 avg=800 std=100', '',
    'INFO: Running benchmark for at least 4 iterations and at least 0 seconds but terminate if exceeding 150 seconds.',
    'INFO: count=4 first=640 curr=600 min=600 max=640 avg=610 std=17', '',
    'INFO: Operator-wise Profiling Info for Regular Benchmark Runs:',
    '============================== Run Order ==============================', header, ...rows, '',
    'Timings (microseconds): count=4 first=620 curr=580 min=580 max=620 avg=590 std=17', 'Memory (bytes): count=0', `${rows.length} nodes observed`, '',
    ...(internal.length ? ['Delegate internal: ', '============================== Run Order ==============================', header, ...internal, '',
      'Timings (microseconds): count=4 first=500 curr=480 min=480 max=500 avg=485 std=8', ''] : []),
  ].join('\n');

  it('several partitions inline: an operator name called more than once per run is attributed to no single op', () => {
    const out = parseBenchmarkOutput(output([
      row('Convolution (NHWC, F32) GEMM', '0.148', '0.232', 2, 'Delegate/Convolution (NHWC, F32) GEMM:0'),
      row('TANH', '0.079', '0.171', 1, '[tanh]:1'),
      row('Add (ND, F32)', '0.074', '0.020', 1, 'Delegate/Add (ND, F32):1'),
    ]));
    assert.deepEqual(profileEvents(out.profile!), [
      { name: 'XNNPACK (merged)/Convolution (NHWC, F32) GEMM:0', opType: 'Convolution (NHWC, F32) GEMM', durMs: 0.464 },
      { name: '[tanh]:1', opType: 'TANH', durMs: 0.171 },
      { name: 'Delegate/Add (ND, F32):1', opType: 'Add (ND, F32)', durMs: 0.02 },
    ]);
  });

  it('several delegate nodes with "Delegate internal": each partition is one event (its operators cannot be told apart)', () => {
    const out = parseBenchmarkOutput(output(
      [row('TfLiteXNNPackDelegate', '0.519', '0.135', 1, '[conv1]:4'), row('TANH', '0.079', '0.171', 1, '[tanh]:1'), row('TfLiteXNNPackDelegate', '0.186', '0.934', 1, '[add]:5')],
      [row('DelegateOpInvoke', '0.074', '0.020', 1, 'Delegate/Add (ND, F32):1'), row('DelegateOpInvoke', '0.148', '0.464', 2, 'Delegate/Convolution (NHWC, F32) GEMM:0')],
    ));
    assert.deepEqual(profileEvents(out.profile!).map((e) => [e.name, e.opType, e.durMs]), [
      ['[conv1]:4', 'TfLiteXNNPackDelegate', 0.135], ['[tanh]:1', 'TANH', 0.171], ['[add]:5', 'TfLiteXNNPackDelegate', 0.934],
    ]);
  });

  it('output that does not parse is a specific error naming what is missing, with the last lines', () => {
    const plain = fixture('plain-timings.txt');
    assert.throws(() => parseBenchmarkOutput(''), /benchmark_model printed no Timings line \(no "Running benchmark".*\): \(no output\)/);
    assert.throws(() => parseBenchmarkOutput('Segmentation fault\n'), /printed no Timings line .*: Segmentation fault/);
    assert.throws(() => parseBenchmarkOutput('\u0000\u00ff garbage ===\n12 34\n'), /printed no Timings line/);
    const warmupOnly = plain.slice(0, plain.indexOf('INFO: Running benchmark for at least 50'));
    assert.throws(() => parseBenchmarkOutput(warmupOnly), /printed the warm-up statistics but none for the timed runs.*count=5 first=2213/s);
    const announcedOnly = plain.slice(0, plain.indexOf('INFO: count=5'));
    assert.throws(() => parseBenchmarkOutput(announcedOnly), /no Timings line \(the output stops after "Running benchmark"\): .*Running benchmark for at least 5/s);
    assert.throws(() => parseBenchmarkOutput(plain.replace('avg=1191.84', 'avg=1e3x')), /unreadable run statistics: "count=50 .*avg=1e3x/);
    assert.throws(() => parseBenchmarkOutput(plain.replace(/INFO: count=50 .*/, 'INFO: count=0')), /made no timed runs \(count=0\)/);

    const profiled = fixture('op-profiling-no-delegate.txt');
    const runOrder = profiled.indexOf('[blocks.1.add]:4');
    const rowStart = profiled.lastIndexOf('\n', runOrder) + 1;
    assert.throws(() => parseBenchmarkOutput(profiled.slice(0, rowStart + 40)), /unexpected row in the op profile of benchmark_model/, 'cut in its numbers');
    assert.throws(() => parseBenchmarkOutput(profiled.slice(0, runOrder + 5)), /op profile is truncated/, 'cut in its name: the missing total tells');
    const afterRow = profiled.indexOf('\n', runOrder) + 1;
    assert.throws(() => parseBenchmarkOutput(profiled.slice(0, afterRow)), /op profile is truncated: no "Timings \(microseconds\)" line after its tables: .*\[blocks\.1\.add\]:4/s);
    const start = profiled.indexOf('Operator-wise Profiling Info');
    const noHeader = profiled.slice(0, start) + profiled.slice(start).replace(/\t +\[node type\].*\n/, '');
    assert.throws(() => parseBenchmarkOutput(noHeader), /Run Order table of the op profile of benchmark_model has no header/);
    assert.throws(() => parseBenchmarkOutput(profiled.replace('Timings (microseconds): count=20', 'Timings (microseconds): count=19')), /op profile covers 19 runs, its timed runs were 20/);
  });
});

describe('adb commands and options', () => {
  const options = (o: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) => adbOptions({ threads: 1, ...o }, env);
  const run = { graph: '/data/local/tmp/tailor/models/ab12.tflite', threads: 4, warmup: 3, runs: 30, profile: true };

  it('builds the benchmark_model command as an argument array: serial, taskset, threads, counts, profiling', () => {
    assert.deepEqual(benchmarkCommand(options({ serial: 'R58M123ABC', cpuMask: 'f0' }), run), [
      '-s', 'R58M123ABC', 'shell', 'taskset', 'f0', '/data/local/tmp/tailor/benchmark_model',
      '--graph=/data/local/tmp/tailor/models/ab12.tflite', '--num_threads=4', '--warmup_runs=3', '--warmup_min_secs=0',
      '--num_runs=30', '--min_secs=0', '--use_xnnpack=true', '--enable_op_profiling=true',
    ]);
    assert.deepEqual(benchmarkCommand(options({ xnnpack: false, extraFlags: ['--use_gpu=true'] }), { ...run, threads: 1, profile: false }), [
      'shell', '/data/local/tmp/tailor/benchmark_model', '--graph=/data/local/tmp/tailor/models/ab12.tflite', '--num_threads=1',
      '--warmup_runs=3', '--warmup_min_secs=0', '--num_runs=30', '--min_secs=0', '--use_xnnpack=false', '--use_gpu=true',
    ], 'no serial: adb picks the only device; no taskset');
  });

  it('serial from the descriptor, else ANDROID_SERIAL, else none', () => {
    assert.equal(options({ serial: 'R58M123ABC' }, { ANDROID_SERIAL: 'emulator-5554' }).serial, 'R58M123ABC');
    assert.equal(options({}, { ANDROID_SERIAL: 'emulator-5554' }).serial, 'emulator-5554');
    assert.equal(options({}, {}).serial, undefined);
    assert.deepEqual(benchmarkCommand(options({}, { ANDROID_SERIAL: 'emulator-5554' }), run).slice(0, 3), ['-s', 'emulator-5554', 'shell']);
  });

  it('quotes each argument for the device shell (adb shell joins them with spaces)', () => {
    assert.equal(shellQuote('--graph=/data/local/tmp/x.tflite'), '--graph=/data/local/tmp/x.tflite');
    assert.equal(shellQuote('/data/local/tmp/my models'), "'/data/local/tmp/my models'");
    assert.equal(shellQuote("it's"), "'it'\\''s'");
    assert.equal(shellQuote('$(reboot)'), "'$(reboot)'");
    const cmd = benchmarkCommand(options({ remoteDir: "/data/local/tmp/Tailor's dir/" }), { ...run, graph: "/data/local/tmp/Tailor's dir/models/a b.tflite" });
    assert.deepEqual(cmd.slice(1, 3), ["'/data/local/tmp/Tailor'\\''s dir/benchmark_model'", "'--graph=/data/local/tmp/Tailor'\\''s dir/models/a b.tflite'"]);
  });

  it('checks descriptor options, naming the bad one; defaults; version without an adb call', () => {
    const o = options();
    assert.deepEqual([o.adbPath, o.remoteDir, o.remoteBinary, o.xnnpack, o.timeoutMs], ['adb', '/data/local/tmp/tailor', '/data/local/tmp/tailor/benchmark_model', true, 600_000]);
    assert.equal(options({ remoteDir: '/sdcard/t/' }).remoteBinary, '/sdcard/t/benchmark_model');
    const bad = (o: Record<string, unknown>, re: RegExp) => assert.throws(() => options(o), (e: unknown) => e instanceof TailorError && e.code === 'INVALID_OPTION' && re.test(e.message));
    bad({ cpuMask: 'big cores' }, /options\.cpuMask: "big cores" is not a hexadecimal CPU mask/);
    bad({ remoteDir: 'tmp/tailor' }, /options\.remoteDir: .* not an absolute device path/);
    bad({ serial: 'a b' }, /options\.serial/);
    bad({ extraFlags: ['--use_gpu=true; reboot'] }, /options\.extraFlags/);
    bad({ xnnpack: 'yes' }, /options\.xnnpack/);
    bad({ timeoutMs: 0 }, /options\.timeoutMs/);
    assert.equal(adbTfliteVersion({ runtimeVersion: 'benchmark_model TF 2.16.1 android_arm64' }), 'benchmark_model TF 2.16.1 android_arm64');
    assert.equal(adbTfliteVersion({}), 'benchmark_model (version unknown)');
    assert.equal(backendRegistration('phone', 'adb-tflite').runtimeVersion({}), 'benchmark_model (version unknown)');
    assert.equal(backendRegistration('phone', 'adb-tflite').local, false);
  });

  it('classifies adb\'s and the device shell\'s messages (as adb and mksh print them)', () => {
    const bin = '/data/local/tmp/tailor/benchmark_model';
    const cases: [string, string | null][] = [
      ['error: no devices/emulators found', 'NO_DEVICE'],
      ["adb: device 'R58M123ABC' not found", 'NO_DEVICE'],
      ['error: device not found', 'NO_DEVICE'],
      ["error: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device.", 'UNAUTHORIZED'],
      ['error: device offline', 'OFFLINE'],
      ['adb: error: more than one device/emulator', 'MULTIPLE_DEVICES'],
      ['error: closed', 'DISCONNECTED'],
      ['error: protocol fault (couldn\'t read status): Connection reset by peer', 'DISCONNECTED'],
      [`/system/bin/sh: ${bin}: inaccessible or not found`, 'BINARY_MISSING'],
      [`/system/bin/sh: ${bin}: not found`, 'BINARY_MISSING'],
      [`/system/bin/sh: ${bin}: can't execute: Permission denied`, 'BINARY_NOT_EXECUTABLE'],
      ["ERROR: Could not open '/data/local/tmp/tailor/models/ab12.tflite'.\nERROR: Benchmarking failed.", null],
    ];
    for (const [text, kind] of cases) assert.equal(classifyAdbMessage(text, bin), kind, text);
    assert.equal(classifyAdbMessage(`/system/bin/sh: ${bin}: not found`), null, 'a missing binary only where one was run');
  });
});

// As `adb shell getprop` prints them ("[key]: [value]"), a Pixel 7's (abridged), and the CPU and memory files.
const GETPROP = `[ro.board.platform]: [gs201]
[ro.build.version.release]: [14]
[ro.build.version.sdk]: [34]
[ro.product.cpu.abi]: [arm64-v8a]
[ro.product.manufacturer]: [Google]
[ro.product.model]: [Pixel 7]
[ro.soc.manufacturer]: [Google]
[ro.soc.model]: [GS201]
`;
const CPU_AND_MEM = '0-7\nMemTotal:        7812340 kB\nMemFree:          301224 kB\n';

describe('phone fingerprint (getprop)', () => {
  it('reads maker, model, SoC, CPUs (those of the taskset mask), memory, Android and ABI', () => {
    const props = parseGetprop(GETPROP);
    assert.equal(props.get('ro.product.model'), 'Pixel 7');
    const all = phoneFingerprint(props, CPU_AND_MEM, {}, 'benchmark_model TF 2.16.1');
    assert.deepEqual({ ...all, hash: undefined }, {
      hash: undefined, cpu: 'Google Pixel 7 (Google GS201)', cores: 8, physicalCores: 8, flags: [], memoryGb: 7,
      os: 'Android 14 (SDK 34)', arch: 'arm64-v8a', runtime: 'benchmark_model TF 2.16.1',
    });
    const big = phoneFingerprint(props, CPU_AND_MEM, { cpuMask: 'c0' }, 'benchmark_model TF 2.16.1');
    assert.deepEqual([big.cpu, big.cores], ['Google Pixel 7 (Google GS201), taskset c0', 2]);
    assert.notEqual(big.hash, all.hash, 'another core set is another device for the tables');
    assert.throws(() => phoneFingerprint(new Map(), '', {}, 'x'), /did not describe itself/);
  });
});

describe('adb-tflite end to end through a fake adb on PATH (no phone)', () => {
  let dir: string;
  let log: string;
  const saved: Record<string, string | undefined> = {};
  const env = (vars: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vars)) {
      if (!(k in saved)) saved[k] = process.env[k];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  const calls = () => fs.readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  const model = writeTflite(MODEL);
  const remoteModel = `/data/local/tmp/tailor/models/${createHash('sha256').update(model).digest('hex').slice(0, 16)}.tflite`;
  const open = (options: Record<string, unknown> = {}) => backendRegistration('phone', 'adb-tflite').create({ threads: 1, serial: 'R58M123ABC', ...options });
  const rejects = (p: Promise<unknown>, kind: string, re: RegExp) =>
    assert.rejects(p, (e: unknown) => e instanceof AdbError && e.kind === kind && re.test(e.message) ? true : assert.fail(`${(e as Error).name} ${(e as AdbError).kind}: ${(e as Error).message}`));

  before(() => {
    dir = tempDir('tailor-fake-adb-');
    log = path.join(dir, 'calls.log');
    // Logs its argv and answers like adb; FAKE_ADB_MODE picks a failure.
    fs.writeFileSync(path.join(dir, 'adb'), `#!/bin/sh
printf '%s\\n' "$*" >> "$FAKE_ADB_LOG"
if [ "$1" = "-s" ]; then shift 2; fi
cmd="$1"; shift
case "$FAKE_ADB_MODE" in
  unauthorized) printf "error: device unauthorized.\\nThis adb server's \\$ADB_VENDOR_KEYS is not set\\nTry 'adb kill-server' if that seems wrong.\\nOtherwise check for a confirmation dialog on your device.\\n" >&2; exit 1;;
  nodevice) echo "error: no devices/emulators found" >&2; exit 1;;
esac
if [ -e "$FAKE_ADB_LOG.gone" ]; then echo "error: no devices/emulators found" >&2; exit 1; fi
case "$cmd" in
  get-state) echo device;;
  push) echo "$1: 1 file pushed, 0 skipped.";;
  shell)
    case "$*" in
      *--graph=*)
        case "$FAKE_ADB_MODE" in
          nobinary) echo "/system/bin/sh: /data/local/tmp/tailor/benchmark_model: inaccessible or not found" >&2; exit 127;;
          oldadb-nobinary) echo "/system/bin/sh: /data/local/tmp/tailor/benchmark_model: not found"; exit 0;;
          fail) echo "ERROR: Could not open '/data/local/tmp/tailor/models/x.tflite'." >&2; echo "ERROR: Benchmarking failed." >&2; exit 1;;
          disconnect) head -n 24 "$FAKE_ADB_FIXTURE"; : > "$FAKE_ADB_LOG.gone"; exit 255;;
          garbage)
            # Two good runs, then a build that prints something else (and exits 0).
            n=$(cat "$FAKE_ADB_LOG.runs" 2>/dev/null || echo 0); echo $((n + 1)) > "$FAKE_ADB_LOG.runs"
            if [ "$n" -lt 2 ]; then cat "$FAKE_ADB_FIXTURE"; else printf 'INFO: STARTING!\nINFO: Graph: [%s]\nbenchmark: done\n' "$*"; fi;;
          slow) exec sleep 5;;
          *) cat "$FAKE_ADB_FIXTURE";;
        esac;;
      getprop) printf '%s' "$FAKE_ADB_GETPROP";;
      cat*) printf '%s' "$FAKE_ADB_CPU";;
    esac;;
  *) echo "adb: unknown command $cmd" >&2; exit 1;;
esac
`, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'benchmark_model'), 'ELF (a stand-in for a host build of benchmark_model)');
    env({ PATH: `${dir}${path.delimiter}${process.env.PATH}`, FAKE_ADB_LOG: log, FAKE_ADB_MODE: undefined, ANDROID_SERIAL: undefined, FAKE_ADB_GETPROP: GETPROP, FAKE_ADB_CPU: CPU_AND_MEM });
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('load, measure, loadProfiled/finish, dispose: one push per model, the command as built, kernels named after ops', async () => {
    fs.writeFileSync(log, '');
    const backend = await open({ benchmarkBinary: path.join(dir, 'benchmark_model'), cpuMask: 'f0' });
    assert.deepEqual([backend.name, backend.modelFormat, backend.threads, backend.runtimeVersion()], ['adb-tflite', 'tflite', 1, 'benchmark_model (version unknown)']);

    env({ FAKE_ADB_FIXTURE: fixturePath('plain-timings.txt') });
    const plain = await backend.load(model);
    assert.deepEqual(calls().slice(0, 4), [
      '-s R58M123ABC get-state',
      '-s R58M123ABC shell mkdir -p /data/local/tmp/tailor/models',
      `-s R58M123ABC push ${path.join(dir, 'benchmark_model')} /data/local/tmp/tailor/benchmark_model`,
      '-s R58M123ABC shell chmod 755 /data/local/tmp/tailor/benchmark_model',
    ]);
    assert.match(calls()[4], new RegExp(`^-s R58M123ABC push \\S+/${path.basename(remoteModel)} ${remoteModel}$`));
    assert.equal(calls().length, 5);

    assert.deepEqual(await plain.measure({ warmup: 5, runs: 0 }), [], 'a warm-up alone runs nothing: each call is a fresh process');
    assert.equal(calls().length, 5);
    const times = await plain.measure({ warmup: 1, runs: 50 });
    assert.deepEqual(times, new Array(50).fill(1.19184), 'the mean of the timed runs, once per run');
    assert.equal(calls()[5], `-s R58M123ABC shell taskset f0 /data/local/tmp/tailor/benchmark_model --graph=${remoteModel} --num_threads=1 --warmup_runs=2 --warmup_min_secs=0 --num_runs=50 --min_secs=0 --use_xnnpack=true`);

    env({ FAKE_ADB_FIXTURE: fixturePath('xnnpack-delegate-internal.txt') });
    const profiled = await backend.loadProfiled(model);
    assert.equal(calls().filter((c) => c.includes(' push ') && c.endsWith(remoteModel)).length, 1, 'the same model is pushed once');
    assert.deepEqual(await profiled.measure({ warmup: 3, runs: 20 }), new Array(20).fill(0.6056));
    assert.match(calls().at(-1)!, / --warmup_runs=3 .* --enable_op_profiling=true$/);
    const runs = await profiled.finish();
    assert.equal(runs.length, 20);
    assert.deepEqual(runs[0].map((e) => e.name), XNNPACK_NAMES);
    assert.equal(runs[0][0].durMs, 0.162);

    await plain.dispose();
    assert.ok(!calls().some((c) => c.includes(' rm ')), 'still used by the profiled model');
    await profiled.dispose();
    await profiled.dispose();
    assert.deepEqual(calls().filter((c) => c.includes(' rm ')), [`-s R58M123ABC shell rm -f ${remoteModel}`]);
  });

  it('refuses output whose thread count is not the device\'s', async () => {
    env({ FAKE_ADB_FIXTURE: fixturePath('plain-timings.txt') });
    const backend = await open({ threads: 4 });
    const loaded = await backend.load(model);
    await assert.rejects(loaded.measure({ warmup: 1, runs: 50 }), /benchmark_model reports 1 thread\(s\), the device was opened with 4/);
  });

  it('the live fingerprint comes from the phone; none (no error) when it does not answer', async () => {
    const options = { threads: 1, serial: 'R58M123ABC', cpuMask: 'f0', runtimeVersion: 'benchmark_model TF 2.16.1' };
    const live = await remoteFingerprint('adb-tflite', 'pixel7', options);
    assert.deepEqual(live, phoneFingerprint(parseGetprop(GETPROP), CPU_AND_MEM, options, 'benchmark_model TF 2.16.1'));
    assert.equal(live!.cores, 4);
    env({ FAKE_ADB_MODE: 'nodevice' });
    assert.equal(await remoteFingerprint('adb-tflite', 'pixel7', options), null);
    env({ FAKE_ADB_MODE: undefined });
  });

  it('adb and device failures are specific errors', async () => {
    env({ FAKE_ADB_FIXTURE: fixturePath('plain-timings.txt') });
    await rejects((await open({ adbPath: path.join(dir, 'no-such-adb') })).load(model), 'ADB_NOT_FOUND', /adb was not found .*platform-tools/);
    env({ FAKE_ADB_MODE: 'unauthorized' });
    await rejects((await open()).load(model), 'UNAUTHORIZED', /"R58M123ABC" has not authorized this computer: accept the USB debugging prompt/);
    env({ FAKE_ADB_MODE: 'nodevice' });
    await rejects((await open()).load(model), 'NO_DEVICE', /no Android device "R58M123ABC" is connected over adb \(adb: error: no devices\/emulators found\)/);
    await rejects((await open({ benchmarkBinary: path.join(dir, 'missing') })).load(model), 'NO_DEVICE', /no Android device/);

    env({ FAKE_ADB_MODE: undefined });
    await rejects((await open({ benchmarkBinary: path.join(dir, 'missing') })).load(model), 'BINARY_MISSING', /options\.benchmarkBinary: .*missing is not a file on this computer/);
    const measure = async (mode: string, timeoutMs?: number) => {
      env({ FAKE_ADB_MODE: undefined });
      const loaded = await (await open(timeoutMs ? { timeoutMs } : {})).load(model);
      env({ FAKE_ADB_MODE: mode });
      return loaded.measure({ warmup: 1, runs: 50 });
    };
    await rejects(measure('nobinary'), 'BINARY_MISSING', /benchmark_model is not on the device at \/data\/local\/tmp\/tailor\/benchmark_model: set options\.benchmarkBinary/);
    await rejects(measure('oldadb-nobinary'), 'BINARY_MISSING', /not on the device/);
    await rejects(measure('fail'), 'FAILED', /benchmark_model on the device .* failed: exit 1: ERROR: Could not open .* \| ERROR: Benchmarking failed\./);
    await rejects(measure('slow', 400), 'TIMEOUT', /did not finish within 0\.4 s \(options\.timeoutMs\)/);
    await rejects(measure('disconnect'), 'DISCONNECTED', /"R58M123ABC" disconnected during benchmark_model on the device .*get-state after it: error: no devices\/emulators found; its output before: .*Running benchmark for at least 50 iterations/);
    fs.rmSync(`${log}.gone`, { force: true });
  });

  it('a profile job fails with the specific error and writes no table: a phone gone mid-run, a phone that does not answer getprop, output that does not parse', async () => {
    const home = tempDir('tailor-adb-job-');
    const ws = workspace(home);
    fs.mkdirSync(ws.devicesDir);
    fs.writeFileSync(path.join(ws.devicesDir, 'phone.json'), JSON.stringify({ id: 'phone', name: 'Phone', backend: 'adb-tflite', options: { threads: 1, serial: 'R58M123ABC' } }));
    const devices = new DeviceService(ws);
    const jobs = new JobService(new JobStore(path.join(home, 'data')), jobRunners(new LatencyService(ws, devices), new ProfilingService(devices), { home, cacheDir: path.join(home, 'cache') }));
    jobs.start();
    const profile = async (mode: string) => {
      env({ FAKE_ADB_MODE: mode, FAKE_ADB_FIXTURE: fixturePath('xnnpack-delegate-internal.txt') });
      const { id } = jobs.submit('profile', { device: 'phone', space: 'ofa-mbv3-tiny@in1-out10', resolutions: [20], rounds: 1, passes: 1 });
      const job = await waitFor('the job to end', async () => FINISHED.includes(jobs.get(id).status) && jobs.get(id), 30_000);
      fs.rmSync(`${log}.gone`, { force: true });
      assert.equal(job.status, 'failed');
      const tables = path.join(ws.tablesDir, 'phone');
      assert.deepEqual(fs.existsSync(tables) ? fs.readdirSync(tables) : [], [], 'no table (nor a temp file) written');
      return job.error!;
    };
    try {
      const gone = await profile('disconnect');
      assert.equal(gone.code, 'ADB_DEVICE');
      assert.match(gone.message, /^Android device: the Android device "R58M123ABC" disconnected during benchmark_model on the device/);
      // The phone's fingerprint (recorded in the table) is read first: a phone that does not answer says why.
      const silent = await profile('nodevice');
      assert.equal(silent.code, 'ADB_DEVICE');
      assert.match(silent.message, /^Android device: no Android device "R58M123ABC" is connected over adb/);
      // benchmark_model output that does not parse, after two runs that did: the job fails with the parser's error.
      const unreadable = await profile('garbage');
      assert.equal(fs.readFileSync(`${log}.runs`, 'utf8').trim(), '3', 'two runs parsed, the third did not');
      assert.equal(unreadable.code, 'BENCHMARK_OUTPUT');
      assert.match(unreadable.message, /^Unreadable benchmark_model output: benchmark_model printed no Timings line \(no "Running benchmark" \/ "count=\.\.\. avg=\.\.\." lines\): INFO: STARTING!/);
    } finally {
      env({ FAKE_ADB_MODE: undefined });
      fs.rmSync(`${log}.runs`, { force: true });
      await jobs.shutdown();
    }
  });
});
