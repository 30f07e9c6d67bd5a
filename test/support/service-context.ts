import { randomBytes } from 'node:crypto';
import { LoggerService, Type } from '@nestjs/common';
import { Test, TestingModule } from '@nestjs/testing';
import { AuthModule } from '../../src/auth/auth.module';
import { AuthModuleOptions } from '../../src/core/settings';
import { AuthService } from '../../src/auth/auth.service';
import { Clock } from '../../src/core/clock';
import { DeviceInfo } from '../../src/sessions/device';
import { IssuedSession, SessionsService } from '../../src/sessions/sessions.service';
import { uniqueEmail } from './factories';
import { ManualClock } from './manual-clock';
import { createTestDatabase, TestDatabase } from './test-database';

/** One log call of a service: Nest's `Logger` hands the object and the logger's context here. */
export interface LoggedEvent {
  level: 'log' | 'warn' | 'error';
  context?: string;
  [field: string]: unknown;
}

/** Keeps what the services log (structured objects), instead of printing it. */
class EventLog implements LoggerService {
  readonly events: LoggedEvent[] = [];
  log(message: unknown, context?: string): void {
    this.add('log', message, context);
  }
  warn(message: unknown, context?: string): void {
    this.add('warn', message, context);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.add('error', message, rest.at(-1) as string | undefined);
  }
  private add(level: LoggedEvent['level'], message: unknown, context?: string): void {
    this.events.push({ level, context, ...(typeof message === 'object' && message !== null ? message : { msg: message }) });
  }
}

/**
 * A "medium" test context: the library's real services, built by Nest from the real `AuthModule` on
 * the real runtime role of a freshly migrated database — no HTTP. Only the edges are replaced: the
 * clock (it stands still until the test moves it) and the log (kept in memory).
 */
export interface ServiceContext {
  db: TestDatabase;
  clock: ManualClock;
  /** What the services logged, in order. */
  events: LoggedEvent[];
  sessions: SessionsService;
  auth: AuthService;
  /** Any provider of the module (e.g. a codec the test needs to reason about tokens). */
  get<T>(type: Type<T>): T;
  /** A registered account (real bcrypt at cost 4). */
  newUser(): Promise<{ id: string; email: string; password: string }>;
  /** A session opened for `userId` as sign-in opens it. */
  newSession(userId: string, device?: Partial<DeviceInfo>): Promise<IssuedSession>;
  /** One `sessions` row with every column, read as the owner. */
  sessionRow(id: string): Promise<Record<string, any>>;
  close(): Promise<void>;
}

/** Token and session lifetimes for the module; omitted ones take the library's defaults. */
export interface ServiceContextOptions {
  refreshToken?: Omit<AuthModuleOptions['refreshToken'], 'secret'>;
  sessions?: AuthModuleOptions['sessions'];
}

export async function createServiceContext(options: ServiceContextOptions = {}): Promise<ServiceContext> {
  const db = await createTestDatabase();
  const clock = new ManualClock();
  const log = new EventLog();
  let moduleRef: TestingModule | undefined;
  try {
    moduleRef = await Test.createTestingModule({
      imports: [
        AuthModule.forRoot({
          accessToken: { secret: 'medium-access-secret-0123456789abcdef0123456789' },
          refreshToken: { ...options.refreshToken, secret: 'medium-refresh-secret-0123456789abcdef01234567' },
          sessions: options.sessions,
          bcryptCost: 4,
          database: { url: db.runtimeUrl },
        }),
      ],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .setLogger(log)
      .compile();
    await moduleRef.init();
  } catch (err) {
    await moduleRef?.close().catch(() => undefined);
    await db.drop();
    throw err;
  }
  const ref = moduleRef;
  const sessions = ref.get(SessionsService);
  const auth = ref.get(AuthService);
  return {
    db,
    clock,
    events: log.events,
    sessions,
    auth,
    get: (type) => ref.get(type),
    newUser: async () => {
      const email = uniqueEmail('medium');
      const password = `pw-${randomBytes(6).toString('hex')}`;
      const user = await auth.register({ email, password });
      return { id: user.id, email, password };
    },
    newSession: (userId, device = {}) =>
      sessions.open(userId, { userAgent: null, ipAddress: '127.0.0.1', deviceName: null, deviceType: 'unknown', ...device }),
    sessionRow: async (id) => {
      const row = await db.sessionRow(id);
      if (!row) throw new Error(`no session ${id}`);
      return row;
    },
    close: async () => {
      await ref.close();
      await db.drop();
    },
  };
}
