import { strict as assert } from 'node:assert';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TailorError } from '../src/core/errors';
import { PACKAGE_ROOT } from '../src/core/workspace';

export const REPO = PACKAGE_ROOT;
/** Reference data lives beside the checkout and is read from there, never copied in. */
export const SHARED = path.resolve(REPO, '..', 'shared');
export const OFA = path.join(SHARED, 'reference', 'ofa');
export const FIXTURES = path.join(REPO, 'test', 'fixtures');
export const NET_30MS = path.join(OFA, 'specialized', 'note10_lat-30ms_top1-78.4_finetune-75');
export const NOTE10_YAMLS = [160, 176, 192, 208, 224].map((r) => path.join(OFA, 'note10', `${r}_lookup_table.yaml`));

export function tempDir(prefix = 'tailor-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

const CLI = path.join(REPO, '.test-build', 'src', 'cli.js');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], home?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...(home ? ['--home', home] : []), ...args], { encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The CLI as a child process, asynchronously: a service running in the test's own process keeps answering it. */
export function cliAsync(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

export interface AgentProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved. */
  output: () => string;
  exited: Promise<number | null>;
}

/** A real `tailor agent` process (the CLI from .test-build) serving `device` to the service from this machine's runtimes. */
export function startAgent(server: { url: string }, device: string, token: string, cacheDir: string): AgentProcess {
  const child = spawn(process.execPath, [CLI, 'agent', '--server', server.url, '--device-id', device, '--token', token, '--cache-dir', cacheDir, '--poll', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Asserts that `p` rejects with a TailorError of this code (and a message matching `message`). */
export function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  return assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TailorError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}
