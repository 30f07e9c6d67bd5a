import { BadRequestException, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { Logger } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { setupSwagger } from './docs/swagger';
import { HTTP_LOGGER } from './logging/logging.module';

/** HTTP-level settings shared by the service and the tests, so both run the same stack. */
export function configureApp(app: INestApplication, config: AppConfig): void {
  const express = app as NestExpressApplication;
  express.useLogger(express.get(Logger));
  // First, so every request is logged and gets its request id, including those refused before routing
  // (body limit, malformed JSON).
  express.use(express.get<RequestHandler>(HTTP_LOGGER));
  express.set('trust proxy', config.http.trustProxy);
  express.disable('x-powered-by');
  // upgrade-insecure-requests would send Swagger UI's own requests to https:// on a plain-http deployment.
  express.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  if (config.http.corsOrigins.length) {
    express.enableCors({
      origin: config.http.corsOrigins,
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After'],
      maxAge: 600,
    });
  }
  express.useBodyParser('json', { limit: config.http.bodyLimit });
  // Nest turns body-parser's SyntaxError into a 400 carrying the parser's message, which quotes the
  // request body (passwords included). Replace it before it gets there.
  express.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const malformed = err instanceof SyntaxError && (err as { type?: unknown }).type === 'entity.parse.failed';
    next(malformed ? new BadRequestException('Malformed JSON body') : err);
  });
  // ValidationPipe and class-transformer walk a body recursively: a deeply nested one (a 16kb body
  // holds 8000 levels of `[`) overflowed the stack and answered 500. No route takes nested input.
  express.use((req: Request, _res: Response, next: NextFunction) => {
    next(nestedDeeperThan(req.body, MAX_JSON_DEPTH) ? new BadRequestException('JSON body is nested too deeply') : undefined);
  });
  if (config.http.docsEnabled) setupSwagger(app);
}

/** The deepest nesting of objects and arrays a JSON body may have (the top level counts as 1). */
export const MAX_JSON_DEPTH = 32;

/** Iterative, so that measuring a hostile body cannot overflow the stack either. */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length) {
    const [node, depth] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return true;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return false;
}

export async function createApp(config: AppConfig, runtimeUrl: string, logStream?: DestinationStream): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, runtimeUrl, logStream }), {
    bodyParser: false,
    bufferLogs: true,
  });
  configureApp(app, config);
  return app;
}
