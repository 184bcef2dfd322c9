import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ArchConfig, isBlockActive, maxArch, minArch, sampleArch, validateArch } from '../../src/core/arch';
import { TailorError } from '../../src/core/errors';
import { Rng } from '../../src/core/rng';
import { SearchSpace, blockCount, getSpace } from '../../src/core/space';
import {
  Archive,
  Budgets,
  Evaluated,
  EvaluatedArch,
  SearchProblem,
  budgetChecker,
  constrainedDominates,
  constraintViolation,
  crossoverArch,
  crowdedCompare,
  crowdingDistance,
  dominates,
  encodeArch,
  encodeArchs,
  encodingLayout,
  evolution,
  fastNonDominatedSort,
  feasible,
  featureCount,
  hypervolume,
  mnasnet,
  mnasnetReward,
  mutateArch,
  mutationOptions,
  NSGA2_DEFAULTS,
  nonDominatedIndices,
  normalizedHypervolume,
  nsga2,
  randomSearch,
  rankAndCrowding,
  reinforce,
  survivorIndices,
  Vector,
} from '../../src/search';

const tiny = getSpace('ofa-mbv3-tiny');
const w10 = getSpace('ofa-mbv3-w1.0');

function expectCode(fn: () => unknown, code: string, pattern?: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof TailorError && e.code === code && (!pattern || pattern.test(e.message)));
}

// ---------------------------------------------------------------------------------------------
// A synthetic problem whose accuracy and latency are sums over genes, so the exact 2-D Pareto
// front (accuracy vs latency on device "a") follows from a small dynamic program.
// ---------------------------------------------------------------------------------------------

const KERNEL_COST: Record<number, number> = { 3: 1, 5: 2, 7: 4 };
const EXPAND_COST: Record<number, number> = { 3: 1, 4: 2, 6: 3 };
const KERNEL_VALUE: Record<number, number> = { 3: 1, 5: 1.5, 7: 1.8 };
const EXPAND_VALUE: Record<number, number> = { 3: 1, 4: 1.4, 6: 1.7 };
const STAGE_COST = [1, 1, 2, 2, 3];
const STAGE_VALUE = [1, 1.2, 1.5, 1.5, 2];
const RESOLUTION_COST = [0, 4, 8, 12];
const RESOLUTION_VALUE = [0, 3, 5, 6];
const BASE_LATENCY = 5;

function blockLatency(stage: number, kernelSize: number, expandRatio: number): number {
  return STAGE_COST[stage] * (KERNEL_COST[kernelSize] + EXPAND_COST[expandRatio]);
}
function blockScore(stage: number, kernelSize: number, expandRatio: number): number {
  return STAGE_VALUE[stage] * (KERNEL_VALUE[kernelSize] + EXPAND_VALUE[expandRatio]);
}

function synthetic(space: SearchSpace, arch: ArchConfig): Evaluated {
  const ri = space.resolutions.indexOf(arch.r);
  let a = BASE_LATENCY + RESOLUTION_COST[ri];
  let b = 2 + RESOLUTION_COST[ri] / 2;
  let score = RESOLUTION_VALUE[ri];
  let params = 0;
  for (let i = 0; i < blockCount(space); i++) {
    if (!isBlockActive(space, arch, i)) continue;
    const stage = Math.floor(i / space.maxDepth);
    a += blockLatency(stage, arch.ks[i], arch.e[i]);
    // Device b: kernels cost more, stages less, so the two latencies trade off differently.
    b += (5 - stage) * (2 * KERNEL_COST[arch.ks[i]] + EXPAND_COST[arch.e[i]]) * 0.5;
    score += blockScore(stage, arch.ks[i], arch.e[i]);
    params += (stage + 1) * 1000 * arch.e[i] + arch.ks[i] * arch.ks[i] * 10;
  }
  return { arch, accuracy: score / 100, latencyMs: { a, b }, params, macs: params * arch.r * arch.r, sizeBytes: 4 * params };
}

function problem(budgets?: Budgets, counter?: { calls: number; archs: number }): SearchProblem {
  return {
    devices: ['a', 'b'],
    budgets,
    evaluate: (archs) => {
      if (counter) {
        counter.calls++;
        counter.archs += archs.length;
      }
      return archs.map((arch) => synthetic(tiny, arch));
    },
  };
}

/** Max-plus convolution of two "best score at exactly this integer latency" tables. */
function combine(x: number[], y: number[]): number[] {
  const out = new Array<number>(x.length + y.length - 1).fill(-Infinity);
  x.forEach((sx, i) => {
    if (sx === -Infinity) return;
    y.forEach((sy, j) => {
      if (sy > -Infinity && sx + sy > out[i + j]) out[i + j] = sx + sy;
    });
  });
  return out;
}

