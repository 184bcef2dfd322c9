export async function run(opts: { port?: number; dataDir?: string; modelDir?: string }, global: { home?: string }): Promise<void> {
  const { startServer } = await import('../../main.js');
  await startServer({ port: opts.port, home: global.home, dataDir: opts.dataDir, modelDir: opts.modelDir });
}
