import * as http from 'node:http';
import * as https from 'node:https';

/** One JSON request without client-side timeouts (the server's deadlines end long waits); throws on network errors and non-JSON answers. */
export function requestJson<T>(method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<T> {
  const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(target, {
      method,
      headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': String(data.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200) || 'empty answer'}`));
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
