import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { unwritableReason } from '../../core/fs-atomic';
import { fileModelResolver, findGateConfig, parseGateConfig } from '../../gate/config';
import { GateService, tableLatency } from '../../gate/gate';
import { readBaseline, saveBaseline } from '../../gate/report';
import { Format, REPORTERS } from '../../gate/reporters';
import '../../runtime/registry';
import { GlobalOptions, services } from '../context';

interface GateOptions {
  config?: string;
  format: Format;
  baseline?: string;
  saveBaseline?: string;
  strict?: boolean;
}

const shown = (file: string) => {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
};

/**
 * Exit codes: 0 every budget holds, 1 a budget is exceeded, 2 usage or input error (any TailorError,
 * mapped in cli.ts). Starts fast: the kernel regressors load only for latency limits, onnxruntime
 * only for `measure: true`.
 */
export async function run(opts: GateOptions, global: GlobalOptions): Promise<void> {
  try {
    await gate(opts, global);
  } catch (e) {
    // cli.ts makes any other error "internal error", exit 1: which CI would read as "over budget".
    if (e instanceof TailorError) throw e;
    throw new TailorError('GATE_FAILED', { reason: e instanceof Error ? e.message : String(e) }, { cause: e });
  }
}

async function gate(opts: GateOptions, global: GlobalOptions): Promise<void> {
  const found = findGateConfig({ config: opts.config });
  process.stderr.write(`tailor gate: budgets from ${shown(found.file)}${found.found === 'package.json' ? ' ("tailor" key)' : ''}\n`);
  const { devices, latency } = services(global);
  const budgets = parseGateConfig(found.raw, { source: found.file, devices, resolveModel: fileModelResolver(path.dirname(found.file), found.file) });
  // Checked before any work: a typo in --baseline fails in a second, not after measuring.
  const baseline = opts.baseline !== undefined ? { file: shown(path.resolve(opts.baseline)), report: readBaseline(path.resolve(opts.baseline)) } : undefined;
  const saveTo = opts.saveBaseline !== undefined ? path.resolve(opts.saveBaseline) : undefined;
  const unwritable = saveTo && unwritableReason(saveTo);
  if (unwritable) throw new TailorError('INVALID_OPTION', { option: '--save-baseline', reason: `cannot write ${shown(saveTo)}: ${unwritable}` });
  const gate = new GateService(devices, async () => new (await import('../../kernels/kernels.service.js')).KernelsService(devices), tableLatency(latency));
  const warned = new Set<string>(); // one line per stale table, not one per budget
  const report = await gate.run(budgets, {
    config: shown(found.file), baseline, strict: opts.strict,
    onWarning: (m) => {
      if (!warned.has(m)) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}warning: ${m}\n`);
      warned.add(m);
    },
    onProgress: process.stderr.isTTY ? (m) => process.stderr.write(`\r\x1b[K${m}`) : undefined,
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (saveTo) {
    saveBaseline(saveTo, report);
    process.stderr.write(`tailor gate: baseline saved to ${shown(saveTo)}\n`);
  }
  process.stdout.write(REPORTERS[opts.format](report));
  process.exitCode = report.passed ? 0 : 1;
}
