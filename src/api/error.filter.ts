import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { TailorError } from '../core/errors';

/** Every error leaves as { statusCode, error, message }; domain errors keep their specific message and status. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Tailor');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse();
    let statusCode = 500;
    let message: string | string[] = 'internal error';
    if (exception instanceof TailorError) {
      statusCode = exception.status;
      message = exception.message;
    } else if (exception instanceof HttpException) {
      statusCode = exception.getStatus();
      const body = exception.getResponse();
      message = typeof body === 'string' ? body : ((body as { message?: string | string[] }).message ?? exception.message);
      // The HTTP adapter maps body-parser failures to HttpExceptions; say what was wrong with the body.
      const cause = (exception as { cause?: { type?: string } }).cause;
      if (cause?.type === 'entity.parse.failed') message = `Malformed JSON body: ${message}`;
      if (cause?.type === 'entity.too.large') message = 'Request body too large (limit 20 MB)';
    } else {
      this.logger.error((exception as Error)?.stack ?? String(exception));
    }
    if (Array.isArray(message)) message = message.join('; ');
    if (res.headersSent) return;
    res.status(statusCode).json({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message });
  }
}