/** Exact front of the synthetic problem in (latency on a, accuracy): the highest accuracy for each latency. */
function trueFront(space: SearchSpace): { latencyMs: number; accuracy: number }[] {
  let total = [0];
  for (let stage = 0; stage < space.stages.length; stage++) {
    const block: number[] = [];
    for (const k of space.kernelSizes) {
      for (const e of space.expandRatios) {
        const l = blockLatency(stage, k, e);
        while (block.length <= l) block.push(-Infinity);
        block[l] = Math.max(block[l], blockScore(stage, k, e));
      }
    }
    let stageBest: number[] = [-Infinity];
    let blocks = [0];
    for (let depth = 1; depth <= space.maxDepth; depth++) {
      blocks = combine(blocks, block);
      if (!space.depths.includes(depth)) continue;
      const merged = new Array<number>(Math.max(stageBest.length, blocks.length)).fill(-Infinity);
      merged.forEach((_, l) => (merged[l] = Math.max(stageBest[l] ?? -Infinity, blocks[l] ?? -Infinity)));
      stageBest = merged;
    }
    total = combine(total, stageBest);
  }
  const resolution: number[] = [];
  RESOLUTION_COST.forEach((l, i) => {
    while (resolution.length <= l) resolution.push(-Infinity);
    resolution[l] = RESOLUTION_VALUE[i];
  });
  total = combine(total, resolution);
  const front: { latencyMs: number; accuracy: number }[] = [];
  let best = -Infinity;
  total.forEach((score, l) => {
    if (score > best + 1e-12) {
      best = score;
      front.push({ latencyMs: BASE_LATENCY + l, accuracy: score / 100 });
    }
  });
  return front;
}

/** Highest accuracy the synthetic problem reaches within `latencyMs` on device a. */
function trueBestWithin(front: { latencyMs: number; accuracy: number }[], latencyMs: number): number {
  let best = -Infinity;
  for (const p of front) if (p.latencyMs <= latencyMs) best = Math.max(best, p.accuracy);
  return best;
}

/** Budget check written independently of the module under test. */
function withinBudgets(e: Evaluated, budgets: Budgets): boolean {
  for (const [device, limit] of Object.entries(budgets.latencyMs ?? {})) if (e.latencyMs[device] > limit) return false;
  if (budgets.maxParams !== undefined && e.params > budgets.maxParams) return false;
  if (budgets.maxMacs !== undefined && e.macs > budgets.maxMacs) return false;
  if (budgets.maxSizeBytes !== undefined && e.sizeBytes > budgets.maxSizeBytes) return false;
  return true;
}

const ids = (records: readonly EvaluatedArch[]) => records.map((r) => r.id);

// ---------------------------------------------------------------------------------------------

describe('search: encoding', () => {
  it("has OFA's feature count: resolutions + blocks x (kernel sizes + expand ratios)", () => {
    assert.equal(featureCount(tiny), 4 + 20 * 3 + 20 * 3);
    assert.equal(featureCount(w10), 25 + 20 * 3 + 20 * 3);
    assert.deepEqual(encodingLayout(tiny), { resolutionOffset: 0, kernelOffset: 4, expandOffset: 64, featureCount: 124 });
  });

  it('one-hot per active block, zeros for skipped blocks, one-hot resolution', () => {
    const rng = new Rng(3);
    for (let n = 0; n < 20; n++) {
      const arch = sampleArch(tiny, rng);
      const x = encodeArch(tiny, arch);
      assert.equal(x.length, featureCount(tiny));
      assert.deepEqual([...x.subarray(0, 4)], tiny.resolutions.map((r) => (r === arch.r ? 1 : 0)));
      let active = 0;
      for (let b = 0; b < 20; b++) {
        const kernel = [...x.subarray(4 + 3 * b, 7 + 3 * b)];
        const expand = [...x.subarray(64 + 3 * b, 67 + 3 * b)];
        if (isBlockActive(tiny, arch, b)) {
          active++;
          assert.deepEqual(kernel, tiny.kernelSizes.map((k) => (k === arch.ks[b] ? 1 : 0)));
          assert.deepEqual(expand, tiny.expandRatios.map((e) => (e === arch.e[b] ? 1 : 0)));
        } else {
          assert.deepEqual([kernel, expand], [[0, 0, 0], [0, 0, 0]]);
        }
      }
      assert.equal(active, arch.d.reduce((a, b) => a + b, 0));
      assert.equal(x.reduce((a, b) => a + b, 0), 1 + 2 * active);
    }
  });

  it('settings of skipped blocks do not change the encoding; batches are rows of single encodings', () => {
    const a = minArch(tiny, 28);
    const b = { ...a, ks: a.ks.map((k, i) => (i % 4 >= 2 ? 7 : k)), e: a.e.map((e, i) => (i % 4 >= 2 ? 6 : e)) };
    assert.deepEqual(encodeArch(tiny, a), encodeArch(tiny, b));
    const full = maxArch(tiny);
    const batch = encodeArchs(tiny, [a, full]);
    assert.deepEqual([...batch], [...encodeArch(tiny, a), ...encodeArch(tiny, full)]);
    expectCode(() => encodeArch(tiny, { ...a, r: 30 }), 'INVALID_ARCH', /resolution 30/);
  });
});

