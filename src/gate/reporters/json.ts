import { GateReport, toJsonReport } from '../report';

/** `[{ name, passed, metrics: { sizeBytes, params, macs, latencyMs: { <device>: { predicted?, measured? } } }, failures }]`; also the baseline format. */
export function jsonReport(report: GateReport): string {
  return JSON.stringify(toJsonReport(report), null, 2) + '\n';
}
