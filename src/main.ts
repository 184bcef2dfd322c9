import 'reflect-metadata';
import { INestApplication, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost, NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './api/app.module';
import { TailorConfig, configFromEnv } from './api/config';
import { ErrorFilter } from './api/error.filter';
import multipart from '@fastify/multipart';
import { MAX_UPLOAD_BYTES } from './api/gate/gate.dto';
import * as path from 'node:path';
import { TailorError } from './core/errors';
import { PACKAGE_ROOT } from './core/workspace';

export interface ServerOptions extends Partial<TailorConfig> {
  port?: number;
  logger?: false;
}

/** Builds the app (not listening): routes, validation at the edge, one error shape, OpenAPI at /docs. */
export async function createApp(options: ServerOptions = {}): Promise<INestApplication> {
  const config = configFromEnv(options);
  // Fastify: the hot route (predict) serves several thousand requests a second on one core.
  // Batches of 10,000 archs are a few MB of JSON.
  const adapter = new FastifyAdapter({ bodyLimit: 20 * 2 ** 20 });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: options.logger === false ? false : ['error', 'warn', 'log'],
    abortOnError: false, // startup errors (data directory in use, ...) reach the caller: exit 2 with a message
  });
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost).httpAdapter));
  // Model uploads (POST /gate): one file, held in memory while it is checked.
  await app.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 16 } });
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      exceptionFactory: (errors) =>
        new TailorError('INVALID_REQUEST', { reason: errors.flatMap((e) => Object.values(e.constraints ?? {})).join('; ') || 'invalid body' }),
    }),
  );
  app.enableShutdownHooks();
  const doc = new DocumentBuilder()
    .setTitle('Tailor')
    .setDescription('Latency lookup tables, prediction, validation and jobs for specializing networks per device.')
    .setVersion(require(path.join(PACKAGE_ROOT, 'package.json')).version)
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, doc));
  return app;
}

/** Starts the HTTP service on embedded defaults (no external services). */
export async function startServer(options: ServerOptions = {}): Promise<INestApplication> {
  const app = await createApp(options);
  const port = options.port ?? Number(process.env.PORT ?? 3000);
  await app.listen(port, process.env.HOST ?? '0.0.0.0');
  if (options.logger !== false) console.log(`Tailor listening on http://localhost:${port} (docs at /docs)`);
  return app;
}

if (require.main === module) {
  startServer().catch((e: unknown) => {
    process.stderr.write(`error: ${e instanceof TailorError ? e.message : ((e as Error)?.stack ?? String(e))}\n`);
    process.exitCode = e instanceof TailorError ? 2 : 1;
  });
}
