import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsObject, IsOptional, IsString } from 'class-validator';

/** Uploads are held in memory while they are checked; larger models go in the model directory. */
export const MAX_UPLOAD_BYTES = 512 * 2 ** 20;

const LIMITS_EXAMPLE = { size: '5 MB', params: '2.5M', macs: '600M', latency: { 'local-cpu': '15 ms' } };

/** The fields of one budget besides the model (the same schema as an entry of tailor.budgets.json). */
export class GateFieldsDto {
  @ApiPropertyOptional({ example: 'mobile', description: 'Budget name in the report (default: the model path or file name)' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  name?: string;

  @ApiPropertyOptional({ example: 'input:1x3x224x224', description: 'Sizes of dynamic inputs: "name:1x3x224x224", a list of those, or { "name": [1, 3, 224, 224] }' })
  @IsOptional()
  inputShape?: string | string[] | Record<string, number[] | string>;

  @ApiProperty({ example: LIMITS_EXAMPLE, description: 'size (bytes units), params and macs (counts: K, M, G), latency per device (ms, s)' })
  @IsObject()
  limits!: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Also run the model on each latency device and gate on the measured figure (default false)' })
  @IsOptional()
  @IsBoolean()
  measure?: boolean;

  @ApiPropertyOptional({ description: 'Refuse latency predicted from tables or kernel regressors measured on other hardware or runtime, instead of a note (default false; `tailor gate --strict`)' })
  @IsOptional()
  @IsBoolean()
  strict?: boolean;

  @ApiPropertyOptional({ description: 'Analyse past ops the analysis does not know (a partial analysis, marked "partial" in the report; no "macs" limit then). Default false: such a model gets 422' })
  @IsOptional()
  @IsBoolean()
  allowUnknownOps?: boolean;
}

/** application/json: the model is a path inside the server's allowed model directory. */
export class GateRequestDto extends GateFieldsDto {
  @ApiProperty({ example: 'mobilenet.onnx', description: "Path of an ONNX model, relative to the server's allowed model directory (--model-dir)" })
  @IsString()
  @IsNotEmpty()
  model!: string;
}

/** multipart/form-data: a file part "model" and text fields; "limits" (and an object "inputShape") as JSON text. */
export class GateUploadDto {
  @ApiProperty({ type: 'string', format: 'binary', description: 'The ONNX model file' })
  model!: unknown;

  @ApiProperty({ example: JSON.stringify(LIMITS_EXAMPLE), description: 'JSON text: the limits object' })
  limits!: string;

  @ApiPropertyOptional({ example: 'mobile' })
  name?: string;

  @ApiPropertyOptional({ example: 'input:1x3x224x224', description: 'Repeatable' })
  inputShape?: string;

  @ApiPropertyOptional({ example: 'false', description: '"true" or "false"' })
  measure?: string;

  @ApiPropertyOptional({ example: 'false', description: '"true" or "false"' })
  strict?: string;

  @ApiPropertyOptional({ example: 'false', description: '"true" or "false"' })
  allowUnknownOps?: string;
}
