import { GateReport, checkLabel, failureMessage, formatValue } from '../report';

const escape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;')
    // characters XML 1.0 cannot carry at all
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

const secs = (s: number) => s.toFixed(3);

/**
 * JUnit XML as CI systems read it (Jenkins' junit-10.xsd, the de-facto schema): one testsuite per
 * budget, one testcase per check and limit, a <failure> for each exceeded limit.
 */
export function junitReport(report: GateReport): string {
  const total = report.results.reduce((s, r) => s + r.checks.length, 0);
  const failures = report.results.reduce((s, r) => s + r.checks.filter((c) => !c.passed).length, 0);
  const time = report.results.reduce((s, r) => s + r.checks.reduce((t, c) => t + c.seconds, 0), 0);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tailor gate" tests="${total}" failures="${failures}" errors="0" time="${secs(time)}">`,
  ];
  for (const r of report.results) {
    const f = r.checks.filter((c) => !c.passed).length;
    const t = r.checks.reduce((s, c) => s + c.seconds, 0);
    out.push(`  <testsuite name="${escape(r.name)}" tests="${r.checks.length}" failures="${f}" errors="0" skipped="0" time="${secs(t)}">`);
    out.push('    <properties>', `      <property name="model" value="${escape(r.model)}"/>`, '    </properties>');
    for (const c of r.checks) {
      const name = `${checkLabel(c)} <= ${c.limit.text}`;
      const open = `    <testcase classname="tailor.gate.${escape(r.name)}" name="${escape(name)}" time="${secs(c.seconds)}"`;
      if (c.passed) {
        out.push(`${open}/>`);
        continue;
      }
      out.push(
        `${open}>`,
        `      <failure message="${escape(failureMessage(c))}" type="BudgetExceeded">${escape(`${checkLabel(c)}: ${formatValue(c.metric, c.value)} (${c.value}), limit ${c.limit.text} (${c.limit.value})`)}</failure>`,
        '    </testcase>',
      );
    }
    if (r.notes.length) out.push(`    <system-out>${escape(r.notes.join('\n'))}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
