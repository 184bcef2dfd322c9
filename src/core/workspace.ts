import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where devices and tables live. Defaults to the current directory; TAILOR_HOME or --home override it. */
export interface Workspace {
  root: string;
  devicesDir: string;
  tablesDir: string;
  /** Descriptors shipped with Tailor (devices/local-cpu.json ...), used when the workspace lacks them. */
  builtinDevicesDir: string;
}

/** Tailor's own install directory (holds package.json and the shipped devices/), found from this file. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

function findPackageRoot(from: string): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export function workspace(root = process.env.TAILOR_HOME || process.cwd()): Workspace {
  const abs = path.resolve(root);
  return {
    root: abs,
    devicesDir: path.join(abs, 'devices'),
    tablesDir: path.join(abs, 'latency-tables'),
    builtinDevicesDir: path.join(PACKAGE_ROOT, 'devices'),
  };
}
