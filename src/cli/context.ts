import { Workspace, workspace } from '../core/workspace';
import { LatencyService } from '../latency/latency.service';
import { ProfilingService } from '../profiling/profiling.service';
import { DeviceService } from '../runtime/device.service';
import '../runtime/registry';

export interface GlobalOptions {
  home?: string;
}

/** The services a command needs, wired for one workspace (the Nest app wires the same classes). */
export function services(global: GlobalOptions): { ws: Workspace; devices: DeviceService; latency: LatencyService; profiling: ProfilingService } {
  const ws = workspace(global.home);
  const devices = new DeviceService(ws);
  return { ws, devices, latency: new LatencyService(ws, devices), profiling: new ProfilingService(devices) };
}
