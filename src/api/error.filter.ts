import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';
import { TailorError } from '../core/errors';

/** Every error leaves as { statusCode, error, message }; domain errors keep their specific message and status. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Tailor');

  constructor(private readonly http: AbstractHttpAdapter) {}

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
      const cause = exception.cause as { code?: string } | undefined;
      if (cause instanceof SyntaxError || cause?.code?.startsWith('FST_ERR_CTP')) message = `Malformed JSON body: ${message}`;
    } else if (typeof (exception as { statusCode?: unknown }).statusCode === 'number' && (exception as { statusCode: number }).statusCode < 500) {
      // Errors of the HTTP layer itself (body parser): say what was wrong with the request.
      const e = exception as { statusCode: number; code?: string; message: string };
      statusCode = e.statusCode;
      message = e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'Request body too large (limit 20 MB)'
        : e.code?.startsWith('FST_ERR_CTP') || exception instanceof SyntaxError ? `Malformed JSON body: ${e.message}` : e.message;
    } else {
      this.logger.error((exception as Error)?.stack ?? String(exception));
    }
    if (Array.isArray(message)) message = message.join('; ');
    if (this.http.isHeadersSent(res)) return;
    this.http.reply(res, { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }, statusCode);
  }
}
