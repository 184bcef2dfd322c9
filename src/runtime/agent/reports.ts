import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../../core/fs-atomic';
import type { Workspace } from '../../core/workspace';
import type { AgentReport } from './protocol';

/**
 * What each board's agent reported when it last registered, kept in the workspace
 * (`.tailor/agent-reports/<device>.json`) by the service it registered with: processes without
 * the service's hub (the CLI's predict, devices, search) compare tables with it.
 */
export const AGENT_REPORT_SCHEMA = 'tailor.agent-report/1';

export interface RecordedReport {
  schema: typeof AGENT_REPORT_SCHEMA;
  device: string;
  /** When the service received it (the service's clock, ISO). */
  reportedAt: string;
  report: AgentReport;
}

export function agentReportPath(ws: Workspace, device: string): string {
  return path.join(ws.root, '.tailor', 'agent-reports', `${device}.json`);
}

/** Written atomically: a reader sees the previous report or this one, never half of one. */
export function recordAgentReport(ws: Workspace, device: string, report: AgentReport, at = new Date()): RecordedReport {
  const recorded: RecordedReport = { schema: AGENT_REPORT_SCHEMA, device, reportedAt: at.toISOString(), report };
  writeJsonAtomic(agentReportPath(ws, device), recorded);
  return recorded;
}

/** The last recorded report; null when none was recorded, or the file is not one (the next registration writes it again). */
export function readAgentReport(ws: Workspace, device: string): RecordedReport | null {
  let raw: Partial<RecordedReport>;
  try {
    raw = JSON.parse(fs.readFileSync(agentReportPath(ws, device), 'utf8'));
  } catch {
    return null;
  }
  const r = raw?.report;
  const valid = raw?.schema === AGENT_REPORT_SCHEMA && raw.device === device && typeof raw.reportedAt === 'string'
    && typeof r?.machine?.cpu === 'string' && typeof r.machine.cores === 'number' && Array.isArray(r.backends);
  return valid ? (raw as RecordedReport) : null;
}
