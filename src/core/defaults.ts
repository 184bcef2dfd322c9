/** Defaults shared by the CLI (which must not load the measuring code to print help) and the services. */
export const PROFILE_DEFAULTS = { seed: 0, rounds: 3, warmup: 3, passes: 5, wallRunsPerPass: 4, profileRunsPerPass: 2 } as const;
export const VALIDATE_DEFAULTS = { samples: 50, seed: 1, warmup: 5, passes: 15, runsPerPass: 3 } as const;
