import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './api/app.module';

export interface ServerOptions {
  port?: number;
  home?: string;
}

/** Starts the HTTP service on embedded defaults (no external services). */
export async function startServer(options: ServerOptions = {}) {
  if (options.home) process.env.TAILOR_HOME = options.home;
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  const port = options.port ?? Number(process.env.PORT ?? 3000);
  await app.listen(port);
  console.log(`Tailor listening on http://localhost:${port}`);
  return app;
}

if (require.main === module) void startServer();
