import type { ModelFormat, NodeEvent } from '../backend';
import { ComparedFingerprint, Fingerprint, FingerprintChange, fingerprintChanges, fingerprintHash } from '../fingerprint';

/** The runtimes an agent can run work on (its local backends). */
export const AGENT_RUNTIMES = ['ort-cpu', 'tflite-wasm'] as const;
export type AgentRuntime = (typeof AGENT_RUNTIMES)[number];

export function runtimeFormat(runtime: AgentRuntime): ModelFormat {
  return runtime === 'tflite-wasm' ? 'tflite' : 'onnx';
}

/** Largest body an agent may send (results with kernel events are the big ones). */
export const AGENT_MAX_BODY_BYTES = 8 * 2 ** 20;
/** Longest long poll a server holds. */
export const MAX_POLL_SECONDS = 30;

/** The board as its agent reports it (a fingerprint without runtime and hash: the server derives those), plus what is readable of its clock. */
export type AgentMachine = Omit<Fingerprint, 'hash' | 'runtime'> & {
  /** Current/base clock in GHz, and the cpufreq governor, where readable. */
  speedGhz?: number;
  governor?: string;
  node?: string;
};

export interface AgentReport {
  machine: AgentMachine;
  backends: { name: AgentRuntime; runtime: string }[];
  /** The agent's clock (ms since epoch): only to report skew; leases run on the server's clock. */
  clock: number;
  version?: string;
}

/**
 * A model loaded on the board. Every work item carries its session in full, so an agent that
 * does not hold it (a restarted process) can load it again from the content-addressed model.
 */
export interface SessionSpec {
  id: string;
  /** sha256 of the model bytes (GET /agents/models/:sha256). */
  model: string;
  runtime: AgentRuntime;
  threads: number;
  profiled: boolean;
  /** The board it was opened on (what its agent reported then): an agent reporting other hardware or runtime never runs its work. */
  board?: ComparedFingerprint;
}

export type WorkOp = { op: 'load' } | { op: 'measure'; warmup: number; runs: number } | { op: 'finish' } | { op: 'dispose' };
export type WorkRequest = WorkOp & { session: SessionSpec };
/** What an agent receives: the lease must come back with the result. */
export type Work = WorkRequest & { id: string; lease: string };

export interface WorkResult {
  /** measure: one wall time per timed run (ms). */
  times?: number[];
  /** finish: kernel events per timed run. */
  events?: NodeEvent[][];
  /** The agent had to (re)load the session for this item: earlier state (profiled runs) is gone. */
  fresh?: boolean;
}

export type ResultBody = WorkResult & { lease: string; error?: { message: string } };

/** Why a result does not fit its work; null if it does. Checked before anything reaches a measurement. */
export function resultProblem(work: WorkRequest, r: WorkResult): string | null {
  const ms = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v < 1e7;
  if (r.fresh !== undefined && typeof r.fresh !== 'boolean') return '"fresh" must be a boolean';
  if (work.op === 'measure') {
    if (!Array.isArray(r.times)) return '"times" must be an array of ms';
    if (r.times.length !== work.runs) return `expected ${work.runs} timed runs, got ${r.times.length}`;
    if (!r.times.every(ms)) return '"times" must hold finite, non-negative ms';
  }
  if (work.op === 'finish') {
    if (!Array.isArray(r.events)) return '"events" must be an array of runs';
    for (const run of r.events) {
      if (!Array.isArray(run)) return 'each run of "events" must be an array';
      for (const e of run as unknown[]) {
        const ev = e as Partial<NodeEvent> | null;
        if (!ev || typeof ev !== 'object' || typeof ev.name !== 'string' || typeof ev.opType !== 'string' || !ms(ev.durMs) || ev.name.length > 1024 || ev.opType.length > 256) {
          return 'each event must be { name: string, opType: string, durMs: finite ms }';
        }
      }
    }
  }
  if (work.op !== 'measure' && r.times !== undefined) return `"times" does not belong to ${work.op}`;
  if (work.op !== 'finish' && r.events !== undefined) return `"events" does not belong to ${work.op}`;
  return null;
}

/** What a work item does, for logs and errors. */
export function describeWork(w: WorkRequest): string {
  const what = w.op === 'measure' ? `measure (${w.warmup} warm-up, ${w.runs} timed runs)` : w.op;
  return `${what} of ${w.session.profiled ? 'profiled ' : ''}model ${w.session.model.slice(0, 12)} on ${w.session.runtime}`;
}

export type AgentFingerprint = Fingerprint & Pick<AgentMachine, 'speedGhz' | 'governor' | 'node'>;

/** The fingerprint of a board running `runtime`, hashed here (never taken from the agent) like a local one. */
export function agentFingerprint(report: Pick<AgentReport, 'machine' | 'backends'>, runtime: AgentRuntime): AgentFingerprint | null {
  const backend = report.backends.find((b) => b.name === runtime);
  if (!backend) return null;
  const { cpu, cores, physicalCores, flags, memoryGb, os, arch, speedGhz, governor, node } = report.machine;
  const base = { cpu, cores, physicalCores, flags, memoryGb, os, arch, runtime: backend.runtime };
  const extra = Object.fromEntries(Object.entries({ speedGhz, governor, node }).filter(([, v]) => v !== undefined));
  return { hash: fingerprintHash(base), ...base, ...extra };
}

/** How an agent's report differs from the board a session was opened on (CPU model, cores, the session's runtime); empty when it does not. */
export function boardChanges(session: Pick<SessionSpec, 'board' | 'runtime'>, report: Pick<AgentReport, 'machine' | 'backends'>): FingerprintChange[] {
  if (!session.board) return [];
  const runtime = report.backends.find((b) => b.name === session.runtime)?.runtime ?? `no ${session.runtime}`;
  return fingerprintChanges(session.board, { cpu: report.machine.cpu, cores: report.machine.cores, runtime }) ?? [];
}

/** What differs between two reports of the same board (CPU model, cores, each runtime's version); empty when nothing that times differently. */
export function reportChanges(before: Pick<AgentReport, 'machine' | 'backends'>, after: Pick<AgentReport, 'machine' | 'backends'>): FingerprintChange[] {
  const runtimes = (r: Pick<AgentReport, 'backends'>) => r.backends.map((b) => `${b.name}: ${b.runtime}`).sort().join(', ');
  return fingerprintChanges(
    { cpu: before.machine.cpu, cores: before.machine.cores, runtime: runtimes(before) },
    { cpu: after.machine.cpu, cores: after.machine.cores, runtime: runtimes(after) },
  ) ?? [];
}
