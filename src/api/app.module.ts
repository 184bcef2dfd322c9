import { DynamicModule, Module } from '@nestjs/common';
import { AgentsModule } from './agents/agents.module';
import { TailorConfig } from './config';
import { DevicesModule } from './devices/devices.module';
import { DomainModule } from './domain.module';
import { GateModule } from './gate/gate.module';
import { HealthModule } from './health/health.module';
import { JobsModule } from './jobs/jobs.module';
import { LatencyModule } from './latency/latency.module';
import { RunsModule } from './runs/runs.module';
import { SpacesModule } from './spaces/spaces.module';

/** One feature module per domain; all of them adapt the plain services of DomainModule. */
@Module({})
export class AppModule {
  static forRoot(config: TailorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [DomainModule.forRoot(config), HealthModule, DevicesModule, SpacesModule, LatencyModule, JobsModule.forRoot(config), GateModule, RunsModule, AgentsModule],
    };
  }
}
