/**
 * npm run bench:search -- --supernet <run> [--device local-cpu] [--home <dir>] [--seeds 3] [--budget 0.02]
 *
 * Search quality and speed on the predictors of a trained supernet: the run's accuracy predictor
 * (acc-predictor.json) and the device's latency table for the run's space (e.g. ofa-mbv3-tiny@in1-out10).
 * Everything is evaluated the way `tailor search` evaluates it (specialize's targetProblem:
 * predicted top-1 from the MLP, table latency from the compiled predictor, counts from the IR).
 *
 * (a) Quality. A sub-space of the run's space (fewer kernel sizes / expand ratios / depths /
 *     resolutions, same blocks) small enough to enumerate: every distinct network (by archId) is
 *     evaluated once, which gives the true Pareto front over the two objectives the emitted front
 *     is made of: predicted top-1 (maximized) and predicted latency on the device (minimized).
 *     Then NSGA-II, evolution, mnasnet, reinforce and random search the same sub-space with the
 *     same evaluation budget (--budget, a share of the sub-space's networks), --seeds seeds each.
 *     The score of a run is the normalized hypervolume of the front of what it evaluated within
 *     the budget, as a fraction of the true front's, with the same bounds for everyone (ideal and
 *     nadir of the true front, reference point 1.1). Goal for NSGA-II: >= 0.99; random is the floor.
 *     Evolution and mnasnet optimize one latency target each: they sweep --targets targets spread
 *     over the sub-space's latency range, the budget split evenly, and their evaluated networks
 *     are pooled into one front (as `tailor search` pools its per-device searches).
 * (b) Speed. OFA's full evolution (population 100, 25 parents, 50 mutants + 50 crossovers,
 *     500 generations, mutation probability 0.1) on the whole space under a latency budget (the
 *     median latency of 1000 seeded random subnets): wall and CPU time (goal: under 2 s),
 *     accuracy-predictor batch calls and archs predicted, latency predictions, and where the time
 *     goes. The ratio printed next to the wall time is against the bare MLP time for the same
 *     number of archs in batches of 100, measured in the same run (the floor of any evaluation).
 *
 * Nothing here measures latency on hardware: a busy machine slows (b) but changes no result.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { ArchConfig, archId, maxArch, minArch, sampleArch } from '../src/core/arch';
import { TailorError } from '../src/core/errors';
import { Rng } from '../src/core/rng';
import { SearchSpace, blockCount, spaceWithIO } from '../src/core/space';
import { workspace } from '../src/core/workspace';
import { AccuracyPredictor, loadPredictorFile } from '../src/accuracy/predictor';
import { LatencyPredictor } from '../src/latency/predictor';
import { LatencyTable, loadTable, tablePath } from '../src/latency/table';
import { EvaluatedArch } from '../src/search/archive';
import { EVOLUTION_DEFAULTS, evolution } from '../src/search/evolution';
import { DEFAULT_MUTATE_PROB } from '../src/search/operators';
import { mnasnet } from '../src/search/mnasnet';
import { NSGA2_DEFAULTS, nsga2 } from '../src/search/nsga2';
import { ObjectiveBounds, Vector, normalizedHypervolume } from '../src/search/pareto';
import { Budgets, Evaluated, ObjectiveKey, SearchProblem, latencyObjective } from '../src/search/problem';
import { randomSearch } from '../src/search/random';
import { reinforce } from '../src/search/reinforce';
import { EfficiencyPredictor, latencyEfficiency, targetProblem } from '../src/specialize/problem';
import { initEngine } from '../src/training/engine';
import { RunInfo, readRun } from '../src/training/runs';

interface Options {
  supernet: string;
  device: string;
  home?: string;
  seeds: number;
  budget: number;
  targets: number;
  kernels: number[];
  expands: number[];
  depths: number[];
  resolutions?: number[];
  skipQuality?: boolean;
  skipSpeed?: boolean;
  repeats: number;
  nsga2Population: number;
}

const intList = (v: string) => v.split(',').map((s) => Number(s.trim()));

const opts = new Command('bench:search')
  .requiredOption('--supernet <run>', 'training run directory holding acc-predictor.json')
  .option('--device <id>', 'device whose latency table is used', 'local-cpu')
  .option('--home <dir>', 'workspace holding latency-tables/ (default: $TAILOR_HOME or the current directory)')
  .option('--seeds <n>', 'seeds per algorithm in (a)', Number, 3)
  .option('--budget <f>', 'evaluation budget of every search in (a), as a share of the sub-space', Number, 0.02)
  .option('--targets <n>', 'latency targets swept by evolution, mnasnet and reinforce in (a)', Number, 4)
  .option('--kernels <list>', 'kernel sizes of the sub-space', intList, [5])
  .option('--expands <list>', 'expand ratios of the sub-space', intList, [3, 6])
  .option('--depths <list>', 'depths of the sub-space', intList, [3])
  .option('--resolutions <list>', 'resolutions of the sub-space (default: the highest the table covers)', intList)
  .option('--nsga2-population <n>', 'NSGA-II population in (a)', Number, NSGA2_DEFAULTS.population)
  .option('--repeats <n>', 'runs of the full evolution in (b) (same seed: the results must be identical)', Number, 3)
  .option('--skip-quality', 'skip (a)')
  .option('--skip-speed', 'skip (b)')
  .parse()
  .opts<Options>();

// ------------------------------------------------------------------------------------------------
// Inputs: the run, its predictor, the device's table. Each missing piece says which command makes it.
// ------------------------------------------------------------------------------------------------

function fail(message: string): never {
  process.stderr.write(`bench:search: ${message}\n`);
  process.exit(2);
}

function inputs(o: Options): { run: RunInfo; tableSpace: SearchSpace; predictorFile: ReturnType<typeof loadPredictorFile>; table: LatencyTable; home: string } {
  const ws = workspace(o.home);
  let run: RunInfo;
  try {
    run = readRun(o.supernet);
  } catch (e) {
    fail(`${(e as Error).message}\n  train one first, e.g.: node dist/cli.js train --space ofa-mbv3-tiny --dataset fashion-mnist --out ${o.supernet}`);
  }
  let predictorFile;
  try {
    predictorFile = loadPredictorFile(o.supernet, run.space);
  } catch (e) {
    fail(`${(e as Error).message}\n  make it with: node dist/cli.js --home ${ws.root} acc-predictor --supernet ${o.supernet}`);
  }
  // Tables are those of the trained network: the run's input channels and classes.
  const tableSpace = spaceWithIO(run.space, { inputChannels: run.channels, numClasses: run.classes.length });
  let table: LatencyTable;
  try {
    table = loadTable(ws, o.device, tableSpace.id);
  } catch (e) {
    if (e instanceof TailorError && e.code === 'TABLE_NOT_FOUND') {
      fail(`no latency table for device "${o.device}" and space "${tableSpace.id}" in ${ws.tablesDir} (looked for ${tablePath(ws, o.device, tableSpace.id)})\n` +
        `  make it with: node dist/cli.js --home ${ws.root} profile --device ${o.device} --space ${tableSpace.id}\n  (or point --home / TAILOR_HOME at the workspace that has it)`);
    }
    fail((e as Error).message);
  }
  return { run, tableSpace, predictorFile, table, home: ws.root };
}

// ------------------------------------------------------------------------------------------------
// Counting wrappers around the real predictors.
// ------------------------------------------------------------------------------------------------

interface Counters {
  accuracyCalls: number;
  accuracyArchs: number;
  accuracyNs: bigint;
  latencyPredictions: number;
  latencyNs: bigint;
  evaluateNs: bigint;
}

const newCounters = (): Counters => ({ accuracyCalls: 0, accuracyArchs: 0, accuracyNs: 0n, latencyPredictions: 0, latencyNs: 0n, evaluateNs: 0n });

function countedAccuracy(predictor: AccuracyPredictor, space: SearchSpace, c: Counters) {
  return {
    predict(archs: ArchConfig[]): number[] {
      const t = process.hrtime.bigint();
      const out = predictor.predict(archs, space);
      c.accuracyNs += process.hrtime.bigint() - t;
      c.accuracyCalls++;
      c.accuracyArchs += archs.length;
      return out;
    },
  };
}

function countedLatency(inner: EfficiencyPredictor, c: Counters): EfficiencyPredictor {
  return {
    metric: inner.metric,
    unit: inner.unit,
    predict(arch) {
      const t = process.hrtime.bigint();
      const ms = inner.predict(arch);
      c.latencyNs += process.hrtime.bigint() - t;
      c.latencyPredictions++;
      return ms;
    },
  };
}

function timedProblem(problem: SearchProblem, c: Counters): SearchProblem {
  return {
    devices: problem.devices,
    budgets: problem.budgets,
    evaluate(archs) {
      const t = process.hrtime.bigint();
      const out = problem.evaluate(archs);
      c.evaluateNs += process.hrtime.bigint() - t;
      return out;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// (a) helpers: the sub-space, its enumeration, a 2-D front, a budgeted evaluator.
// ------------------------------------------------------------------------------------------------

/** The run's space with fewer choices; same id and blocks, so its archs are archs of the run's space. */
function subSpace(space: SearchSpace, choice: { kernelSizes: number[]; expandRatios: number[]; depths: number[]; resolutions: number[] }): SearchSpace {
  for (const [name, list, allowed] of [
    ['--kernels', choice.kernelSizes, space.kernelSizes],
    ['--expands', choice.expandRatios, space.expandRatios],
    ['--depths', choice.depths, space.depths],
    ['--resolutions', choice.resolutions, space.resolutions],
  ] as const) {
    if (!list.length || list.some((v) => !allowed.includes(v))) fail(`${name} ${list.join(',')}: every value must be one of ${allowed.join(', ')}`);
  }
  const sorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
  return {
    ...space,
    kernelSizes: sorted(choice.kernelSizes),
    expandRatios: sorted(choice.expandRatios),
    depths: sorted(choice.depths),
    resolutions: sorted(choice.resolutions),
  };
}

