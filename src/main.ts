import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadConfig } from './config/load-config';
import { prepareDatabase, PreparedDatabase } from './database/bootstrap';
import { LOG_DESTINATION, type LogDestination } from './logging/logging.module';

/**
 * Between full collections V8 lets the old generation grow to up to 4× what survived the last one.
 * Under load most of what reaches it is request garbage (requests waiting for a pooled connection
 * outlive two scavenges). 1.5× keeps the old generation near its live data (about 57 MB at 100
 * connections; with V8's factor the service's peak RSS there was 409 MB against 287 MB with this one,
 * bench/RESULTS.md of 2026-11-30), paid for with more full collections. Where memory is not tight,
 * `--heap-growing-percent=0` on the node command line restores V8's default (any value there wins).
 * Set before the heap grows; V8 reads the factor at every full collection. (The young generation
 * is sized when the isolate is created, before this file runs: `--max-semi-space-size` on the node
 * command line caps it, see the README.)
 */
const HEAP_GROWING_PERCENT = 50;
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);

async function main(): Promise<void> {
  const logger = new Logger('Main');
  let config;
  try {
    // A local .env (git-ignored) fills in what the environment does not set.
    if (existsSync('.env')) process.loadEnvFile('.env');
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  if (config.generatedSecrets.length) {
    logger.warn(`Generated random values for this run only (set them to keep tokens valid across restarts): ${config.generatedSecrets.join(', ')}`);
  }
  for (const warning of config.warnings) logger.warn(warning);

  let db: PreparedDatabase | undefined;
  let closing: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> =>
    (closing ??= (async () => {
      logger.log(`${reason}: finishing in-flight requests and shutting down`);
      try {
        await app?.close();
      } finally {
        await db?.close();
      }
      logger.log('Stopped');
      process.exit(0);
    })());
  let app: Awaited<ReturnType<typeof createApp>> | undefined;
  // `on`, not `once`: a second signal during the shutdown must not kill the process (and leave the
  // embedded database running), since nothing else handles these signals (`stopOnSignal: false`).
  process.on('SIGTERM', () => void shutdown('SIGTERM received'));
  process.on('SIGINT', () => void shutdown('SIGINT received'));

  db = await prepareDatabase(config, (m) => logger.log(m), { stopOnSignal: false });
  app = await createApp(config, db.runtimeUrl);
  await app.listen(config.http.port, config.http.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  logger.log(`Listening on http://${host}:${port}`);
  if (config.http.docsEnabled) logger.log(`Swagger UI: http://${host}:${port}/docs (OpenAPI document: /docs-json)`);
  if (config.http.exampleWebEnabled) logger.log(`Example web client: http://${host}:${port}/example/ (refresh tokens: ${config.auth.refreshToken.transport ?? 'body'})`);
  logger.log(`Database: ${db.description}`);
  // Log lines leave in blocks (LoggingModule): the start-up lines are written before a request is served.
  app.get<LogDestination>(LOG_DESTINATION).flushSync?.();
}

main().catch((err: unknown) => {
  console.error(`Failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
