import { BadRequestException, INestApplication, PayloadTooLargeException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { inputProblem } from './core/validation';
import type { ServiceConfig } from './config/service-config';
import { setupSwagger } from './docs/swagger';
import { HTTP_LOGGER } from './logging/logging.module';
import { serveWebExample } from './web-example';

/** HTTP-level settings shared by the service and the tests, so both run the same stack. */
export function configureApp(app: INestApplication, config: ServiceConfig): void {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  // First, so every request is logged and gets its request id, including those refused before routing
  // (body limit, malformed JSON).
  express.use(express.get<RequestHandler>(HTTP_LOGGER));
  express.set('trust proxy', config.http.trustProxy);
  express.disable('x-powered-by');
  // The API's answers are per user and carry tokens (RFC 6749 5.1: no-store): nothing to validate
  // against a cache, so no ETag (Express hashed every response body for one), and no caching.
  express.disable('etag');
  express.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  // upgrade-insecure-requests would send Swagger UI's own requests to https:// on a plain-http deployment.
  express.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  if (config.http.corsOrigins.length) {
    express.enableCors({
      origin: config.http.corsOrigins,
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
      // The listed origins may send the refresh-token cookie (`credentials: 'include'`). The cors
      // middleware echoes the one matching origin, never `*` (CORS_ORIGINS cannot hold a wildcard).
      credentials: (config.auth.refreshToken.transport ?? 'body') !== 'body',
    });
  }
  express.useBodyParser('json', { limit: config.http.bodyLimit });
  // Nest turns body-parser's SyntaxError into a 400 carrying the parser's message, which quotes the
  // request body (passwords included). Replace it before it gets there.
  express.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const type = (err as { type?: unknown } | undefined)?.type;
    if (err instanceof SyntaxError && type === 'entity.parse.failed') return next(new BadRequestException('Malformed JSON body'));
    // Nest 12 turns body-parser's own errors into HttpExceptions carrying the parser's wording.
    if (type === 'entity.too.large') return next(new PayloadTooLargeException('Request body too large'));
    next(err);
  });
  // Every body, also on routes that ignore theirs, gets the checks the module's validation pipe makes.
  express.use((req: Request, _res: Response, next: NextFunction) => {
    const problem = inputProblem(req.body);
    next(problem ? new BadRequestException(problem) : undefined);
  });
  if (config.http.docsEnabled) setupSwagger(app);
  if (config.http.exampleWebEnabled) serveWebExample(express);
}

export async function createApp(config: ServiceConfig, runtimeUrl: string, logStream?: DestinationStream): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, runtimeUrl, logStream }), {
    bodyParser: false,
    bufferLogs: true,
  });
  configureApp(app, config);
  return app;
}
