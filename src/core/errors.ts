/**
 * Every user-facing error comes from this one table: a code, an HTTP status for the
 * service, a message template, and the CLI exit code when it is not 2 (bad input).
 */
const MESSAGES = {
  UNKNOWN_DEVICE: { status: 404, text: (p: P) => `Unknown device "${p.device}". Known devices: ${p.known || '(none)'}.` },
  UNKNOWN_SPACE: { status: 404, text: (p: P) => `Unknown search space "${p.space}". Known spaces: ${p.known}.` },
  UNKNOWN_BACKEND: { status: 400, text: (p: P) => `Device "${p.device}" names backend "${p.backend}", which Tailor does not have. Known backends: ${p.known}.` },
  INVALID_ARCH: { status: 422, text: (p: P) => `Invalid architecture for space "${p.space}": ${p.reason}` },
  INVALID_ARCH_SOURCE: { status: 400, text: (p: P) => `Cannot read architecture "${p.source}": ${p.reason}` },
  INVALID_NET_CONFIG: { status: 422, text: (p: P) => `Invalid OFA net config ${p.file}: ${p.reason}` },
  INVALID_OPTION: { status: 400, text: (p: P) => `Invalid value for ${p.option}: ${p.reason}` },
  INVALID_DEVICE_FILE: { status: 422, text: (p: P) => `Device descriptor ${p.file} is invalid: ${p.reason}` },
  TABLE_NOT_FOUND: { status: 404, text: (p: P) => `No latency table for device "${p.device}" and space "${p.space}" (looked for ${p.file}). Run: tailor profile --device ${p.device} --space ${p.space}` },
  CORRUPT_TABLE: { status: 422, text: (p: P) => `Latency table ${p.file} is corrupt or truncated: ${p.reason}` },
  MISSING_KEYS: { status: 422, text: (p: P) => `The latency table of "${p.device}" for "${p.space}" lacks ${p.count} key(s) this architecture needs: ${p.keys}` },
  RESOLUTION_NOT_IN_TABLE: { status: 422, text: (p: P) => `Resolution ${p.resolution} is not in the latency table of "${p.device}" for "${p.space}" (table has: ${p.available}).` },
  FINGERPRINT_MISMATCH: {
    status: 409,
    // `changes` (field by field) when predicting from a stale table; table/current when profiling would mix machines.
    text: (p: P) => p.changes !== undefined
      ? `The ${p.what} ${p.file} of device "${p.device}" was measured on different hardware or runtime: ${p.changes}${p.reported ? ` (the device as last reported ${p.reported})` : ''}.`
      : `The latency table ${p.file} was measured on different hardware or runtime (table: ${p.table}; this machine: ${p.current}).`,
  },
  FINGERPRINT_UNKNOWN: {
    status: 409,
    // `what`/`file` when --strict cannot check a table; without them, a measurement that cannot record what it ran on.
    text: (p: P) => p.file !== undefined
      ? `Cannot tell whether the ${p.what} ${p.file} of device "${p.device}" is current: ${p.reason}. --strict refuses what it cannot check.`
      : `Cannot read the fingerprint of device "${p.device}" (measurements record it): ${p.reason}.`,
  },
  TABLE_ONLY_DEVICE: { status: 409, text: (p: P) => `Device "${p.device}" is a table-only device (imported tables, no hardware attached): it can predict, but cannot ${p.action}.` },
  INVALID_OFA_TABLE: { status: 422, text: (p: P) => `OFA lookup table ${p.file} is invalid: ${p.reason}` },
  INVALID_MODEL: { status: 422, text: (p: P) => `Model could not be loaded by ${p.backend}: ${p.reason}` },
  TABLE_LOCKED: { status: 409, text: (p: P) => `The latency table ${p.table} is being written by ${p.holder}; wait for it to finish or cancel it.` },
  UNKNOWN_JOB: { status: 404, text: (p: P) => `Unknown job "${p.job}".` },
  JOB_FINISHED: { status: 409, text: (p: P) => `Job "${p.job}" has already finished (${p.status}).` },
  SERVICE_STOPPING: { status: 503, text: () => 'The service is shutting down and takes no new jobs.' },
  QUEUE_CONFIG: { status: 500, text: (p: P) => `Invalid TAILOR_QUEUE "${p.value}": ${p.reason} (expected redis://[user:password@]host[:port][/db] or rediss://...)` },
  QUEUE_UNAVAILABLE: { status: 503, text: (p: P) => `Cannot reach the job queue at ${p.url}: ${p.reason}` },
  DATA_DIR_IN_USE: { status: 409, text: (p: P) => `The data directory ${p.dir} is in use by another Tailor service; stop it or pass another --data-dir.` },
  INVALID_REQUEST: { status: 400, text: (p: P) => `Invalid request: ${p.reason}` },
  INVALID_CHECKPOINT: { status: 422, text: (p: P) => `Checkpoint ${p.file} cannot be used: ${p.reason}` },
  DISK_FULL: {
    status: 507,
    text: (p: P) => `Out of disk space writing ${p.what ? `${p.what} ` : ''}${p.file} (${p.reason}; ${p.free} free there, ${p.size} to write): nothing was replaced, any previous version is intact${p.hint ? `; ${p.hint}` : ''}.`,
  },
  INVALID_DATASET: { status: 422, text: (p: P) => `Dataset problem: ${p.reason}` },
  BATCH_TOO_LARGE: { status: 413, text: (p: P) => `A batch holds at most ${p.max} architectures; this one has ${p.count}.` },
  INVALID_ONNX: { status: 422, text: (p: P) => `${p.file} is not a valid ONNX model: ${p.reason}` },
  UNSUPPORTED_OPSET: { status: 422, text: (p: P) => `${p.file} uses ONNX opset ${p.opset}; model analysis supports opset ${p.min} and later.` },
  UNKNOWN_OP: { status: 422, text: (p: P) => `${p.file} has ${p.count} node(s) of ops the analysis cannot infer shapes for or count: ${p.nodes}. To analyse the rest (a partial analysis, marked "partial", that leaves them and what depends on them out), ${p.hint}.` },
  MISSING_INPUT_SHAPE: { status: 422, text: (p: P) => `Input "${p.input}" of ${p.file} has a dynamic shape (${p.shape}); ${p.how ?? `pass its size with --input-shape ${p.input}:${p.example}`}` },
  INVALID_INPUT_SHAPE: { status: 400, text: (p: P) => `Invalid --input-shape "${p.value}": ${p.reason}` },
  NO_FEASIBLE_ARCH: { status: 422, text: (p: P) => `No architecture of space "${p.space}" meets the budgets (${p.budgets}): ${p.evaluated} evaluated, the closest has ${p.closest}.` },
  KERNELS_NOT_FOUND: { status: 404, text: (p: P) => `No kernel regressors for device "${p.device}" (looked for ${p.file}). Run: tailor profile --device ${p.device} --kernels` },
  CORRUPT_KERNELS: { status: 422, text: (p: P) => `Kernel profile or regressors ${p.file} is corrupt or truncated: ${p.reason}` },
  KERNEL_PROFILE_OUTDATED: { status: 409, text: (p: P) => `Kernel profile ${p.file} holds graphs of sampler v${p.recorded}; this Tailor samples v${p.current} (other graphs for the same seed). Re-run with --force to start over (the old file is kept as .bak-<time>).` },
  INVALID_TARGETS: { status: 422, text: (p: P) => `Targets file ${p.file} is invalid: ${p.reason}` },
  GATE_CONFIG_NOT_FOUND: { status: 404, text: (p: P) => `No gate config in ${p.dir}${p.stop === p.dir ? '' : ` or a directory above it up to ${p.stop}`}: looked for tailor.budgets.json and a "tailor" key in package.json. Create one, or pass --config <file>.` },
  INVALID_GATE_CONFIG: { status: 400, text: (p: P) => `Invalid gate config ${p.source}: ${p.reason}` },
  UNSUPPORTED_MODEL_FORMAT: { status: 415, text: (p: P) => `${p.file} is ${/^[AEIOU]/.test(String(p.format)) ? 'an' : 'a'} ${p.format} model: ${p.reason}` },
  MODEL_NOT_FOUND: { status: 404, text: (p: P) => `Model file ${p.file} does not exist${p.detail ? ` (${p.detail})` : ''}.` },
  MODEL_PATH_FORBIDDEN: { status: 403, text: (p: P) => `Model path "${p.path}" is ${p.reason}.` },
  INVALID_BASELINE: { status: 422, text: (p: P) => `Baseline ${p.file} cannot be used: ${p.reason}` },
  CANNOT_WRITE: { status: 500, text: (p: P) => `Cannot write ${p.what} ${p.file}: ${p.reason}` },
  // Not exit 1: that means "a budget is exceeded", and no budget was judged.
  GATE_FAILED: { status: 500, text: (p: P) => `The gate stopped on an unexpected error, so no budget was judged: ${p.reason}` },
  INCOMPLETE_FIGURE: { status: 422, text: (p: P) => `Budget "${p.budget}": cannot gate ${p.metric} of ${p.file}: ${p.reason}` },
  MODEL_TOO_LARGE: { status: 413, text: (p: P) => `The uploaded model is larger than the upload limit of ${p.limit}; put it in the server's model directory (--model-dir) and pass its path instead.` },
  BUDGETS_NOT_MET: { status: 422, exit: 1, text: (p: P) => `No subnet of ${p.space} meets target "${p.target}" (${p.budgets}) after ${p.evaluated} evaluated; the binding budget: ${p.binding}. Closest: ${p.closest}` },
  UNKNOWN_RUN: { status: 404, text: (p: P) => `Unknown run "${p.run}"${p.detail ? ` (${p.detail})` : ''}.` },
  UNKNOWN_SEARCH: { status: 404, text: (p: P) => `Run "${p.run}" has no search "${p.search}".` },
  RUN_FILE_NOT_FOUND: { status: 404, text: (p: P) => `Search "${p.search}" of run "${p.run}" has no ${p.what}.` },
  RUN_EXISTS: { status: 409, text: (p: P) => `${p.what} already exists; ${p.hint}.` },
  ADB_DEVICE: { status: 503, text: (p: P) => `Android device: ${p.reason}` },
  BENCHMARK_OUTPUT: { status: 502, text: (p: P) => `Unreadable benchmark_model output: ${p.reason}` },
  INVALID_TFLITE: { status: 422, text: (p: P) => `${p.file} is not a valid TFLite model: ${p.reason}` },
  UNSUPPORTED_TFLITE_OP: { status: 422, text: (p: P) => `${p.file} uses ${p.op}, which Tailor cannot ${p.action} (supported: ${p.supported}).` },
  TFLITE_EXPORT: { status: 422, text: (p: P) => `Cannot write ${p.what} as TFLite: ${p.reason}` },
  TFLITE_RUNTIME: { status: 422, text: (p: P) => `The TFLite runtime (tflite-wasm) could not ${p.action}: ${p.reason}` },
  RUN_LOCKED: { status: 409, text: (p: P) => `${p.what} is being written by ${p.holder}; wait for it to finish or cancel it.` },
  // Remote boards (tailor agent); messages never include a token.
  AGENT_CONFIG: { status: 500, text: (p: P) => `Invalid ${p.setting}: ${p.reason}` },
  AGENT_UNAUTHORIZED: { status: 401, text: (p: P) => `Agent refused: ${p.reason}.` },
  AGENT_NOT_CONFIGURED: { status: 409, text: (p: P) => `Device "${p.device}" cannot take an agent: ${p.reason}.` },
  AGENT_NOT_REGISTERED: { status: 404, text: (p: P) => `No agent of "${p.device}" is registered with session ${p.session} (the service restarted, or another session replaced it); register again.` },
  AGENT_SESSION_REPLACED: { status: 409, text: (p: P) => `Another agent registered as "${p.device}" after this one (session ${p.session}); one agent per device id.` },
  AGENT_UNKNOWN_WORK: { status: 404, text: (p: P) => `Device "${p.device}" has no work "${p.work}".` },
  AGENT_NOT_LEASED: { status: 409, text: (p: P) => `Work "${p.work}" of "${p.device}" is not leased to this agent: ${p.reason}.` },
  AGENT_DUPLICATE_RESULT: { status: 409, text: (p: P) => `Work "${p.work}" of "${p.device}" already ended (${p.outcome}); this result is not used.` },
  AGENT_INVALID_RESULT: { status: 422, text: (p: P) => `Invalid result from the agent of "${p.device}" for ${p.op} (work ${p.work}): ${p.reason}` },
  AGENT_MESSAGE_TOO_LARGE: { status: 413, text: (p: P) => `Agent message too large: ${p.size} (limit ${p.limit}).` },
  AGENT_WORK_FAILED: { status: 422, text: (p: P) => `The agent of "${p.device}" could not ${p.op}: ${p.reason}` },
  AGENT_TIMEOUT: { status: 504, text: (p: P) => `Device "${p.device}": ${p.op} did not finish within ${p.seconds} s (${p.state}).` },
  AGENT_UNAVAILABLE: { status: 503, text: (p: P) => `No agent of device "${p.device}" connected within ${p.seconds} s; start one on the board: tailor agent --server <url> --device-id ${p.device}` },
  AGENT_FINGERPRINT_CHANGED: { status: 409, text: (p: P) => `The agent of "${p.device}" registered again reporting other hardware or runtime (${p.changes}) while ${p.op} was pending: measurements of two machines are never mixed, so it fails and nothing of it is kept. Check the board, then run the job again.` },
  AGENT_SESSION_LOST: { status: 503, text: (p: P) => `The agent of "${p.device}" restarted while a profiled model was loaded and lost its kernel timings; run the job again (finished resolutions are kept).` },
  AGENT_NO_HUB: { status: 409, text: (p: P) => `Device "${p.device}" is a remote board (backend agent): it is measured through the service its agent connects to; run it through that service: tailor profile|validate|search|gate --server <url> (or POST /jobs, POST /gate).` },
  AGENT_REFUSED: { status: 401, text: (p: P) => `The server ${p.server} refused the token of device "${p.device}" (HTTP ${p.status}: ${p.message}). Check --token (or TAILOR_AGENT_TOKEN) against the server's TAILOR_AGENT_TOKENS.` },
  SERVER_UNREACHABLE: { status: 502, text: (p: P) => `Cannot reach the Tailor service at ${p.server}: ${p.reason}` },
  REMOTE_JOB_FAILED: { status: 502, text: (p: P) => `Job ${p.job} on ${p.server} ${p.status}: ${p.message}` },
  REMOTE_BUDGETS_NOT_MET: { status: 422, exit: 1, text: (p: P) => `Job ${p.job} on ${p.server} ${p.status}: ${p.message}` },
  REMOTE_REQUEST_FAILED: { status: 502, text: (p: P) => `${p.request} on the Tailor service at ${p.server} failed (HTTP ${p.status}): ${p.message}` },
} as const;

type P = Record<string, string | number | undefined>;
export type ErrorCode = keyof typeof MESSAGES;

export class TailorError extends Error {
  readonly status: number;
  /** CLI exit code: 2 (bad input) unless the table says otherwise (1: a budget is not met). */
  readonly exitCode: number;
  constructor(
    readonly code: ErrorCode,
    readonly params: P = {},
    /** The error behind it (e.g. an fs error), kept for its stack. */
    options?: { cause?: unknown },
  ) {
    super(MESSAGES[code].text(params), options);
    this.name = 'TailorError';
    this.status = MESSAGES[code].status;
    const entry = MESSAGES[code] as { exit?: number };
    this.exitCode = entry.exit ?? 2;
  }
}

export function isTailorError(e: unknown): e is TailorError {
  return e instanceof TailorError;
}
