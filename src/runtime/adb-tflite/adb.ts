import { ExecFileException, execFile } from 'node:child_process';
import { TailorError } from '../../core/errors';
import { BackendOptions } from '../backend';
import { Fingerprint, fingerprintHash } from '../fingerprint';

/**
 * The device side of adb-tflite: adb commands built as argument arrays (never a host shell
 * string) and run with execFile, and adb's failures told apart from its messages.
 */

export interface AdbOptions {
  adbPath: string;
  /** `adb -s <serial>`: the descriptor's `serial`, else ANDROID_SERIAL; none: adb picks the only device. */
  serial?: string;
  /** Device directory for the pushed binary and models. */
  remoteDir: string;
  /** Host path of a benchmark_model build, pushed once to `remoteBinary`. Nothing is ever downloaded. */
  benchmarkBinary?: string;
  /** benchmark_model on the device. */
  remoteBinary: string;
  /** `taskset <mask>` (hex CPU mask, e.g. "f0" for the big cores of many phones). */
  cpuMask?: string;
  xnnpack: boolean;
  /** Flags passed through, e.g. "--use_gpu=true". */
  extraFlags: string[];
  timeoutMs: number;
  runtimeVersion?: string;
}

export const DEFAULT_REMOTE_DIR = '/data/local/tmp/tailor';
export const DEFAULT_TIMEOUT_MS = 600_000;
export const UNKNOWN_VERSION = 'benchmark_model (version unknown)';

const invalid = (option: string, reason: string) => new TailorError('INVALID_OPTION', { option: `options.${option}`, reason });

function str(options: BackendOptions, key: string, test?: (v: string) => boolean, rule = ''): string | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !v || (test && !test(v))) throw invalid(key, `${JSON.stringify(v)} is not ${rule || 'a non-empty string'}`);
  return v;
}

const DEVICE_PATH = (v: string) => v.startsWith('/') && !/[\n\0]/.test(v);

