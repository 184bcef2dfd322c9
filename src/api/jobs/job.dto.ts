import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Allow, ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsNumber, IsObject, IsOptional, IsPositive, IsString, Max, Min } from 'class-validator';
import { ACC_PREDICTOR_DEFAULTS } from '../../accuracy/build';
import { SEARCH_DEFAULTS } from '../../specialize/search-run';
import { BUILTIN_DATASETS } from '../../training/datasets';
import { EPOCHS_SCALE_DEFAULT, TRAIN_DEFAULTS } from '../../training/train-run';


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
  @ApiPropertyOptional({ description: 'Refuse a table measured on other hardware or runtime (or, for a remote device, one whose fingerprint is unknown) instead of warning' })
  @IsOptional() @IsBoolean() strict?: boolean;
}

const ID = 'A folder-safe name: letters, digits, . _ - (at most 64, starting with a letter or digit)';

/** Trains a supernet into <home>/runs/<name> (progressive shrinking, or one arch from scratch). An interrupted job resumes from its last checkpoint. */
export class TrainJobParams {
  @ApiProperty({ example: 'tiny-mnist', description: `The run id. ${ID}` }) @IsString() name!: string;
  @ApiProperty({ example: 'ofa-mbv3-tiny' }) @IsString() space!: string;
  @ApiProperty({ enum: BUILTIN_DATASETS }) @IsIn(BUILTIN_DATASETS) dataset!: string;
  @ApiPropertyOptional({ description: `Multiplies OFA's epochs per phase (at least 1 each); omitted: ${EPOCHS_SCALE_DEFAULT}` })
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @IsPositive() @Max(100) epochsScale?: number;
  @ApiPropertyOptional({ default: TRAIN_DEFAULTS.seed }) @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional({ default: TRAIN_DEFAULTS.batchSize, minimum: 1, maximum: 4096 }) @IsOptional() @IsInt() @Min(1) @Max(4096) batchSize?: number;
  @ApiPropertyOptional({ description: 'Train on at most this many images (quick runs)' }) @IsOptional() @IsInt() @Min(1) limit?: number;
  @ApiPropertyOptional({ description: 'Continue the existing run <name> from its last checkpoint (same parameters)' }) @IsOptional() @IsBoolean() resume?: boolean;
  @ApiPropertyOptional({ oneOf: [{ type: 'object' }, { type: 'string' }], description: 'Train only this subnet from scratch: an arch JSON object, max, min or random:<seed>' })
  @Allow() arch?: string | Record<string, unknown>;
  @ApiPropertyOptional({ enum: ['wasm', 'cpu', 'tensorflow'], description: 'tfjs backend (default: tfjs-node if installed, else wasm)' })
  @IsOptional() @IsIn(['wasm', 'cpu', 'tensorflow']) engine?: 'wasm' | 'cpu' | 'tensorflow';
}

/** Measures sampled subnets of a finished run and trains its accuracy predictor (stored in the run). */
export class AccPredictorJobParams {
  @ApiProperty({ example: 'tiny-mnist', description: 'The run id' }) @IsString() run!: string;
  @ApiPropertyOptional({ default: ACC_PREDICTOR_DEFAULTS.samples, minimum: 2 }) @IsOptional() @IsInt() @Min(2) @Max(100_000) samples?: number;
  @ApiPropertyOptional({ default: ACC_PREDICTOR_DEFAULTS.seed }) @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional({ default: ACC_PREDICTOR_DEFAULTS.bnImages }) @IsOptional() @IsInt() @Min(1) @Max(1_000_000) bnImages?: number;
  @ApiPropertyOptional({ description: 'Validation images after the BN ones that score each subnet (default: the rest of the validation split)' }) @IsOptional() @IsInt() @Min(1) @Max(1_000_000) evalImages?: number;
  @ApiPropertyOptional({ default: ACC_PREDICTOR_DEFAULTS.epochs }) @IsOptional() @IsInt() @Min(1) @Max(100_000) epochs?: number;
}

/** One deployment target (as in targets.json). */
export class TargetDto {
  @ApiProperty({ example: 'phone-30ms', description: ID }) name!: string;
  @ApiProperty({ example: { 'local-cpu': { latencyMs: 5 } }, description: 'Latency budget per device id' }) devices!: Record<string, { latencyMs: number }>;
  @ApiPropertyOptional() maxParams?: number;
  @ApiPropertyOptional() maxMacs?: number;
  @ApiPropertyOptional() maxSizeBytes?: number;
}

