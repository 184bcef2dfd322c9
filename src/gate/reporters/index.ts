import { GateReport } from '../report';
import { jsonReport } from './json';
import { junitReport } from './junit';
import { markdownReport } from './markdown';
import { textReport } from './text';

export const FORMATS = ['text', 'json', 'junit', 'markdown'] as const;
export type Format = (typeof FORMATS)[number];

export const REPORTERS: Record<Format, (report: GateReport) => string> = {
  text: textReport,
  json: jsonReport,
  junit: junitReport,
  markdown: markdownReport,
};
