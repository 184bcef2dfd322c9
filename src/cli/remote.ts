import { TailorError } from '../core/errors';
import type { ParetoFile } from '../specialize/specialize';
import { readTargets } from '../specialize/targets';
import type { GlobalOptions } from './context';
import { printJson } from './format';
import { progressBar } from './progress';

/** The Tailor service's base URL, from --server (no trailing slash). */
export function serverUrl(value: string, option = '--server'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TailorError('INVALID_OPTION', { option, reason: `"${value}" is not a URL (e.g. http://tailor.local:3000)` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TailorError('INVALID_OPTION', { option, reason: 'must be an http:// or https:// URL' });
  return url.toString().replace(/\/+$/, '');
}

type Run = (opts: any, global: any, ...args: any[]) => Promise<void>;
type Options = Record<string, any>;

/** How a command runs as a job of the service: what it sends (POST /jobs) and how it shows the job's result. */
interface RemoteJob {
  /** Options that mean something to the local command only: refused with --server. */
  localOnly: string[];
  /** Options that mean something with --server only: refused without it. */
  serverOnly?: string[];
  params(opts: Options): Record<string, unknown>;
  label(opts: Options): string;
  /** Prints what the local command prints (its --json too). */
  print(result: any, opts: Options, server: string): Promise<void>;
}

const pick = (opts: Options, keys: string[]) => Object.fromEntries(keys.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));

function withSpace(type: string, opts: Options): Options {
  if (opts.space === undefined) throw new TailorError('INVALID_OPTION', { option: '--space', reason: `${type} --server needs --space <id>` });
  return opts;
}

const warn = (warnings: string[] | undefined) => {
  for (const w of warnings ?? []) process.stderr.write(`warning: ${w}\n`);
};

const JOBS = {
  profile: {
    localOnly: ['kernels', 'samples'],
    params: (opts) => pick(withSpace('profile', opts), ['device', 'space', 'resolutions', 'threads', 'seed', 'rounds', 'passes', 'force']),
    label: (opts) => `profile ${opts.device}`,
    async print(result, opts) {
      if (opts.json) return printJson(result);
      const lines = [`table (on the server): ${result.file}`];
      if (result.measuredResolutions.length) lines.push(`measured ${result.measuredResolutions.length} resolution(s) (${result.networksMeasured} networks)`);
      if (result.skippedResolutions.length) lines.push(`already in the table (not re-measured): ${result.skippedResolutions.join(', ')}`);
      lines.push(`table now covers resolutions ${result.resolutions.join(', ')}`);
      console.log(lines.join('\n'));
    },
  },
  validate: {
    localOnly: ['models', 'inputShape'],
    params: (opts) => pick(withSpace('validate', opts), ['device', 'space', 'samples', 'resolutions', 'seed', 'passes', 'calibrate', 'strict']),
    label: (opts) => `validate ${opts.device}`,
    async print(result, opts) {
      if (opts.json) return printJson(result);
      const { describeValidation } = await import('./commands/validate.js');
      warn(result.warnings);
      console.log(describeValidation(result));
    },
  },
  search: {
    localOnly: ['out'],
    serverOnly: ['name'],
    // --supernet names a run of the service (runs/<id> there); the targets file is read here and sent inline.
    params: (opts) => ({
      run: opts.supernet,
      targets: readTargets(opts.targets),
      ...pick(opts, ['name', 'algorithm', 'seed', 'measure', 'maxSubnets', 'generations', 'population', 'reward', 'rescore', 'bnImages', 'testImages', 'resolutions', 'strict']),
    }),
    label: (opts) => `search ${opts.supernet}`,
    async print(result, opts, server) {
      warn(result.warnings);
      const at = `/runs/${encodeURIComponent(result.run)}/searches/${encodeURIComponent(result.search)}`;
      const got = await http(server, 'GET', `${at}/pareto`);
      if (got.status !== 200) throw new TailorError('REMOTE_REQUEST_FAILED', { request: `GET ${at}/pareto`, server, status: got.status, message: got.json?.message ?? '' });
      // In the order of the targets file, as the local command prints them.
      const order = (result.targets as { target: string }[]).map((t) => t.target);
      const files = (got.json.targets as ParetoFile[]).sort((a, b) => order.indexOf(a.target) - order.indexOf(b.target));
      if (opts.json) return printJson(files);
      const { printSearchResults } = await import('./commands/search.js');
      printSearchResults(files, opts, (target) =>
        `written on the server: runs/${result.run}/searches/${result.search}/${target}/{pareto.json, pareto.svg, pareto.png, subnet-*.onnx, subnet-*.tflite}; download: GET ${server}${at}/targets/${target}/<file>`);
    },
  },
} satisfies Record<string, RemoteJob>;

/** `profile`, `validate`, `search` with `--server <url>`: a job of that service instead of a local run. */
export function orViaServer(type: keyof typeof JOBS, local: () => Promise<{ run: Run }>): { run: Run } {
  const job: RemoteJob = JOBS[type];
  return {
    run: async (opts, global: GlobalOptions, ...args) => {
      if (opts.server) return runRemoteJob(type, opts);
      for (const o of job.serverOnly ?? []) {
        if (opts[o] !== undefined) throw new TailorError('INVALID_OPTION', { option: `--${kebab(o)}`, reason: 'it applies with --server only' });
      }
      return (await local()).run(opts, global, ...args);
    },
  };
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Submits the job, follows its events (progress bar), prints what the local command prints. */
async function runRemoteJob(type: keyof typeof JOBS, opts: Options): Promise<void> {
  const job: RemoteJob = JOBS[type];
  const server = serverUrl(String(opts.server));
  for (const o of job.localOnly) {
    if (opts[o] !== undefined) throw new TailorError('INVALID_OPTION', { option: `--${kebab(o)}`, reason: 'it runs locally only, not with --server' });
  }
  const params = job.params(opts);
  const created = await http(server, 'POST', '/jobs', { type, params });
  if (created.status !== 202) throw new TailorError('REMOTE_JOB_FAILED', { job: `(${type})`, server, status: 'was refused', message: created.json?.message ?? `HTTP ${created.status}` });
  const id = String(created.json.id);
  process.stderr.write(`job ${id} on ${server}\n`);
  const bar = progressBar(`${job.label(opts)} (job ${id.slice(0, 8)})`);
  let done: any;
  try {
    done = await follow(server, id, (j) => bar.update(Math.round(j.progress * 1000), 1000, j.message ?? ''));
  } finally {
    bar.stop();
  }
  if (done.status !== 'succeeded') {
    // A search whose budgets nothing meets exits 1, as it does locally; every other failure is bad input (2).
    const code = done.error?.code === 'BUDGETS_NOT_MET' ? 'REMOTE_BUDGETS_NOT_MET' : 'REMOTE_JOB_FAILED';
    throw new TailorError(code, { job: id, server, status: done.status, message: done.error?.message ?? done.message ?? '' });
  }
  await job.print(done.result, opts, server);
}

/** One request to the service: a JSON body, or a multipart form (which sets its own content type). */
export async function http(server: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: any; res: Response }> {
  const form = body instanceof FormData;
  try {
    const res = await fetch(server + route, {
      method,
      headers: body === undefined || form ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
    const json = res.headers.get('content-type')?.includes('json') ? await res.json().catch(() => null) : null;
    return { status: res.status, json, res };
  } catch (e) {
    throw new TailorError('SERVER_UNREACHABLE', { server, reason: (e as Error).cause ? String((e as Error).cause) : (e as Error).message });
  }
}

const FINISHED = ['succeeded', 'failed', 'cancelled', 'interrupted'];

/** Follows GET /jobs/:id/events to the job's end; a dropped stream is resumed from the job's state. */
async function follow(server: string, id: string, onProgress: (job: any) => void): Promise<any> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await http(server, 'GET', `/jobs/${id}`);
    if (current.status !== 200) throw new TailorError('REMOTE_JOB_FAILED', { job: id, server, status: 'cannot be read', message: current.json?.message ?? `HTTP ${current.status}` });
    if (FINISHED.includes(current.json.status)) return current.json;
    let res: Response;
    try {
      res = await fetch(`${server}/jobs/${id}/events`, { headers: { accept: 'text/event-stream' } });
    } catch {
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    let buffer = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        // SSE: events are separated by a blank line; only `event:` and `data:` lines matter here.
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (!data) continue;
          const job = JSON.parse(data);
          if (FINISHED.includes(job.status)) return job;
          onProgress(job);
        }
      }
    } catch {
      // the stream dropped: read the job again
    }
  }
  throw new TailorError('REMOTE_JOB_FAILED', { job: id, server, status: 'could not be followed', message: 'the event stream kept dropping' });
}