/** The descriptor options of an adb-tflite device, checked (INVALID_OPTION names the bad one). */
export function adbOptions(options: BackendOptions, env: NodeJS.ProcessEnv = process.env): AdbOptions {
  const remoteDir = (str(options, 'remoteDir', DEVICE_PATH, 'an absolute device path') ?? DEFAULT_REMOTE_DIR).replace(/\/+$/, '');
  const envSerial = env.ANDROID_SERIAL?.trim() || undefined;
  const xnnpack = options.xnnpack ?? true;
  if (typeof xnnpack !== 'boolean') throw invalid('xnnpack', 'must be true or false');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || (timeoutMs as number) <= 0) throw invalid('timeoutMs', 'must be a positive integer (ms)');
  const extraFlags = options.extraFlags ?? [];
  if (!Array.isArray(extraFlags) || !extraFlags.every((f) => typeof f === 'string' && /^--[A-Za-z0-9_]+=[^\s'"`$\\;&|<>]*$/.test(f))) {
    throw invalid('extraFlags', 'must be a list of "--flag=value" strings (no spaces or shell characters)');
  }
  return {
    adbPath: str(options, 'adbPath') ?? 'adb',
    serial: str(options, 'serial', (v) => /^\S+$/.test(v), 'a device serial (no spaces)') ?? envSerial,
    remoteDir,
    benchmarkBinary: str(options, 'benchmarkBinary'),
    remoteBinary: str(options, 'remoteBinary', DEVICE_PATH, 'an absolute device path') ?? `${remoteDir}/benchmark_model`,
    cpuMask: str(options, 'cpuMask', (v) => /^(0x)?[0-9a-f]+$/i.test(v), 'a hexadecimal CPU mask such as "f0"'),
    xnnpack,
    extraFlags: extraFlags as string[],
    timeoutMs: timeoutMs as number,
    runtimeVersion: str(options, 'runtimeVersion'),
  };
}

/** Cheap (no adb call): the descriptor's `runtimeVersion`, as benchmark_model cannot be asked for one. */
export function adbTfliteVersion(options: BackendOptions): string {
  const v = options.runtimeVersion;
  return typeof v === 'string' && v ? v : UNKNOWN_VERSION;
}

/** One argument for the device's sh: `adb shell` joins its arguments with spaces and the device shell splits them again. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function adbArgs(serial: string | undefined, args: string[]): string[] {
  return serial ? ['-s', serial, ...args] : args;
}

export interface BenchmarkRun {
  graph: string;
  threads: number;
  warmup: number;
  runs: number;
  profile: boolean;
}

/**
 * The argv (after `adb`) of one benchmark_model run. `--warmup_min_secs=0 --min_secs=0` make the
 * counts exact (by default the tool keeps running for 0.5 s / 1 s more).
 */
export function benchmarkCommand(o: AdbOptions, run: BenchmarkRun): string[] {
  const remote = [
    ...(o.cpuMask ? ['taskset', o.cpuMask] : []),
    o.remoteBinary,
    `--graph=${run.graph}`,
    `--num_threads=${run.threads}`,
    `--warmup_runs=${run.warmup}`,
    '--warmup_min_secs=0',
    `--num_runs=${run.runs}`,
    '--min_secs=0',
    `--use_xnnpack=${o.xnnpack}`,
    ...(run.profile ? ['--enable_op_profiling=true'] : []),
    ...o.extraFlags,
  ];
  return adbArgs(o.serial, ['shell', ...remote.map(shellQuote)]);
}

export type AdbErrorKind =
  | 'ADB_NOT_FOUND' | 'NO_DEVICE' | 'UNAUTHORIZED' | 'OFFLINE' | 'MULTIPLE_DEVICES' | 'DISCONNECTED'
  | 'BINARY_MISSING' | 'BINARY_NOT_EXECUTABLE' | 'TIMEOUT' | 'FAILED';

/** A TailorError (exit 2 on the CLI, 503 over HTTP) that also says which adb failure it was. */
export class AdbError extends TailorError {
  constructor(readonly kind: AdbErrorKind, reason: string) {
    super('ADB_DEVICE', { reason });
  }
}

/** What adb's (or the device shell's) message says went wrong; null: nothing known. */
export function classifyAdbMessage(text: string, binary?: string): AdbErrorKind | null {
  if (/no devices\/emulators found|no devices found|device (?:'[^']*' )?not found/i.test(text)) return 'NO_DEVICE';
  if (/unauthorized/i.test(text)) return 'UNAUTHORIZED';
  if (/device offline/i.test(text)) return 'OFFLINE';
  if (/more than one (?:device|emulator)/i.test(text)) return 'MULTIPLE_DEVICES';
  if (/error: closed|protocol fault|connection reset|device disconnected|device still (?:authorizing|connecting)/i.test(text)) return 'DISCONNECTED';
  if (binary) {
    // mksh/toybox: "<path>: inaccessible or not found" / "<path>: not found"; "Permission denied" / "can't execute"
    const at = (tail: string) => new RegExp(`${binary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'?:? .*(?:${tail})`, 'i').test(text);
    if (at('not found|No such file')) return 'BINARY_MISSING';
    if (at("Permission denied|can't execute|not executable")) return 'BINARY_NOT_EXECUTABLE';
  }
  return null;
}

const lastLines = (text: string) => text.trim().split('\n').slice(-4).join(' | ') || '(no output)';

function explain(kind: AdbErrorKind, o: AdbOptions, what: string, detail: string): string {
  const device = o.serial ? `"${o.serial}"` : '(the only one attached)';
  switch (kind) {
    case 'ADB_NOT_FOUND': return `adb was not found ("${o.adbPath}"): install Android platform-tools and put adb on PATH, or set options.adbPath`;
    case 'NO_DEVICE': return `no Android device ${device} is connected over adb (adb: ${detail})`;
    case 'UNAUTHORIZED': return `the Android device ${device} has not authorized this computer: accept the USB debugging prompt on the phone (adb: ${detail})`;
    case 'OFFLINE': return `the Android device ${device} is offline: reconnect it, or restart adb with "adb kill-server" (adb: ${detail})`;
    case 'MULTIPLE_DEVICES': return `several Android devices are connected: set options.serial in the descriptor or ANDROID_SERIAL (adb: ${detail})`;
    case 'DISCONNECTED': return `the Android device ${device} disconnected during ${what} (adb: ${detail})`;
    case 'BINARY_MISSING': return `benchmark_model is not on the device at ${o.remoteBinary}: set options.benchmarkBinary to a host build for Tailor to push, or push it there yourself (${detail})`;
    case 'BINARY_NOT_EXECUTABLE': return `${o.remoteBinary} on the device cannot be executed (${detail}): "adb shell chmod 755 ${o.remoteBinary}"`;
    case 'TIMEOUT': return `${what} did not finish within ${o.timeoutMs / 1000} s (options.timeoutMs) and was stopped`;
    case 'FAILED': return `${what} failed: ${detail}`;
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  error?: ExecFileException;
}

/** execFile as a promise; a failure keeps the streams (benchmark output before a crash says what happened). */
function exec(file: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 256 * 2 ** 20, encoding: 'utf8', windowsHide: true }, (error, stdout, stderr) => {
      resolve({ stdout: stdout ?? '', stderr: stderr ?? '', error: error ?? undefined });
    });
  });
}

