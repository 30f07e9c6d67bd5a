import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { STATUS_CODES } from 'node:http';

interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error?: string;
}

/** The reason phrase of a status ('Not Found'), as Node writes it on the status line. */
export const reasonPhrase = (status: number): string | undefined => STATUS_CODES[status];

/**
 * MikroORM's `DriverException`, recognised by its class name so that this file (also loaded by the
 * verify-only entry) does not load MikroORM.
 */
function isDriverException(err: object): boolean {
  for (let proto = Object.getPrototypeOf(err); proto; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === 'DriverException') return true;
  }
  return false;
}

const CONNECTION_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * Maps database errors (by SQLSTATE, never by message) to an HTTP status. Returns undefined for
 * errors that are not the database's.
 */
export function databaseErrorStatus(err: unknown): HttpStatus | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; name?: unknown; errno?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (e.name === 'KnexTimeoutError' || (code && CONNECTION_ERRNO.has(code))) return HttpStatus.SERVICE_UNAVAILABLE;
  if (typeof e.message === 'string' && /Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message)) {
    return HttpStatus.SERVICE_UNAVAILABLE;
  }
  if (!code || !/^[0-9A-Z]{5}$/.test(code)) return isDriverException(err) ? HttpStatus.INTERNAL_SERVER_ERROR : undefined;
  if (code === '42501') return HttpStatus.FORBIDDEN; // insufficient privilege, incl. RLS WITH CHECK
  if (code === '23505') return HttpStatus.CONFLICT;
  if (code === '23503') return HttpStatus.NOT_FOUND;
  if (code.startsWith('22') || code === '23514' || code === '23502') return HttpStatus.BAD_REQUEST;
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57') || code === '40001' || code === '40P01') {
    return HttpStatus.SERVICE_UNAVAILABLE;
  }
  return HttpStatus.INTERNAL_SERVER_ERROR;
}

/**
 * The one place errors become HTTP responses: Nest's `{statusCode, message, error}` shape, domain
 * codes and database errors mapped to statuses, and nothing internal (SQL, driver text, stack) in a
 * body. Logs carry the error class and SQLSTATE only — driver messages can quote query parameters.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw exception;
    const res = host.switchToHttp().getResponse<Response>();
    const body = this.toBody(exception);
    if (res.headersSent) return;
    if (body.statusCode === HttpStatus.SERVICE_UNAVAILABLE) res.setHeader('Retry-After', '1');
    res.status(body.statusCode).json(body);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const parserMessage = bodyParserMessage(exception);
      if (parserMessage) return { statusCode: status, message: parserMessage, error: reasonPhrase(status) ?? 'Bad Request' };
      const response = exception.getResponse();
      if (typeof response === 'object' && response !== null && 'message' in response) {
        const r = response as Partial<ErrorBody>;
        return { statusCode: status, message: r.message ?? exception.message, error: r.error ?? reasonPhrase(status) };
      }
      return { statusCode: status, message: typeof response === 'string' ? response : exception.message, error: reasonPhrase(status) };
    }
    const dbStatus = databaseErrorStatus(exception);
    if (dbStatus !== undefined) {
      const { name, code } = exception as { name?: string; code?: string };
      if (dbStatus >= 500) this.logger.error(`Database error ${name ?? 'Error'} (${code ?? 'no code'})`);
      else this.logger.warn(`Database rejected input: ${name ?? 'Error'} (${code ?? 'no code'})`);
      return { statusCode: dbStatus, message: dbMessage(dbStatus), error: reasonPhrase(dbStatus) };
    }
    const httpLike = exception as { status?: unknown; expose?: unknown };
    if (typeof httpLike.status === 'number' && httpLike.status >= 400 && httpLike.status < 500 && httpLike.expose === true) {
      // body-parser's own errors (payload too large, bad charset); malformed JSON is mapped in configureApp
      const status = httpLike.status;
      return { statusCode: status, message: status === 413 ? 'Request body too large' : 'Bad request', error: reasonPhrase(status) ?? 'Bad Request' };
    }
    this.logger.error(`Unhandled ${(exception as Error)?.name ?? typeof exception}`, (exception as Error)?.stack);
    return { statusCode: 500, message: 'Internal server error', error: reasonPhrase(500) };
  }
}

/**
 * The standalone service's messages for malformed JSON and an oversized body, which Nest's Express
 * adapter hands to the filters as HttpExceptions carrying body-parser's wording (a JSON syntax error
 * quotes the body, passwords included). `configureApp` maps them earlier; a host app meets them here.
 */
function bodyParserMessage(exception: HttpException): string | undefined {
  const type = (exception.cause as { type?: unknown } | undefined)?.type;
  if (type === 'entity.parse.failed') return 'Malformed JSON body';
  return type === 'entity.too.large' ? 'Request body too large' : undefined;
}

function dbMessage(status: HttpStatus): string {
  switch (status) {
    case HttpStatus.SERVICE_UNAVAILABLE:
      return 'Database unavailable, try again shortly';
    case HttpStatus.FORBIDDEN:
      return 'Forbidden';
    case HttpStatus.CONFLICT:
      return 'Conflict';
    case HttpStatus.NOT_FOUND:
      return 'Not found';
    case HttpStatus.BAD_REQUEST:
      return 'Invalid input';
    default:
      return 'Internal server error';
  }
}
