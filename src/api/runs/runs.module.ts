import * as fs from 'node:fs';
import { Controller, Get, Inject, Module, Param, StreamableFile } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import { describeRun, listRuns, readPareto, resolveDownload } from '../../training/catalog';
import { TAILOR_CONFIG, TailorConfig } from '../config';

const ID = { description: 'A folder-safe name (letters, digits, . _ -)' };

/** Supernet runs under <home>/runs: what training, the accuracy predictor and searches (jobs) produced. */
@ApiTags('runs')
@Controller('runs')
class RunsController {
  constructor(@Inject(TAILOR_CONFIG) private readonly config: TailorConfig) {}

  @Get()
  @ApiOkResponse({ description: 'Every run: space, dataset, training progress (finished or not), predictor figures, search ids' })
  list() {
    return listRuns(this.config.home);
  }

  @Get(':id')
  @ApiParam({ name: 'id', ...ID })
  @ApiOkResponse({ description: 'One run: run.json, training progress and epoch log by phase, accuracy predictor (held-out RMSE, Kendall tau), searches with their targets and download links' })
  @ApiBadRequestResponse({ description: 'Not a folder-safe id' })
  @ApiNotFoundResponse({ description: 'Unknown run' })
  get(@Param('id') id: string) {
    return describeRun(this.config.home, id);
  }

  @Get(':id/searches/:search/pareto')
  @ApiParam({ name: 'id', ...ID })
  @ApiParam({ name: 'search', ...ID })
  @ApiOkResponse({ description: '{ run, search, targets: [pareto.json of each finished target] }' })
  @ApiBadRequestResponse({ description: 'Not a folder-safe id' })
  @ApiNotFoundResponse({ description: 'Unknown run or search' })
  pareto(@Param('id') id: string, @Param('search') search: string) {
    return readPareto(this.config.home, id, search);
  }

  @Get(':id/searches/:search/targets/:target/:file')
  @ApiParam({ name: 'id', ...ID })
  @ApiParam({ name: 'search', ...ID })
  @ApiParam({ name: 'target', ...ID })
  @ApiParam({ name: 'file', description: 'pareto.json, pareto.svg, pareto.png, or a model its pareto.json lists (subnet-NN.onnx, subnet-NN.tflite)' })
  @ApiProduces('application/octet-stream', 'image/png', 'image/svg+xml', 'application/json')
  @ApiOkResponse({ description: 'The file: ONNX models as application/octet-stream, plots as image/png or image/svg+xml' })
  @ApiBadRequestResponse({ description: 'Not a folder-safe id or file name' })
  @ApiNotFoundResponse({ description: 'Unknown run, search, target or file' })
  download(@Param('id') id: string, @Param('search') search: string, @Param('target') target: string, @Param('file') file: string): StreamableFile {
    const found = resolveDownload(this.config.home, id, search, target, file);
    return new StreamableFile(fs.createReadStream(found.file), {
      type: found.contentType,
      length: found.size,
      disposition: `${found.contentType.startsWith('image/') ? 'inline' : 'attachment'}; filename="${found.name}"`,
    });
  }
}

@Module({ controllers: [RunsController] })
export class RunsModule {}
