import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { unwritableReason } from '../../core/fs-atomic';
import { Budget, ParseContext, fileModelResolver, findGateConfig, parseGateConfig } from '../../gate/config';
import { GateService, gateReport, resultFromReport, tableLatency } from '../../gate/gate';
import { readModel } from '../../gate/model';
import { GateReport, JsonBudgetReport, readBaseline, saveBaseline } from '../../gate/report';
import { Format, REPORTERS } from '../../gate/reporters';
import type { DeviceDescriptor } from '../../runtime/devices';
import '../../runtime/registry';
import { GlobalOptions, services } from '../context';
import { http, serverUrl } from '../remote';

interface GateOptions {
  config?: string;
  format: Format;
  baseline?: string;
  saveBaseline?: string;
  strict?: boolean;
  server?: string;
}

const shown = (file: string) => {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
};

/**
 * Exit codes: 0 every budget holds, 1 a budget is exceeded, 2 usage or input error (any TailorError,
 * mapped in cli.ts). Starts fast: the kernel regressors load only for latency limits, onnxruntime
 * only for `measure: true`. With --server every budget is checked by that service (POST /gate).
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
  const server = opts.server !== undefined ? serverUrl(opts.server) : undefined;
  if (server) process.stderr.write(`tailor gate: checking them on the Tailor service at ${server}\n`);
  const local = server ? null : services(global);
  // With --server the budgets name the service's devices.
  const devices = local?.devices ?? (await serverDevices(server!));
  const budgets = parseGateConfig(found.raw, { source: found.file, devices, resolveModel: fileModelResolver(path.dirname(found.file), found.file) });
  // Checked before any work: a typo in --baseline fails in a second, not after measuring.
  const baseline = opts.baseline !== undefined ? { file: shown(path.resolve(opts.baseline)), report: readBaseline(path.resolve(opts.baseline)) } : undefined;
  const saveTo = opts.saveBaseline !== undefined ? path.resolve(opts.saveBaseline) : undefined;
  const unwritable = saveTo && unwritableReason(saveTo);
  if (unwritable) throw new TailorError('INVALID_OPTION', { option: '--save-baseline', reason: `cannot write ${shown(saveTo)}: ${unwritable}` });
  const onProgress = process.stderr.isTTY ? (m: string) => process.stderr.write(`\r\x1b[K${m}`) : undefined;
  const warned = new Set<string>(); // one line per stale table, not one per budget
  const onWarning = (m: string) => {
    if (!warned.has(m)) process.stderr.write(`${process.stderr.isTTY ? '\r\x1b[K' : ''}warning: ${m}\n`);
    warned.add(m);
  };
  let report: GateReport;
  if (server) {
    const raw = (found.raw as { budgets: { limits: unknown }[] }).budgets;
    report = await gateOnServer(server, budgets.map((b, i) => ({ budget: b, limits: raw[i].limits })), { config: shown(found.file), baseline, strict: opts.strict, onProgress, onWarning });
  } else {
    const gate = new GateService(local!.devices, async () => new (await import('../../kernels/kernels.service.js')).KernelsService(local!.devices), tableLatency(local!.latency));
    report = await gate.run(budgets, { config: shown(found.file), baseline, strict: opts.strict, onProgress, onWarning });
  }
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  if (saveTo) {
    saveBaseline(saveTo, report);
    process.stderr.write(`tailor gate: baseline saved to ${shown(saveTo)}\n`);
  }
  process.stdout.write(REPORTERS[opts.format](report));
  process.exitCode = report.passed ? 0 : 1;
}

/** The service's devices (GET /devices), as the config parser looks them up. */
async function serverDevices(server: string): Promise<ParseContext['devices']> {
  const r = await http(server, 'GET', '/devices');
  if (r.status !== 200 || !Array.isArray(r.json)) throw new TailorError('REMOTE_REQUEST_FAILED', { request: 'GET /devices', server, status: r.status, message: r.json?.message ?? 'not a list of devices' });
  const list = r.json as DeviceDescriptor[];
  return {
    list: () => list,
    get(id) {
      const d = list.find((x) => x.id === id);
      if (!d) throw new TailorError('UNKNOWN_DEVICE', { device: id, known: list.map((x) => x.id).join(', ') });
      return d;
    },
  };
}

/**
 * Each budget's model uploaded with its limits as written in the config (the service parses them
 * as this gate would), one POST /gate per budget; the reports become the local run's results,
 * the service's warnings (stale tables or regressors there) this run's.
 */
async function gateOnServer(
  server: string,
  items: { budget: Budget; limits: unknown }[],
  options: { config: string; baseline?: { file: string; report: JsonBudgetReport[] }; strict?: boolean; onProgress?: (m: string) => void; onWarning: (m: string) => void },
): Promise<GateReport> {
  const results = [];
  for (const { budget, limits } of items) {
    options.onProgress?.(`checking ${budget.model.display} on ${server}`);
    const form = new FormData();
    form.append('model', new Blob([Buffer.from(readModel(budget.model))]), path.basename(budget.model.display));
    form.append('name', budget.name);
    form.append('limits', JSON.stringify(limits));
    if (budget.inputShapes) form.append('inputShape', JSON.stringify(budget.inputShapes));
    form.append('measure', String(budget.measure));
    if (options.strict || budget.strict) form.append('strict', 'true');
    if (budget.allowUnknownOps) form.append('allowUnknownOps', 'true');
    const t0 = Date.now();
    const r = await http(server, 'POST', '/gate', form);
    if (r.status !== 200 || !Array.isArray(r.json)) {
      throw new TailorError('REMOTE_REQUEST_FAILED', { request: `POST /gate (budget "${budget.name}")`, server, status: r.status, message: r.json?.message ?? 'not a gate report' });
    }
    const entry = r.json[0] as JsonBudgetReport & { notes?: string[]; warnings?: string[] };
    for (const w of entry.warnings ?? []) options.onWarning(w);
    results.push(resultFromReport(budget, entry, { server, notes: [`figures from the Tailor service at ${server}`, ...(entry.notes ?? [])], seconds: (Date.now() - t0) / 1000 }));
  }
  return gateReport(results, options);
}
