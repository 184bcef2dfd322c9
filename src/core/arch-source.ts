import * as fs from 'node:fs';
import * as path from 'node:path';
import { ArchConfig, maxArch, minArch, sampleArch, validateArch } from './arch';
import { TailorError } from './errors';
import { NetSpec, archFromNet, netFromArch, netFromOfaConfig } from './net';
import { Rng } from './rng';
import { SearchSpace, getSpace } from './space';

/** What an `--arch` argument turned into: always a static net, plus the arch config when it lies in a space. */
export interface ResolvedArch {
  source: string;
  net: NetSpec;
  arch: ArchConfig | null;
  space: SearchSpace | null;
}

function sourceError(source: string, reason: string): never {
  throw new TailorError('INVALID_ARCH_SOURCE', { source, reason });
}

function needSpace(keyword: string, spaceId?: string): SearchSpace {
  if (!spaceId) sourceError(keyword, `the keyword "${keyword}" needs --space`);
  return getSpace(spaceId);
}

function fromArchObject(source: string, raw: unknown, spaceId?: string): ResolvedArch {
  const obj = raw as Record<string, unknown>;
  if (typeof obj === 'object' && obj && 'blocks' in obj) return fromNetConfig(source, raw, 224, source);
  const named = typeof obj?.space === 'string' ? obj.space : undefined;
  if (named && spaceId && named !== spaceId) {
    throw new TailorError('INVALID_ARCH', { space: spaceId, reason: `the architecture says space "${named}" but --space is "${spaceId}"` });
  }
  const id = named ?? spaceId;
  if (!id) sourceError(source, 'the architecture names no space: add "space" to it or pass --space');
  const space = getSpace(id);
  const arch = validateArch(raw, space);
  return { source, net: netFromArch(space, arch), arch, space };
}

function fromNetConfig(source: string, config: unknown, imageSize: number, file: string): ResolvedArch {
  const net = netFromOfaConfig(config, imageSize, file);
  const arch = archFromNet(net);
  if (arch) net.space = arch.space;
  return { source, net, arch, space: arch ? getSpace(arch.space) : null };
}

function readJson(source: string, file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    sourceError(source, `${file} is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Accepts: an arch JSON file, inline JSON, an OFA net directory (net.config + run.config),
 * or the keywords `max`, `min`, `random:<seed>` (with a space id).
 */
export function resolveArch(source: string, spaceId?: string): ResolvedArch {
  const text = source.trim();
  if (text === 'max' || text === 'min') {
    const space = needSpace(text, spaceId);
    const arch = text === 'max' ? maxArch(space) : minArch(space);
    return { source, net: netFromArch(space, arch), arch, space };
  }
  const random = /^random:(-?\d+)$/.exec(text);
  if (random) {
    const space = needSpace(text, spaceId);
    const arch = sampleArch(space, new Rng(Number(random[1])));
    return { source, net: netFromArch(space, arch), arch, space };
  }
  if (text.startsWith('random')) sourceError(source, 'use random:<integer seed>, e.g. random:42');
  if (text.startsWith('{')) {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      sourceError('inline JSON', (e as Error).message);
    }
    return fromArchObject('inline JSON', raw, spaceId);
  }
  if (!fs.existsSync(text)) sourceError(source, 'no such file or directory, and not max, min, random:<seed> or inline JSON');
  if (fs.statSync(text).isDirectory()) {
    const netFile = path.join(text, 'net.config');
    if (!fs.existsSync(netFile)) sourceError(source, 'directory has no net.config');
    const runFile = path.join(text, 'run.config');
    const imageSize = fs.existsSync(runFile) ? (readJson(source, runFile) as { image_size?: unknown }).image_size : 224;
    if (typeof imageSize !== 'number') sourceError(source, 'run.config has no numeric image_size');
    const resolved = fromNetConfig(source, readJson(source, netFile), imageSize, netFile);
    if (spaceId && resolved.space && resolved.space.id !== spaceId) {
      throw new TailorError('INVALID_ARCH', { space: spaceId, reason: `${source} is a subnet of "${resolved.space.id}", not of "${spaceId}"` });
    }
    return resolved;
  }
  return fromArchObject(source, readJson(source, text), spaceId);
}
