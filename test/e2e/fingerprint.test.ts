import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AddressInfo } from 'node:net';
import { before, describe, it } from 'node:test';
import { resolveArch } from '../../src/core/arch-source';
import { getSpace } from '../../src/core/space';
import { workspace } from '../../src/core/workspace';
import { tableLatency } from '../../src/gate/gate';
import { LatencyService } from '../../src/latency/latency.service';
import { AgentReport } from '../../src/runtime/agent/protocol';
import { recordAgentReport } from '../../src/runtime/agent/reports';
import { DeviceService } from '../../src/runtime/device.service';
import { PREDICTOR_FILE, PREDICTOR_FORMAT } from '../../src/accuracy/predictor';
import { ortVersion } from '../../src/runtime/ort-cpu/version';
import { Fingerprint, localFingerprint } from '../../src/runtime/fingerprint';
import { featureCount } from '../../src/search/encoding';
import { CHECKPOINT_FILE, RUN_FILE } from '../../src/training/trainer';
import { createApp } from '../../src/main';
import { tinyModel, writeRegressors } from '../gate-fixtures';
import { NET_30MS, NOTE10_YAMLS, REPO, cli, cliAsync, tempDir } from '../helpers';

const SPACE = 'ofa-mbv3-w1.2';
const OTHER = { cpu: 'Other CPU', cores: 64, runtime: 'onnxruntime-node 0.0.1' };
/** What board1's agent reported to a service of the workspace (recorded as the service records it). */
const BOARD_REPORT: AgentReport = {
  machine: { cpu: 'ARM Cortex-A76', cores: 4, physicalCores: 4, flags: ['neon'], memoryGb: 8, os: 'Debian 12', arch: 'arm64' },
  backends: [{ name: 'ort-cpu', runtime: 'onnxruntime-node 0.0.1' }],
  clock: Date.parse('2025-06-01T12:00:00.000Z'),
};
const REPORTED_AT = '2025-06-01T12:00:00.000Z';