describe('search: operators', () => {
  it('mutation with probability 0 keeps the arch, with 1 stays inside the space and the allowed resolutions', () => {
    const rng = new Rng(5);
    const arch = sampleArch(tiny, rng);
    assert.deepEqual(mutateArch(tiny, arch, rng, mutationOptions(tiny, { mutateProb: 0, resolutionMutateProb: 0 })), arch);
    const options = mutationOptions(tiny, { mutateProb: 1, resolutionMutateProb: 1, resolutions: [24, 32] });
    let changed = 0;
    for (let n = 0; n < 30; n++) {
      const child = mutateArch(tiny, arch, rng, options);
      assert.deepEqual(validateArch(child, tiny), child);
      assert.ok([24, 32].includes(child.r));
      changed += child.ks.filter((k, i) => k !== arch.ks[i]).length;
    }
    assert.ok(changed > 30 * 20 * 0.5, 'about 2/3 of the kernel sizes change when every gene is resampled');
    expectCode(() => mutationOptions(tiny, { mutateProb: 1.5 }), 'INVALID_OPTION', /mutateProb/);
    expectCode(() => mutationOptions(tiny, { resolutions: [30] }), 'INVALID_OPTION', /30 not in/);
  });

  it('crossover takes every gene from one of the parents, both parents contribute', () => {
    const rng = new Rng(6);
    const a = maxArch(tiny, 32);
    const b = minArch(tiny, 20);
    const child = crossoverArch(a, b, rng);
    child.ks.forEach((k, i) => assert.ok(k === a.ks[i] || k === b.ks[i]));
    child.e.forEach((e, i) => assert.ok(e === a.e[i] || e === b.e[i]));
    child.d.forEach((d, i) => assert.ok(d === a.d[i] || d === b.d[i]));
    assert.ok([20, 32].includes(child.r));
    assert.ok(child.ks.includes(7) && child.ks.includes(3));
    assert.deepEqual(crossoverArch(a, b, new Rng(9)), crossoverArch(a, b, new Rng(9)));
  });
});