/** Per stage: every depth and every (kernel, expand) of its active blocks; skipped blocks get the first choices. */
function stageOptions(space: SearchSpace): { d: number; ks: number[]; e: number[] }[] {
  const out: { d: number; ks: number[]; e: number[] }[] = [];
  const pairs = space.kernelSizes.flatMap((k) => space.expandRatios.map((e) => [k, e] as const));
  for (const d of space.depths) {
    const total = pairs.length ** d;
    for (let n = 0; n < total; n++) {
      const ks = new Array<number>(space.maxDepth).fill(space.kernelSizes[0]);
      const e = new Array<number>(space.maxDepth).fill(space.expandRatios[0]);
      let rest = n;
      for (let j = 0; j < d; j++) {
        [ks[j], e[j]] = pairs[rest % pairs.length];
        rest = Math.floor(rest / pairs.length);
      }
      out.push({ d, ks, e });
    }
  }
  return out;
}

/** Every distinct network of the space, once. */
function enumerate(space: SearchSpace): ArchConfig[] {
  const options = stageOptions(space);
  const stages = space.stages.length;
  const out: ArchConfig[] = [];
  const digits = new Array<number>(stages).fill(0);
  for (const r of space.resolutions) {
    digits.fill(0);
    for (;;) {
      const arch: ArchConfig = { space: space.id, ks: [], e: [], d: [], r };
      for (let s = 0; s < stages; s++) {
        const o = options[digits[s]];
        arch.ks.push(...o.ks);
        arch.e.push(...o.e);
        arch.d.push(o.d);
      }
      out.push(arch);
      let s = 0;
      while (s < stages && ++digits[s] === options.length) digits[s++] = 0;
      if (s === stages) break;
    }
  }
  return out;
}

