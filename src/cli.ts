#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import * as path from 'node:path';
import { TailorError } from './core/errors';
import { PACKAGE_ROOT } from './core/workspace';

// Command modules (and the runtimes they use) load only when their command runs: --help stays fast.
type Run = (opts: any, global: any, ...args: any[]) => Promise<void>;
const lazy = (load: () => Promise<{ run: Run }>) =>
  async function (this: Command, ...args: any[]) {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts();
    const positional = args.slice(0, -2);
    await (await load()).run(opts, cmd.optsWithGlobals(), ...positional);
  };

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected an integer');
  return Number(value);
}

function positiveInt(value: string): number {
  const n = integer(value);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Repeatable option: every occurrence is kept. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function intList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!parts.length || !parts.every((p) => /^\d+$/.test(p))) throw new InvalidArgumentError('expected comma-separated integers, e.g. 160,192,224');
  return parts.map(Number);
}

const program = new Command('tailor')
  .description('Specialize neural networks for each phone and edge board: latency tables, prediction, validation.')
  .version(require(path.join(PACKAGE_ROOT, 'package.json')).version)
  .option('--home <dir>', 'workspace holding devices/ and latency-tables/ (default: $TAILOR_HOME or the current directory)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(); // set before adding commands: subcommands inherit it

program
  .command('quickstart')
  .description('profile this CPU for one resolution, validate the table and print a short report')
  .option('--device <id>', 'device to profile', 'local-cpu')
  .option('--space <id>', 'search space', 'ofa-mbv3-w1.0')
  .option('--resolution <r>', 'input resolution', integer, 224)
  .option('--samples <n>', 'random subnets to validate against', positiveInt, 20)
  .option('--seed <n>', 'seed for plans and samples', integer, 0)
  .action(lazy(() => import('./cli/commands/quickstart.js')));

program
  .command('spaces')
  .description('list the search spaces')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/spaces.js')));

program
  .command('inspect')
  .description('layer table, params, MACs and fp32 size of an architecture, or of any ONNX model file')
  .option('--arch <arch>', 'arch JSON file, inline JSON, OFA net directory, max, min or random:<seed>')
  .option('--space <id>', 'search space (needed for max, min, random:<seed> and configs without "space")')
  .option('--model <file>', 'an ONNX model (opset 7 or later) to analyse instead of an architecture')
  .option('--input-shape <name:dims>', 'with --model: size of a dynamic input, e.g. input:1x3x224x224 (repeatable)', collect)
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/inspect.js')));

program
  .command('export')
  .description('write a subnet as a model file: seeded random weights, or inherited from a trained supernet')
  .requiredOption('--arch <arch>', 'arch JSON file, inline JSON, OFA net directory, max, min or random:<seed>')
  .option('--space <id>', 'search space')
  .option('--supernet <run>', 'training run directory: export the subnet with its trained weights')
  .option('--bn-images <n>', 'with --supernet: validation images for BN recalibration', positiveInt, 2000)
  .addOption(new Option('--format <format>', 'model format').choices(['onnx']).default('onnx'))
  .requiredOption('--out <file>', 'output file')
  .option('--seed <n>', 'weight seed', integer, 0)
  .action(lazy(() => import('./cli/commands/export.js')));

program
  .command('train')
  .description('train a Once-for-All supernet with progressive shrinking (TensorFlow.js)')
  .requiredOption('--space <id>', 'search space, e.g. ofa-mbv3-tiny')
  .requiredOption('--dataset <name>', 'mnist, fashion-mnist, or an image folder (one sub-folder per class)')
  .requiredOption('--out <dir>', 'run directory (checkpoint, log.jsonl, run.json)')
  .option('--epochs-scale <f>', "multiplies OFA's epochs per phase (at least 1 each)", parseFloat, 0.02)
  .option('--seed <n>', 'seed of initialisation, sampling, splits and augmentation', integer, 0)
  .option('--batch-size <n>', 'images per step', positiveInt, 64)
  .option('--limit <n>', 'train on at most this many images (quick runs)', positiveInt)
  .option('--resume', 'continue the run in --out exactly where its last checkpoint left it')
  .option('--arch <arch>', 'train only this subnet from scratch (the baseline for supernet subnets), as many epochs as progressive shrinking takes at this --epochs-scale')
  .addOption(new Option('--engine <backend>', 'tfjs backend (default: tfjs-node if installed, else wasm)').choices(['wasm', 'cpu', 'tensorflow']))
  .option('--json', 'print the epoch log as JSON')
  .action(lazy(() => import('./cli/commands/train.js')));

program
  .command('eval')
  .description('top-1 of a subnet of a trained supernet, after BN recalibration')
  .requiredOption('--supernet <run>', 'training run directory')
  .requiredOption('--arch <arch>', 'arch JSON, inline JSON, max, min or random:<seed> (in the supernet\'s space)')
  .option('--images <n>', 'validation images for BN recalibration', positiveInt, 2000)
  .option('--json', 'machine-readable output: { arch, top1, images }')
  .action(lazy(() => import('./cli/commands/eval.js')));

program
  .command('acc-predictor')
  .description("measure sampled subnets of a trained supernet and train OFA's accuracy predictor (MLP) on them")
  .requiredOption('--supernet <run>', 'training run directory')
  .option('--samples <n>', 'subnets to measure (cached in the run: re-running never measures one twice)', positiveInt, 200)
  .option('--seed <n>', 'seed of the sample, the split and the MLP', integer, 0)
  .option('--bn-images <n>', 'validation images for BN recalibration of each subnet', positiveInt, 500)
  .option('--eval-images <n>', 'validation images after those that score each subnet', positiveInt, 2000)
  .option('--epochs <n>', 'MLP training epochs', positiveInt, 150)
  .option('--json', 'machine-readable report')
  .action(lazy(() => import('./cli/commands/acc-predictor.js')));

program
  .command('search')
  .description('search a trained supernet for the Pareto-optimal subnets of each target and export them')
  .requiredOption('--supernet <run>', 'training run directory (with an accuracy predictor: tailor acc-predictor)')
  .requiredOption('--targets <file>', 'targets.json: { "targets": [ { "name", "devices": { "<id>": { "latencyMs": n } }, "maxParams"?, "maxMacs"?, "maxSizeBytes"? } ] }')
  .requiredOption('--out <dir>', 'output folder: one sub-folder per target')
  .addOption(new Option('--algorithm <name>', 'search algorithm').choices(['nsga2', 'evolution', 'mnasnet', 'reinforce', 'random']).default('nsga2'))
  .option('--seed <n>', 'seed of the search', integer, 0)
  .option('--measure', 'evaluate every emitted subnet (top-1 on the test split) and measure its latency on attached devices')
  .option('--max-subnets <n>', 'subnets exported per target, spread along the front', positiveInt, 8)
  .option('--generations <n>', 'generations (policy updates for reinforce); default per algorithm', positiveInt)
  .option('--population <n>', 'population (batch size for reinforce); default per algorithm', positiveInt)
  .addOption(new Option('--reward <kind>', 'MnasNet reward for mnasnet and reinforce').choices(['soft', 'hard']).default('soft'))
  .option('--resolutions <list>', 'resolutions to search, e.g. 24,28 (default: all the device tables cover)', intList)
  .option('--bn-images <n>', 'validation images for BN recalibration of each emitted subnet', positiveInt, 2000)
  .option('--strict', 'refuse tables measured on other hardware instead of warning')
  .option('--json', 'print the pareto.json of every target')
  .action(lazy(() => import('./cli/commands/search.js')));

program
  .command('devices')
  .description('list devices with their hardware fingerprint')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/devices.js')));

program
  .command('profile')
  .description('measure a latency lookup table for a device and space (in-context kernel timings)')
  .requiredOption('--device <id>', 'device id (devices/<id>.json)')
  .requiredOption('--space <id>', 'search space')
  .option('--resolutions <list>', 'resolutions to cover (default: every resolution of the space)', intList)
  .option('--threads <n>', 'intra-op threads (default: the device descriptor, else 1)', positiveInt)
  .option('--seed <n>', 'seed of the measurement plan and weights', integer, 0)
  .option('--rounds <n>', 'each key is timed inside at least this many networks', positiveInt, 3)
  .option('--passes <n>', 'round-robin passes over the networks of a resolution', positiveInt, 5)
  .option('--force', 're-measure resolutions already in the table; replace a table from other hardware (kept as .bak)')
  .option('--json', 'print the result as JSON')
  .action(lazy(() => import('./cli/commands/profile.js')));

program
  .command('predict')
  .description('predicted latency of an architecture on a device, with a per-piece breakdown')
  .requiredOption('--device <id>', 'device id')
  .requiredOption('--arch <arch>', 'arch JSON file, inline JSON, OFA net directory, max, min or random:<seed>')
  .option('--space <id>', 'search space')
  .option('--strict', 'refuse when the table was measured on other hardware')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/predict.js')));

program
  .command('validate')
  .description('measure random subnets end to end and compare with the table\'s predictions')
  .requiredOption('--device <id>', 'device id')
  .requiredOption('--space <id>', 'search space')
  .option('--samples <n>', 'number of random subnets', positiveInt, 50)
  .option('--resolutions <list>', 'resolutions to sample from (default: all in the table)', intList)
  .option('--seed <n>', 'sampling seed', integer, 1)
  .option('--passes <n>', 'round-robin timing passes', positiveInt, 15)
  .option('--no-calibrate', 'compare raw predictions, without the speed-drift factor from the reference networks')
  .option('--strict', 'refuse when the table was measured on other hardware')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/validate.js')));

const lut = program.command('lut').description('import and export latency tables in other formats');
lut
  .command('import')
  .description('import OFA lookup tables (one <r>_lookup_table.yaml per resolution)')
  .addOption(new Option('--format <format>', 'source format').choices(['ofa']).makeOptionMandatory())
  .requiredOption('--device <id>', 'device id (created as a table-only device if unknown)')
  .requiredOption('--space <id>', 'search space')
  .argument('<files...>', 'YAML files')
  .action(lazy(() => import('./cli/commands/lut-import.js')));
lut
  .command('export')
  .description('export a table as OFA lookup tables')
  .addOption(new Option('--format <format>', 'target format').choices(['ofa']).makeOptionMandatory())
  .requiredOption('--device <id>', 'device id')
  .requiredOption('--space <id>', 'search space')
  .requiredOption('--out <dir>', 'output directory')
  .action(lazy(() => import('./cli/commands/lut-export.js')));

program
  .command('serve')
  .description('start the HTTP service')
  .option('--port <n>', 'port (default: $PORT or 3000)', positiveInt)
  .option('--data-dir <dir>', 'jobs database directory (default: $TAILOR_DATA_DIR or <home>/.tailor)')
  .action(lazy(() => import('./cli/commands/serve.js')));

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every usage error is bad input: exit 2.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof TailorError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    process.stderr.write(`internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
}

void main();
