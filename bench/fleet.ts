/**
 * npm run bench:fleet
 * Throughput of profiling jobs with 1, 2 and 4 `tailor agent` processes on this machine (one
 * board device each, board1..boardN, pieces timed one at a time per agent), and the overhead of
 * the agent path against local profiling of the same pieces, in one run.
 *
 * Baselines (same run, same work: ofa-mbv3-tiny@in1-out10, resolution 20, rounds 1, passes 2):
 *   - `tailor profile --device local-cpu` as a CLI process (wall time, process start included);
 *   - the same profile as a job of the service on local-cpu (job run time, startedAt..finishedAt).
 * Fleet: one `tailor serve` child (embedded queue), N agent children started afresh for every
 * repeat (empty model cache each, so every job downloads its models), N profile jobs submitted at
 * once, one per board; timed from the first POST to the last job seen succeeded (polled, 100 ms).
 * BENCH_REPEATS (default 3) repeats every measurement (baselines and fleets) and takes the median.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const CLI = path.join(__dirname, '..', 'src', 'cli.js');
const SPACE = 'ofa-mbv3-tiny@in1-out10';
const PARAMS = { space: SPACE, resolutions: [20], rounds: 1, passes: 2 };
const FLEETS = [1, 2, 4];
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const token = (i: number) => `board${i}-bench-fleet-token-0123456789`;

interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}
/** Every child this bench started and that has not exited yet: all are stopped at the end. */
const children = new Set<Proc>();

function start(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const p = { child, output: () => out, exited };
  children.add(p);
  void exited.then(() => children.delete(p));
  return p;
}