/** Size by formula: resolutions x (sum over depths of (kernels x expands)^depth)^stages. */
function formulaSize(space: SearchSpace): number {
  const perStage = space.depths.reduce((n, d) => n + (space.kernelSizes.length * space.expandRatios.length) ** d, 0);
  return space.resolutions.length * perStage ** space.stages.length;
}

/** Non-dominated points of a 2-D minimization, O(n log n): sort by the 2nd objective, keep strict improvements of the 1st. */
function front2d(points: readonly Vector[]): Vector[] {
  const sorted = [...points].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  const out: Vector[] = [];
  let best = Infinity;
  for (const p of sorted) {
    if (p[0] < best) {
      out.push(p);
      best = p[0];
    }
  }
  return out;
}

class BudgetSpent extends Error {}

/** Passes evaluations through until `budget` networks were evaluated, then stops the search (throws). Keeps what it saw, in order. */
class Budgeted implements SearchProblem {
  readonly seen: Evaluated[] = [];
  constructor(
    private readonly inner: SearchProblem,
    private readonly budget: number,
    readonly budgets?: Budgets,
  ) {}
  get devices() {
    return this.inner.devices;
  }
  evaluate(archs: readonly ArchConfig[]): Evaluated[] {
    if (this.seen.length >= this.budget) throw new BudgetSpent();
    const out = this.inner.evaluate(archs);
    this.seen.push(...out);
    return out;
  }
  /** The first `budget` networks evaluated. */
  spent(): Evaluated[] {
    return this.seen.slice(0, this.budget);
  }
}

