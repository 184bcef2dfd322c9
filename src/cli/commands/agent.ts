import * as os from 'node:os';
import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import type { GlobalOptions } from '../context';

export interface AgentCliOptions {
  server: string;
  deviceId: string;
  token?: string;
  cacheDir?: string;
  poll?: number;
}

function serverUrl(value: string, option = '--server'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TailorError('INVALID_OPTION', { option, reason: `"${value}" is not a URL (e.g. http://tailor.local:3000)` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TailorError('INVALID_OPTION', { option, reason: 'must be an http:// or https:// URL' });
  return url.toString().replace(/\/+$/, '');
}

/** `tailor agent`: serves this board's measurements to the service until interrupted. */
export async function run(opts: AgentCliOptions): Promise<void> {
  const { checkDeviceId } = await import('../../runtime/devices.js');
  await import('../../runtime/registry.js');
  const { runAgent } = await import('../../runtime/agent/agent.js');
  checkDeviceId(opts.deviceId);
  const token = opts.token ?? process.env.TAILOR_AGENT_TOKEN;
  if (!token) throw new TailorError('INVALID_OPTION', { option: '--token', reason: 'the device token is needed: pass --token or set TAILOR_AGENT_TOKEN' });
  const server = serverUrl(opts.server);
  const stop = new AbortController();
  const onSignal = () => {
    log('stopping');
    stop.abort();
  };
  const log = (line: string) => process.stdout.write(`[agent ${opts.deviceId}] ${new Date().toISOString()} ${line}\n`);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runAgent({
      server, device: opts.deviceId, token, log, signal: stop.signal, pollSeconds: opts.poll,
      cacheDir: opts.cacheDir ?? path.join(os.homedir(), '.cache', 'tailor-agent', 'models'),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

type Run = (opts: any, global: any, ...args: any[]) => Promise<void>;

/** `profile` / `validate` with `--server <url>`: a job of that service instead of a local run. */
export function orViaServer(type: 'profile' | 'validate', local: () => Promise<{ run: Run }>): { run: Run } {
  return {
    run: async (opts, global: GlobalOptions, ...args) => (opts.server ? runRemoteJob(type, opts) : (await local()).run(opts, global, ...args)),
  };
}

const PARAMS = {
  profile: ['device', 'space', 'resolutions', 'threads', 'seed', 'rounds', 'passes', 'force'],
  validate: ['device', 'space', 'samples', 'resolutions', 'seed', 'passes', 'calibrate'],
} as const;
const LOCAL_ONLY = { profile: ['kernels', 'samples'], validate: ['models', 'strict', 'inputShape'] } as const;

/** Submits the job, follows its events (progress bar), prints what the local command prints. */
async function runRemoteJob(type: 'profile' | 'validate', opts: Record<string, unknown>): Promise<void> {
  const { progressBar } = await import('../progress.js');
  const { printJson } = await import('../format.js');
  const server = serverUrl(String(opts.server));
  for (const o of LOCAL_ONLY[type]) {
    if (opts[o] !== undefined) throw new TailorError('INVALID_OPTION', { option: `--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, reason: 'it runs locally only, not with --server' });
  }
  if (opts.space === undefined) throw new TailorError('INVALID_OPTION', { option: '--space', reason: `${type} --server needs --space <id>` });
  const params = Object.fromEntries(PARAMS[type].filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]]));
  const created = await http(server, 'POST', '/jobs', { type, params });
  if (created.status !== 202) throw new TailorError('REMOTE_JOB_FAILED', { job: `(${type})`, server, status: 'was refused', message: created.json?.message ?? `HTTP ${created.status}` });
  const id = String(created.json.id);
  process.stderr.write(`job ${id} on ${server}\n`);
  const bar = progressBar(`${type} ${opts.device} (job ${id.slice(0, 8)})`);
  let job: any;
  try {
    job = await follow(server, id, (j) => bar.update(Math.round(j.progress * 1000), 1000, j.message ?? ''));
  } finally {
    bar.stop();
  }
  if (job.status !== 'succeeded') {
    throw new TailorError('REMOTE_JOB_FAILED', { job: id, server, status: job.status, message: job.error?.message ?? job.message ?? '' });
  }
  const result = job.result;
  if (opts.json) return printJson(result);
  if (type === 'validate') {
    const { describeValidation } = await import('./validate.js');
    for (const w of result.warnings ?? []) process.stderr.write(`warning: ${w}\n`);
    return void console.log(describeValidation(result));
  }
  const lines = [`table (on the server): ${result.file}`];
  if (result.measuredResolutions.length) lines.push(`measured ${result.measuredResolutions.length} resolution(s) (${result.networksMeasured} networks)`);
  if (result.skippedResolutions.length) lines.push(`already in the table (not re-measured): ${result.skippedResolutions.join(', ')}`);
  lines.push(`table now covers resolutions ${result.resolutions.join(', ')}`);
  console.log(lines.join('\n'));
}

async function http(server: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: any; res: Response }> {
  try {
    const res = await fetch(server + route, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
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
