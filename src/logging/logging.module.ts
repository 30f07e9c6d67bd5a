import { DynamicModule, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppConfig } from '../config/app-config';

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

type RoutedRequest = IncomingMessage & { id?: string; route?: { path?: string }; originalUrl?: string };

function routeOf(req: RoutedRequest): string {
  return req.route?.path ?? (req.originalUrl ?? req.url ?? '').split('?')[0];
}

/**
 * Structured JSON logs (pino): one line per request with method, route, status, duration and a
 * request id (an incoming `X-Request-Id` when it is well-formed, otherwise a new UUID; echoed in the
 * response). Nest's `Logger` writes through the same pino instance, tagged with the request id.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig, stream?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: [
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
              customProps: (req: IncomingMessage) => ({ route: routeOf(req as RoutedRequest) }),
              customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
                err || res.statusCode >= 500 ? 'error' : 'info',
              customSuccessMessage: (req: IncomingMessage, res: ServerResponse, responseTime: number) =>
                `${req.method} ${routeOf(req as RoutedRequest)} ${res.statusCode} ${Math.round(responseTime)}ms`,
              customErrorMessage: (req: IncomingMessage, res: ServerResponse) =>
                `${req.method} ${routeOf(req as RoutedRequest)} ${res.statusCode} failed`,
              customAttributeKeys: { responseTime: 'durationMs' },
            },
            ...(stream ? [stream] : []),
          ] as never,
        }),
      ],
    };
  }
}
