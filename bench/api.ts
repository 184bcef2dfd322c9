/**
 * npm run bench:api
 * Throughput and latency of POST /latency/predict (one arch, and batches of 1,000) served by the
 * real app in its own process, loaded from this process over loopback for 10 s each. Goal:
 * 5,000 single predictions/s with p99 under 20 ms on a 2-core machine. Baseline in the same run:
 * GET /health on the same server.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { resolveArch } from '../src/core/arch-source';
import { workspace } from '../src/core/workspace';
import { LatencyService } from '../src/latency/latency.service';
import { DeviceService } from '../src/runtime/device.service';

const SHARED = path.resolve(__dirname, '..', '..', '..', 'shared', 'reference', 'ofa', 'note10');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error('server exited');
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('server did not start');
}

async function load(title: string, opts: autocannon.Options) {
  const r = await autocannon({ connections: 16, duration: SECONDS, ...opts });
  if (r.non2xx) throw new Error(`${title}: ${r.non2xx} non-2xx responses`);
  return { title, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors };
}

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-bench-api-'));
  const files = [160, 176, 192, 208, 224].map((r) => path.join(SHARED, `${r}_lookup_table.yaml`));
  const ws = workspace(home);
  await new LatencyService(ws, new DeviceService(ws)).importOfa('note10', 'ofa-mbv3-w1.2', files);

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'main.js')], {
    env: { ...process.env, PORT: String(port), TAILOR_HOME: home, TAILOR_DATA_DIR: path.join(home, 'data') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    await waitHealthy(url, child);
    const single = JSON.stringify({ device: 'note10', arch: { ...resolveArch('random:1', 'ofa-mbv3-w1.2').arch, r: 192 } });
    const batch = JSON.stringify({
      device: 'note10',
      space: 'ofa-mbv3-w1.2',
      archs: Array.from({ length: 1000 }, (_, i) => ({ ...resolveArch(`random:${i}`, 'ofa-mbv3-w1.2').arch, r: [160, 176, 192, 208, 224][i % 5] })),
    });
    const headers = { 'content-type': 'application/json' };
    const health = await load('GET /health (baseline)', { url: `${url}/health` });
    const one = await load('POST /latency/predict, 1 arch', { url: `${url}/latency/predict`, method: 'POST', headers, body: single });
    const many = await load('POST /latency/predict, 1,000 archs', { url: `${url}/latency/predict`, method: 'POST', headers, body: batch, connections: 2 });

    console.log(`\n--- bench:api (${SECONDS} s each, load from a second process over loopback, ${os.cpus().length} cores) ---`);
    for (const r of [health, one, many]) {
      console.log(`${r.title.padEnd(38)} ${r.rps.toFixed(0).padStart(7)} req/s  p50 ${String(r.p50).padStart(4)} ms  p99 ${String(r.p99).padStart(4)} ms`);
    }
    console.log(`single predictions: ${one.rps.toFixed(0)}/s (goal 5,000), p99 ${one.p99} ms (goal < 20 ms); ${(one.rps / health.rps).toFixed(2)} x the /health rate`);
    console.log(`batched predictions: ${(many.rps * 1000).toFixed(0)} archs/s (${(many.rps * 1000 / one.rps).toFixed(1)} x single requests)`);
  } finally {
    child.kill('SIGTERM');
    fs.rmSync(home, { recursive: true, force: true });
  }
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
