import { maxArch, minArch } from '../../core/arch';
import { TailorError } from '../../core/errors';
import { netFromArch } from '../../core/net';
import { getSpace } from '../../core/space';
import { DEFAULT_VALIDATE_OPTIONS } from '../../latency/validate';
import { GlobalOptions, services } from '../context';
import { ms, pct } from '../format';
import { describeProfile, profile } from './profile';
import { validate } from './validate';

/** The main job on embedded defaults: profile this CPU at one resolution, validate, report. */
export async function run(opts: { device: string; space: string; resolution: number; samples: number; seed: number }, global: GlobalOptions): Promise<void> {
  const { devices, latency } = services(global);
  const device = devices.get(opts.device);
  const fp = await devices.fingerprint(device);
  console.log(`Tailor quickstart: ${device.name}`);
  if (fp) console.log(`hardware: ${fp.cpu}, ${fp.cores} cores, ${fp.memoryGb} GB, ${fp.runtime} [${fp.hash}]`);
  console.log(`\n1. profile ${opts.space} at ${opts.resolution}x${opts.resolution} (kernels timed inside whole networks)`);
  const request = { device: opts.device, space: opts.space, resolutions: [opts.resolution], seed: opts.seed, rounds: 3, passes: 5 };
  let result;
  try {
    result = await profile(request, global);
  } catch (e) {
    // A table from another machine (say, a copied workspace): this machine gets its own, the old one is kept as .bak.
    if (!(e instanceof TailorError && e.code === 'FINGERPRINT_MISMATCH')) throw e;
    console.log(`note: ${e.message} Starting a new table; the old one is kept as a .bak file.`);
    result = await profile({ ...request, force: true }, global);
  }
  console.log(describeProfile(result));

  console.log(`\n2. validate: ${opts.samples} random subnets measured end to end vs. predicted`);
  const report = await validate(
    { device: opts.device, space: opts.space, samples: opts.samples, resolutions: [opts.resolution], seed: opts.seed + 1, passes: DEFAULT_VALIDATE_OPTIONS.passes, calibrate: true },
    global,
  );
  console.log(`within 5%: ${pct(report.within5)}, within 10%: ${pct(report.within10)}, MAPE ${report.mape.toFixed(2)}%, Spearman ${report.spearman.toFixed(3)} (device speed x${report.speedFactor.toFixed(3)} vs. table)`);

  console.log('\n3. predict the largest and smallest subnets from the table');
  const space = getSpace(opts.space);
  for (const [name, arch] of [['max', maxArch(space, opts.resolution)], ['min', minArch(space, opts.resolution)]] as const) {
    const p = await latency.predict({ device: opts.device, arch: { source: name, arch, space, net: netFromArch(space, arch) } });
    const heaviest = [...p.breakdown].sort((a, b) => b.ms - a.ms)[0];
    console.log(`${name}: ${ms(p.latencyMs)} (heaviest piece ${heaviest.piece}: ${ms(heaviest.ms)})`);
  }
  console.log(`\nnext: tailor profile --device ${opts.device} --space ${opts.space}   (every resolution of the space)`);
}
