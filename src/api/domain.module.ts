import { DynamicModule, Module } from '@nestjs/common';
import { workspace } from '../core/workspace';
import { KernelsService } from '../kernels/kernels.service';
import { LatencyService } from '../latency/latency.service';
import { ProfilingService } from '../profiling/profiling.service';
import { DeviceService } from '../runtime/device.service';
import '../runtime/registry';
import { TAILOR_CONFIG, TailorConfig } from './config';

/** The plain-TypeScript domain services, wired once for the whole app (the CLI wires the same classes). */
@Module({})
export class DomainModule {
  static forRoot(config: TailorConfig): DynamicModule {
    return {
      module: DomainModule,
      global: true,
      providers: [
        { provide: TAILOR_CONFIG, useValue: config },
        { provide: DeviceService, useFactory: () => new DeviceService(workspace(config.home)) },
        { provide: LatencyService, useFactory: (devices: DeviceService) => new LatencyService(devices.ws, devices), inject: [DeviceService] },
        { provide: ProfilingService, useFactory: (devices: DeviceService) => new ProfilingService(devices), inject: [DeviceService] },
        { provide: KernelsService, useFactory: (devices: DeviceService) => new KernelsService(devices), inject: [DeviceService] },
      ],
      exports: [TAILOR_CONFIG, DeviceService, LatencyService, ProfilingService, KernelsService],
    };
  }
}
