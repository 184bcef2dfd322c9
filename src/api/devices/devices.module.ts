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
  @ApiOkResponse({ description: 'Descriptor plus the live fingerprint for devices attached to this machine (`live`)' })
  @ApiNotFoundResponse({ description: 'Unknown device' })
  get(@Param('id') id: string) {
    return this.devices.describe(this.devices.get(id));
  }
}

@Module({ controllers: [DevicesController] })
export class DevicesModule {}
