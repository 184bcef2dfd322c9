import { Controller, Get, Module } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../core/workspace';

const VERSION: string = require(path.join(PACKAGE_ROOT, 'package.json')).version;

@ApiTags('health')
@Controller('health')
class HealthController {
  @Get()
  @ApiOkResponse({ description: '{ status: "ok", version }' })
  health() {
    return { status: 'ok', version: VERSION };
  }
}

@Module({ controllers: [HealthController] })
export class HealthModule {}
