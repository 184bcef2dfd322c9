import * as path from 'node:path';
import {
  BeforeApplicationShutdown, Body, Controller, Delete, DynamicModule, Get, HttpCode, Inject, Injectable, Logger, MessageEvent, Module,
  OnApplicationBootstrap, OnApplicationShutdown, Optional, Param, Post, Provider, Query, Sse,
} from '@nestjs/common';
import { ApiAcceptedResponse, ApiExtraModels, ApiBadRequestResponse, ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Observable } from 'rxjs';
import { TailorError } from '../../core/errors';
import { JobRecord, JobStore, STOPPED } from '../../jobs/job-store';
import { JobEvent, JobService } from '../../jobs/job.service';
import { JOB_QUEUE, JobQueue } from '../../jobs/queue';
import { RedisJobService } from '../../jobs/redis-queue';
import { checkQueue, parseQueueUrl } from '../../jobs/redis';
import { jobRunners } from '../../jobs/runners';
import { LatencyService } from '../../latency/latency.service';
import { ProfilingService } from '../../profiling/profiling.service';
import { TailorConfig } from '../config';
import { AccPredictorJobParams, CreateJobDto, JOB_PARAMS, ListJobsQuery, ProfileJobParams, SearchJobParams, TargetDto, TrainJobParams, ValidateJobParams } from './job.dto';


function view(job: JobRecord) {
  return { ...job, progress: Math.round(job.progress * 1000) / 1000 };
}

@ApiTags('jobs')
@ApiExtraModels(ProfileJobParams, ValidateJobParams, TrainJobParams, AccPredictorJobParams, SearchJobParams, TargetDto)
@Controller('jobs')
class JobsController {
  constructor(@Inject(JOB_QUEUE) private readonly jobs: JobQueue) {}

  @Post()
  @HttpCode(202)
  @ApiAcceptedResponse({ description: '{ id, status }: the job is queued' })
  @ApiBadRequestResponse({ description: 'Bad type or params' })
  @ApiConflictResponse({ description: 'The table, run or search is being written by another job; or the run or search already exists' })
  @ApiNotFoundResponse({ description: 'Unknown device, space, run, or no latency table' })
  async create(@Body() body: CreateJobDto) {
    const params: object = plainToInstance(JOB_PARAMS[body.type] as new () => object, body.params);
    const errors = validateSync(params, { whitelist: true, forbidNonWhitelisted: true });
    if (errors.length) {
      const reason = errors.flatMap((e) => Object.values(e.constraints ?? {})).map((m) => `params.${m}`).join('; ');
      throw new TailorError('INVALID_REQUEST', { reason });
    }
    const job = await this.jobs.submit(body.type, { ...params });
    return { id: job.id, status: job.status };
  }

  @Get()
  @ApiOkResponse({ description: 'Recent jobs, newest first' })
  async list(@Query() query: ListJobsQuery) {
    return (await this.jobs.list(query)).map(view);
  }

  @Get(':id')
  @ApiOkResponse({ description: 'Status, progress 0..1, ETA, result or error' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  async get(@Param('id') id: string) {
    return view(await this.jobs.get(id));
  }

  @Delete(':id')
  @ApiOkResponse({ description: 'The job, cancelled (or being cancelled)' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  @ApiConflictResponse({ description: 'The job has already finished' })
  async cancel(@Param('id') id: string) {
    return view(await this.jobs.cancel(id));
  }

  @Sse(':id/events')
  @ApiOkResponse({ description: 'Server-Sent Events: `progress` events, then one `result`, `error`, `cancelled` or `interrupted` event' })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  async events(@Param('id') id: string): Promise<Observable<MessageEvent>> {
    const current = await this.jobs.get(id);
    return new Observable<MessageEvent>((subscriber) => {
      const send = (job: JobRecord) => {
        if (!STOPPED.includes(job.status)) return subscriber.next({ type: 'progress', data: view(job) });
        const type = job.status === 'succeeded' ? 'result' : job.status === 'failed' ? 'error' : job.status;
        subscriber.next({ type, data: view(job) });
        subscriber.complete();
      };
      const unsubscribe = this.jobs.subscribe(id, (e: JobEvent) => send(e.job));
      // The record as it is now, after subscribing: nothing falls between the two.
      const latest = this.jobs.get(current.id);
      if (latest instanceof Promise) latest.then(send, (e: unknown) => subscriber.error(e));
      else send(latest);
      return unsubscribe;
    });
  }
}

/** Starts the queue with the app; on shutdown, running jobs are interrupted (they resume at the next start, or on another server). */
@Injectable()
class JobsLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  constructor(
    @Inject(JOB_QUEUE) private readonly jobs: JobQueue,
    @Optional() private readonly store?: JobStore,
  ) {}
  async onApplicationBootstrap() {
    await this.jobs.start();
  }
  async beforeApplicationShutdown() {
    await this.jobs.shutdown();
  }
  async onApplicationShutdown() {
    this.store?.close();
    await this.jobs.close?.();
  }
}

const runnersOf = (latency: LatencyService, profiling: ProfilingService, config: TailorConfig) =>
  jobRunners(latency, profiling, { home: config.home, cacheDir: path.join(config.home, '.tailor', 'cache') });

/** The embedded queue (SQLite in the data directory), or with TAILOR_QUEUE the one shared through Redis. */
function queueProviders(config: TailorConfig): Provider[] {
  if (config.queue) {
    const url = parseQueueUrl(config.queue);
    return [{
      provide: JOB_QUEUE,
      useFactory: async (latency: LatencyService, profiling: ProfilingService) => {
        await checkQueue(url); // unreachable: the service does not start
        const logger = new Logger('Jobs');
        return new RedisJobService(url, runnersOf(latency, profiling, config), { log: { log: (m) => logger.log(m), warn: (m) => logger.warn(m) } });
      },
      inject: [LatencyService, ProfilingService],
    }];
  }
  return [
    { provide: JobStore, useFactory: () => JobStore.open(config.dataDir) },
    {
      provide: JobService,
      useFactory: (store: JobStore, latency: LatencyService, profiling: ProfilingService) => new JobService(store, runnersOf(latency, profiling, config)),
      inject: [JobStore, LatencyService, ProfilingService],
    },
    { provide: JOB_QUEUE, useExisting: JobService },
  ];
}

@Module({})
export class JobsModule {
  static forRoot(config: TailorConfig): DynamicModule {
    return { module: JobsModule, controllers: [JobsController], providers: [...queueProviders(config), JobsLifecycle] };
  }
}
