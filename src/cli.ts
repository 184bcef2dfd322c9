#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import * as path from 'node:path';
import { TailorError } from './core/errors';
import { PACKAGE_ROOT } from './core/workspace';
import { ACC_PREDICTOR_DEFAULTS } from './accuracy/build';
import { SEARCH_DEFAULTS } from './specialize/search-run';
import { EPOCHS_SCALE_DEFAULT, TRAIN_DEFAULTS } from './training/train-run';

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

function nonNegativeInt(value: string): number {
  const n = integer(value);
  if (n < 0) throw new InvalidArgumentError('expected an integer >= 0');
  return n;
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
  .description('the main job end to end: profile this CPU, train a tiny supernet on Fashion-MNIST, fit the accuracy predictor, search two latency budgets, emit and gate the Pareto subnets')
  .option('--out <dir>', 'output folder (supernet/, search/, tailor.budgets.json); rerun to resume', 'quickstart')
  .option('--device <id>', 'device to specialize for', 'local-cpu')
  .option('--seed <n>', 'seed of every stage', integer, 0)
  .option('--images <n>', 'training images', positiveInt, 500)
  .option('--epochs-scale <f>', "progressive shrinking's epochs x f (OFA's schedule; 1 epoch per phase at least)", Number, 0.01)
  .option('--acc-samples <n>', 'subnets measured for the accuracy predictor', positiveInt, 40)
  .option('--budgets <list>', 'latency budgets in ms, e.g. 0.4,0.7 (default: from the table, between the smallest and largest subnet)', (v: string) => v.split(',').map(Number))
  .addOption(new Option('--resolutions <list>', 'resolutions to profile and search').argParser(intList).hideHelp())
  .addOption(new Option('--rounds <n>', 'profiling rounds').argParser(positiveInt).default(3).hideHelp())
  .addOption(new Option('--passes <n>', 'profiling passes').argParser(positiveInt).default(5).hideHelp())
  .addOption(new Option('--bn-images <n>', 'BN recalibration images').argParser(positiveInt).default(200).hideHelp())
  .addOption(new Option('--eval-images <n>', 'validation images scoring each predictor sample').argParser(positiveInt).default(500).hideHelp())
  .addOption(new Option('--test-images <n>', 'test images scoring each emitted subnet').argParser(positiveInt).default(1000).hideHelp())
  .addOption(new Option('--max-subnets <n>', 'subnets emitted per budget').argParser(positiveInt).default(5).hideHelp())
  .addOption(new Option('--rescore <n>', 'front candidates scored on the validation split per budget').argParser(nonNegativeInt).default(10).hideHelp())
  .addOption(new Option('--generations <n>', 'NSGA-II generations').argParser(positiveInt).hideHelp())
  .addOption(new Option('--population <n>', 'NSGA-II population').argParser(positiveInt).hideHelp())
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
  .option('--allow-unknown-ops', 'with --model: analyse past ops the analysis does not know (a partial analysis, marked "partial") instead of refusing the model')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/inspect.js')));

program
  .command('export')
  .description('write a subnet as a model file: seeded random weights, or inherited from a trained supernet')
  .requiredOption('--arch <arch>', 'arch JSON file, inline JSON, OFA net directory, max, min or random:<seed>')
  .option('--space <id>', 'search space')
  .option('--supernet <run>', 'training run directory: export the subnet with its trained weights')
  .option('--bn-images <n>', 'with --supernet: validation images for BN recalibration', positiveInt, 2000)
  .addOption(new Option('--format <format>', 'model format').choices(['onnx', 'tflite']).default('onnx'))
  .requiredOption('--out <file>', 'output file')
  .option('--seed <n>', 'weight seed', integer, 0)
  .action(lazy(() => import('./cli/commands/export.js')));

program
  .command('train')
  .description('train a Once-for-All supernet with progressive shrinking (TensorFlow.js)')
  .requiredOption('--space <id>', 'search space, e.g. ofa-mbv3-tiny')
  .requiredOption('--dataset <name>', 'mnist, fashion-mnist, or an image folder (one sub-folder per class)')
  .requiredOption('--out <dir>', 'run directory (checkpoint, log.jsonl, run.json)')
  .option('--epochs-scale <f>', `multiplies OFA's epochs per phase (at least 1 each); default: ${EPOCHS_SCALE_DEFAULT}`, parseFloat)
  .option('--seed <n>', 'seed of initialisation, sampling, splits and augmentation', integer, TRAIN_DEFAULTS.seed)
  .option('--batch-size <n>', 'images per step', positiveInt, TRAIN_DEFAULTS.batchSize)
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
  .option('--samples <n>', 'subnets to measure (cached in the run: re-running never measures one twice)', positiveInt, ACC_PREDICTOR_DEFAULTS.samples)
  .option('--seed <n>', 'seed of the sample, the split and the MLP', integer, ACC_PREDICTOR_DEFAULTS.seed)
  .option('--bn-images <n>', 'validation images for BN recalibration of each subnet', positiveInt, ACC_PREDICTOR_DEFAULTS.bnImages)
  .option('--eval-images <n>', 'validation images after those that score each subnet (default: the rest of the validation split)', positiveInt)
  .option('--epochs <n>', 'MLP training epochs', positiveInt, ACC_PREDICTOR_DEFAULTS.epochs)
  .option('--json', 'machine-readable report')
  .action(lazy(() => import('./cli/commands/acc-predictor.js')));

program
  .command('search')
  .description('search a trained supernet for the Pareto-optimal subnets of each target and export them')
  .requiredOption('--supernet <run>', 'training run directory (with an accuracy predictor: tailor acc-predictor); with --server: the id of a run of the service')
  .requiredOption('--targets <file>', 'targets.json: { "targets": [ { "name", "devices": { "<id>": { "latencyMs": n } }, "maxParams"?, "maxMacs"?, "maxSizeBytes"? } ] }')
  .option('--out <dir>', 'output folder: one sub-folder per target (required unless --server)')
  .addOption(new Option('--algorithm <name>', 'search algorithm').choices(['nsga2', 'evolution', 'mnasnet', 'reinforce', 'random']).default(SEARCH_DEFAULTS.algorithm))
  .option('--seed <n>', 'seed of the search', integer, SEARCH_DEFAULTS.seed)
  .option('--measure', 'evaluate every emitted subnet (top-1 on the test split) and measure its latency on attached devices')
  .option('--max-subnets <n>', 'subnets exported per target, spread along the front', positiveInt, SEARCH_DEFAULTS.maxSubnets)
  .option('--generations <n>', 'generations (policy updates for reinforce); default per algorithm', positiveInt)
  .option('--population <n>', 'population (batch size for reinforce); default per algorithm', positiveInt)
  .addOption(new Option('--reward <kind>', 'MnasNet reward for mnasnet and reinforce').choices(['soft', 'hard']).default(SEARCH_DEFAULTS.reward))
  .option('--resolutions <list>', 'resolutions to search, e.g. 24,28 (default: all the device tables cover)', intList)
  .option('--rescore <n>', 'front candidates per target scored on the validation split before emission, so predictedTop1 carries no search bias (0: predictions only)', nonNegativeInt, SEARCH_DEFAULTS.rescore)
  .option('--bn-images <n>', "validation images for BN recalibration of each emitted subnet (default: the accuracy predictor's)", positiveInt)
  .option('--test-images <n>', 'with --measure: test images that score each emitted subnet (default: the whole test split)', positiveInt)
  .option('--strict', 'refuse tables measured on other hardware instead of warning')
  .option('--json', 'print the pareto.json of every target')
  .option('--server <url>', 'run it as a search job of the Tailor service at <url> (e.g. --measure on a remote board: backend "agent") and follow its progress; the results stay on the service')
  .option('--name <id>', 'with --server: the search id on the service (default: <algorithm>-seed<seed>-<time>-<random>)')
  .action(lazy(() => import('./cli/remote.js').then((m) => m.orViaServer('search', () => import('./cli/commands/search.js')))));

program
  .command('devices')
  .description('list devices with their hardware fingerprint and their tables (stale ones marked)')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/devices.js')));

program
  .command('profile')
  .description('measure a latency lookup table for a device and space, or (--kernels) kernel regressors for any ONNX model (TFLite op regressors on a TFLite device)')
  .requiredOption('--device <id>', 'device id (devices/<id>.json)')
  .option('--space <id>', 'search space (the lookup table to measure)')
  .option('--kernels', 'instead of a space: time sampled kernels (TFLite ops on a TFLite device) in context and train one random forest per kernel type (op kind)')
  .option('--samples <n>', 'with --kernels: sampled profiling graphs (default 270; 200 on a TFLite device)', positiveInt)
  .option('--resolutions <list>', 'resolutions to cover (default: every resolution of the space)', intList)
  .option('--threads <n>', 'intra-op threads (default: the device descriptor, else 1)', positiveInt)
  .option('--seed <n>', 'seed of the measurement plan and weights', integer, 0)
  .option('--rounds <n>', 'each key is timed inside at least this many networks', positiveInt, 3)
  .option('--passes <n>', 'round-robin passes over the networks of a resolution', positiveInt, 5)
  .option('--force', 're-measure resolutions already in the table; replace a table from other hardware (kept as .bak)')
  .option('--json', 'print the result as JSON')
  .option('--server <url>', 'run it as a job of the Tailor service at <url> (e.g. for a remote board: backend "agent") and follow its progress')
  .action(lazy(() => import('./cli/remote.js').then((m) => m.orViaServer('profile', () => import('./cli/commands/profile.js')))));

program
  .command('predict')
  .description('predicted latency of an architecture (lookup table) or of a model file (kernel regressors; lookup table for exported subnets) on a device')
  .requiredOption('--device <id>', 'device id')
  .option('--arch <arch>', 'arch JSON file, inline JSON, OFA net directory, max, min or random:<seed>')
  .option('--model <file>', 'an ONNX model, or a TFLite model on a TFLite device (kernel / op regressors: tailor profile --kernels); a model Tailor exported: its lookup table')
  .option('--input-shape <name:dims>', 'with --model: size of a dynamic input, e.g. input:1x3x224x224 (repeatable)', collect)
  .option('--allow-unknown-ops', 'with --model: predict past ops the analysis does not know (their nodes are listed without a prediction) instead of refusing the model')
  .option('--space <id>', 'search space')
  .option('--strict', 'refuse when the table (or, for --model, the kernel regressors) was measured on other hardware or runtime')
  .option('--json', 'machine-readable output')
  .action(lazy(() => import('./cli/commands/predict.js')));

program
  .command('validate')
  .description('measure random subnets (or every model of --models) end to end and compare with the predictions')
  .requiredOption('--device <id>', 'device id')
  .option('--space <id>', 'search space (validates the lookup table)')
  .option('--models <dir>', 'instead of a space: validate the kernel regressors on every .onnx in this directory (.tflite on a TFLite device)')
  .option('--input-shape <name:dims>', 'with --models: size of a dynamic input of the models that have it, e.g. input:1x3x224x224 (repeatable)', collect)
  .option('--samples <n>', 'number of random subnets', positiveInt, 50)
  .option('--resolutions <list>', 'resolutions to sample from (default: all in the table)', intList)
  .option('--seed <n>', 'sampling seed', integer, 1)
  .option('--passes <n>', 'round-robin timing passes', positiveInt, 15)
  .option('--no-calibrate', 'compare raw predictions, without the speed-drift factor from the reference networks')
  .option('--strict', 'refuse when the table was measured on other hardware or runtime')
  .option('--json', 'machine-readable output')
  .option('--server <url>', 'run it as a job of the Tailor service at <url> (e.g. for a remote board: backend "agent") and follow its progress')
  .action(lazy(() => import('./cli/remote.js').then((m) => m.orViaServer('validate', () => import('./cli/commands/validate.js')))));

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
  .option('--model-dir <dir>', 'the directory whose models requests may name by path (default: $TAILOR_MODEL_DIR; none: uploads only)')
  .action(lazy(() => import('./cli/commands/serve.js')));

program
  .command('agent')
  .description("run on a board: register it with the Tailor service as device <id> and run the measurements the service sends (ort-cpu, tflite-wasm)")
  .requiredOption('--server <url>', 'the Tailor service, e.g. http://tailor.local:3000')
  .requiredOption('--device-id <id>', 'the device this board is (devices/<id>.json on the server, "backend": "agent")')
  .option('--token <token>', "the device's token (default: $TAILOR_AGENT_TOKEN; the server reads its tokens from TAILOR_AGENT_TOKENS)")
  .option('--cache-dir <dir>', 'where downloaded models are kept, by sha256 (default: ~/.cache/tailor-agent/models)')
  .addOption(new Option('--poll <seconds>', 'long-poll length').argParser(positiveInt).hideHelp())
  .action(lazy(() => import('./cli/commands/agent.js')));

program
  .command('gate')
  .description('check ONNX models against size, params, MACs and per-device latency budgets (exit 0 pass, 1 over budget, 2 bad input)')
  .option('--config <file>', 'budgets file (default: tailor.budgets.json, else the "tailor" key of package.json, in the current directory or the nearest one above it)')
  .addOption(new Option('--format <format>', 'report format').choices(['text', 'json', 'junit', 'markdown']).default('text'))
  .option('--baseline <file>', 'a previous JSON report: show each figure\'s change against it')
  .option('--save-baseline <file>', 'write this run\'s JSON report (atomically) as the next baseline')
  .option('--strict', 'refuse latency from tables or kernel regressors measured on other hardware or runtime instead of warning')
  .option('--server <url>', 'check every budget on the Tailor service at <url> (POST /gate: its devices, e.g. measure: true on a remote board); the report is made here')
  .action(lazy(() => import('./cli/commands/gate.js')));

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
      // An unexpected error reported as a TailorError (e.g. by the gate, for its exit code): its stack, for a bug report.
      if (e.cause instanceof Error && !(e.cause instanceof TailorError) && e.code === 'GATE_FAILED') process.stderr.write(`${e.cause.stack}\n`);
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = e.exitCode;
      return;
    }
    process.stderr.write(`internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 1;
  }
}

void main();
