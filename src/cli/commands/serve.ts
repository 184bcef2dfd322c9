export async function run(opts: { port?: number }, global: { home?: string }): Promise<void> {
  const { startServer } = await import('../../main.js');
  await startServer({ port: opts.port, home: global.home });
}
