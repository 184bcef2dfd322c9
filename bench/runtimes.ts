/**
 * npm run bench:runtimes [-- --threads N --count N --seed S]
 * The same subnets (seeded ofa-mbv3-w1.0 archs at 128-224, seeded weights) measured on ort-cpu
 * (ONNX) and tflite-wasm (TFLite) in one run, all models of both runtimes round-robin so a slow
 * moment of a shared machine hits both alike; per model: median ms on each and the ratio. The
 * kind of table a user reads to pick a runtime. Prints the machine load next to the figures.
 */
import * as os from 'node:os';
import { archId, sampleArch } from '../src/core/arch';
import { countModel } from '../src/core/counters';
import { buildIR } from '../src/core/ir';
import { median } from '../src/core/latency';
import { netFromArch } from '../src/core/net';
import { Rng } from '../src/core/rng';
import { getSpace } from '../src/core/space';
import { exportOnnx } from '../src/export/onnx';
import { exportTflite } from '../src/export/tflite';
import { seededWeights } from '../src/export/weights';
import { LoadedModel } from '../src/runtime/backend';
import { measureInterleaved } from '../src/runtime/measure';
import { backendRegistration } from '../src/runtime/registry';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const threads = option('threads', 1);
  const count = option('count', 10);
  const seed = option('seed', 0);
  const space = getSpace('ofa-mbv3-w1.0');
  const rng = new Rng(seed);
  const archs = Array.from({ length: count }, () => sampleArch(space, rng, [128, 160, 192, 224]));
  const ort = await backendRegistration('local-cpu', 'ort-cpu').create({ threads });
  const tflite = await backendRegistration('local-tflite', 'tflite-wasm').create({ threads });
  console.log(`bench:runtimes: ${count} seeded ${space.id} subnets (seed ${seed}), ${threads} thread(s); ${ort.runtimeVersion()} vs ${tflite.runtimeVersion()}; ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores`);
  console.log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const models: LoadedModel[] = [];
  try {
    for (const [i, arch] of archs.entries()) {
      const ir = buildIR(netFromArch(space, arch));
      const weights = seededWeights(seed + i);
      models.push(await ort.load(exportOnnx(ir, { weights })), await tflite.load(exportTflite(ir, { weights })));
      process.stderr.write(`loaded ${i + 1}/${count}\r`);
    }
    const times = await measureInterleaved(models, {
      warmup: 5, passes: 10, runsPerPass: 5,
      onPass: (pass, passes) => process.stderr.write(`pass ${pass}/${passes}   \r`),
    });
    process.stderr.write('\n');
    const rows = archs.map((arch, i) => {
      const ortMs = median(times[2 * i]);
      const tfliteMs = median(times[2 * i + 1]);
      return { arch, macs: countModel(buildIR(netFromArch(space, arch))).macs, ortMs, tfliteMs, ratio: tfliteMs / ortMs };
    });
    console.log(['subnet'.padEnd(58), 'MMACs'.padStart(7), 'ort-cpu ms'.padStart(11), 'tflite ms'.padStart(10), 'tflite/ort'.padStart(11)].join(' '));
    for (const r of rows) {
      console.log([archId(space, r.arch).padEnd(58), (r.macs / 1e6).toFixed(0).padStart(7), r.ortMs.toFixed(3).padStart(11), r.tfliteMs.toFixed(3).padStart(10), `x${r.ratio.toFixed(2)}`.padStart(11)].join(' '));
    }
    const geo = Math.exp(rows.reduce((s, r) => s + Math.log(r.ratio), 0) / rows.length);
    const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
    console.log(`tflite-wasm / ort-cpu: geometric mean x${geo.toFixed(2)}, range x${ratios[0].toFixed(2)}-x${ratios[ratios.length - 1].toFixed(2)}`);
    console.log(`ort-cpu throughput ${(rows.reduce((s, r) => s + r.macs, 0) / rows.reduce((s, r) => s + r.ortMs, 0) / 1e6).toFixed(2)} GMAC/s, tflite-wasm ${(rows.reduce((s, r) => s + r.macs, 0) / rows.reduce((s, r) => s + r.tfliteMs, 0) / 1e6).toFixed(2)} GMAC/s`);
    console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    for (const m of models) await m.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
