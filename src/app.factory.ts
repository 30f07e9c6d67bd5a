import { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';

/** HTTP-level settings shared by the service and the tests, so both run the same stack. */
export function configureApp(app: INestApplication, config: AppConfig): void {
  const express = app as NestExpressApplication;
  express.set('trust proxy', config.http.trustProxy);
  express.disable('x-powered-by');
  express.useBodyParser('json', { limit: config.http.bodyLimit });
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