/** `tailor gate` in `cwd` (the config is found in the current directory). */
function gate(cwd: string, home: string, args: string[] = []) {
  const env = { ...process.env };
  delete env.TAILOR_HOME;
  const r = spawnSync(process.execPath, [path.join(REPO, '.test-build', 'src', 'cli.js'), '--home', home, 'gate', ...args], { cwd, env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A workspace where local-cpu has a lookup table "measured" on another machine (CPU model, cores
 * and runtime differ) and kernel regressors measured here but with an older onnxruntime (same hash).
 */
describe('stale tables: fingerprints keep tables honest (CLI)', () => {
  const home = tempDir('tailor-fp-');
  let live: Fingerprint;

  before(async () => {
    live = await localFingerprint(ortVersion());
    const imported = cli(['lut', 'import', '--format', 'ofa', '--device', 'note10', '--space', SPACE, NOTE10_YAMLS[4]], home);
    assert.equal(imported.status, 0, imported.stderr);
    const t = JSON.parse(fs.readFileSync(path.join(home, 'latency-tables', 'note10', `${SPACE}.json`), 'utf8'));
    t.device = { id: 'local-cpu', fingerprint: { ...live, ...OTHER } };
    t.backend = { name: 'ort-cpu', version: OTHER.runtime, threads: 1 };
    fs.mkdirSync(path.join(home, 'latency-tables', 'local-cpu'), { recursive: true });
    fs.writeFileSync(path.join(home, 'latency-tables', 'local-cpu', `${SPACE}.json`), JSON.stringify(t));
    // Remote boards (backend agent): board1's agent last reported another CPU than its table's; board2's never reported.
    for (const board of ['board1', 'board2']) {
      fs.writeFileSync(path.join(home, 'devices', `${board}.json`), JSON.stringify({ id: board, name: board, backend: 'agent', options: { runtime: 'ort-cpu', threads: 1 } }));
      fs.mkdirSync(path.join(home, 'latency-tables', board));
      fs.writeFileSync(path.join(home, 'latency-tables', board, `${SPACE}.json`), JSON.stringify({ ...t, device: { ...t.device, id: board } }));
    }
    recordAgentReport(workspace(home), 'board1', BOARD_REPORT, new Date(REPORTED_AT));
    const regressors = writeRegressors(home);
    const k = JSON.parse(fs.readFileSync(regressors, 'utf8'));
    k.device.fingerprint = { ...live, runtime: 'onnxruntime-node 1.0.0' };
    fs.writeFileSync(regressors, JSON.stringify(k));
  });

  const tableChanges = () => new RegExp(
    `latency table \\S+${SPACE}\\.json of device "local-cpu" was measured on different hardware or runtime: ` +
      `CPU model "Other CPU" → now "${live.cpu.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"; cores 64 → now ${live.cores}; runtime "onnxruntime-node 0\\.0\\.1" → now "${ortVersion().replace(/\./g, '\\.')}"`,
  );

  it('predict --arch warns naming the fields that differ; --strict exits 2 with that message', () => {
    const warn = cli(['predict', '--device', 'local-cpu', '--arch', NET_30MS, '--json'], home);
    assert.equal(warn.status, 0, warn.stderr);
    assert.match(warn.stderr, /^warning: /);
    assert.match(warn.stderr, tableChanges());
    assert.match(JSON.parse(warn.stdout).warnings[0], tableChanges());
    const strict = cli(['predict', '--device', 'local-cpu', '--arch', NET_30MS, '--strict'], home);
    assert.equal(strict.status, 2);
    assert.match(strict.stderr, /^error: /);
    assert.match(strict.stderr, tableChanges());
    assert.equal(strict.stdout, '');
  });

  it('predict --model warns about regressors from an older runtime (same hardware hash); --strict exits 2', () => {
    const model = path.join(home, 'tiny.onnx');
    fs.writeFileSync(model, tinyModel());
    const runtimeOnly = new RegExp(`kernel regressors file \\S+regressors\\.json of device "local-cpu" was measured on different hardware or runtime: runtime "onnxruntime-node 1\\.0\\.0" → now "${ortVersion().replace(/\./g, '\\.')}"\\.`);
    const warn = cli(['predict', '--device', 'local-cpu', '--model', model, '--json'], home);
    assert.equal(warn.status, 0, warn.stderr);
    assert.match(warn.stderr, runtimeOnly);
    assert.doesNotMatch(warn.stderr, /CPU model/);
    assert.match(JSON.parse(warn.stdout).warnings[0], runtimeOnly);
    const strict = cli(['predict', '--device', 'local-cpu', '--model', model, '--strict'], home);
    assert.equal(strict.status, 2);
    assert.match(strict.stderr, runtimeOnly);
    // validate --models checks them as validate --space checks its table: refused before measuring
    const dir = path.join(home, 'models');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'tiny.onnx'), tinyModel());
    const validate = cli(['validate', '--device', 'local-cpu', '--models', dir, '--strict'], home);
    assert.equal(validate.status, 2);
    assert.match(validate.stderr, runtimeOnly);
  });

  it('tailor devices marks the stale tables with the reason; imported tables of table-only devices are unknown', () => {
    const json = cli(['devices', '--json'], home);
    assert.equal(json.status, 0, json.stderr);
    const byId = new Map(JSON.parse(json.stdout).map((d: { id: string }) => [d.id, d]));
    const local = byId.get('local-cpu') as { tables: { kind: string; space: string | null; stale: unknown; reason: string; measuredOn: { cpu: string } }[] };
    const [lut, kernels] = local.tables;
    assert.equal(lut.kind, 'lookup-table');
    assert.equal(lut.space, SPACE);
    assert.equal(lut.stale, true);
    assert.equal(lut.measuredOn.cpu, 'Other CPU');
    assert.match(lut.reason, /^CPU model "Other CPU" → now .*; cores 64 → now \d+; runtime "onnxruntime-node 0\.0\.1" → now/);
    assert.equal(kernels.kind, 'kernel-regressors');
    assert.equal(kernels.stale, true);
    assert.match(kernels.reason, /^runtime "onnxruntime-node 1\.0\.0" → now "onnxruntime-node /);
    const note10 = byId.get('note10') as { tables: { stale: unknown; reason: string }[] };
    assert.equal(note10.tables[0].stale, 'unknown');
    assert.match(note10.tables[0].reason, /table-only device/);
    assert.deepEqual((byId.get('local-tflite') as { tables: unknown[] }).tables, []);

    const text = cli(['devices'], home);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`local-cpu\\s+${SPACE.replace(/\./g, '\\.')}\\s+224\\s+Other CPU, 64 cores, onnxruntime-node 0\\.0\\.1\\s+STALE: CPU model "Other CPU"`));
    assert.match(text.stdout, /local-cpu\s+kernel regressors\s+-\s+.*STALE: runtime "onnxruntime-node 1\.0\.0"/);
    assert.match(text.stdout, /note10\s+ofa-mbv3-w1\.2\s+224\s+no fingerprint \(imported\)\s+unknown: table-only device/);
  });

  it('an agent board: tables are compared with what its agent last reported; --strict refuses, also when it never reported', () => {
    const boardChanges = new RegExp(`latency table \\S+board1/${SPACE}\\.json of device "board1" was measured on different hardware or runtime: CPU model "Other CPU" → now "ARM Cortex-A76"; cores 64 → now 4 \\(the device as last reported ${REPORTED_AT.replace(/\./g, '\\.')}\\)`);
    const strict = cli(['predict', '--device', 'board1', '--arch', NET_30MS, '--strict'], home);
    assert.equal(strict.status, 2, strict.stdout);
    assert.match(strict.stderr, boardChanges);
    assert.equal(strict.stdout, '');
    const never = cli(['predict', '--device', 'board2', '--arch', NET_30MS, '--strict'], home);
    assert.equal(never.status, 2, never.stdout);
    assert.match(never.stderr, /error: Cannot tell whether the latency table \S+board2\/ofa-mbv3-w1\.2\.json of device "board2" is current: remote agent device: its agent has never reported to a service of this workspace \(start it on the board: tailor agent --server <url> --device-id board2\)\. --strict refuses what it cannot check\./);

    const text = cli(['devices'], home);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`board1\\s+agent\\s+1\\s+remote \\(agent\\): ARM Cortex-A76, 4 cores, onnxruntime-node 0\\.0\\.1, as last reported ${REPORTED_AT.replace(/\./g, '\\.')}\\s+[0-9a-f]{16}`));
    assert.match(text.stdout, /board2\s+agent\s+1\s+remote \(agent\), never reported\s+-/);
    assert.match(text.stdout, /board1\s+ofa-mbv3-w1\.2\s+224\s+Other CPU, 64 cores, onnxruntime-node 0\.0\.1\s+STALE: CPU model "Other CPU" → now "ARM Cortex-A76"; cores 64 → now 4/);
    assert.match(text.stdout, /board2\s+ofa-mbv3-w1\.2\s+224\s+.*unknown: remote agent device: its agent has never reported/);
    assert.doesNotMatch(text.stdout, /table only/);
  });

  it('validate --strict refuses before measuring anything', () => {
    const r = cli(['validate', '--device', 'local-cpu', '--space', SPACE, '--samples', '2', '--strict'], home);
    assert.equal(r.status, 2);
    assert.match(r.stderr, tableChanges());
  });

  it('search --strict refuses a stale table before the engine loads', () => {
    // A finished run (as far as search's checks read it): run.json, a checkpoint header, a predictor.
    const run = path.join(home, 'run');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, RUN_FILE), JSON.stringify({ space: SPACE, dataset: 'x', seed: 0, channels: 3, classes: Array.from({ length: 1000 }, (_, i) => `c${i}`), phases: [] }));
    const header = Buffer.from(JSON.stringify({ meta: { phase: 0 } }));
    const prefix = Buffer.alloc(13);
    prefix.write('TAILORCK1', 0, 'ascii');
    prefix.writeUInt32LE(header.length, 9);
    fs.writeFileSync(path.join(run, CHECKPOINT_FILE), Buffer.concat([prefix, header]));
    fs.writeFileSync(path.join(run, PREDICTOR_FILE), JSON.stringify({ format: PREDICTOR_FORMAT, space: SPACE, features: featureCount(getSpace(SPACE)), layers: [] }));
    const targets = path.join(home, 'targets.json');
    fs.writeFileSync(targets, JSON.stringify({ targets: [{ name: 'fast', devices: { 'local-cpu': { latencyMs: 30 } } }] }));
    const started = Date.now();
    const r = cli(['search', '--supernet', run, '--targets', targets, '--out', path.join(home, 'out'), '--strict'], home);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, tableChanges());
    assert.ok(Date.now() - started < 20_000);
    // Without --strict: a warning (here for the agent board, as its agent last reported), before the engine loads.
    fs.writeFileSync(targets, JSON.stringify({ targets: [{ name: 'fast', devices: { board1: { latencyMs: 30 } } }] }));
    const warned = cli(['search', '--supernet', run, '--targets', targets, '--out', path.join(home, 'out')], home);
    assert.match(warned.stderr, /warning: The latency table \S+ of device "board1" was measured on different hardware or runtime: CPU model "Other CPU" → now "ARM Cortex-A76".*as last reported/);
  });

  it('gate warns on stale kernel regressors and refuses with --strict or a top-level "strict" in the config', () => {
    const dir = tempDir('tailor-fp-gate-');
    fs.writeFileSync(path.join(dir, 'tiny.onnx'), tinyModel());
    const budget = { name: 'tiny', model: 'tiny.onnx', limits: { latency: { 'local-cpu': '1 s' } } };
    const write = (config: unknown) => fs.writeFileSync(path.join(dir, 'tailor.budgets.json'), JSON.stringify(config));
    const stale = /warning: local-cpu: The kernel regressors file \S+ of device "local-cpu" was measured on different hardware or runtime: runtime "onnxruntime-node 1\.0\.0" → now/;
    write({ budgets: [budget] });
    const warn = gate(dir, home);
    assert.equal(warn.status, 0, warn.stderr);
    assert.match(warn.stderr, stale);
    assert.match(warn.stdout, /note: local-cpu: The kernel regressors file/);
    const refused = /error: The kernel regressors file \S+ of device "local-cpu" was measured on different hardware or runtime: runtime "onnxruntime-node 1\.0\.0" → now/;
    const flag = gate(dir, home, ['--strict']);
    assert.equal(flag.status, 2, flag.stderr);
    assert.match(flag.stderr, refused);
    write({ strict: true, budgets: [budget] });
    const config = gate(dir, home);
    assert.equal(config.status, 2);
    assert.match(config.stderr, refused);
    write({ strict: 'yes', budgets: [budget] });
    assert.match(gate(dir, home).stderr, /"strict" must be true or false/);
  });

  it('the gate\'s lookup-table latency (exported subnets) warns, and refuses when strict', async () => {
    const devices = new DeviceService(workspace(home));
    const tables = tableLatency(new LatencyService(devices.ws, devices));
    const r = resolveArch(NET_30MS);
    const exported = { arch: r.arch!, space: r.space!, net: r.net };
    const p = await tables.predictArch('local-cpu', exported);
    assert.ok(p && Math.abs(p.ms - 29.965) < 0.01);
    assert.match(p.warnings[0], tableChanges());
    await assert.rejects(tables.predictArch('local-cpu', exported, true), (e: Error) => tableChanges().test(e.message));
  });

  it('HTTP: POST /latency/predict warns (409 with strict) and GET /devices/:id shows the stale tables, without file paths', async () => {
    const app = await createApp({ home, dataDir: path.join(home, 'data'), logger: false });
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      const predict = (strict?: boolean) => fetch(`${url}/latency/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device: 'local-cpu', space: SPACE, arch: 'max', strict }),
      });
      const warned = await predict();
      assert.equal(warned.status, 200);
      assert.match((await warned.json()).warnings[0], tableChanges());
      const refused = await predict(true);
      assert.equal(refused.status, 409);
      assert.match((await refused.json()).message, tableChanges());
      const device = await (await fetch(`${url}/devices/local-cpu`)).json();
      assert.deepEqual(device.tables.map((t: { kind: string; stale: unknown }) => [t.kind, t.stale]), [['lookup-table', true], ['kernel-regressors', true]]);
      assert.match(device.tables[0].reason, /^CPU model "Other CPU" → now/);
      assert.ok(device.tables.every((t: object) => !('file' in t)));
      const note10 = await (await fetch(`${url}/devices/note10`)).json();
      assert.equal(note10.tables[0].stale, 'unknown');

      // tailor gate --server: the service's stale-regressors note in the report, and its warning on
      // stderr once for both budgets (as a local gate warns); --strict sent along, refused there.
      const dir = tempDir('tailor-fp-remote-gate-');
      fs.writeFileSync(path.join(dir, 'tiny.onnx'), tinyModel());
      const budget = { name: 'tiny', model: 'tiny.onnx', limits: { latency: { 'local-cpu': '1 s' } } };
      fs.writeFileSync(path.join(dir, 'tailor.budgets.json'), JSON.stringify({ budgets: [budget, { ...budget, name: 'tiny again' }] }));
      const remote = await cliAsync(['gate', '--server', url], { cwd: dir });
      assert.equal(remote.status, 0, remote.stderr);
      const stale = 'local-cpu: The kernel regressors file \\S+ of device "local-cpu" was measured on different hardware or runtime: runtime "onnxruntime-node 1\\.0\\.0" → now';
      assert.match(remote.stdout, new RegExp(`note: ${stale}`));
      assert.equal(remote.stderr.match(new RegExp(`^warning: ${stale}`, 'gm'))?.length, 1, remote.stderr);
      // allowUnknownOps goes over the wire: a partial analysis comes back marked; without it the service refuses the model.
      fs.writeFileSync(path.join(dir, 'custom.onnx'), tinyModel({ op: 'Swish' }));
      const custom = (allowUnknownOps: boolean) => {
        const file = path.join(dir, `custom-${allowUnknownOps}.json`);
        fs.writeFileSync(file, JSON.stringify({ budgets: [{ name: 'custom', model: 'custom.onnx', ...(allowUnknownOps ? { allowUnknownOps } : {}), limits: { params: '1K' } }] }));
        return cliAsync(['gate', '--server', url, '--config', file, '--format', 'json'], { cwd: dir });
      };
      const partial = await custom(true);
      assert.equal(partial.status, 0, partial.stderr);
      assert.deepEqual(JSON.parse(partial.stdout).map((r: { passed: boolean; partial?: boolean; unknownNodes?: unknown }) => [r.passed, r.partial, r.unknownNodes]), [[true, true, [{ node: 'act', opType: 'com.example.Swish' }]]]);
      const refusedUnknown = await custom(false);
      assert.equal(refusedUnknown.status, 2, refusedUnknown.stderr);
      assert.match(refusedUnknown.stderr, /failed \(HTTP 422\): custom\.onnx has 1 node\(s\) of ops the analysis cannot infer shapes for or count: node "act" \(com\.example\.Swish\).*set "allowUnknownOps": true in the budget/);
      const strict = await cliAsync(['gate', '--server', url, '--strict'], { cwd: dir });
      assert.equal(strict.status, 2, strict.stderr);
      assert.match(strict.stderr, /error: POST \/gate \(budget "tiny"\) on the Tailor service at http:\/\/127\.0\.0\.1:\d+ failed \(HTTP 409\): The kernel regressors file \S+ of device "local-cpu" was measured on different hardware or runtime/);
    } finally {
      await app.close();
    }
  });
});