/** One device, reached with adb. */
export class AdbDevice {
  constructor(readonly o: AdbOptions) {}

  /** Runs `adb [-s serial] <args>`; a failure is an AdbError naming its cause. */
  async run(what: string, args: string[], binary?: string): Promise<ExecResult> {
    const r = await exec(this.o.adbPath, adbArgs(this.o.serial, args), this.o.timeoutMs);
    if (!r.error) return r;
    throw this.failure(what, r, binary);
  }

  failure(what: string, r: ExecResult, binary?: string): AdbError {
    const e = r.error;
    if (e?.code === 'ENOENT') return this.error('ADB_NOT_FOUND', what, '');
    if (e?.killed) return this.error('TIMEOUT', what, '');
    const said = `${r.stderr}\n${r.stdout}`;
    const kind = classifyAdbMessage(said, binary);
    if (kind) return this.error(kind, what, lastLines(said));
    return this.error('FAILED', what, `exit ${e?.code ?? e?.signal ?? '?'}: ${lastLines(said)}`);
  }

  error(kind: AdbErrorKind, what: string, detail: string): AdbError {
    return new AdbError(kind, explain(kind, this.o, what, detail));
  }

  /** `adb get-state` must say "device" (not unauthorized, offline, bootloader, recovery). */
  async checkState(): Promise<void> {
    const { stdout } = await this.run('adb get-state', ['get-state']);
    const state = stdout.trim();
    if (state === 'device') return;
    throw this.error(classifyAdbMessage(state) ?? 'FAILED', 'adb get-state', `the device is in state "${state}", not "device" (bootloader or recovery?)`);
  }

  /** `adb shell <argv>`, each argument quoted for the device's sh. */
  shell(what: string, argv: string[], binary?: string): Promise<ExecResult> {
    return this.run(what, ['shell', ...argv.map(shellQuote)], binary);
  }

  /** `adb push`: paths go to adb as arguments (no shell on either side). */
  async push(local: string, remote: string): Promise<void> {
    await this.run(`adb push of ${local}`, ['push', local, remote]);
  }

  /**
   * Runs benchmark_model and returns its stdout. A failed run whose cause adb's messages do not
   * name is checked with get-state: a device gone by then disconnected during the run.
   */
  async benchmark(run: BenchmarkRun): Promise<string> {
    const what = `benchmark_model on the device (${run.graph})`;
    const r = await exec(this.o.adbPath, benchmarkCommand(this.o, run), this.o.timeoutMs);
    // Old adb (no shell protocol) exits 0 whatever the device did: a missing binary shows in the output.
    const missing = classifyAdbMessage(`${r.stderr}\n${r.stdout}`, this.o.remoteBinary);
    if (!r.error && missing !== 'BINARY_MISSING' && missing !== 'BINARY_NOT_EXECUTABLE') return r.stdout;
    const failure = this.failure(what, r, this.o.remoteBinary);
    if (failure.kind === 'FAILED') {
      const state = await exec(this.o.adbPath, adbArgs(this.o.serial, ['get-state']), this.o.timeoutMs);
      if (state.error || state.stdout.trim() !== 'device') {
        throw this.error('DISCONNECTED', what, `get-state after it: ${lastLines(`${state.stderr}\n${state.stdout}`)}; its output before: ${lastLines(r.stdout)}`);
      }
    }
    throw failure;
  }
}