function untilSpent(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BudgetSpent)) throw e;
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (ns: bigint) => Number(ns) / 1e6;
const pad = (s: string | number, n: number) => String(s).padEnd(n);

async function main(): Promise<void> {
  const { run, tableSpace, predictorFile, table, home } = inputs(opts);
  const device = opts.device;
  const engine = await initEngine();
  const accuracy = new AccuracyPredictor(engine.tf, predictorFile);
  const latencyPredictor = new LatencyPredictor(table);
  const space = run.space;
  const covered = space.resolutions.filter((r) => table.resolutions.includes(r));
  if (!covered.length) fail(`the table ${tablePath(workspace(home), device, tableSpace.id)} covers no resolution of ${space.id}; profile it`);
  const cpus = os.cpus().length;
  console.log(`bench:search: supernet ${path.resolve(opts.supernet)} (${space.id} on ${run.dataset}; predictor held-out RMSE ${predictorFile.heldOut.rmsePoints.toFixed(2)} points, Kendall tau ${predictorFile.heldOut.kendallTau.toFixed(3)}, ${predictorFile.samples.train} training subnets)`);
  console.log(`  device ${device}, table ${tablePath(workspace(home), device, tableSpace.id)} (resolutions ${table.resolutions.join(', ')}); tfjs ${engine.backend}`);
  console.log(`  machine: ${cpus} CPU(s), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' / ')} (other jobs running slow down (b), never change a result)`);
  // Warm the MLP (tfjs compiles its kernels on the first call).
  accuracy.predict([minArch(space), maxArch(space)], space);

  const makeProblem = (c: Counters, budgets: Budgets = {}) =>
    timedProblem(
      targetProblem(tableSpace, countedAccuracy(accuracy, space, c), new Map([[device, countedLatency(latencyEfficiency(device, latencyPredictor, tableSpace), c)]]), budgets),
      c,
    );

  const summary: string[] = [];
  if (!opts.skipQuality) summary.push(...quality(space, covered, device, makeProblem));
  if (!opts.skipSpeed) summary.push(...speed(space, covered, device, accuracy, makeProblem));
  console.log('\n--- bench:search ---');
  for (const line of summary) console.log(line);
  accuracy.dispose();
}

// ------------------------------------------------------------------------------------------------
// (a) Quality against the exhaustive front of a sub-space.
// ------------------------------------------------------------------------------------------------

type MakeProblem = (c: Counters, budgets?: Budgets) => SearchProblem;