/** Searches a run (with its accuracy predictor) for each target's Pareto-optimal subnets, into <home>/runs/<run>/searches/<name>. */
export class SearchJobParams {
  @ApiProperty({ example: 'tiny-mnist', description: 'The run id' }) @IsString() run!: string;
  @ApiPropertyOptional({ description: `The search id (default: <algorithm>-seed<seed>-<time>-<random>). ${ID}` }) @IsOptional() @IsString() name?: string;
  @ApiProperty({ type: [TargetDto] }) @IsArray() @ArrayMinSize(1) @ArrayMaxSize(32) @IsObject({ each: true }) targets!: TargetDto[];
  @ApiPropertyOptional({ enum: ['nsga2', 'evolution', 'mnasnet', 'reinforce', 'random'], default: SEARCH_DEFAULTS.algorithm })
  @IsOptional() @IsIn(['nsga2', 'evolution', 'mnasnet', 'reinforce', 'random']) algorithm?: 'nsga2' | 'evolution' | 'mnasnet' | 'reinforce' | 'random';
  @ApiPropertyOptional({ default: SEARCH_DEFAULTS.seed }) @IsOptional() @IsInt() seed?: number;
  @ApiPropertyOptional({ description: 'Evaluate every emitted subnet and measure it on the attached devices (the job then queues on the first measurable device)' })
  @IsOptional() @IsBoolean() measure?: boolean;
  @ApiPropertyOptional({ default: SEARCH_DEFAULTS.maxSubnets, minimum: 1, maximum: 100 }) @IsOptional() @IsInt() @Min(1) @Max(100) maxSubnets?: number;
  @ApiPropertyOptional({ description: 'Default per algorithm' }) @IsOptional() @IsInt() @Min(1) @Max(100_000) generations?: number;
  @ApiPropertyOptional({ description: 'Default per algorithm' }) @IsOptional() @IsInt() @Min(1) @Max(100_000) population?: number;
  @ApiPropertyOptional({ enum: ['soft', 'hard'], default: SEARCH_DEFAULTS.reward }) @IsOptional() @IsIn(['soft', 'hard']) reward?: 'soft' | 'hard';
  @ApiPropertyOptional({ default: SEARCH_DEFAULTS.rescore, minimum: 0, maximum: 1000, description: 'Front candidates per target scored on the validation split before emission (0: predictions only)' })
  @IsOptional() @IsInt() @Min(0) @Max(1000) rescore?: number;
  @ApiPropertyOptional({ description: "BN recalibration images of each emitted subnet (default: the accuracy predictor's)" }) @IsOptional() @IsInt() @Min(1) @Max(1_000_000) bnImages?: number;
  @ApiPropertyOptional({ description: 'With measure: test images that score each emitted subnet (default: the whole test split)' })
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000) testImages?: number;
  @ApiPropertyOptional({ description: 'Resolutions to search (default: all the device tables cover)' })
  @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(200) @IsInt({ each: true }) resolutions?: number[];
  @ApiPropertyOptional({ description: 'Refuse tables measured on other hardware instead of warning' }) @IsOptional() @IsBoolean() strict?: boolean;
}

export const JOB_PARAMS = {
  profile: ProfileJobParams, validate: ValidateJobParams, train: TrainJobParams, 'acc-predictor': AccPredictorJobParams, search: SearchJobParams,
} as const;
const TYPES = Object.keys(JOB_PARAMS) as (keyof typeof JOB_PARAMS)[];

export class CreateJobDto {
  @ApiProperty({ enum: TYPES })
  @IsIn(TYPES)
  type!: keyof typeof JOB_PARAMS;

  @ApiProperty({
    description: 'The params of the job type: ProfileJobParams, ValidateJobParams, TrainJobParams, AccPredictorJobParams or SearchJobParams. Progress: GET /jobs/{id}/events',
    oneOf: [ProfileJobParams, ValidateJobParams, TrainJobParams, AccPredictorJobParams, SearchJobParams].map((m) => ({ $ref: getSchemaPath(m) })),
  })
  @IsObject()
  params!: Record<string, unknown>;
}

export class ListJobsQuery {
  @ApiPropertyOptional({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] })
  @IsOptional() @IsIn(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']) status?: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
  @ApiPropertyOptional() @IsOptional() @IsString() device?: string;
}
