import { getSpace } from '../core/space';
import { DeviceService } from '../runtime/device.service';
import { DEFAULT_PROFILE_OPTIONS, ProfileOptions, ProfileResult, profileSpace } from './profiler';

export interface ProfileRequest extends Partial<Omit<ProfileOptions, 'resolutions'>> {
  device: string;
  space: string;
  /** Defaults to every resolution of the space. */
  resolutions?: number[];
  threads?: number;
}

/** Builds latency tables on attached devices. */
export class ProfilingService {
  constructor(readonly devices: DeviceService) {}

  async profile(req: ProfileRequest): Promise<ProfileResult> {
    const device = this.devices.get(req.device);
    const space = getSpace(req.space);
    const backend = await this.devices.open(device, 'be profiled', req.threads);
    // Read once, from the backend the table is measured through: a board's agent checks every work item against it.
    const fingerprint = await this.devices.measuredOn(device, backend);
    const d = DEFAULT_PROFILE_OPTIONS;
    return profileSpace(this.devices.ws, device, backend, fingerprint, space, {
      resolutions: req.resolutions ?? space.resolutions,
      seed: req.seed ?? d.seed,
      rounds: req.rounds ?? d.rounds,
      warmup: req.warmup ?? d.warmup,
      passes: req.passes ?? d.passes,
      wallRunsPerPass: req.wallRunsPerPass ?? d.wallRunsPerPass,
      profileRunsPerPass: req.profileRunsPerPass ?? d.profileRunsPerPass,
      force: req.force,
      signal: req.signal,
      onProgress: req.onProgress,
    });
  }
}