/** `adb shell getprop` prints "[key]: [value]" lines. */
export function parseGetprop(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^\[([^\]]+)\]: \[(.*)\]\s*$/gm)].map((m) => [m[1], m[2]]));
}

/** CPUs in a kernel list such as "0-3,4-7" (/sys/devices/system/cpu/possible). */
function cpuIndices(list: string): number[] {
  return list.trim().split(',').flatMap((part) => {
    const [a, b = a] = part.split('-').map(Number);
    return Number.isInteger(a) && Number.isInteger(b) ? Array.from({ length: b - a + 1 }, (_, i) => a + i) : [];
  });
}

/**
 * The phone as a fingerprint, from `getprop` and `cat /sys/devices/system/cpu/possible /proc/meminfo`:
 * maker, model and SoC; with a taskset mask, the mask and the CPUs in it (big cores time differently).
 */
export function phoneFingerprint(props: Map<string, string>, cpuAndMem: string, o: Pick<AdbOptions, 'cpuMask'>, runtime: string): Fingerprint {
  const p = (...keys: string[]) => keys.map((k) => props.get(k)).find((v) => v) ?? '';
  const cpus = cpuIndices(cpuAndMem.split('\n')[0]);
  if (!cpus.length || !p('ro.product.model')) throw new Error(`the phone did not describe itself (getprop, /sys/devices/system/cpu/possible): ${cpuAndMem.slice(0, 80)}`);
  const mask = o.cpuMask ? BigInt(`0x${o.cpuMask.replace(/^0x/i, '')}`) : null;
  const soc = [p('ro.soc.manufacturer'), p('ro.soc.model')].filter(Boolean).join(' ') || p('ro.board.platform', 'ro.hardware');
  const memKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(cpuAndMem)?.[1] ?? 0);
  const base = {
    cpu: `${p('ro.product.manufacturer')} ${p('ro.product.model')} (${soc || 'unknown SoC'})${mask !== null ? `, taskset ${o.cpuMask}` : ''}`.trim(),
    cores: mask !== null ? cpus.filter((c) => (mask >> BigInt(c)) & 1n).length : cpus.length,
    physicalCores: cpus.length,
    flags: [],
    memoryGb: Math.round(memKb / 2 ** 20),
    os: `Android ${p('ro.build.version.release')} (SDK ${p('ro.build.version.sdk')})`,
    arch: p('ro.product.cpu.abi'),
    runtime,
  };
  return { hash: fingerprintHash(base), ...base };
}

/** The phone's fingerprint, read over adb; an AdbError says why not (no device, unauthorized, offline, ...). */
export async function readPhoneFingerprint(o: AdbOptions, runtime: string): Promise<Fingerprint> {
  const d = new AdbDevice({ ...o, timeoutMs: Math.min(o.timeoutMs, 15_000) });
  const what = "reading the phone's properties";
  const props = await d.shell(what, ['getprop']);
  const hw = await d.shell("reading the phone's CPUs and memory", ['cat', '/sys/devices/system/cpu/possible', '/proc/meminfo']);
  try {
    return phoneFingerprint(parseGetprop(props.stdout), hw.stdout, o, runtime);
  } catch (e) {
    throw d.error('FAILED', what, (e as Error).message);
  }
}

/** The live fingerprint of an adb-tflite device; null when adb or the phone does not answer (so listing devices never fails). */
export async function adbFingerprint(_device: string, options: BackendOptions): Promise<Fingerprint | null> {
  try {
    return await readPhoneFingerprint(adbOptions(options), adbTfliteVersion(options));
  } catch {
    return null;
  }
}
