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
    const fingerprint = (await this.devices.fingerprint(device))!;
    return profileSpace(this.devices.ws, device, backend, fingerprint, space, {
      ...DEFAULT_PROFILE_OPTIONS,
      ...Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)),
      resolutions: req.resolutions ?? space.resolutions,
    });
  }
}
