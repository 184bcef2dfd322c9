import * as path from 'node:path';
import {
  BeforeApplicationShutdown, Body, Controller, Delete, Get, HttpCode, Injectable, MessageEvent, Module,
  OnApplicationBootstrap, OnApplicationShutdown, Param, Post, Query, Sse,
} from '@nestjs/common';
import { ApiAcceptedResponse, ApiExtraModels, ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Observable } from 'rxjs';
import { TailorError } from '../../core/errors';
import { JobRecord, JobStore, STOPPED } from '../../jobs/job-store';
import { JobEvent, JobService } from '../../jobs/job.service';
import { jobRunners } from '../../jobs/runners';
import { LatencyService } from '../../latency/latency.service';
import { ProfilingService } from '../../profiling/profiling.service';
import { TAILOR_CONFIG, TailorConfig } from '../config';
import { AccPredictorJobParams, CreateJobDto, JOB_PARAMS, ListJobsQuery, ProfileJobParams, SearchJobParams, TargetDto, TrainJobParams, ValidateJobParams } from './job.dto';


function view(job: JobRecord) {
  return { ...job, progress: Math.round(job.progress * 1000) / 1000 };
}

@ApiTags('jobs')
@ApiExtraModels(ProfileJobParams, ValidateJobParams, TrainJobParams, AccPredictorJobParams, SearchJobParams, TargetDto)
@Controller('jobs')
class JobsController {
  constructor(private readonly jobs: JobService) {}

  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{ id, status }: the job is queued' })
  @ApiBadRequestResponse({ description: 'Bad type or params' })
  @ApiConflictResponse({ description: 'The table, run or search is being written by another job; or the run or search already exists' })
  @ApiNotFoundResponse({ description: 'Unknown device, space, run, or no latency table' })
  create(@Body() body: CreateJobDto) {
    const params: object = plainToInstance(JOB_PARAMS[body.type] as new () => object, body.params);
    const errors = validateSync(params, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length) {
      const reason = errors.flatMap((e) => Object.values(e.constraints ?? {})).map((m) => `params.${m}`).join('; ');
      throw new TailorError('INVALID_REQUEST', { reason });
    }
    const job = this.jobs.submit(body.type, { ...params });
    return { id: job.id, status: job.status };
  }

  @Get()
  @ApiOkResponse({ description: 'Recent jobs, newest first' })
  list(@Query() query: ListJobsQuery) {
    return this.jobs.list(query).map(view);
  }

  @Get(':id')
  @ApiOkResponse({ description: 'Status, progress 0..1, ETA, result or error' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  get(@Param('id') id: string) {
    return view(this.jobs.get(id));
  }

  @Delete(':id')
  @ApiOkResponse({ description: 'The job, cancelled (or being cancelled)' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  @ApiConflictResponse({ description: 'The job has already finished' })
  cancel(@Param('id') id: string) {
    return view(this.jobs.cancel(id));
  }

  @Sse(':id/events')
  @ApiOkResponse({ description: 'Server-Sent Events: `progress` events, then one `result`, `error`, `cancelled` or `interrupted` event' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  events(@Param('id') id: string): Observable<MessageEvent> {
    const current = this.jobs.get(id);
    return new Observable<MessageEvent>((subscriber) => {
      const send = (job: JobRecord) => {
        if (!STOPPED.includes(job.status)) return subscriber.next({ type: 'progress', data: view(job) });
        const type = job.status === 'succeeded' ? 'result' : job.status === 'failed' ? 'error' : job.status;
        subscriber.next({ type, data: view(job) });
        subscriber.complete();
      };
      const unsubscribe = this.jobs.subscribe(id, (e: JobEvent) => send(e.job));
      send(this.jobs.get(current.id));
      return unsubscribe;
    });
  }
}

/** Starts the queue with the app; on shutdown, running jobs are interrupted (they resume at the next start). */
@Injectable()
class JobsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    private readonly jobs: JobService,
    private readonly store: JobStore,
  ) {}
  onApplicationBootstrap() {
    this.jobs.start();
  }
  async beforeApplicationShutdown() {
    await this.jobs.shutdown();
  }
  onApplicationShutdown() {
    this.store.close();
  }
}

@Module({
  controllers: [JobsController],
  providers: [
    { provide: JobStore, useFactory: (config: TailorConfig) => JobStore.open(config.dataDir), inject: [TAILOR_CONFIG] },
    {
      provide: JobService,
      useFactory: (store: JobStore, latency: LatencyService, profiling: ProfilingService, config: TailorConfig) =>
        new JobService(store, jobRunners(latency, profiling, { home: config.home, cacheDir: path.join(config.home, '.tailor', 'cache') })),
      inject: [JobStore, LatencyService, ProfilingService, TAILOR_CONFIG],
    },
    JobsLifecycle,
  ],
})
export class JobsModule {}
