import { DynamicModule, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { destination, type DestinationStream, type LevelWithSilent } from 'pino';
import { pinoHttp } from 'pino-http';
import type { ServiceConfig } from '../config/service-config';
import { normaliseIp } from '../core/ip';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Paths redacted from every log line, whatever logs them. The request/response serializers below
 * already log no headers and no bodies; this is the second lock on the door.
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
type LoggedRequest = IncomingMessage & { log?: { child(bindings: object): unknown }; ip?: string };

/** The client address, as sessions record it: Express's `req.ip` under TRUST_PROXY, normalised. */
const clientIp = (req: IncomingMessage): string | null => normaliseIp((req as RoutedRequest).ip ?? req.socket?.remoteAddress);

function routeOf(req: RoutedRequest): string {
  return req.route?.path ?? (req.originalUrl ?? req.url ?? '').split('?')[0];
}

/**
 * The request-logging middleware (pino-http). `configureApp` mounts it first, ahead of the body
 * parser: mounted by nestjs-pino as Nest middleware it ran after the parser, so requests the parser
 * refused (413, malformed JSON) got neither a log line nor a request id.
 */
export const HTTP_LOGGER = Symbol('HTTP_LOGGER');

/**
 * Structured JSON logs (pino): one line per request with method, route, status, duration and a
 * request id (an incoming `X-Request-Id` when it is well-formed, otherwise a new UUID; echoed in the
 * response). Nest's `Logger` writes through the same pino instance, tagged with the request id.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: ServiceConfig, stream?: DestinationStream): DynamicModule {
    const httpLogger = pinoHttp<IncomingMessage, ServerResponse, never>(
      {
        level: config.logging.level,
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        quietReqLogger: true,
        genReqId: (req: IncomingMessage, res: ServerResponse) => {
          const incoming = req.headers['x-request-id'];
          const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
          res.setHeader('X-Request-Id', id);
          return id;
        },
        serializers: {
          req: (req: { id?: string; method?: string; raw?: RoutedRequest }) => ({ id: req.id, method: req.method }),
          res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
        },
        // The route is read when the line is written, once the router has matched: as a
        // `customProps` binding it was also bound at request start (the logging middleware's own
        // '/{*path}'), giving every line two conflicting "route" keys.
        customSuccessObject: (req: IncomingMessage, _res: ServerResponse, value: object) => ({ ...value, route: routeOf(req as RoutedRequest) }),
        customErrorObject: (req: IncomingMessage, _res: ServerResponse, _err: Error, value: object) => ({ ...value, route: routeOf(req as RoutedRequest) }),
        customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error): LevelWithSilent =>
          err || res.statusCode >= 500 ? 'error' : 'info',
        customSuccessMessage: (req: IncomingMessage, res: ServerResponse, responseTime: number) =>
          `${req.method} ${routeOf(req as RoutedRequest)} ${res.statusCode} ${Math.round(responseTime)}ms`,
        customErrorMessage: (req: IncomingMessage, res: ServerResponse) =>
          `${req.method} ${routeOf(req as RoutedRequest)} ${res.statusCode} failed`,
        customAttributeKeys: { responseTime: 'durationMs' },
        // The client IP on the request line (security events get it from the request logger below).
        customProps: (req: IncomingMessage) => ({ ip: clientIp(req) }),
      },
      // Standard output, written asynchronously: a line waits only while the previous write is in
      // flight, so under load lines leave in batches instead of one write(2) per request (the
      // benchmark's LOG_LEVEL=warn variant put the synchronous line at a quarter of a request's
      // CPU). pino flushes what is pending when the process exits.
      stream ?? destination({ dest: 1, sync: false }),
    );
    // Nest's Logger lines inside a request (security events among them) go through `req.log`: bind the
    // client IP there too, so incident response can tie an event to an address.
    const middleware = (req: LoggedRequest, res: ServerResponse, next: (err?: unknown) => void): void =>
      httpLogger(req, res, () => {
        if (req.log) req.log = req.log.child({ ip: clientIp(req) }) as LoggedRequest['log'];
        next();
      });
    return {
      module: LoggingModule,
      // nestjs-pino reuses the request logger that pino-http put on `req.log` (so Nest's Logger lines
      // carry the request id) and logs outside requests through the same pino instance.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger: httpLogger.logger }, useExisting: true })],
      providers: [{ provide: HTTP_LOGGER, useValue: middleware }],
      exports: [HTTP_LOGGER],
    };
  }
}
