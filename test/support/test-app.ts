import { INestApplication } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import request from 'supertest';
import TestAgent from 'supertest/lib/agent';
import { configureApp } from '../../src/app.factory';
import { AppModule } from '../../src/app.module';
import { loadConfig } from '../../src/config/load-config';
import type { ServiceConfig } from '../../src/config/service-config';
import { AuthSettings } from '../../src/core/settings';
import { Clock } from '../../src/core/clock';
import { CapturedLogger } from './captured-logger';
import { FakeClock } from './fake-clock';
import { createTestDatabase, TEST_APP_PASSWORD, TEST_APP_USER, TestDatabase } from './test-database';

export interface TestApp {
  app: INestApplication;
  http: TestAgent;
  db: TestDatabase;
  clock: FakeClock;
  /** The service's configuration, read from the test's environment. */
  config: ServiceConfig;
  /** The module's resolved settings (defaults applied). */
  settings: AuthSettings;
  logs: CapturedLogger;
  close(): Promise<void>;
}

export const TEST_ENV: Record<string, string> = {
  NODE_ENV: 'test',
  BCRYPT_COST: '4',
  JWT_ACCESS_SECRET: 'test-access-secret-0123456789abcdef0123456789',
  REFRESH_TOKEN_SECRET: 'test-refresh-secret-0123456789abcdef012345678',
  PURGE_INTERVAL_SECONDS: '0',
  LOG_LEVEL: 'info',
  // Generous, so suites that sign in often are not throttled; the rate-limit suite sets its own.
  RATE_LIMIT_LOGIN_PER_IP: '10000',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '10000',
  RATE_LIMIT_REGISTER_PER_IP: '10000',
  RATE_LIMIT_REFRESH_PER_IP: '10000',
  RATE_LIMIT_PASSWORD_PER_IP: '10000',
  RATE_LIMIT_PASSWORD_PER_USER: '10000',
};

/**
 * The real application (all modules, global guard, interceptor, filter, validation) on its own
 * migrated database, with a controllable clock and captured logs. `env` overrides configuration;
 * `configure` may override providers (the edges a test needs to hold still, never the database).
 */
export async function createTestApp(
  options: { env?: Record<string, string>; db?: TestDatabase; configure?: (builder: TestingModuleBuilder) => TestingModuleBuilder } = {},
): Promise<TestApp> {
  const db = options.db ?? (await createTestDatabase());
  const config = loadConfig({
    ...TEST_ENV,
    DATABASE_URL: db.ownerUrl,
    DATABASE_APP_USER: TEST_APP_USER,
    DATABASE_APP_PASSWORD: TEST_APP_PASSWORD,
    ...options.env,
  });
  const clock = new FakeClock();
  const logs = new CapturedLogger();
  const builder = Test.createTestingModule({
    imports: [AppModule.forRoot({ config, runtimeUrl: config.database.appUrl ?? db.runtimeUrl, logStream: logs })],
  })
    .overrideProvider(Clock)
    .useValue(clock);
  const moduleRef = await (options.configure ? options.configure(builder) : builder).compile();
  const app = moduleRef.createNestApplication({ bodyParser: false, bufferLogs: true });
  configureApp(app, config);
  // Listening on a real loopback port (not supertest's per-request ephemeral listener) lets tests
  // fire many concurrent requests at one server.
  await app.listen(0, '127.0.0.1');
  return {
    app,
    http: request(app.getHttpServer()),
    db,
    clock,
    config,
    settings: app.get(AuthSettings),
    logs,
    close: async () => {
      await app.close();
      if (!options.db) await db.drop();
    },
  };
}