describe('search: Pareto tools', () => {
  it('domination, non-dominated filter, constrained domination', () => {
    assert.ok(dominates([1, 2], [1, 3]));
    assert.ok(!dominates([1, 2], [1, 2]));
    assert.ok(!dominates([1, 3], [2, 2]));
    assert.deepEqual(nonDominatedIndices([[1, 3], [2, 2], [2, 3], [3, 1], [1, 3]]), [0, 1, 3, 4]);
    assert.ok(constrainedDominates([9, 9], 0, [1, 1], 0.1), 'feasible beats infeasible');
    assert.ok(constrainedDominates([9, 9], 0.1, [1, 1], 0.2), 'smaller violation wins');
    assert.ok(!constrainedDominates([1, 1], 0.2, [9, 9], 0));
  });

  it('fast non-dominated sort and crowding distance', () => {
    const points = [[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 6]];
    assert.deepEqual(fastNonDominatedSort(points), [[0, 1, 2], [3, 5], [4]]);
    // With violations: the infeasible point 0 drops behind every feasible one.
    assert.deepEqual(fastNonDominatedSort(points, [0.5, 0, 0, 0, 0, 0]), [[1, 2], [3, 5], [4], [0]]);
    const d = crowdingDistance(points, [0, 1, 2]);
    assert.equal(d[0], Infinity);
    assert.equal(d[2], Infinity);
    assert.ok(Math.abs(d[1] - ((4 - 1) / 3 + (5 - 1) / 4)) < 1e-12);
  });

  it('NSGA-II selection: crowded comparison and elitist survival', () => {
    // Front 0: five points, 1 and 2 crowded together; front 1: two points behind it.
    const points = [[0, 10], [1, 9], [1.2, 8.8], [5, 5], [10, 0], [3, 10], [10, 3]];
    const { rank, crowding } = rankAndCrowding(points);
    assert.deepEqual(rank, [0, 0, 0, 0, 0, 1, 1]);
    assert.deepEqual(crowding.slice(1, 4).map((d) => Math.round(d * 100) / 100), [0.24, 0.8, 1.76]);
    assert.ok(crowdedCompare(0, 5, rank, crowding) < 0, 'lower rank wins, even against an extreme of a worse front');
    assert.ok(crowdedCompare(5, 0, rank, crowding) > 0);
    assert.ok(crowdedCompare(3, 1, rank, crowding) < 0, 'same rank: the less crowded wins');
    assert.equal(crowdedCompare(0, 4, rank, crowding), 0);
    assert.deepEqual(survivorIndices(points, 6), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(survivorIndices(points, 3), [0, 4, 3], 'a cut front keeps its extremes, then the least crowded');
    assert.deepEqual(survivorIndices(points, 2, [0.1, 0, 0, 0, 0, 0, 0]), [1, 4], 'an infeasible point goes behind every feasible one');
  });

  it('hypervolume of small fronts matches hand-computed values', () => {
    assert.equal(hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]), 3 + 2 + 1);
    assert.equal(hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0]], [4, 4]), 6, 'dominated points and points beyond the reference add nothing');
    assert.equal(hypervolume([[0, 0, 0]], [1, 2, 3]), 6);
    // Three boxes of 6, pairwise overlaps of 2, common overlap 1: 18 - 6 + 1.
    assert.equal(hypervolume([[1, 2, 3], [2, 3, 1], [3, 1, 2]], [4, 4, 4]), 13);
    assert.equal(hypervolume([[1, 2, 3], [1, 2, 3], [2, 3, 3]], [4, 4, 4]), 6, 'duplicates count once');
    assert.equal(hypervolume([[1, 1, 1, 1]], [2, 3, 4, 5]), 1 * 2 * 3 * 4);
    assert.equal(hypervolume([], [1, 1, 1]), 0);
    // Normalized: objectives scaled to [0, 1] by ideal/nadir, reference 1.1.
    const hv = normalizedHypervolume([[-0.8, 10], [-0.6, 5]], { ideal: [-0.8, 5], nadir: [-0.6, 10] });
    assert.ok(Math.abs(hv - (1.1 * 0.1 + 0.1 * 1.1 - 0.1 * 0.1)) < 1e-12);
  });

  it('hypervolume agrees with inclusion-exclusion and an exact grid count in 3 and 4 objectives', () => {
    const rng = new Rng(11);
    const inclusionExclusion = (points: number[][], ref: number[]) => {
      let total = 0;
      for (let mask = 1; mask < 1 << points.length; mask++) {
        const corner = ref.map(() => -Infinity);
        let size = 0;
        points.forEach((p, i) => {
          if (mask & (1 << i)) {
            size++;
            p.forEach((v, k) => (corner[k] = Math.max(corner[k], v)));
          }
        });
        total += (size % 2 ? 1 : -1) * corner.reduce((vol, v, k) => vol * Math.max(0, ref[k] - v), 1);
      }
      return total;
    };
    for (const dims of [3, 4]) {
      for (let trial = 0; trial < 20; trial++) {
        const points = Array.from({ length: 8 }, () => Array.from({ length: dims }, () => rng.float()));
        const ref = Array.from({ length: dims }, () => 1.1);
        assert.ok(Math.abs(hypervolume(points, ref) - inclusionExclusion(points, ref)) < 1e-9);
      }
      // Integer points: the dominated region is a union of unit cells, counted exactly.
      const side = 8;
      const points = Array.from({ length: 25 }, () => Array.from({ length: dims }, () => rng.int(0, side - 1)));
      let cells = 0;
      const cell = new Array<number>(dims).fill(0);
      for (let n = 0; n < side ** dims; n++) {
        let rest = n;
        for (let k = 0; k < dims; k++) {
          cell[k] = rest % side;
          rest = Math.floor(rest / side);
        }
        if (points.some((p) => p.every((v, k) => v <= cell[k]))) cells++;
      }
      assert.equal(hypervolume(points, new Array<number>(dims).fill(side)), cells);
    }
  });

  it('hypervolume of a few hundred points on a 3-D and 4-D front matches a Monte Carlo estimate', () => {
    const rng = new Rng(12);
    for (const dims of [3, 4]) {
      // Points on the concave sphere front sum(x^2) = 1, all non-dominated.
      const points = Array.from({ length: dims === 3 ? 300 : 150 }, () => {
        const v = Array.from({ length: dims }, () => Math.abs(rng.normal()));
        const norm = Math.hypot(...v);
        return v.map((x) => x / norm);
      });
      const ref = new Array<number>(dims).fill(1.1);
      const started = Date.now();
      const exact = hypervolume(points, ref);
      assert.ok(Date.now() - started < 2000, `${dims}-D hypervolume took ${Date.now() - started} ms`);
      const samples = 40_000;
      let hits = 0;
      for (let n = 0; n < samples; n++) {
        const x = ref.map((r) => rng.float() * r);
        if (points.some((p) => p.every((v, k) => v <= x[k]))) hits++;
      }
      const box = 1.1 ** dims;
      const share = hits / samples;
      const se = Math.sqrt((share * (1 - share)) / samples) * box;
      assert.ok(Math.abs(exact - share * box) < 4 * se, `${dims}-D: exact ${exact}, Monte Carlo ${share * box} ± ${se}`);
    }
  });
});