/** SIGTERM (the service hands its jobs back and closes), SIGKILL after 5 s. */
async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
    await p.exited;
    clearTimeout(timer);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function json(url: string, init?: RequestInit): Promise<any> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function runJobs(url: string, devices: string[]): Promise<{ wallMs: number; jobMs: number[] }> {
  const t0 = Date.now();
  const created = await Promise.all(
    devices.map((device) => json(`${url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'profile', params: { device, ...PARAMS } }) })),
  );
  const done = await Promise.all(
    created.map((c) =>
      waitFor(`job ${c.id}`, async () => {
        const job = await json(`${url}/jobs/${c.id}`);
        if (['failed', 'cancelled', 'interrupted'].includes(job.status)) throw new Error(`job ${c.id} on ${job.device} ${job.status}: ${JSON.stringify(job.error)}`);
        return job.status === 'succeeded' && job;
      }),
    ),
  );
  const wallMs = Date.now() - t0;
  return { wallMs, jobMs: done.map((j) => Date.parse(j.finishedAt) - Date.parse(j.startedAt)) };
}

async function main() {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tailor-bench-fleet-'));
  const tables = path.join(home, 'latency-tables');
  const max = Math.max(...FLEETS);
  fs.mkdirSync(path.join(home, 'devices'));
  for (let i = 1; i <= max; i++) {
    const board = { id: `board${i}`, name: `Board ${i} (this machine, through its agent)`, backend: 'agent', options: { threads: 1, runtime: 'ort-cpu' } };
    fs.writeFileSync(path.join(home, 'devices', `board${i}.json`), JSON.stringify(board));
  }
  const loadBefore = load();
  let server: Proc | undefined;
  const agents: Proc[] = [];
  try {
    // (a) baseline 1: the CLI, local-cpu, a process per run.
    const cliMs: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      fs.rmSync(path.join(tables, 'local-cpu'), { recursive: true, force: true });
      const t0 = Date.now();
      const p = start(['--home', home, 'profile', '--device', 'local-cpu', '--space', SPACE, '--resolutions', '20', '--rounds', '1', '--passes', '2']);
      const code = await p.exited;
      if (code !== 0) throw new Error(`tailor profile exited ${code}: ${p.output()}`);
      cliMs.push(Date.now() - t0);
    }

    // The service: embedded queue, one job at a time per device, devices concurrently.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const tokens = Array.from({ length: max }, (_, i) => `board${i + 1}=${token(i + 1)}`).join(',');
    server = start(['--home', home, 'serve', '--port', String(port), '--data-dir', path.join(home, 'data')], { HOST: '127.0.0.1', TAILOR_AGENT_TOKENS: tokens });
    const srv = server;
    await waitFor('the service', async () => {
      if (srv.child.exitCode !== null) throw new Error(`serve exited: ${srv.output()}`);
      return (await fetch(`${url}/health`)).ok;
    });

    // (a) baseline 2: the same profile as a local-cpu job of the service.
    const localJobMs: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      fs.rmSync(path.join(tables, 'local-cpu'), { recursive: true, force: true });
      localJobMs.push((await runJobs(url, ['local-cpu'])).jobMs[0]);
    }
    const cliBase = median(cliMs);
    const jobBase = median(localJobMs);

    // (b) fleets of 1, 2, 4 agents; each repeat starts its agents afresh (empty model caches).
    const rows: { n: number; wallMs: number; walls: number[]; jobMs: number; perMin: number }[] = [];
    for (const n of FLEETS) {
      const boards = Array.from({ length: n }, (_, i) => `board${i + 1}`);
      const walls: number[] = [];
      const jobMs: number[] = [];
      for (let r = 0; r < REPEATS; r++) {
        for (const b of boards) fs.rmSync(path.join(tables, b), { recursive: true, force: true });
        for (let i = 1; i <= n; i++) {
          const cache = fs.mkdtempSync(path.join(home, `cache-${n}-${i}-`));
          agents.push(start(['agent', '--server', url, '--device-id', `board${i}`, '--token', token(i), '--cache-dir', cache, '--poll', '2']));
        }
        await waitFor(`${n} agent(s) online`, async () => {
          const list = await json(`${url}/agents`);
          return boards.every((b) => list.some((a: { id: string; status: string }) => a.id === b && a.status === 'online'));
        });
        const run = await runJobs(url, boards);
        walls.push(run.wallMs);
        jobMs.push(...run.jobMs);
        await Promise.all(agents.splice(0).map(stop));
      }
      const wallMs = median(walls);
      rows.push({ n, wallMs, walls, jobMs: median(jobMs), perMin: (n / wallMs) * 60_000 });
    }
    const loadAfter = load();

    const one = rows[0];
    console.log(`\n--- bench:fleet (profile ${SPACE} r=20, rounds 1, passes 2; ${os.cpus().length} cores: ${os.cpus()[0]?.model.trim()}) ---`);
    console.log(`the machine is SHARED with other work: load average (1/5/15 min) before ${loadBefore}, after ${loadAfter}`);
    console.log(`every agent runs on this same ${os.cpus().length}-core machine: with more agents than cores throughput cannot scale linearly`);
    console.log(`baseline, local CLI \`tailor profile --device local-cpu\` (wall, process start included): median ${s(cliBase)} of ${cliMs.map(s).join(', ')}`);
    console.log(`baseline, local-cpu job of the service (job run time):                           median ${s(jobBase)} of ${localJobMs.map(s).join(', ')}`);
    console.log(`fleet: N jobs submitted at once, one per board; median of ${REPEATS} repeat(s)`);
    console.log('agents  jobs  wall (median)  jobs/min  x N=1 rate  wall / local job  median job run time  walls (s)');
    for (const r of rows) {
      console.log(
        `${String(r.n).padStart(6)}  ${String(r.n).padStart(4)}  ${s(r.wallMs).padStart(13)}  ${r.perMin.toFixed(1).padStart(8)}  ${(r.perMin / one.perMin).toFixed(2).padStart(10)}  ${(r.wallMs / jobBase).toFixed(2).padStart(16)}  ${s(r.jobMs).padStart(19)}  ${r.walls.map((m) => (m / 1000).toFixed(2)).join(', ')}`,
      );
    }
    console.log(`local-cpu job rate (1 device, service): ${((1 / jobBase) * 60_000).toFixed(1)} jobs/min`);
    console.log(`agent-path overhead, N=1: median job run time ${s(one.jobMs)} = ${(one.jobMs / jobBase).toFixed(2)} x the local-cpu job, ${(one.jobMs / cliBase).toFixed(2)} x the local CLI wall time`);
    console.log(`scaling: 2 agents ${(rows[1].perMin / one.perMin).toFixed(2)} x, 4 agents ${(rows[2].perMin / one.perMin).toFixed(2)} x the 1-agent job rate (ideal: 2 x, 4 x; ${os.cpus().length} cores)`);
  } finally {
    await Promise.all(agents.map(stop));
    if (server) await stop(server);
    await Promise.all([...children].map(stop));
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
