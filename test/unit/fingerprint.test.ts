import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { TailorError } from '../../src/core/errors';
import { workspace } from '../../src/core/workspace';
import { LatencyTable, TABLE_SCHEMA, saveTable } from '../../src/latency/table';
import { DeviceService } from '../../src/runtime/device.service';
import { TABLE_ONLY } from '../../src/runtime/devices';
import { Fingerprint, describeChanges, fingerprintChanges, localFingerprint } from '../../src/runtime/fingerprint';
import { registerBackend } from '../../src/runtime/registry';
import { tempDir } from '../helpers';

const fp = (o: Partial<Fingerprint> = {}): Fingerprint => ({
  hash: 'aaaaaaaaaaaaaaaa', cpu: 'AMD EPYC', cores: 2, physicalCores: 1, flags: ['avx2'], memoryGb: 24, os: 'Debian 12', arch: 'x64', runtime: 'onnxruntime-node 1.30.0', ...o,
});

// Backends that never load anything: one on this machine, one remote (no live fingerprint here).
const create = async () => { throw new Error('not used'); };
registerBackend('fp-test-local', { local: true, runtimeVersion: () => 'fake-runtime 2.0.0', create });
registerBackend('fp-test-remote', { local: false, runtimeVersion: () => 'fake-runtime 2.0.0', create });

function table(device: string, space: string, fingerprint: Fingerprint | null, version = fingerprint?.runtime ?? 'OFA lookup table'): LatencyTable {
  const lat = { count: 1, mean: 1, std: 0, p50: 1, p90: 1, min: 1 };
  return {
    schema: TABLE_SCHEMA, device: { id: device, fingerprint }, backend: { name: 'fake', version, threads: 1 }, space,
    created: '2025-01-01T00:00:00.000Z', updated: '2025-01-01T00:00:00.000Z', method: { name: 'in-context', statistic: 'p50' },
    resolutions: [224], overheadMs: {}, entries: { '224': { k: lat } },
  };
}

describe('fingerprint comparison', () => {
  it('is empty when CPU model, cores and runtime are equal, whatever the informational fields', () => {
    assert.deepEqual(fingerprintChanges(fp(), fp()), []);
    assert.deepEqual(fingerprintChanges(fp(), fp({ hash: 'bbbbbbbbbbbbbbbb', flags: [], memoryGb: 8, os: 'Ubuntu', physicalCores: 2, arch: 'arm64' })), []);
  });

  it('names each field that differs, old and new', () => {
    assert.deepEqual(fingerprintChanges(fp(), fp({ cpu: 'Intel Xeon' })), [{ field: 'cpu', recorded: 'AMD EPYC', current: 'Intel Xeon' }]);
    assert.deepEqual(fingerprintChanges(fp(), fp({ cores: 8 })), [{ field: 'cores', recorded: 2, current: 8 }]);
    assert.deepEqual(fingerprintChanges(fp(), fp({ runtime: 'onnxruntime-node 1.31.0' })), [{ field: 'runtime', recorded: 'onnxruntime-node 1.30.0', current: 'onnxruntime-node 1.31.0' }]);
    const all = fingerprintChanges(fp(), fp({ cpu: 'Intel Xeon', cores: 8, runtime: '@tensorflow/tfjs-tflite 0.0.1-alpha.10' }))!;
    assert.deepEqual(all.map((c) => c.field), ['cpu', 'cores', 'runtime']);
    assert.equal(describeChanges(all), 'CPU model "AMD EPYC" → now "Intel Xeon"; cores 2 → now 8; runtime "onnxruntime-node 1.30.0" → now "@tensorflow/tfjs-tflite 0.0.1-alpha.10"');
  });

  it('detects a runtime upgrade even when the hash is equal', () => {
    assert.deepEqual(fingerprintChanges(fp(), fp({ runtime: 'onnxruntime-node 1.31.0' }))!.map((c) => c.field), ['runtime']);
  });

  it('cannot tell without both fingerprints (imported tables, table-only or remote devices)', () => {
    assert.equal(fingerprintChanges(null, fp()), null);
    assert.equal(fingerprintChanges(fp(), null), null);
    assert.equal(fingerprintChanges(undefined, undefined), null);
  });
});

