import { DynamicModule, Module } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { performance } from 'node:perf_hooks';
import { destination, pino, type DestinationStream, type Logger } from 'pino';
import type { ServiceConfig } from '../config/service-config';
import { normaliseIp } from '../core/ip';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Paths redacted from every log line but the request line (`requestLogging`, which builds its
 * line itself from fields that cannot hold them), whatever logs them: the second lock on the door.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.refreshToken',
  '*.accessToken',
  '*.passwordHash',
  '*.refreshTokenHash',
  '*.authorization',
];

type RoutedRequest = IncomingMessage & { id?: string; route?: { path?: string }; originalUrl?: string; ip?: string };
type LoggedRequest = RoutedRequest & { log?: Logger };

/** What every line written inside a request carries: its id and the client IP. */
interface RequestFields {
  reqId: string;
  ip: string | null;
}
const requestFields = new AsyncLocalStorage<RequestFields>();

/**
 * pino's `mixin` for the redacting logger: the fields of the request the line is written in, if any.
 * Read per line rather than bound per request with `logger.child({ reqId, ip })`: a child runs the
 * redaction paths over its bindings when it is made (about 10 µs with our wildcard paths, on every
 * request), while most requests write no line but the request line.
 */
export const requestFieldsMixin = (): Partial<RequestFields> => requestFields.getStore() ?? {};

/** The client address, as sessions record it: Express's `req.ip` under TRUST_PROXY, normalised. */
const clientIp = (req: IncomingMessage): string | null => normaliseIp((req as RoutedRequest).ip ?? req.socket?.remoteAddress);

function routeOf(req: RoutedRequest): string {
  return req.route?.path ?? (req.originalUrl ?? req.url ?? '').split('?')[0];
}

/**
 * The request-logging middleware. `configureApp` mounts it first, ahead of the body parser, so
 * requests the parser refuses (413, malformed JSON) get a log line and a request id too.
 */
export const HTTP_LOGGER = Symbol('HTTP_LOGGER');

/** Where the JSON lines go: `flushSync()` (when it has one) writes what is pending, before it returns. */
export const LOG_DESTINATION = Symbol('LOG_DESTINATION');
export type LogDestination = DestinationStream & { flushSync?: () => void };

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * One line per request, written when the response is done, and a request logger bound to the request
 * id and the client IP for the lines written inside the request (nestjs-pino reads it from `req.log`).
 *
 * Ours rather than pino-http, which this replaced: pino-http bound three child loggers per request
 * (request id, the request object, custom properties) and a fourth at the end, each one running the
 * redaction paths over its bindings: the bench's LOG_LEVEL=warn variant put the request line at 0.32 ms
 * of CPU per request, a quarter of the service's (now within that variant's noise). Here a request binds
 * no logger at all (the request's fields reach its lines through `requestFieldsMixin`), and the request
 * line is written through `requestLines`, a logger without redaction: every field of that line is set
 * here, from values that hold no secret (method, route pattern, status, duration, request id, client
 * IP), so the redaction paths have nothing to find in it. Every other line goes through the redacting
 * logger.
 */
export function requestLogging(logger: Logger, requestLines: Logger): Middleware {
  return (req, res, next) => {
    const started = performance.now();
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', id);
    const r = req as LoggedRequest;
    r.id = id;
    const ip = clientIp(req);
    // nestjs-pino binds this one to the request's async context for Nest's Logger; the request's
    // fields come from `requestFieldsMixin`, for this logger and any child of it (`PinoLogger.assign`).
    r.log = logger;
    // 'close' follows 'finish' on every response, and comes alone when the client went away first.
    res.once('close', () => {
      const statusCode = res.statusCode;
      const route = routeOf(r);
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const line = { reqId: id, req: { id, method: req.method }, ip, res: { statusCode }, route, durationMs };
      if (!res.writableFinished) requestLines.info({ ...line, aborted: true }, `${req.method} ${route} ${statusCode} aborted by the client`);
      else if (statusCode >= 500) requestLines.error(line, `${req.method} ${route} ${statusCode} failed`);
      else requestLines.info(line, `${req.method} ${route} ${statusCode} ${Math.round(durationMs)}ms`);
    });
    requestFields.run({ reqId: id, ip }, next);
  };
}

/**
 * Structured JSON logs (pino): one line per request with method, route, status, duration and a
 * request id (an incoming `X-Request-Id` when it is well-formed, otherwise a new UUID; echoed in the
 * response). Nest's `Logger` writes through the same pino destination, tagged with the request id.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: ServiceConfig, stream?: DestinationStream): DynamicModule {
    // Standard output, written asynchronously and in blocks: lines collect until 4 KiB are pending
    // or 250 ms have passed, then leave in one write(2). One write per line cost more CPU than the
    // line itself (a write plus two thread hand-offs, since asynchronous writes go through libuv's
    // thread pool). pino flushes what is pending when the process exits, on a signal or a crash too;
    // only a SIGKILL (or the OOM killer) loses the lines of the last 250 ms.
    const out = stream ?? destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
    const logger = pino({ level: config.logging.level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, mixin: requestFieldsMixin }, out);
    const requestLines = pino({ level: config.logging.level }, out);
    return {
      module: LoggingModule,
      // nestjs-pino takes the request logger from `req.log` (so Nest's Logger lines inside a request
      // carry the request id and client IP) and logs outside requests through `logger`.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger }, useExisting: true })],
      providers: [
        { provide: HTTP_LOGGER, useValue: requestLogging(logger, requestLines) },
        { provide: LOG_DESTINATION, useValue: out },
      ],
      exports: [HTTP_LOGGER, LOG_DESTINATION],
    };
  }
}
