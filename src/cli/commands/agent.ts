import * as os from 'node:os';
import * as path from 'node:path';
import { TailorError } from '../../core/errors';
import { serverUrl } from '../remote';

export interface AgentCliOptions {
  server: string;
  deviceId: string;
  token?: string;
  cacheDir?: string;
  poll?: number;
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