describe('DeviceService: stale tables', () => {
  const home = tempDir();
  const ws = workspace(home);
  const devices = new DeviceService(ws);
  devices.registry.save({ id: 'box', name: 'box', backend: 'fp-test-local', options: {} });
  devices.registry.save({ id: 'board', name: 'board', backend: 'fp-test-remote', options: {} });
  devices.registry.save({ id: 'ofa', name: 'ofa', backend: TABLE_ONLY, options: {} });

  it('warns with the differing fields, refuses when strict, and says nothing for a current table', async () => {
    const live = (await devices.fingerprint(devices.get('box')))!;
    assert.equal(live.runtime, 'fake-runtime 2.0.0');
    const what = { kind: 'latency table', file: 'x.json', refresh: 'tailor profile --device box --space s --force' };
    assert.deepEqual(await devices.checkMeasuredOn(devices.get('box'), table('box', 's', live), what, true), []);
    const old = table('box', 's', { ...live, runtime: 'fake-runtime 1.0.0' }); // same hash: only the runtime moved
    const [w] = await devices.checkMeasuredOn(devices.get('box'), old, what);
    assert.match(w, /latency table x\.json of device "box" was measured on different hardware or runtime: runtime "fake-runtime 1\.0\.0" → now "fake-runtime 2\.0\.0"\. .*tailor profile --device box --space s --force.*--strict/);
    await assert.rejects(devices.checkMeasuredOn(devices.get('box'), old, what, true), (e) => e instanceof TailorError && e.code === 'FINGERPRINT_MISMATCH' && e.status === 409 && /runtime "fake-runtime 1\.0\.0"/.test(e.message) && !/CPU model/.test(e.message));
  });

  it('never warns for table-only or silent remote devices, nor for tables without a fingerprint; strict refuses what it cannot check, except on table-only devices', async () => {
    const other = fp({ cpu: 'Other CPU' });
    const what = { kind: 'latency table', file: 'x.json', refresh: '' };
    assert.deepEqual(await devices.checkMeasuredOn(devices.get('ofa'), table('ofa', 's', other), what, true), []);
    assert.deepEqual(await devices.checkMeasuredOn(devices.get('board'), table('board', 's', other), what), []);
    await assert.rejects(devices.checkMeasuredOn(devices.get('board'), table('board', 's', other), what, true), (e) => e instanceof TailorError && e.code === 'FINGERPRINT_UNKNOWN' && e.status === 409
      && /^Cannot tell whether the latency table x\.json of device "board" is current: remote fp-test-remote device: no live fingerprint reported/.test(e.message));
    assert.deepEqual(await devices.checkMeasuredOn(devices.get('box'), table('box', 's', null), what), []);
    await assert.rejects(devices.checkMeasuredOn(devices.get('box'), table('box', 's', null), what, true), (e) => e instanceof TailorError && e.code === 'FINGERPRINT_UNKNOWN' && e.status === 409
      && /^Cannot tell whether the latency table x\.json of device "box" is current: the file records no fingerprint \(imported\)\. --strict refuses what it cannot check\.$/.test(e.message));
    // A table-only device has no hardware its tables could be stale against: nothing to refuse.
    assert.deepEqual(await devices.checkMeasuredOn(devices.get('ofa'), table('ofa', 's', null), what, true), []);
  });

  it('lists each device\'s tables and kernel regressors, stale with the reason, or unknown', async () => {
    const live = await localFingerprint('fake-runtime 2.0.0');
    saveTable(ws, table('box', 'ofa-mbv3-w1.0', live));
    saveTable(ws, table('box', 'ofa-mbv3-w1.2', { ...live, cpu: 'Other CPU', cores: 64 }));
    fs.writeFileSync(path.join(ws.tablesDir, 'box', 'broken.json'), '{');
    // Kernel regressors record the machine the same way; a file this Tailor cannot read is listed with its error.
    fs.mkdirSync(path.join(ws.tablesDir, 'box', 'kernels'));
    fs.writeFileSync(path.join(ws.tablesDir, 'box', 'kernels', 'regressors.json'), JSON.stringify({ schema: 'old', device: { id: 'box', fingerprint: live } }));
    saveTable(ws, table('board', 'ofa-mbv3-w1.0', live));
    saveTable(ws, table('ofa', 'ofa-mbv3-w1.2', null));

    const box = await devices.describe(devices.get('box'));
    const bySpace = new Map(box.tables.map((t) => [t.space, t]));
    assert.deepEqual([...bySpace.keys()], ['broken', 'ofa-mbv3-w1.0', 'ofa-mbv3-w1.2', null]);
    assert.equal(bySpace.get('ofa-mbv3-w1.0')!.stale, false);
    assert.equal(bySpace.get('ofa-mbv3-w1.0')!.reason, null);
    assert.deepEqual(bySpace.get('ofa-mbv3-w1.0')!.measuredOn, { cpu: live.cpu, cores: live.cores, runtime: 'fake-runtime 2.0.0', hash: live.hash });
    assert.deepEqual(bySpace.get('ofa-mbv3-w1.0')!.resolutions, [224]);
    const stale = bySpace.get('ofa-mbv3-w1.2')!;
    assert.equal(stale.stale, true);
    assert.equal(stale.reason, `CPU model "Other CPU" → now "${live.cpu}"; cores 64 → now ${live.cores}`);
    assert.equal(bySpace.get('broken')!.stale, 'unknown');
    assert.match(bySpace.get('broken')!.error!, /corrupt/);
    const kernels = bySpace.get(null)!;
    assert.equal(kernels.kind, 'kernel-regressors');
    assert.equal(kernels.stale, 'unknown');
    assert.match(kernels.error!, /schema/);

    const [board] = (await devices.describe(devices.get('board'))).tables;
    assert.equal(board.stale, 'unknown');
    assert.match(board.reason!, /remote fp-test-remote device: no live fingerprint reported/);
    const [ofa] = (await devices.describe(devices.get('ofa'))).tables;
    assert.equal(ofa.stale, 'unknown');
    assert.match(ofa.reason!, /table-only device/);
    assert.equal(ofa.measuredOn, null);
  });
});
