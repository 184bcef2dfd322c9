import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Max, Min } from 'class-validator';


export class ProfileJobParams {
  @ApiProperty({ example: 'local-cpu' }) @IsString() device!: string;
  @ApiProperty({ example: 'ofa-mbv3-w1.0' }) @IsString() space!: string;
  @ApiPropertyOptional({ example: [160, 192, 224], description: 'Default: every resolution of the space' })
  @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @IsInt({ each: true }) resolutions?: number[];
  @ApiPropertyOptional({ minimum: 1, maximum: 64 }) @IsOptional() @IsInt() @Min(1) @Max(64) threads?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 20 }) @IsOptional() @IsInt() @Min(1) @Max(20) rounds?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 100 }) @IsOptional() @IsInt() @Min(1) @Max(100) passes?: number;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() force?: boolean;
}

export class ValidateJobParams {
  @ApiProperty({ example: 'local-cpu' }) @IsString() device!: string;
  @ApiProperty({ example: 'ofa-mbv3-w1.0' }) @IsString() space!: string;
  @ApiProperty({ minimum: 1, maximum: 1000, example: 50 }) @IsInt() @Min(1) @Max(1000) samples!: number;
  @ApiPropertyOptional() @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @IsInt({ each: true }) resolutions?: number[];
  @ApiPropertyOptional() @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional({ minimum: 1, maximum: 100 }) @IsOptional() @IsInt() @Min(1) @Max(100) passes?: number;
  @ApiPropertyOptional() @IsOptional() @IsBoolean() calibrate?: boolean;
}

export const JOB_PARAMS = { profile: ProfileJobParams, validate: ValidateJobParams } as const;

export class CreateJobDto {
  @ApiProperty({ enum: ['profile', 'validate'] })
  @IsIn(['profile', 'validate'])
  type!: 'profile' | 'validate';

  @ApiProperty({
    description: 'ProfileJobParams for type "profile", ValidateJobParams for type "validate"',
    oneOf: [{ $ref: getSchemaPath(ProfileJobParams) }, { $ref: getSchemaPath(ValidateJobParams) }],
  })
  @IsObject()
  params!: Record<string, unknown>;
}

export class ListJobsQuery {
  @ApiPropertyOptional({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] })
  @IsOptional() @IsIn(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']) status?: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
  @ApiPropertyOptional() @IsOptional() @IsString() device?: string;
}
