import { Check, GateReport, checkLabel, delta, formatDelta, formatValue } from '../report';

/** Marks the comment, so a CI job can find and update its previous one instead of adding another. */
export const MARKDOWN_MARKER = '<!-- tailor-gate -->';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function arrow(c: Check): string {
  const d = delta(c);
  if (!d) return c.baseline === null ? 'new' : '';
  if (d.diff === 0) return '= ±0';
  return `${d.diff > 0 ? '▲' : '▼'} ${formatDelta(c)}`;
}

/** A pull-request comment: one table row per check, ▲/▼ against the baseline. */
export function markdownReport(report: GateReport): string {
  const failed = report.results.filter((r) => !r.passed).length;
  const n = report.results.length;
  const title = failed ? `❌ Tailor gate: ${failed} of ${n} budget(s) exceeded` : `✅ Tailor gate: all ${n} budget(s) within their limits`;
  const withBaseline = report.baseline !== null;
  const out = [MARKDOWN_MARKER, `### ${title}`, ''];
  out.push(`| Budget | Check | Value | Limit |${withBaseline ? ' Δ vs baseline |' : ''} Result |`);
  out.push(`| --- | --- | ---: | ---: |${withBaseline ? ' ---: |' : ''} :---: |`);
  for (const r of report.results) {
    for (const c of r.checks) {
      const row = [`\`${cell(r.name)}\``, cell(checkLabel(c)), formatValue(c.metric, c.value), cell(c.limit.text), ...(withBaseline ? [arrow(c)] : []), c.passed ? '✅' : '❌'];
      out.push(`| ${row.join(' | ')} |`);
    }
  }
  const notes = report.results.flatMap((r) => r.notes.map((note) => `- \`${cell(r.name)}\`: ${note}`));
  if (notes.length) out.push('', ...notes);
  out.push('');
  const foot: string[] = [];
  if (report.results.some((r) => r.checks.some((c) => c.metric === 'latency'))) foot.push('predicted latency from the device\'s kernel regressors, measured latency the median on the device');
  if (withBaseline) foot.push(`▲/▼ against the baseline ${report.baseline!.split(/[\\/]/).pop()}`);
  if (foot.length) out.push(`<sub>${foot.join('; ')}.</sub>`, '');
  while (out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}
