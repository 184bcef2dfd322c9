import { Controller, Get, Module, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { DeviceService } from '../../runtime/device.service';

@ApiTags('devices')
@Controller('devices')
class DevicesController {
  constructor(private readonly devices: DeviceService) {}

  @Get()
  @ApiOkResponse({ description: 'Device descriptors' })
  list() {
    return this.devices.list();
  }

  @Get(':id')
  @ApiOkResponse({ description: 'Descriptor plus the live fingerprint for devices attached to this machine (`live`) and its tables (`tables`: lookup tables and kernel regressors, each with `measuredOn` and `stale`: true, false or "unknown", with the `reason`)' })
  @ApiNotFoundResponse({ description: 'Unknown device' })
  async get(@Param('id') id: string) {
    const info = await this.devices.describe(this.devices.get(id));
    // Server paths stay private, as in GET /latency-tables.
    return { ...info, tables: info.tables.map(({ file: _file, ...t }) => t) };
  }
}

@Module({ controllers: [DevicesController] })
export class DevicesModule {}