describe('search: problem and constraints', () => {
  it('feasibility and relative violation', () => {
    const e = synthetic(tiny, maxArch(tiny));
    const budgets: Budgets = { latencyMs: { a: e.latencyMs.a / 2 }, maxParams: e.params * 2 };
    assert.ok(!feasible(e, budgets));
    assert.ok(Math.abs(constraintViolation(e, budgets) - 1) < 1e-12);
    assert.ok(feasible(e, { maxParams: e.params }));
    assert.equal(constraintViolation(e, undefined), 0);
  });

  it('a budget checker reads the limits once and agrees with feasible and constraintViolation', () => {
    const rng = new Rng(13);
    const all: Budgets[] = [{}, BUDGETS, { latencyMs: { b: 90 }, maxMacs: 2e7, maxSizeBytes: 6e5 }, { maxParams: 0 }];
    for (const budgets of all) {
      const checker = budgetChecker(budgets);
      for (let n = 0; n < 200; n++) {
        const e = synthetic(tiny, sampleArch(tiny, rng));
        assert.equal(checker.feasible(e), feasible(e, budgets));
        assert.equal(checker.feasible(e), withinBudgets(e, budgets));
        assert.equal(checker.violation(e), constraintViolation(e, budgets));
        assert.equal(checker.violation(e) === 0, checker.feasible(e));
      }
    }
    assert.throws(() => budgetChecker({ latencyMs: { c: 1 } }).feasible(synthetic(tiny, minArch(tiny))), /no latency for device "c"/);
  });

  it('archive records hold exactly the evaluated fields, the arch as asked, and the budget verdict', () => {
    const archive = new Archive(tiny, problem(BUDGETS));
    const rng = new Rng(14);
    const archs = Array.from({ length: 30 }, () => sampleArch(tiny, rng));
    const records = archive.evaluate([...archs, archs[0]], 3);
    assert.equal(records.length, 31);
    assert.equal(records[30], records[0], 'a repeat is served from the archive');
    assert.equal(archive.size, 30);
    records.slice(0, 30).forEach((r, i) => {
      const e = synthetic(tiny, archs[i]);
      assert.deepEqual(Object.keys(r), ['arch', 'accuracy', 'latencyMs', 'params', 'macs', 'sizeBytes', 'id', 'feasible', 'violation', 'step']);
      assert.deepEqual(r.arch, archs[i]);
      assert.notEqual(r.arch.ks, archs[i].ks, 'the record keeps its own copy of the arch');
      assert.deepEqual([r.accuracy, r.latencyMs, r.params, r.macs, r.sizeBytes], [e.accuracy, e.latencyMs, e.params, e.macs, e.sizeBytes]);
      assert.deepEqual([r.feasible, r.violation, r.step], [withinBudgets(e, BUDGETS), constraintViolation(e, BUDGETS), 3]);
    });
  });

  it('budgets on a device the problem does not evaluate are refused', () => {
    expectCode(() => evolution(tiny, problem({ latencyMs: { c: 10 } }), { seed: 1, generations: 1 }), 'INVALID_OPTION', /device\(s\) c/);
    expectCode(() => nsga2(tiny, problem(), { seed: 1, objectives: ['accuracy', 'latency:x'] }), 'INVALID_OPTION', /x not evaluated/);
    expectCode(() => mnasnet(tiny, problem(), { seed: 1, target: { device: 'x', latencyMs: 10 } }), 'INVALID_OPTION');
    expectCode(() => evolution(tiny, problem(), { seed: 1, population: 10, parents: 20 }), 'INVALID_OPTION', /parents/);
  });
});

// About one random arch in ten meets all three.
const BUDGETS: Budgets = { latencyMs: { a: 115, b: 130 }, maxParams: 190_000 };

