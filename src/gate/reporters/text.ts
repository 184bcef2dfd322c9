import { formatTable } from '../../cli/format';
import { GateReport, checkLabel, formatDelta, formatValue } from '../report';

/** For a terminal: one table per budget (value, limit, pass/fail, delta to the baseline). */
export function textReport(report: GateReport): string {
  const out: string[] = [];
  // (the command names the config file on stderr, whatever the format)
  if (report.baseline) out.push(`changes against the baseline ${report.baseline}`, '');
  for (const r of report.results) {
    out.push(`${r.name} (${r.model}): ${r.passed ? 'PASS' : 'FAIL'}`);
    const headers = ['check', 'value', 'limit', 'result', ...(report.baseline ? ['Δ baseline'] : [])];
    const rows = r.checks.map((c) => [
      checkLabel(c), formatValue(c.metric, c.value), c.limit.text, c.passed ? 'pass' : 'FAIL', ...(report.baseline ? [formatDelta(c) || '-'] : []),
    ]);
    out.push(formatTable(headers, rows));
    for (const n of r.notes) out.push(`note: ${n}`);
    out.push('');
  }
  const failed = report.results.filter((r) => !r.passed).length;
  const n = report.results.length;
  out.push(failed ? `${failed} of ${n} budget(s) exceeded` : `all ${n} budget(s) within their limits`);
  return out.join('\n') + '\n';
}
