import { Body, Controller, Get, HttpCode, Inject, Module, Param, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { resolveArch } from '../../core/arch-source';
import { TailorError } from '../../core/errors';
import { listTables } from '../../latency/table';
import { LatencyService } from '../../latency/latency.service';
import { MAX_BATCH, PredictDto } from './predict.dto';
import { parseInputShapes } from '../../analysis/analyze';
import { KernelsService } from '../../kernels/kernels.service';
import { TAILOR_CONFIG, TailorConfig } from '../config';
import { readAllowedModel } from '../model-dir';

/** Over HTTP an architecture is a config object or a keyword; files and directories stay a CLI affair. */
function archSource(arch: unknown, index?: number): string {
  const where = index === undefined ? 'arch' : `archs[${index}]`;
  if (typeof arch === 'string') {
    if (!/^(max|min|random:-?\d+)$/.test(arch.trim())) throw new TailorError('INVALID_REQUEST', { reason: `${where} must be a config object or "max", "min", "random:<seed>"` });
    return arch;
  }
  if (typeof arch !== 'object' || arch === null || Array.isArray(arch)) throw new TailorError('INVALID_REQUEST', { reason: `${where} must be a config object or a keyword` });
  return JSON.stringify(arch);
}

@ApiTags('latency')
@Controller()
class LatencyController {
  constructor(
    private readonly latency: LatencyService,
    private readonly kernels: KernelsService,
    @Inject(TAILOR_CONFIG) private readonly config: TailorConfig,
  ) {}

  @Get('latency-tables')
  @ApiOkResponse({ description: 'Every table: device, space, resolutions, entry count, method' })
  tables() {
    return listTables(this.latency.ws).map(({ file: _file, ...t }) => t);
  }

  @Get('latency-tables/:device/:space')
  @ApiOkResponse({ description: 'A table: metadata and entries' })
  @ApiNotFoundResponse({ description: 'Unknown device or space, or no table yet' })
  @ApiUnprocessableEntityResponse({ description: 'The table file is corrupt' })
  table(@Param('device') device: string, @Param('space') space: string) {
    return this.latency.table(device, space);
  }

  @Post('latency/predict')
  @HttpCode(200)
  @ApiOkResponse({ description: 'One arch: the same object as `tailor predict --json`. A batch: { device, count, results: [...] }' })
  @ApiBadRequestResponse({ description: 'Malformed body, unknown fields, bad architecture form' })
  @ApiUnprocessableEntityResponse({ description: 'Architecture outside the space, missing table keys' })
  async predict(@Body() body: PredictDto) {
    if (body.model !== undefined) return this.predictModel(body);
    for (const field of ['inputShape', 'allowUnknownOps'] as const) if (body[field] !== undefined) throw new TailorError('INVALID_REQUEST', { reason: `"${field}" applies to "model" only` });
    if (body.archs === undefined) return this.latency.predict({ device: body.device, space: body.space, strict: body.strict, arch: archSource(body.arch) });
    if (body.arch !== undefined) throw new TailorError('INVALID_REQUEST', { reason: 'give either "arch" or "archs", not both' });
    if (!Array.isArray(body.archs)) throw new TailorError('INVALID_REQUEST', { reason: '"archs" must be an array' });
    if (body.archs.length > MAX_BATCH) throw new TailorError('BATCH_TOO_LARGE', { max: MAX_BATCH, count: body.archs.length });
    const resolved = body.archs.map((a, i) => resolveArch(archSource(a, i), body.space)); // all checked before any work
    const results = [];
    for (const arch of resolved) {
      const p = await this.latency.predict({ device: body.device, space: body.space, strict: body.strict, arch });
      results.push(body.breakdown ? p : { space: p.space, resolution: p.resolution, latencyMs: p.latencyMs, arch: p.arch });
    }
    return { device: body.device, count: results.length, results };
  }

  /** { device, model, inputShape?, allowUnknownOps? }: an ONNX (or, on a TFLite device, a .tflite) model of the allowed model directory, from the kernel (op) regressors. */
  private async predictModel(body: PredictDto) {
    const others = (['arch', 'archs', 'space', 'breakdown'] as const).filter((k) => body[k] !== undefined);
    if (others.length) throw new TailorError('INVALID_REQUEST', { reason: `"model" comes without ${others.map((k) => `"${k}"`).join(', ')} (those are for architectures of a search space)` });
    const specs = body.inputShape === undefined ? [] : Array.isArray(body.inputShape) ? body.inputShape : [body.inputShape];
    if (!specs.every((s) => typeof s === 'string')) throw new TailorError('INVALID_REQUEST', { reason: '"inputShape" must be "name:dims" or a list of those' });
    const inputShapes = parseInputShapes(specs);
    // Unknown device or no regressors, before reading anything; regressors measured on other hardware or another runtime: a warning, or a 409 with "strict".
    const stale = await this.kernels.checkMeasuredOn(body.device, body.strict);
    const predictor = this.kernels.predictor(body.device);
    const { file, bytes } = readAllowedModel(this.config.modelDir, body.model!);
    this.kernels.checkFormat(body.device, bytes, body.model!); // ONNX on a TFLite device or the reverse: 415
    let result;
    try {
      result = predictor.predict(bytes, { file: body.model, path: file, inputShapes, allowUnknownOps: body.allowUnknownOps, allowUnknownOpsHint: 'send "allowUnknownOps": true' });
    } catch (e) {
      // A dynamic input is sized by the request's field here, not by the CLI flag the message names.
      if (!(e instanceof TailorError) || e.code !== 'MISSING_INPUT_SHAPE') throw e;
      throw new TailorError('MISSING_INPUT_SHAPE', { ...e.params, how: `send "inputShape": "${e.params.input}:${e.params.example}"` }, { cause: e });
    }
    return { ...result, warnings: [...stale, ...result.warnings] };
  }
}

@Module({ controllers: [LatencyController] })
export class LatencyModule {}
