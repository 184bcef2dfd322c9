import { strict as assert } from 'node:assert';
import { EventSourceMessage, createParser } from 'eventsource-parser';

/** What the e2e tests talk to: a service on an ephemeral port. */
export interface Endpoint {
  url: string;
}

export interface CallOptions {
  headers?: Record<string, string>;
  /** Sent as the body as it is (malformed JSON, say), instead of `body`. */
  raw?: string;
}

/** One HTTP request; the JSON body when there is one (null otherwise) and the text. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function call(server: Endpoint, method: string, route: string, body?: unknown, options: CallOptions = {}): Promise<{ status: number; json: any; text: string }> {
  const hasBody = body !== undefined || options.raw !== undefined;
  const res = await fetch(server.url + route, {
    method,
    headers: { ...options.headers, ...(hasBody ? { 'content-type': 'application/json' } : {}) },
    body: options.raw ?? (body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json, text };
}

/** Collects a Server-Sent Events stream until the server closes it, or until `stop` says enough. */
export async function events(server: Endpoint, route: string, stop?: (e: EventSourceMessage) => boolean): Promise<EventSourceMessage[]> {
  const abort = new AbortController();
  const res = await fetch(server.url + route, { signal: abort.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const out: EventSourceMessage[] = [];
  let stopped = false;
  const parser = createParser({
    onEvent: (e) => {
      out.push(e);
      if (!stopped && stop?.(e)) stopped = true;
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (stopped) break;
    }
  } finally {
    abort.abort();
  }
  return out;
}

/** Polls until `fn` returns something truthy (the default timeout fits a training job); `check` runs before each poll (e.g. fail fast when a child process died). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 300_000, check?: () => void): Promise<T> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    check?.();
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A refusal from the service's error filter: the status in the response and its body, an error name, the message. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function expectError(r: { status: number; json: any }, status: number, message: RegExp): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json.statusCode, status);
  assert.equal(typeof r.json.error, 'string');
  assert.match(r.json.message, message);
}

/** Submits a job and follows its events to the end: the job's id, the final job (its result asserted) and the progress events. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function runJob(server: Endpoint, type: string, params: Record<string, unknown>): Promise<{ id: string; job: any; progress: any[] }> {
  const created = await call(server, 'POST', '/jobs', { type, params });
  assert.equal(created.status, 202, created.text);
  const stream = await events(server, `/jobs/${created.json.id}/events`);
  const last = stream.at(-1)!;
  const job = JSON.parse(last.data);
  assert.equal(last.event, 'result', `${type} job ended with ${last.event}: ${JSON.stringify(job.error)}`);
  return { id: created.json.id as string, job, progress: stream.filter((e) => e.event === 'progress').map((e) => JSON.parse(e.data)) };
}
