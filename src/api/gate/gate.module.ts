import { Controller, HttpCode, Inject, Module, Post, Req } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiConsumes, ApiExtraModels, ApiForbiddenResponse, ApiOkResponse, ApiTags, ApiUnprocessableEntityResponse, getSchemaPath } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { GateService, tableLatency } from '../../gate/gate';
import { LatencyService } from '../../latency/latency.service';
import { toJsonReport } from '../../gate/report';
import { KernelsService } from '../../kernels/kernels.service';
import { DeviceService } from '../../runtime/device.service';
import { TAILOR_CONFIG, TailorConfig } from '../config';
import { GateRequestDto, GateUploadDto } from './gate.dto';
import { budgetFromJson, budgetFromUpload } from './gate.request';

@ApiTags('gate')
@ApiExtraModels(GateRequestDto, GateUploadDto)
@Controller()
class GateController {
  constructor(
    private readonly gate: GateService,
    private readonly devices: DeviceService,
    @Inject(TAILOR_CONFIG) private readonly config: TailorConfig,
  ) {}

  @Post('gate')
  @HttpCode(200)
  @ApiConsumes('application/json', 'multipart/form-data')
  @ApiBody({ schema: { oneOf: [{ $ref: getSchemaPath(GateRequestDto) }, { $ref: getSchemaPath(GateUploadDto) }] }, description: 'A model path in the allowed model directory (JSON), or an upload (multipart), with its limits' })
  @ApiOkResponse({ description: 'The JSON report of `tailor gate --format json` with each budget\'s notes and, of those, the warnings (tables or regressors measured on other hardware or runtime): [{ name, passed, metrics, failures, notes, warnings }] (200 whether or not the budget holds)' })
  @ApiBadRequestResponse({ description: 'Malformed body, unknown fields, unknown unit or device' })
  @ApiForbiddenResponse({ description: 'A model path outside the allowed model directory, or no such directory configured' })
  @ApiUnprocessableEntityResponse({ description: 'Not a valid ONNX model, dynamic input without inputShape, ops without a MAC count or predictor' })
  async check(@Req() req: FastifyRequest) {
    const budget = req.isMultipart() ? await budgetFromUpload(req, this.devices) : budgetFromJson(req.body, this.devices, this.config.modelDir);
    const warnings: string[] = [];
    const report = await this.gate.run([budget], { onWarning: (m) => warnings.push(m) });
    // Notes too (how latency was predicted, stale tables), and the warnings among them apart: a
    // remote `tailor gate` shows them as a local one does.
    return toJsonReport(report).map((r, i) => ({ ...r, notes: report.results[i].notes, warnings }));
  }
}

@Module({
  controllers: [GateController],
  providers: [{ provide: GateService, useFactory: (devices: DeviceService, kernels: KernelsService, latency: LatencyService) => new GateService(devices, () => kernels, tableLatency(latency)), inject: [DeviceService, KernelsService, LatencyService] }],
})
export class GateModule {}
