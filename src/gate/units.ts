import bytes from 'bytes';
import ms from 'ms';

/**
 * Human-friendly budget units. A parse error is a reason string (the config validator adds
 * where it was found); values are plain numbers: bytes, counts, milliseconds.
 */
export type Parsed = { ok: true; value: number } | { ok: false; reason: string };

const ok = (value: number): Parsed => ({ ok: true, value });
const bad = (reason: string): Parsed => ({ ok: false, reason });

const SIZE_UNITS = 'B, kB, MB, GB, TB (1 kB = 1024 B; KiB, MiB, GiB, TiB are the same)';
const COUNT_UNITS = 'K (thousand), M (million), G or B (billion), T (trillion)';
const DURATION_UNITS = 'ms, s (e.g. "15 ms", "1.5 s")';

/**
 * Sizes with the `bytes` package (binary multiples: "5 MB" = 5 * 1024^2 bytes). bytes.parse
 * falls back to parseInt for strings it does not understand ("5 XB" -> 5), so the unit is
 * checked here first and an unknown one is an error, never a silent number.
 */
export function parseSize(v: unknown): Parsed {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? ok(v) : bad(`${v} is not a positive whole number of bytes`);
  if (typeof v !== 'string') return bad(`expected a size such as "5 MB" or a number of bytes, got ${JSON.stringify(v)}`);
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return bad(`"${v}" is not a size; expected a number and a unit: ${SIZE_UNITS}`);
  const unit = m[2].toLowerCase();
  const canonical: Record<string, string> = { '': 'b', b: 'b', kb: 'kb', kib: 'kb', mb: 'mb', mib: 'mb', gb: 'gb', gib: 'gb', tb: 'tb', tib: 'tb' };
  if (!(unit in canonical)) return bad(`unknown size unit "${m[2]}" in "${v}"; use ${SIZE_UNITS}`);
  const value = bytes.parse(`${m[1]}${canonical[unit]}`);
  if (value === null || !Number.isFinite(value) || value <= 0) return bad(`"${v}" must be more than 0 bytes`);
  return ok(Math.round(value));
}

const COUNT_SCALE: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, b: 1e9, t: 1e12 };

/**
 * Counts such as "2.5M" params or "600M" MACs. A tiny parser on purpose: the npm libraries for
 * this are SI-prefix parsers (human-format: "m" is milli, no "B" for billion) or byte parsers,
 * neither of which reads counts the way model cards write them.
 */
export function parseCount(v: unknown): Parsed {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? ok(Math.round(v)) : bad(`${v} is not a positive count`);
  if (typeof v !== 'string') return bad(`expected a count such as "2.5M" or a number, got ${JSON.stringify(v)}`);
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return bad(`"${v}" is not a count; expected a number and an optional unit: ${COUNT_UNITS}`);
  const scale = COUNT_SCALE[m[2].toLowerCase()];
  if (scale === undefined) return bad(`unknown count unit "${m[2]}" in "${v}"; use ${COUNT_UNITS}`);
  const value = Math.round(Number(m[1]) * scale);
  return value > 0 ? ok(value) : bad(`"${v}" must be more than 0`);
}

/**
 * Durations with the `ms` package ("15 ms", "1.5s"; a bare number is milliseconds). Only
 * millisecond and second units are taken: ms also reads "15 m" as 15 minutes, which in a
 * latency budget is far more likely a typo than an intent.
 */
const DURATION_UNIT = /^(|ms|msecs?|milliseconds?|s|secs?|seconds?)$/i;

export function parseDuration(v: unknown): Parsed {
  if (typeof v === 'number') return Number.isFinite(v) && v > 0 ? ok(v) : bad(`${v} is not a positive number of milliseconds`);
  if (typeof v !== 'string') return bad(`expected a duration such as "15 ms", got ${JSON.stringify(v)}`);
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(v);
  if (!m) return bad(`"${v}" is not a duration; use ${DURATION_UNITS}`);
  if (!DURATION_UNIT.test(m[2])) return bad(`unknown duration unit "${m[2]}" in "${v}"; use ${DURATION_UNITS}`);
  const value = ms(`${m[1]}${m[2]}` as ms.StringValue) as number | undefined;
  if (value === undefined || !Number.isFinite(value)) return bad(`"${v}" is not a duration; use ${DURATION_UNITS}`);
  return value > 0 ? ok(value) : bad(`"${v}" must be more than 0 ms`);
}

export function formatSize(n: number): string {
  return bytes.format(n, { decimalPlaces: 2, unitSeparator: ' ' }) ?? `${n} B`;
}

export function formatCount(n: number): string {
  const trim = (x: number) => Number(x.toFixed(2)).toString();
  if (Math.abs(n) >= 1e9) return `${trim(n / 1e9)}G`;
  if (Math.abs(n) >= 1e6) return `${trim(n / 1e6)}M`;
  if (Math.abs(n) >= 1e3) return `${trim(n / 1e3)}K`;
  return String(n);
}

export function formatMs(n: number): string {
  return `${Number(n.toFixed(n >= 100 ? 1 : 3))} ms`;
}
