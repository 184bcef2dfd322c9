/** Defaults shared by the CLI (which must not load the measuring code to print help) and the services. */
/**
 * A network's latency is measured the same way everywhere: one untimed run then `wallRunsPerPass`
 * timed runs per round-robin pass (reference subnets: twice as many). Profiling and validation
 * must agree on this, or cache warmth alone biases the comparison by several percent.
 */
export const PROFILE_DEFAULTS = { seed: 0, rounds: 3, warmup: 3, passes: 5, wallRunsPerPass: 4, profileRunsPerPass: 2 } as const;
export const REFERENCE_RUNS_FACTOR = 2;
export const VALIDATE_DEFAULTS = { samples: 50, seed: 1, warmup: 5, passes: 15, runsPerPass: PROFILE_DEFAULTS.wallRunsPerPass } as const;
