import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { FastifyRequest } from 'fastify';
import { TailorError } from '../../core/errors';
import { Budget, ParseContext, parseBudget } from '../../gate/config';
import { DeviceService } from '../../runtime/device.service';
import { resolveAllowedModel } from '../model-dir';
import { GateFieldsDto, GateRequestDto, MAX_UPLOAD_BYTES } from './gate.dto';

const invalid = (reason: string) => new TailorError('INVALID_REQUEST', { reason });

/** The same checks the global ValidationPipe makes: types, and no unknown fields. */
function validated<T extends object>(cls: new () => T, body: unknown): T {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('expected a JSON object { model, limits, name?, inputShape?, measure?, strict?, allowUnknownOps? } or a multipart/form-data upload');
  const dto = plainToInstance(cls, body);
  const errors = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) throw invalid(errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; '));
  return dto;
}

function budgetFrom(fields: GateFieldsDto, model: string, ctx: Omit<ParseContext, 'source'>): Budget {
  const raw = {
    name: fields.name ?? model, model, limits: fields.limits,
    ...(fields.inputShape !== undefined ? { inputShape: fields.inputShape } : {}),
    ...(fields.measure !== undefined ? { measure: fields.measure } : {}),
    ...(fields.allowUnknownOps !== undefined ? { allowUnknownOps: fields.allowUnknownOps } : {}),
  };
  const budget = parseBudget(raw, 'budget', { ...ctx, source: 'in the request' });
  return fields.strict ? { ...budget, strict: true } : budget;
}

/** application/json: { model: "<path in the allowed model directory>", limits, name?, inputShape?, measure?, strict? }. */
export function budgetFromJson(body: unknown, devices: DeviceService, modelDir: string | null | undefined): Budget {
  const dto = validated(GateRequestDto, body);
  return budgetFrom(dto, dto.model, { devices, resolveModel: (model) => ({ display: model, file: resolveAllowedModel(modelDir, model) }) });
}

const FIELDS = ['name', 'limits', 'inputShape', 'measure', 'strict', 'allowUnknownOps'];
const BOOLEAN_FIELDS = ['measure', 'strict', 'allowUnknownOps'];

/** multipart/form-data: the file part "model" (held in memory, never written anywhere) and text fields. */
export async function budgetFromUpload(req: FastifyRequest, devices: DeviceService): Promise<Budget> {
  const fields: Record<string, unknown> = {};
  const shapes: unknown[] = [];
  const problems: string[] = [];
  let upload: { name: string; bytes: Buffer } | undefined;
  try {
    for await (const part of req.parts() as AsyncIterableIterator<MultipartFile | MultipartValue>) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer(); // consumed either way, so the request is read to its end
        if (part.fieldname !== 'model') problems.push(`unexpected file field "${part.fieldname}" (the model goes in "model")`);
        else if (upload) problems.push('one model per request');
        else upload = { name: part.filename || 'model.onnx', bytes };
        continue;
      }
      const value = String(part.value);
      if (!FIELDS.includes(part.fieldname)) problems.push(`unknown field "${part.fieldname}" (known: model, ${FIELDS.join(', ')})`);
      else if (part.fieldname === 'limits') {
        try {
          fields.limits = JSON.parse(value);
        } catch (e) {
          problems.push(`"limits" must be JSON text such as {"size": "5 MB"} (${(e as Error).message})`);
        }
      } else if (BOOLEAN_FIELDS.includes(part.fieldname)) {
        if (value !== 'true' && value !== 'false') problems.push(`"${part.fieldname}" must be "true" or "false"`);
        fields[part.fieldname] = value === 'true';
      } else if (part.fieldname === 'inputShape') {
        shapes.push(/^\s*[[{]/.test(value) ? safeJson(value, problems) : value);
      } else fields[part.fieldname] = value;
    }
  } catch (e) {
    if ((e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw new TailorError('MODEL_TOO_LARGE', { limit: `${MAX_UPLOAD_BYTES / 2 ** 20} MB` });
    throw e;
  }
  if (!upload) problems.push('no model: send the ONNX file in the file field "model"');
  if (problems.length) throw invalid(problems.join('; '));
  if (shapes.length) fields.inputShape = shapes.length === 1 ? shapes[0] : shapes;
  const dto = validated(GateFieldsDto, fields);
  const file = upload!;
  return budgetFrom(dto, file.name, { devices, resolveModel: () => ({ display: file.name, file: null, bytes: new Uint8Array(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength) }) });
}

function safeJson(text: string, problems: string[]): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    problems.push(`"inputShape" is not valid JSON (${(e as Error).message})`);
    return undefined;
  }
}