function quality(space: SearchSpace, covered: number[], device: string, makeProblem: MakeProblem): string[] {
  const sub = subSpace(space, {
    kernelSizes: opts.kernels,
    expandRatios: opts.expands,
    depths: opts.depths,
    resolutions: opts.resolutions ?? [Math.max(...covered)],
  });
  const missing = sub.resolutions.filter((r) => !covered.includes(r));
  if (missing.length) fail(`--resolutions ${missing.join(',')} not in the table (it covers ${covered.join(', ')})`);
  console.log(`\n(a) sub-space: kernel sizes ${sub.kernelSizes.join('/')}, expand ratios ${sub.expandRatios.join('/')}, depths ${sub.depths.join('/')}, resolutions ${sub.resolutions.join('/')} (${blockCount(sub)} blocks)`);

  const archs = enumerate(sub);
  const ids = archs.map((a) => archId(space, a));
  const size = new Set(ids).size;
  if (size !== archs.length || size !== formulaSize(sub)) throw new Error(`enumeration: ${archs.length} archs, ${size} distinct, formula ${formulaSize(sub)}`);
  console.log(`  ${size} distinct networks (archIds; = ${sub.resolutions.length} x ${formulaSize(sub) / sub.resolutions.length} by formula); evaluating every one with the real predictors ...`);

  const c = newCounters();
  const problem = makeProblem(c);
  const t0 = process.hrtime.bigint();
  const byId = new Map<string, Evaluated>();
  for (let i = 0; i < archs.length; i += 100) {
    problem.evaluate(archs.slice(i, i + 100)).forEach((e, j) => byId.set(ids[i + j], e));
  }
  const enumerateMs = ms(process.hrtime.bigint() - t0);
  console.log(`  evaluated in ${(enumerateMs / 1000).toFixed(1)} s (${c.accuracyCalls} predictor batches of 100; ${((size / enumerateMs) * 1000).toFixed(0)} networks/s)`);

  // The objectives of the emitted front: top-1 (maximized, so negated) and latency on the device.
  const objectives: ObjectiveKey[] = ['accuracy', latencyObjective(device)];
  const vector = (e: Evaluated): Vector => [-e.accuracy, e.latencyMs[device]];
  const trueFront = front2d([...byId.values()].map(vector));
  const bounds: ObjectiveBounds = {
    ideal: [trueFront[trueFront.length - 1][0], trueFront[0][1]],
    nadir: [trueFront[0][0], trueFront[trueFront.length - 1][1]],
  };
  const trueHv = normalizedHypervolume(trueFront, bounds);
  const accs = [...byId.values()].map((e) => e.accuracy);
  console.log(`  true front: ${trueFront.length} networks; top-1 ${(100 * -bounds.nadir[0]).toFixed(2)}..${(100 * -bounds.ideal[0]).toFixed(2)}% over ${(bounds.ideal[1]).toFixed(3)}..${bounds.nadir[1].toFixed(3)} ms ` +
    `(whole sub-space: top-1 ${(100 * Math.min(...accs)).toFixed(2)}..${(100 * Math.max(...accs)).toFixed(2)}%); normalized hypervolume ${trueHv.toFixed(4)} (reference 1.1)`);

  // The searches read the enumeration's results: the same numbers the front is made of.
  const lookup: SearchProblem = {
    devices: [device],
    evaluate: (batch) =>
      batch.map((a) => {
        const e = byId.get(archId(space, a));
        if (!e) throw new Error(`search left the sub-space: ${archId(space, a)}`);
        return e;
      }),
  };
  const budget = Math.floor(opts.budget * size);
  const lo = lookup.evaluate([minArch(sub)])[0].latencyMs[device];
  const hi = lookup.evaluate([maxArch(sub)])[0].latencyMs[device];
  const targets = Array.from({ length: opts.targets }, (_, i) => lo + ((i + 0.5) / opts.targets) * (hi - lo));
  const share = (i: number) => Math.floor(budget / opts.targets) + (i < budget % opts.targets ? 1 : 0);
  console.log(`  budget: ${budget} evaluations per search (${(100 * opts.budget).toFixed(1)}% of the sub-space); latency targets for the single-objective searches: ${targets.map((t) => t.toFixed(3)).join(', ')} ms (${opts.targets} evenly inside ${lo.toFixed(3)}..${hi.toFixed(3)} ms, the smallest and largest network)`);

  /**
   * Runs `search` once with the whole budget, or once per latency target with its share (and, for
   * evolution, the target as a hard latency budget); returns everything evaluated within the budget.
   */
  const pooled = (mode: 'once' | 'per-target' | 'per-target-hard', seed: number, search: (problem: Budgeted, target: number, seed: number) => void) => {
    const seen: Evaluated[] = [];
    const runs = mode === 'once' ? [NaN] : targets;
    runs.forEach((target, i) => {
      const b = new Budgeted(lookup, mode === 'once' ? budget : share(i), mode === 'per-target-hard' ? { latencyMs: { [device]: target } } : undefined);
      untilSpent(() => search(b, target, seed * 1000 + i));
      seen.push(...b.spent());
    });
    return seen;
  };

  const evolutionSettings = { population: 20, parents: 5, mutants: 10 };
  const nsga2Population = opts.nsga2Population;
  const algorithms: { name: string; settings: string; run: (seed: number) => Evaluated[] }[] = [
    {
      name: 'nsga2',
      settings: `population ${nsga2Population}${nsga2Population === NSGA2_DEFAULTS.population ? ' (default)' : ''}, objectives top-1 + latency`,
      run: (seed) => pooled('once', seed, (b) => nsga2(sub, b, { seed, population: nsga2Population, generations: 10_000, objectives })),
    },
    {
      name: 'nsga2 (3 obj.)',
      settings: `population ${nsga2Population}${nsga2Population === NSGA2_DEFAULTS.population ? ' (default)' : ''}, its default objectives top-1 + latency + size`,
      run: (seed) => pooled('once', seed, (b) => nsga2(sub, b, { seed, population: nsga2Population, generations: 10_000 })),
    },
    {
      name: 'evolution',
      settings: `OFA's, population ${evolutionSettings.population}/${evolutionSettings.parents} parents/${evolutionSettings.mutants} mutants, latency <= each target`,
      run: (seed) => pooled('per-target-hard', seed, (b, _t, s) => evolution(sub, b, { seed: s, ...evolutionSettings, generations: 10_000 })),
    },
    {
      name: 'mnasnet',
      settings: `soft reward per target, population ${evolutionSettings.population}/${evolutionSettings.parents}/${evolutionSettings.mutants}`,
      run: (seed) => pooled('per-target', seed, (b, t, s) => mnasnet(sub, b, { seed: s, ...evolutionSettings, generations: 10_000, target: { device, latencyMs: t }, reward: 'soft' })),
    },
    {
      name: 'reinforce',
      settings: 'soft reward per target, batch 16',
      run: (seed) => pooled('per-target', seed, (b, t, s) => reinforce(sub, b, { seed: s, iterations: 10_000, target: { device, latencyMs: t }, reward: 'soft' })),
    },
    {
      name: 'random',
      settings: 'uniform samples',
      run: (seed) => pooled('once', seed, (b) => randomSearch(sub, b, { seed, samples: budget, maxEvaluations: budget, objectives })),
    },
  ];

  const lines: string[] = [
    `(a) sub-space of ${space.id} (kernel ${sub.kernelSizes.join('/')}, expand ${sub.expandRatios.join('/')}, depth ${sub.depths.join('/')}, resolution ${sub.resolutions.join('/')}): ${size} distinct networks, all evaluated; true front ${trueFront.length} networks over (predicted top-1, ${device} latency)`,
    `    budget ${budget} evaluations (${(100 * budget / size).toFixed(2)}% of the sub-space) per search, ${opts.seeds} seeds; normalized hypervolume as a fraction of the true front's (same bounds, reference 1.1)`,
    `    ${pad('algorithm', 16)}${pad('mean', 8)}${pad('min', 8)}${pad('per seed', 8 * opts.seeds + 2)}${pad('evals', 7)}settings`,
  ];
  const seeds = Array.from({ length: opts.seeds }, (_, i) => i + 1);
  for (const algorithm of algorithms) {
    const fractions: number[] = [];
    const used: number[] = [];
    for (const seed of seeds) {
      const seen = algorithm.run(seed);
      if (seen.length > budget) throw new Error(`${algorithm.name} evaluated ${seen.length} > ${budget}`);
      used.push(seen.length);
      const found = front2d(seen.map(vector));
      fractions.push(normalizedHypervolume(found, bounds) / trueHv);
    }
    const row = `    ${pad(algorithm.name, 16)}${pad(mean(fractions).toFixed(4), 8)}${pad(Math.min(...fractions).toFixed(4), 8)}` +
      `${pad(fractions.map((f) => f.toFixed(4)).join(' '), 8 * opts.seeds + 2)}${pad(Math.round(mean(used)), 7)}${algorithm.settings}`;
    console.log(row);
    lines.push(row);
  }
  return lines;
}

