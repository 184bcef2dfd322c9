/** Search algorithms over an OFA space: plain TypeScript, no I/O; the evaluator is passed in as a SearchProblem. */
export * from './archive';
export * from './encoding';
export * from './evolution';
export * from './mnasnet';
export * from './nsga2';
export * from './operators';
export * from './pareto';
export * from './problem';
export * from './random';
export * from './reinforce';
