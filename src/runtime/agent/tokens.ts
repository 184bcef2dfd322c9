import { createHash, timingSafeEqual } from 'node:crypto';
import { TailorError } from '../../core/errors';

const ID_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
const MIN_TOKEN_LENGTH = 16;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Per-device agent tokens from TAILOR_AGENT_TOKENS ("board1=token1,board2=token2"), read once at
 * startup: never from a committed file. Only digests are kept; comparisons are constant-time.
 */
export class AgentTokens {
  private constructor(private readonly digests: Map<string, Buffer>) {}

  static parse(text: string | undefined, setting = 'TAILOR_AGENT_TOKENS'): AgentTokens {
    const digests = new Map<string, Buffer>();
    const fail = (reason: string): never => {
      throw new TailorError('AGENT_CONFIG', { setting, reason: `${reason} (expected deviceId=token pairs separated by commas)` });
    };
    for (const [i, pair] of (text ?? '').split(',').map((s) => s.trim()).entries()) {
      if (!pair) {
        if (text?.trim()) fail(`entry ${i + 1} is empty`);
        continue;
      }
      const eq = pair.indexOf('=');
      if (eq < 0) fail(`entry ${i + 1} has no "="`);
      const id = pair.slice(0, eq).trim();
      const token = pair.slice(eq + 1).trim();
      if (!ID_RE.test(id)) fail(`entry ${i + 1}: "${id}" is not a valid device id`);
      if (token.length < MIN_TOKEN_LENGTH) fail(`the token of "${id}" is shorter than ${MIN_TOKEN_LENGTH} characters`);
      if (digests.has(id)) fail(`"${id}" appears twice`);
      digests.set(id, digest(token));
    }
    return new AgentTokens(digests);
  }

  get devices(): string[] {
    return [...this.digests.keys()];
  }

  /** True when `token` is the token of `device`; the same work whether or not the device has one. */
  verify(device: string, token: string): boolean {
    const expected = this.digests.get(device);
    const ok = timingSafeEqual(digest(token), expected ?? digest(`\0no-token:${token}`));
    return ok && expected !== undefined;
  }

  /** The device this token belongs to (each configured token is compared: constant-time per device). */
  identify(token: string): string | null {
    const given = digest(token);
    let found: string | null = null;
    for (const [device, d] of this.digests) if (timingSafeEqual(given, d)) found = device;
    return found;
  }
}

/** The token of an `Authorization: Bearer <token>` header; null when absent or not a bearer token. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m ? m[1] : null;
}
