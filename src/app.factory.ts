import { BadRequestException, INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';

/** HTTP-level settings shared by the service and the tests, so both run the same stack. */
export function configureApp(app: INestApplication, config: AppConfig): void {
  const express = app as NestExpressApplication;
  express.set('trust proxy', config.http.trustProxy);
  express.disable('x-powered-by');
  express.useBodyParser('json', { limit: config.http.bodyLimit });
  // Nest turns body-parser's SyntaxError into a 400 carrying the parser's message, which quotes the
  // request body (passwords included). Replace it before it gets there.
  express.use((err: unknown, _req: Request, _res: Response, next: NextFunction) => {
    const malformed = err instanceof SyntaxError && (err as { type?: unknown }).type === 'entity.parse.failed';
    next(malformed ? new BadRequestException('Malformed JSON body') : err);
  });
}

export async function createApp(
  config: AppConfig,
  runtimeUrl: string,
  logger?: LoggerService | LogLevel[] | false,
): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot({ config, runtimeUrl }), {
    bodyParser: false,
    ...(logger !== undefined ? { logger } : {}),
  });
  configureApp(app, config);
  return app;
}