describe('search: algorithms', () => {
  const small = { population: 20, parents: 5, mutants: 10, generations: 8 };

  it('are deterministic: the same seed gives identical results, another seed different ones', () => {
    const runs: [string, (seed: number) => { evaluated: EvaluatedArch[]; history: unknown[] }][] = [
      ['evolution', (seed) => evolution(tiny, problem(BUDGETS), { seed, ...small })],
      ['mnasnet', (seed) => mnasnet(tiny, problem(BUDGETS), { seed, ...small, target: { device: 'a', latencyMs: 70 } })],
      ['reinforce', (seed) => reinforce(tiny, problem(BUDGETS), { seed, iterations: 8, batchSize: 8, target: { device: 'a', latencyMs: 70 } })],
      ['nsga2', (seed) => nsga2(tiny, problem(BUDGETS), { seed, population: 20, generations: 6 })],
      ['random', (seed) => randomSearch(tiny, problem(BUDGETS), { seed, samples: 30 })],
    ];
    for (const [name, run] of runs) {
      const a = run(1);
      const b = run(1);
      const c = run(2);
      assert.deepEqual(ids(a.evaluated), ids(b.evaluated), name);
      assert.deepEqual(a.history, b.history, name);
      assert.notDeepEqual(ids(a.evaluated), ids(c.evaluated), name);
    }
  });

  it('every arch reported feasible meets the budgets; results keep each network once', () => {
    const target = { device: 'a', latencyMs: 70 };
    const results = [
      evolution(tiny, problem(BUDGETS), { seed: 3, ...small }),
      mnasnet(tiny, problem(BUDGETS), { seed: 3, ...small, target, reward: 'hard' }),
      reinforce(tiny, problem(BUDGETS), { seed: 3, iterations: 10, batchSize: 8, target }),
      nsga2(tiny, problem(BUDGETS), { seed: 3, population: 20, generations: 8 }),
      randomSearch(tiny, problem(BUDGETS), { seed: 3, samples: 40 }),
    ];
    for (const result of results) {
      assert.equal(result.evaluations, result.evaluated.length);
      assert.equal(new Set(ids(result.evaluated)).size, result.evaluated.length, `${result.algorithm}: duplicates`);
      assert.ok(result.evaluated.some((r) => !r.feasible), `${result.algorithm}: the budgets should reject something`);
      for (const r of result.evaluated) {
        assert.equal(r.feasible, withinBudgets(r, BUDGETS), `${result.algorithm}: ${r.id}`);
        assert.equal(r.accuracy, synthetic(tiny, r.arch).accuracy, 'each record holds its own arch');
      }
      const chosen: EvaluatedArch[] = [];
      if ('best' in result) chosen.push(result.best);
      if ('front' in result) chosen.push(...result.front);
      if ('population' in result) chosen.push(...result.population);
      assert.ok(chosen.length > 0);
      for (const r of chosen) assert.ok(withinBudgets(r, BUDGETS), `${result.algorithm} returned an arch over budget: ${r.id}`);
    }
  });

  it('evolution: batched evaluation, OFA-sized generations, no arch evaluated twice', () => {
    const counter = { calls: 0, archs: 0 };
    const result = evolution(tiny, problem(BUDGETS, counter), { seed: 4, ...small });
    assert.equal(counter.archs, result.evaluations, 'the evaluator sees each network once');
    assert.ok(counter.calls < result.evaluations / 3, `${counter.calls} calls for ${result.evaluations} archs: batches expected`);
    assert.equal(result.history.length, small.generations + 1);
    assert.equal(result.population.length, small.parents + small.population);
    for (let g = 1; g < result.history.length; g++) {
      assert.ok(result.history[g].bestAccuracy >= result.history[g - 1].bestAccuracy, 'parents survive, so the best never drops');
    }
    assert.equal(result.best.accuracy, Math.max(...result.evaluated.filter((r) => r.feasible).map((r) => r.accuracy)));
  });

  it('evolution finds better archs than random sampling with the same number of evaluations', () => {
    const budgets: Budgets = { latencyMs: { a: 80 } };
    const optimum = trueBestWithin(trueFront(tiny), 80);
    for (const seed of [1, 2, 3]) {
      const evolved = evolution(tiny, problem(budgets), { seed, population: 30, parents: 8, mutants: 15, generations: 15 });
      const sampled = randomSearch(tiny, problem(budgets), { seed, samples: 1e6, maxEvaluations: evolved.evaluations });
      assert.equal(sampled.evaluations, evolved.evaluations);
      assert.ok(evolved.best.accuracy <= optimum + 1e-12);
      assert.ok(
        evolved.best.accuracy > sampled.best.accuracy,
        `seed ${seed}: evolution ${evolved.best.accuracy} vs random ${sampled.best.accuracy} (optimum ${optimum}, ${evolved.evaluations} evaluations)`,
      );
    }
  });

  it('evolution falls back to the smallest arch when sampling finds nothing, and says clearly when nothing fits', () => {
    const smallest = synthetic(tiny, minArch(tiny, 20));
    const tight = evolution(tiny, problem({ latencyMs: { a: smallest.latencyMs.a } }), { seed: 1, population: 10, generations: 3, maxTries: 2 });
    assert.equal(tight.best.latencyMs.a, smallest.latencyMs.a);
    expectCode(
      () => evolution(tiny, problem({ latencyMs: { a: smallest.latencyMs.a - 1 } }), { seed: 1, population: 10, generations: 3, maxTries: 2 }),
      'NO_FEASIBLE_ARCH',
      /ofa-mbv3-tiny.*latency on a <= 40 ms.*21 evaluated, the closest has latency on a 41 ms > 40 ms/,
    );
    expectCode(() => nsga2(tiny, problem({ maxParams: 10 }), { seed: 1, population: 10, generations: 2 }), 'NO_FEASIBLE_ARCH', /params/);
    expectCode(() => randomSearch(tiny, problem({ maxParams: 10 }), { seed: 1, samples: 5, maxEvaluations: 20 }), 'NO_FEASIBLE_ARCH', /20 evaluated/);
  });

  it('NSGA-II returns a non-dominated front close to the exact one', () => {
    const exact = trueFront(tiny);
    const result = nsga2(tiny, problem(), { seed: 7, population: 60, generations: 40, objectives: ['accuracy', 'latency:a'] });
    const vectors = result.front.map((r) => [-r.accuracy, r.latencyMs.a]);
    assert.deepEqual(nonDominatedIndices(vectors), vectors.map((_, i) => i), 'the front is non-dominated');
    for (const r of result.evaluated) for (const v of vectors) assert.ok(!dominates([-r.accuracy, r.latencyMs.a], v), 'nothing evaluated dominates the front');
    const bounds = {
      ideal: [-exact[exact.length - 1].accuracy, exact[0].latencyMs],
      nadir: [-exact[0].accuracy, exact[exact.length - 1].latencyMs],
    };
    const found = normalizedHypervolume(vectors, bounds);
    const best = normalizedHypervolume(exact.map((p) => [-p.accuracy, p.latencyMs]), bounds);
    // Mean gap to the exact front, at the front's own latencies, in units of the front's accuracy range.
    const range = exact[exact.length - 1].accuracy - exact[0].accuracy;
    const gap = result.front.reduce((sum, r) => sum + (trueBestWithin(exact, r.latencyMs.a) - r.accuracy), 0) / result.front.length / range;
    assert.ok(found <= best + 1e-12);
    assert.ok(found / best > 0.94, `hypervolume ${found} of the exact ${best}`);
    assert.ok(gap < 0.06, `mean accuracy gap ${gap} of the range`);
    assert.ok(result.front.length >= 50, `${result.front.length} front points`);
    // Random sampling with the same evaluations gets much less of it.
    const sampled = randomSearch(tiny, problem(), { seed: 7, samples: result.evaluations, objectives: ['accuracy', 'latency:a'] });
    const baseline = normalizedHypervolume(sampled.front.map((r) => [-r.accuracy, r.latencyMs.a]), bounds);
    assert.equal(sampled.evaluations, result.evaluations);
    assert.ok(found - baseline > 0.1 * best, `NSGA-II ${found}, random ${baseline}, exact ${best}`);
    const last = result.history[result.history.length - 1];
    assert.equal(last.evaluations, result.evaluations);
  });

  it("NSGA-II's defaults (population 50) reach 0.99 of the exact front's hypervolume with 2% of a small space evaluated", () => {
    assert.deepEqual([NSGA2_DEFAULTS.population, NSGA2_DEFAULTS.generations], [50, 200], 'about 10k evaluations by default, as before');
    // A sub-space small enough to enumerate: kernel 5, expand 3 or 6, depth 3, one resolution: 2^15 networks.
    const sub: SearchSpace = { ...tiny, kernelSizes: [5], expandRatios: [3, 6], depths: [3], resolutions: [28] };
    const all: Vector[] = [];
    for (let n = 0; n < 2 ** 15; n++) {
      const e = tiny.stages.flatMap((_, s) => [0, 1, 2, 3].map((j) => (j < 3 && (n >> (3 * s + j)) & 1 ? 6 : 3)));
      const r = synthetic(tiny, { space: tiny.id, ks: new Array(20).fill(5), e, d: [3, 3, 3, 3, 3], r: 28 });
      all.push([-r.accuracy, r.latencyMs.a]);
    }
    // The exact front: by latency, every network more accurate than all faster ones.
    const front: Vector[] = [];
    for (const p of all.sort((a, b) => a[1] - b[1] || a[0] - b[0])) if (!front.length || p[0] < front[front.length - 1][0]) front.push(p);
    const bounds = {
      ideal: [Math.min(...front.map((p) => p[0])), Math.min(...front.map((p) => p[1]))],
      nadir: [Math.max(...front.map((p) => p[0])), Math.max(...front.map((p) => p[1]))],
    };
    const best = normalizedHypervolume(front, bounds);
    for (const seed of [1, 2, 3]) {
      // 12 generations: at most 650 evaluations, 2% of the 32768 networks.
      const result = nsga2(sub, problem(), { seed, generations: 12, objectives: ['accuracy', 'latency:a'] });
      assert.ok(result.evaluations <= 0.02 * 2 ** 15, `${result.evaluations} evaluations`);
      assert.equal(result.population.length, 50);
      const found = normalizedHypervolume(result.front.map((r) => [-r.accuracy, r.latencyMs.a]), bounds);
      assert.ok(found / best >= 0.99, `seed ${seed}: ${found / best} of the exact front's hypervolume after ${result.evaluations} evaluations`);
    }
  });

  it('NSGA-II on three objectives: the front covers both devices and the history tracks hypervolume', () => {
    const bounds = { ideal: [-0.6, 10, 5], nadir: [-0.1, 150, 120] };
    const result = nsga2(tiny, problem(BUDGETS), { seed: 8, population: 40, generations: 15, objectives: ['accuracy', 'latency:a', 'latency:b'], hypervolumeBounds: bounds });
    const vectors = result.front.map((r) => [-r.accuracy, r.latencyMs.a, r.latencyMs.b]);
    assert.equal(nonDominatedIndices(vectors).length, vectors.length);
    const hv = result.history.map((h) => h.hypervolume!);
    assert.ok(hv[hv.length - 1] > hv[0], `hypervolume ${hv[0]} -> ${hv[hv.length - 1]}`);
    assert.ok(result.history.every((h) => h.feasible <= 40 && h.frontSize <= h.feasible));
    assert.equal(result.history[result.history.length - 1].feasible, 40, 'constrained domination drives the population into the budgets');
  });

  it('MnasNet reward: soft and hard exponents', () => {
    assert.equal(mnasnetReward(0.8, 50, 50, 'soft'), 0.8);
    assert.ok(Math.abs(mnasnetReward(0.8, 100, 50, 'soft') - 0.8 * 2 ** -0.07) < 1e-15);
    assert.ok(Math.abs(mnasnetReward(0.8, 25, 50, 'soft') - 0.8 * 0.5 ** -0.07) < 1e-15);
    assert.equal(mnasnetReward(0.8, 25, 50, 'hard'), 0.8);
    assert.ok(Math.abs(mnasnetReward(0.8, 100, 50, 'hard') - 0.4) < 1e-15);
    assert.equal(mnasnetReward(0.8, 100, 50, { alpha: 0, beta: 0 }), 0.8);
  });

  it('MnasNet hard reward never prefers an arch over T to a faster one that is at least as accurate', () => {
    const target = { device: 'a', latencyMs: 100 };
    const result = mnasnet(tiny, problem(), { seed: 5, population: 30, parents: 8, mutants: 15, generations: 12, target, reward: 'hard' });
    const under = result.evaluated.filter((r) => r.latencyMs.a <= target.latencyMs);
    const over = result.evaluated.filter((r) => r.latencyMs.a > target.latencyMs);
    let pairs = 0;
    for (const fast of under) {
      for (const slow of over) {
        if (fast.accuracy < slow.accuracy) continue;
        pairs++;
        assert.ok(fast.reward > slow.reward, `${fast.id} (${fast.latencyMs.a} ms) vs ${slow.id} (${slow.latencyMs.a} ms)`);
      }
    }
    assert.ok(pairs > 100, `${pairs} pairs compared`);
    for (const r of under) assert.equal(r.reward, r.accuracy, 'under T the hard reward is the accuracy');
    assert.equal(result.best.reward, Math.max(...result.evaluated.map((r) => r.reward)));
    if (result.best.latencyMs.a > target.latencyMs) assert.ok(under.every((r) => r.accuracy < result.best.accuracy));
    assert.ok(result.front.length > 1);
  });

  it("REINFORCE: the policy's mean reward rises over the iterations", () => {
    const target = { device: 'a', latencyMs: 70 };
    const result = reinforce(tiny, problem(), { seed: 9, iterations: 60, batchSize: 16, target, reward: 'soft' });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = mean(result.history.slice(0, 5).map((h) => h.meanReward));
    const last = mean(result.history.slice(-5).map((h) => h.meanReward));
    assert.ok(last > first * 1.1, `mean reward ${first} -> ${last}`);
    assert.ok(result.history[result.history.length - 1].entropy < result.history[0].entropy, 'the policy sharpens');
    const p = result.policy;
    for (const dist of [...p.kernelSize, ...p.expandRatio, ...p.depth, p.resolution]) assert.ok(Math.abs(dist.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    assert.equal(result.best.reward, Math.max(...result.evaluated.map((r) => r.reward)));
  });
});
