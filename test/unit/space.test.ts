import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { archId, maxArch, minArch, sampleArch, validateArch } from '../../src/core/arch';
import { resolveArch } from '../../src/core/arch-source';
import { TailorError } from '../../src/core/errors';
import { BlockSpec, archFromNet, netFromArch } from '../../src/core/net';
import { Rng } from '../../src/core/rng';
import { getSpace, makeDivisible, spaceWithIO } from '../../src/core/space';
import { NET_30MS, OFA } from '../helpers';
import * as path from 'node:path';

const w10 = getSpace('ofa-mbv3-w1.0');
const w12 = getSpace('ofa-mbv3-w1.2');

function expectCode(fn: () => unknown, code: string, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof TailorError && e.code === code && (!pattern || pattern.test(e.message)));
}

describe('search spaces', () => {
  it('has OFA MobileNetV3 widths for w1.0 and w1.2', () => {
    const widths = (s: typeof w10) => [s.stem.width, s.firstBlock.width, ...s.stages.map((x) => x.width), s.finalExpandWidth, s.featureMixWidth];
    assert.deepEqual(widths(w10), [16, 16, 24, 40, 80, 112, 160, 960, 1280]);
    assert.deepEqual(widths(w12), [24, 24, 32, 48, 96, 136, 192, 1152, 1536]);
    assert.deepEqual(w10.stages.map((s) => [s.stride, s.act, s.se]), [
      [2, 'relu', false], [2, 'relu', true], [2, 'h_swish', false], [1, 'h_swish', true], [2, 'h_swish', true],
    ]);
    assert.deepEqual([w10.kernelSizes, w10.expandRatios, w10.depths], [[3, 5, 7], [3, 4, 6], [2, 3, 4]]);
    assert.equal(w10.resolutions.length, 25);
    assert.equal(w10.resolutions[0], 128);
    assert.equal(w10.resolutions[24], 224);
  });

  it('make_divisible follows OFA (never more than 10% down)', () => {
    assert.equal(makeDivisible(19.2), 24);
    assert.equal(makeDivisible(134.4), 136);
    assert.equal(makeDivisible(72), 72);
    assert.equal(makeDivisible(6), 8);
  });

  it('has variants for other input channels and classes, with their own stem and classifier (and tables)', () => {
    const tiny = getSpace('ofa-mbv3-tiny');
    const grey = getSpace('ofa-mbv3-tiny@in1-out10');
    assert.equal(grey.inputChannels, 1);
    assert.equal(grey.numClasses, 10);
    assert.deepEqual(grey.stages, tiny.stages);
    assert.equal(spaceWithIO(tiny, { inputChannels: 1 }).id, 'ofa-mbv3-tiny@in1-out10');
    assert.equal(spaceWithIO(grey, { inputChannels: 3 }), tiny, 'the default io is the space itself');
    assert.equal(spaceWithIO(grey, { numClasses: 5 }).id, 'ofa-mbv3-tiny@in1-out5');
    const stem = (s: ReturnType<typeof getSpace>) => netFromArch(s, maxArch(s)).stem;
    assert.deepEqual([stem(grey).inChannels, stem(tiny).inChannels], [1, 3]);
    expectCode(() => getSpace('ofa-mbv3-tiny@in0-out10'), 'UNKNOWN_SPACE');
    expectCode(() => getSpace('ofa-mbv9@in1-out10'), 'UNKNOWN_SPACE');
  });

  it('rejects configs outside the space with specific messages', () => {
    const ok = maxArch(w10);
    expectCode(() => validateArch({ ...ok, ks: [4, ...ok.ks.slice(1)] }, w10), 'INVALID_ARCH', /ks\[0\] = 4 is not one of 3, 5, 7/);
    expectCode(() => validateArch({ ...ok, d: [5, 4, 4, 4, 4] }, w10), 'INVALID_ARCH', /d\[0\] = 5/);
    expectCode(() => validateArch({ ...ok, r: 225 }, w10), 'INVALID_ARCH', /resolution 225 is not in the space/);
    expectCode(() => validateArch({ ...ok, e: ok.e.slice(1) }, w10), 'INVALID_ARCH', /"e" has 19 entries/);
    expectCode(() => validateArch('nope', w10), 'INVALID_ARCH');
    expectCode(() => getSpace('ofa-mbv9'), 'UNKNOWN_SPACE', /Known spaces: ofa-mbv3-w1.0, ofa-mbv3-w1.2/);
    assert.deepEqual(validateArch({ ks: ok.ks, e: ok.e, d: ok.d, r: [224] }, w10).r, 224); // OFA's r: [224]
  });

  it('samples reproducibly from a seed', () => {
    const a = Array.from({ length: 5 }, ((rng) => () => sampleArch(w10, rng))(new Rng(42)));
    const b = Array.from({ length: 5 }, ((rng) => () => sampleArch(w10, rng))(new Rng(42)));
    const c = Array.from({ length: 5 }, ((rng) => () => sampleArch(w10, rng))(new Rng(43)));
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    for (const arch of a) assert.deepEqual(validateArch(arch, w10), arch);
  });

  it('turns elastic archs into static nets and back', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 20; i++) {
      const arch = sampleArch(w12, rng);
      const back = archFromNet(netFromArch(w12, arch))!;
      assert.equal(archId(w12, back), archId(w12, arch));
    }
    const min = netFromArch(w10, minArch(w10));
    assert.equal(min.blocks.length, 1 + 5 * 2);
  });

  it('loads OFA static nets of both kinds', () => {
    const v3 = resolveArch(NET_30MS);
    assert.equal(v3.net.kind, 'MobileNetV3');
    assert.equal(v3.space?.id, 'ofa-mbv3-w1.2');
    assert.equal(v3.net.resolution, 224);
    const proxyless = resolveArch(path.join(OFA, 'specialized', '1080ti_gpu64-12ms_top1-72.6_finetune-25'));
    assert.equal(proxyless.net.kind, 'ProxylessNASNets');
    assert.equal(proxyless.space, null);
    assert.equal(proxyless.net.resolution, 128);
    assert.equal((proxyless.net.blocks[0] as BlockSpec).act, 'relu6');
  });

  it('resolves --arch keywords, inline JSON and errors', () => {
    assert.deepEqual(resolveArch('max', 'ofa-mbv3-w1.0').arch, maxArch(w10));
    assert.deepEqual(resolveArch('random:3', 'ofa-mbv3-w1.0').arch, resolveArch('random:3', 'ofa-mbv3-w1.0').arch);
    const inline = resolveArch(JSON.stringify(minArch(w12)));
    assert.equal(inline.space?.id, 'ofa-mbv3-w1.2');
    expectCode(() => resolveArch('max'), 'INVALID_ARCH_SOURCE', /needs --space/);
    expectCode(() => resolveArch('/no/such/file.json'), 'INVALID_ARCH_SOURCE', /no such file/);
    expectCode(() => resolveArch('{"ks": [', 'ofa-mbv3-w1.0'), 'INVALID_ARCH_SOURCE');
    expectCode(() => resolveArch(JSON.stringify(minArch(w12)), 'ofa-mbv3-w1.0'), 'INVALID_ARCH', /says space "ofa-mbv3-w1.2"/);
  });
});
