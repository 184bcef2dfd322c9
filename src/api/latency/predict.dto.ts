import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsDefined, IsNotEmpty, IsOptional, IsString, ValidateIf } from 'class-validator';

export const MAX_BATCH = 10_000;

export class PredictDto {
  @ApiProperty({ example: 'local-cpu', description: 'Device id' })
  @IsString()
  device!: string;

  @ApiPropertyOptional({ example: 'ofa-mbv3-w1.0', description: 'Space id; needed for keywords and configs without "space"' })
  @IsOptional()
  @IsString()
  space?: string;

  @ApiPropertyOptional({
    description: 'One architecture: an OFA-style config { space?, ks, e, d, r } or a keyword: "max", "min", "random:<seed>"',
    example: { space: 'ofa-mbv3-w1.0', ks: Array(20).fill(3), e: Array(20).fill(4), d: [2, 3, 4, 3, 2], r: 224 },
  })
  @ValidateIf((o: PredictDto) => o.archs === undefined && o.model === undefined)
  @IsDefined({ message: 'give "arch" (one architecture), "archs" (a batch) or "model" (an ONNX model path)' })
  arch?: Record<string, unknown> | string;

  @ApiPropertyOptional({ description: `A batch of up to ${MAX_BATCH} architectures (same forms as "arch")`, type: 'array', items: { type: 'object' } })
  @IsOptional()
  archs?: (Record<string, unknown> | string)[];

  @ApiPropertyOptional({ description: 'Batches only: include the per-piece breakdown of every prediction (default false)' })
  @IsOptional()
  @IsBoolean()
  breakdown?: boolean;

  @ApiPropertyOptional({ description: 'Refuse (409) when the table was measured on other hardware' })
  @IsOptional()
  @IsBoolean()
  strict?: boolean;

  @ApiPropertyOptional({ example: 'mobilenet.onnx', description: "Instead of an architecture: an ONNX model, a path in the server's allowed model directory (--model-dir), predicted from the device's kernel regressors (the object of `tailor predict --model --json`)" })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  model?: string;

  @ApiPropertyOptional({ example: ['input:1x3x224x224'], description: 'With "model": sizes of dynamic inputs, "name:dims" (one string or a list)' })
  @IsOptional()
  inputShape?: string | string[];

  @ApiPropertyOptional({ description: 'With "model": predict past ops the analysis does not know (their nodes are listed without a prediction). Default false: such a model gets 422' })
  @IsOptional()
  @IsBoolean()
  allowUnknownOps?: boolean;
}