// ------------------------------------------------------------------------------------------------
// (b) Speed: OFA's full evolution on the whole space.
// ------------------------------------------------------------------------------------------------

function digest(evaluated: readonly EvaluatedArch[]): string {
  let h = 0x811c9dc5;
  for (const r of evaluated) {
    const s = `${r.id}:${r.accuracy}:${r.latencyMs[Object.keys(r.latencyMs)[0]]}:${r.params}:${r.feasible};`;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

function speed(space: SearchSpace, covered: number[], device: string, accuracy: AccuracyPredictor, makeProblem: MakeProblem): string[] {
  // OFA's evolution maximizes accuracy under a latency budget: the median of 1000 seeded random subnets.
  const probe = makeProblem(newCounters());
  const rng = new Rng(1);
  const latencies = probe.evaluate(Array.from({ length: 1001 }, () => sampleArch(space, rng, covered))).map((e) => e.latencyMs[device]).sort((a, b) => a - b);
  const budgetMs = latencies[500];
  console.log(`\n(b) OFA's evolution on ${space.id} (resolutions ${covered.join('/')}): population ${EVOLUTION_DEFAULTS.population}, ${EVOLUTION_DEFAULTS.parents} parents, ${EVOLUTION_DEFAULTS.mutants} mutants + ${EVOLUTION_DEFAULTS.population - EVOLUTION_DEFAULTS.mutants} crossovers, ${EVOLUTION_DEFAULTS.generations} generations, latency <= ${budgetMs.toFixed(3)} ms on ${device} (the median of 1000 seeded random subnets)`);

  const runs: { wallMs: number; cpuMs: number; c: Counters; evaluations: number; best: number; digest: string }[] = [];
  for (let i = 0; i < opts.repeats; i++) {
    const c = newCounters();
    const problem = makeProblem(c, { latencyMs: { [device]: budgetMs } });
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const result = evolution(space, problem, { seed: 1, resolutions: covered });
    const wallMs = ms(process.hrtime.bigint() - t0);
    const cpu = process.cpuUsage(cpu0);
    runs.push({ wallMs, cpuMs: (cpu.user + cpu.system) / 1000, c, evaluations: result.evaluations, best: result.best.accuracy, digest: digest(result.evaluated) });
    const r = runs[runs.length - 1];
    console.log(`  run ${i + 1}: ${(wallMs / 1000).toFixed(2)} s wall, ${(r.cpuMs / 1000).toFixed(2)} s CPU; ${r.evaluations} networks evaluated; best predicted top-1 ${(100 * r.best).toFixed(2)}%; results digest ${r.digest}`);
  }
  const identical = runs.every((r) => r.digest === runs[0].digest);

  // Same-run baseline: the bare MLP on as many archs, in batches of 100.
  const archs = Array.from({ length: runs[0].c.accuracyArchs }, () => sampleArch(space, rng, covered));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < archs.length; i += 100) accuracy.predict(archs.slice(i, i + 100), space);
  const mlpMs = ms(process.hrtime.bigint() - t0);

  const best = runs.reduce((a, b) => (b.wallMs < a.wallMs ? b : a));
  const median = [...runs].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(runs.length / 2)];
  const c = median.c;
  const perSecond = (n: number) => ((n / median.wallMs) * 1000).toFixed(0);
  const searchMs = median.wallMs - ms(c.evaluateNs);
  const countsMs = ms(c.evaluateNs - c.accuracyNs - c.latencyNs);
  const lines = [
    `(b) OFA's full evolution (100 x 500, mutate prob ${DEFAULT_MUTATE_PROB}) on ${space.id}: ${(median.wallMs / 1000).toFixed(2)} s wall (median of ${runs.length}; best ${(best.wallMs / 1000).toFixed(2)} s; ${(median.cpuMs / 1000).toFixed(2)} s CPU) — goal under 2 s; ` +
      `${(median.wallMs / mlpMs).toFixed(2)} x the bare MLP time for as many archs in batches of 100 (${(mlpMs / 1000).toFixed(2)} s, same run)`,
    `    ${median.evaluations} networks evaluated; accuracy predictor: ${c.accuracyCalls} batch calls (${perSecond(c.accuracyCalls)}/s, ${(c.accuracyArchs / c.accuracyCalls).toFixed(1)} archs per call), ${c.accuracyArchs} archs predicted (${perSecond(c.accuracyArchs)}/s); latency: ${c.latencyPredictions} predictions (${perSecond(c.latencyPredictions)}/s)`,
    `    time: MLP ${(ms(c.accuracyNs) / 1000).toFixed(2)} s, latency table ${(ms(c.latencyNs) / 1000).toFixed(3)} s, params/MACs/size (IR) and records ${(countsMs / 1000).toFixed(2)} s, search itself (archive, operators, selection) ${(searchMs / 1000).toFixed(2)} s; ` +
      `repeated runs ${identical ? 'identical' : 'DIFFER'} (digest ${runs[0].digest})`,
  ];
  return lines;
}

main().catch((e) => {
  process.stderr.write(`bench:search: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
