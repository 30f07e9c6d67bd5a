import * as api from '../src';
import type {
  AdminActionOptions,
  AdminRevocationReason,
  AdminSession,
  AdminUser,
  AuditEventInput,
  AuthEvent,
  AuthEventType,
  Page,
  PageRequest,
  UserRole,
  RoleChange,
  AuthModuleExtras,
  AuthModuleOptions,
  AuthPrincipal,
  DeviceType,
  MigrationCommand,
  MigrationStatus,
  PublicJwk,
  ResourceServerOptions,
  RevocationReason,
  RlsPrincipal,
} from '../src';

/**
 * The package's public API is exactly what src/index.ts exports. Adding a name is a decision (it
 * becomes a promise to host apps); this list makes it a visible one.
 */
const EXPECTED_VALUE_EXPORTS = [
  // modules and their options
  'AuthModule',
  'ResourceServerModule',
  'AuthSettings',
  'AUTH_DEFAULTS',
  'SettingsError',
  // request context: Row Level Security
  'RlsContext',
  'PrincipalVerifier',
  'RlsInterceptor',
  'WithoutRlsTransaction',
  'Clock',
  // guards and decorators
  'JwtAuthGuard',
  'AuthRateLimitGuard',
  'CurrentSession',
  'CurrentUser',
  'Public',
  // services
  'AuthService',
  'SessionsService',
  'AccessTokenKeys',
  // operators and the audit log
  'AdminSessionsService',
  'ADMIN_REVOCATION_REASONS',
  'AuditLogService',
  'AUTH_EVENT_TYPES',
  'AdminSessionDto',
  'AdminSessionPageDto',
  'AdminUserDto',
  'AuthEventDto',
  'AuthEventPageDto',
  // DTOs
  'ChangePasswordDto',
  'LoginDto',
  'RefreshDto',
  'RegisterDto',
  'TokensDto',
  'UserDto',
  'RenameSessionDto',
  'RevokedCountDto',
  'RevokeSessionsQueryDto',
  'SessionDto',
  'ErrorDto',
  // errors
  'AppErrorCode',
  'AppException',
  'AppExceptionFilter',
  // schema
  'AUTH_ENTITIES',
  'User',
  'USER_ROLES',
  'Session',
  'DEVICE_TYPES',
  'REVOCATION_REASONS',
  'MIGRATIONS_DIR',
  'runMigrations',
  'ensureRuntimeRole',
  'RUNTIME_GROUP_ROLE',
  'setUserRole',
];

/** Type-only exports: this fails to compile (npm run typecheck, ts-jest) if one goes missing. */
export type ExpectedTypeExports = [
  AdminActionOptions,
  AdminRevocationReason,
  AdminSession,
  AdminUser,
  AuditEventInput,
  AuthEvent,
  AuthEventType,
  Page<unknown>,
  PageRequest,
  UserRole,
  RoleChange,
  AuthModuleExtras,
  AuthModuleOptions,
  AuthPrincipal,
  DeviceType,
  MigrationCommand,
  MigrationStatus,
  PublicJwk,
  ResourceServerOptions,
  RevocationReason,
  RlsPrincipal,
];

describe('public API (src/index.ts)', () => {
  it('exports exactly the expected runtime names', () => {
    expect(Object.keys(api).sort()).toEqual([...EXPECTED_VALUE_EXPORTS].sort());
  });

  it('exports no runtime value that is undefined (a re-export of a missing name)', () => {
    const undefinedExports = Object.entries(api)
      .filter(([, value]) => value === undefined)
      .map(([name]) => name);
    expect(undefinedExports).toEqual([]);
  });

  it('keeps internals out: key implementations, the strategy, repositories, config and the database launcher', () => {
    const internals = [
      'LocalAccessTokenKeys',
      'RemoteJwksKeys',
      'JwtStrategy',
      'AccessTokenService',
      'SessionsRepository',
      'AdminRepository',
      'AuthEventsRepository',
      'SessionPrincipalVerifier',
      'RefreshTokenCodec',
      'AppConfig',
      'loadConfig',
      'authOptionsFromConfig',
      'resolveAuthSettings',
      'AUTH_MODULE_OPTIONS',
      'SessionsModule',
      'UsersModule',
      'prepareDatabase',
      'EmbeddedDatabase',
      'AppModule',
      'configureApp',
    ];
    expect(internals.filter((name) => name in api)).toEqual([]);
  });
});

describe('the verify-only entry (nest-rls-auth/resource-server, src/resource-server.ts)', () => {
  it('exports the resource-server module, the guard, the decorators and the error shape, and nothing of the database', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const rs = require('../src/resource-server') as Record<string, unknown>;
    expect(Object.keys(rs).sort()).toEqual(
      ['AccessTokenKeys', 'AppExceptionFilter', 'CurrentSession', 'CurrentUser', 'ErrorDto', 'JwtAuthGuard', 'Public', 'ResourceServerModule'].sort(),
    );
    // The same classes as the full entry: a host may mix imports from both.
    expect(rs.JwtAuthGuard).toBe(api.JwtAuthGuard);
    expect(rs.ResourceServerModule).toBe(api.ResourceServerModule);
  });
});
