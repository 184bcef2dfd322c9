import * as fs from 'node:fs';
import * as path from 'node:path';
import { invalidModel } from '../analysis/model';
import { TailorError } from '../core/errors';

const inside = (dir: string, file: string) => {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
};

/**
 * A model path sent over HTTP, resolved inside the server's allowed model directory
 * (--model-dir / TAILOR_MODEL_DIR): relative to it, and refused (403) when it points outside,
 * through "..", an absolute path or a symlink. Without an allowed directory no path is accepted.
 */
export function resolveAllowedModel(modelDir: string | null | undefined, model: string): string {
  if (!modelDir) {
    throw new TailorError('MODEL_PATH_FORBIDDEN', {
      path: model, reason: 'not accepted: this server has no allowed model directory (start it with --model-dir <dir> or TAILOR_MODEL_DIR), so models must be uploaded (multipart/form-data)',
    });
  }
  const outside = () => new TailorError('MODEL_PATH_FORBIDDEN', { path: model, reason: "outside the server's allowed model directory" });
  if (model.includes('\0')) throw outside();
  let dir: string;
  try {
    dir = fs.realpathSync(modelDir);
  } catch {
    throw new TailorError('MODEL_PATH_FORBIDDEN', { path: model, reason: "not accepted: the server's allowed model directory does not exist" });
  }
  const file = path.resolve(dir, model);
  if (!inside(dir, file)) throw outside();
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    throw new TailorError('MODEL_NOT_FOUND', { file: model, detail: "in the server's allowed model directory" });
  }
  if (!inside(dir, real)) throw outside(); // a symlink out of the directory
  return real;
}

/** The model's bytes for the kernel or op predictor (which checks the format against the device); the client's path (not the server's) names it in messages. */
export function readAllowedModel(modelDir: string | null | undefined, model: string): { file: string; bytes: Uint8Array } {
  const file = resolveAllowedModel(modelDir, model);
  if (!fs.statSync(file).isFile()) invalidModel(model, 'it is not a file');
  return { file, bytes: fs.readFileSync(file) };
}
