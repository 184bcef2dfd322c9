import { Controller, Get, Module, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { getSpace, listSpaces } from '../../core/space';

@ApiTags('spaces')
@Controller('spaces')
class SpacesController {
  @Get()
  @ApiOkResponse({ description: 'Every search space definition' })
  list() {
    return listSpaces();
  }

  @Get(':id')
  @ApiOkResponse({ description: 'One search space: widths, strides, elastic choices, resolutions' })
  @ApiNotFoundResponse({ description: 'Unknown space' })
  get(@Param('id') id: string) {
    return getSpace(id);
  }
}

@Module({ controllers: [SpacesController] })
export class SpacesModule {}
