import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { AGENT_RUNTIMES } from '../../runtime/agent/protocol';

const DEVICE_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
const finite = { allowNaN: false, allowInfinity: false };
/** Agent clocks are reported (skew), never trusted; still, a clock must be a plausible epoch in ms. */
const MAX_CLOCK = 1e14;

export class MachineDto {
  @ApiProperty({ example: 'ARM Cortex-A76' }) @IsString() @MaxLength(200) cpu!: string;
  @ApiProperty() @IsInt() @Min(1) @Max(4096) cores!: number;
  @ApiProperty() @IsInt() @Min(1) @Max(4096) physicalCores!: number;
  @ApiProperty({ example: ['neon', 'asimd'] }) @IsArray() @ArrayMaxSize(64) @IsString({ each: true }) @MaxLength(32, { each: true }) flags!: string[];
  @ApiProperty() @IsNumber(finite) @Min(0) @Max(1e6) memoryGb!: number;
  @ApiProperty() @IsString() @MaxLength(200) os!: string;
  @ApiProperty({ example: 'arm64' }) @IsString() @MaxLength(32) arch!: string;
  @ApiPropertyOptional() @IsOptional() @IsNumber(finite) @Min(0) @Max(100) speedGhz?: number;
  @ApiPropertyOptional({ example: 'performance' }) @IsOptional() @IsString() @MaxLength(32) governor?: string;
  @ApiPropertyOptional({ example: '20.19.0' }) @IsOptional() @IsString() @MaxLength(32) node?: string;
}

export class AgentBackendDto {
  @ApiProperty({ enum: AGENT_RUNTIMES }) @IsIn(AGENT_RUNTIMES) name!: (typeof AGENT_RUNTIMES)[number];
  @ApiProperty({ example: 'onnxruntime-node 1.30.0' }) @IsString() @MaxLength(100) runtime!: string;
}

export class RegisterAgentDto {
  @ApiProperty({ example: 'board1' }) @IsString() @Matches(DEVICE_ID, { message: 'deviceId must be a device id (letters, digits, . _ -)' }) deviceId!: string;
  @ApiProperty({ type: MachineDto }) @IsObject() @ValidateNested() @Type(() => MachineDto) machine!: MachineDto;
  @ApiProperty({ type: [AgentBackendDto] }) @IsArray() @ArrayMinSize(1) @ArrayMaxSize(8) @ValidateNested({ each: true }) @Type(() => AgentBackendDto) backends!: AgentBackendDto[];
  @ApiProperty({ description: "The agent's clock (ms since epoch): reported as skew, never used for leases" }) @IsInt() @Min(0) @Max(MAX_CLOCK) clock!: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(32) version?: string;
}

export class HeartbeatDto {
  @ApiProperty() @IsUUID() session!: string;
  @ApiProperty() @IsInt() @Min(0) @Max(MAX_CLOCK) clock!: number;
  @ApiPropertyOptional({ description: 'The work item the agent holds (running it or posting its result)', nullable: true })
  @IsOptional() @IsUUID() working?: string | null;
}

export class WorkQuery {
  @ApiProperty() @IsUUID() session!: string;
  @ApiPropertyOptional({ minimum: 0, maximum: 30, default: 25, description: 'Seconds to wait for work (long poll)' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(0) @Max(30) wait?: number;
}

export class AgentErrorDto {
  @ApiProperty() @IsString() @MaxLength(4000) message!: string;
}

export class ResultDto {
  @ApiProperty({ description: 'The lease of the work item, as received' }) @IsUUID() lease!: string;
  @ApiPropertyOptional({ description: 'measure: ms per timed run' })
  @IsOptional() @IsArray() @ArrayMaxSize(100_000) @IsNumber(finite, { each: true }) times?: number[];
  @ApiPropertyOptional({ description: 'finish: kernel events per timed run ([{ name, opType, durMs }])' })
  @IsOptional() @IsArray() @ArrayMaxSize(100_000) events?: unknown[];
  @ApiPropertyOptional() @IsOptional() @IsBoolean() fresh?: boolean;
  @ApiPropertyOptional({ type: AgentErrorDto }) @IsOptional() @IsObject() @ValidateNested() @Type(() => AgentErrorDto) error?: AgentErrorDto;
}

/** The board a session was opened on (CPU model, cores, runtime). */
export class BoardDto {
  @IsString() @MaxLength(200) cpu!: string;
  @IsInt() @Min(1) @Max(4096) cores!: number;
  @IsString() @MaxLength(100) runtime!: string;
}

export class SessionDto {
  @IsUUID() id!: string;
  @Matches(/^[0-9a-f]{64}$/) model!: string;
  @IsIn(AGENT_RUNTIMES) runtime!: (typeof AGENT_RUNTIMES)[number];
  @IsInt() @Min(1) @Max(256) threads!: number;
  @IsBoolean() profiled!: boolean;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => BoardDto) board?: BoardDto;
}

/** A job worker's work item for the hub (internal route). */
export class RunWorkDto {
  @IsIn(['load', 'measure', 'finish', 'dispose']) op!: 'load' | 'measure' | 'finish' | 'dispose';
  @IsOptional() @IsInt() @Min(0) @Max(100_000) warmup?: number;
  @IsOptional() @IsInt() @Min(0) @Max(100_000) runs?: number;
  @IsObject() @ValidateNested() @Type(() => SessionDto) session!: SessionDto;
}

export class ReportQuery {
  @IsOptional() @Type(() => Number) @IsIn([0, 1]) wait?: number;
}
