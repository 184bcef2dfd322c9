import { Controller, Get, Module } from '@nestjs/common';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../core/workspace';

@Controller()
class HealthController {
  @Get('health')
  health() {
    return { status: 'ok', version: require(path.join(PACKAGE_ROOT, 'package.json')).version };
  }
}

/** The service grows feature modules per domain (devices, spaces, latency, jobs); for now, health. */
@Module({ controllers: [HealthController] })
export class AppModule {}
