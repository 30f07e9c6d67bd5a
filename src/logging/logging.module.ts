import { DynamicModule, Module } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { destination, pino, type DestinationStream, type Logger } from 'pino';
import type { ServiceConfig } from '../config/service-config';
import { clientIpOf } from '../core/ip';
import { BatchedLines } from './batched-lines';

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

/** The fields of a request line (besides `msg`), in the order they are written. */
interface RequestLine {
  reqId: string;
  req: { id: string; method: string | undefined };
  ip: string | null;
  res: { statusCode: number };
  route: string;
  durationMs: number;
  aborted?: true;
}

/** Writes request lines at info (30) or error (50), when LOG_LEVEL lets them through. */
export type RequestLineWriter = (level: 30 | 50, line: RequestLine, msg: string) => void;

/**
 * The request line exactly as pino writes it for these fields (`{"level":…,"time":…,"pid":…,
 * "hostname":…, then the fields in order, then "msg"}`): test/logging-lines.spec.ts compares the two
 * on generated requests. Written here rather than through a pino logger because the line has one
 * fixed shape, and pino's generic serialisation (its nested objects through safe-stable-stringify)
 * costs more than the write: `node bench/log-lines.js` puts a line at 5.3–6.0 µs of CPU through pino
 * and 3.0–3.5 µs through this, on the same destination, and every request writes one. Its strings
 * go through `JSON.stringify`; every other line is pino's.
 */
export function requestLineWriter(level: string, out: DestinationStream): RequestLineWriter {
  const threshold = (pino.levels.values as Record<string, number>)[level] ?? Infinity;
  const base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`;
  const text = (value: string | undefined | null): string => (value == null ? 'null' : JSON.stringify(value));
  return (lineLevel, line, msg) => {
    if (lineLevel < threshold) return;
    const method = line.req.method === undefined ? '' : `,"method":${text(line.req.method)}`;
    out.write(
      `{"level":${lineLevel},"time":${Date.now()}${base},"reqId":${text(line.reqId)},"req":{"id":${text(line.req.id)}${method}},` +
        `"ip":${text(line.ip)},"res":{"statusCode":${line.res.statusCode}},"route":${text(line.route)},"durationMs":${line.durationMs}` +
        `${line.aborted ? ',"aborted":true' : ''},"msg":${text(msg)}}\n`,
    );
  };
}

/**
 * One line per request, written when the response is done, and a request logger bound to the request
 * id and the client IP for the lines written inside the request (nestjs-pino reads it from `req.log`).
 *
 * Ours rather than pino-http, which this replaced: pino-http bound three child loggers per request
 * (request id, the request object, custom properties) and a fourth at the end, each one running the
 * redaction paths over its bindings: the bench's LOG_LEVEL=warn variant put the request line at 0.32 ms
 * of CPU per request, a quarter of the service's (now within that variant's noise). Here a request binds
 * no logger at all (the request's fields reach its lines through `requestFieldsMixin`), and the request
 * line is written by `requestLineWriter`, without redaction: every field of that line is set here,
 * from values that hold no secret (method, route pattern, status, duration, request id, client IP),
 * so the redaction paths would have nothing to find in it. Every other line goes through the
 * redacting logger.
 */
export function requestLogging(logger: Logger, writeLine: RequestLineWriter): Middleware {
  return (req, res, next) => {
    const started = performance.now();
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', id);
    const r = req as LoggedRequest;
    r.id = id;
    const ip = clientIpOf(r);
    // nestjs-pino binds this one to the request's async context for Nest's Logger; the request's
    // fields come from `requestFieldsMixin`, for this logger and any child of it (`PinoLogger.assign`).
    r.log = logger;
    // 'close' follows 'finish' on every response, and comes alone when the client went away first.
    res.once('close', () => {
      const statusCode = res.statusCode;
      const route = routeOf(r);
      const durationMs = Math.round((performance.now() - started) * 10) / 10;
      const line: RequestLine = { reqId: id, req: { id, method: req.method }, ip, res: { statusCode }, route, durationMs };
      if (!res.writableFinished) writeLine(30, { ...line, aborted: true }, `${req.method} ${route} ${statusCode} aborted by the client`);
      else if (statusCode >= 500) writeLine(50, line, `${req.method} ${route} ${statusCode} failed`);
      else writeLine(30, line, `${req.method} ${route} ${statusCode} ${Math.round(durationMs)}ms`);
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
    // Standard output in batches of lines (BatchedLines), each batch one write(2) made by sonic-boom.
    const out = stream ?? new BatchedLines(destination({ dest: 1, sync: true }));
    const logger = pino({ level: config.logging.level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, mixin: requestFieldsMixin }, out);
    return {
      module: LoggingModule,
      // nestjs-pino takes the request logger from `req.log` (so Nest's Logger lines inside a request
      // carry the request id and client IP) and logs outside requests through `logger`. Its
      // per-request middleware stays, though it costs about 10 µs of CPU a request (BENCH_AB without it:
      // S1 0.338 → 0.329 ms, S4 0.250 → 0.238). Without it, lines inside a request
      // go to nestjs-pino's root logger, which is one per process, the first app's, so a second app
      // in the process (the e2e suites) writes its security events to the first one's destination.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger }, useExisting: true })],
      providers: [
        { provide: HTTP_LOGGER, useValue: requestLogging(logger, requestLineWriter(config.logging.level, out)) },
        { provide: LOG_DESTINATION, useValue: out },
      ],
      exports: [HTTP_LOGGER, LOG_DESTINATION],
    };
  }
}
