import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchConfig, archId } from '../core/arch';
import { TailorError } from '../core/errors';
import { SearchSpace } from '../core/space';
import { Dataset, sliceSet } from '../training/datasets';
import type { Engine } from '../training/engine';
import type { ElasticSupernet } from '../training/supernet';

/**
 * How a subnet's accuracy is measured for the accuracy predictor (OFA's way): BN statistics
 * recalibrated on the first `bnImages` validation images, top-1 on the next `evalImages`
 * validation images: held out from training and from the recalibration, and never the test split
 * (which stays for the final, honest numbers of `tailor eval` and `search --measure`).
 */
export interface MeasureProtocol {
  bnImages: number;
  evalImages: number;
}

export interface SubnetMeasurement {
  id: string;
  arch: ArchConfig;
  top1: number;
  protocol: MeasureProtocol;
  seconds: number;
}

export const MEASUREMENTS_FILE = 'acc-measurements.jsonl';

export function sameProtocol(a: MeasureProtocol, b: MeasureProtocol): boolean {
  return a.bnImages === b.bnImages && a.evalImages === b.evalImages;
}

/**
 * The run's cached measurements taken with this protocol, by arch id. One JSON line each,
 * appended as they are taken: an interrupted measurement loses at most the line being written,
 * which is skipped here.
 */
export function readMeasurements(runDir: string, space: SearchSpace, protocol: MeasureProtocol): Map<string, SubnetMeasurement> {
  const file = path.join(runDir, MEASUREMENTS_FILE);
  const out = new Map<string, SubnetMeasurement>();
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let m: SubnetMeasurement;
    try {
      m = JSON.parse(line);
    } catch {
      continue; // a line cut short by a crash
    }
    if (m && typeof m.top1 === 'number' && m.arch && m.protocol && sameProtocol(m.protocol, protocol)) out.set(archId(space, m.arch), m);
  }
  return out;
}

export function appendMeasurement(runDir: string, m: SubnetMeasurement): void {
  const fd = fs.openSync(path.join(runDir, MEASUREMENTS_FILE), 'a');
  try {
    fs.writeSync(fd, JSON.stringify(m) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks the validation split can hold both parts of the protocol. */
export function checkProtocol(d: Dataset, protocol: MeasureProtocol): void {
  if (protocol.evalImages < 1 || protocol.bnImages + protocol.evalImages > d.val.count) {
    throw new TailorError('INVALID_OPTION', {
      option: '--bn-images/--eval-images',
      reason: `the validation split of ${d.name} has ${d.val.count} images; ${protocol.bnImages} for BN recalibration plus ${protocol.evalImages} for scoring do not fit`,
    });
  }
}

/** Measures one subnet under the protocol (deterministic: same arch, same score). */
export async function measureSubnet(engine: Engine, net: ElasticSupernet, d: Dataset, space: SearchSpace, arch: ArchConfig, protocol: MeasureProtocol): Promise<SubnetMeasurement> {
  const { recalibrateOn } = await import('../training/runs.js');
  const { top1 } = await import('../training/trainer.js');
  const started = Date.now();
  const subnet = recalibrateOn(engine, net, d, sliceSet(d.val, 0, protocol.bnImages), arch);
  try {
    const score = top1(engine, subnet, d, sliceSet(d.val, protocol.bnImages, protocol.evalImages), protocol.evalImages, arch.r);
    return { id: archId(space, arch), arch, top1: score, protocol, seconds: Math.round((Date.now() - started) / 100) / 10 };
  } finally {
    subnet.dispose();
  }
}
