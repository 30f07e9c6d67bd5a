/**
 * nest-rls-auth — the public API for Nest apps that import the modules.
 * Anything not exported here is internal and may change.
 */

// Modules and their options
export { AuthModule } from './auth/auth.module';
export type { AuthModuleExtras } from './auth/auth.module-definition';
export { AUTH_DEFAULTS, AuthSettings, SettingsError } from './core/settings';
export type { AccessTokenAlgorithm, AuthModuleOptions, PreviousPublicKey, RateLimitSettings } from './core/settings';
export { ResourceServerModule } from './auth/resource-server.module';
export type { ResourceServerOptions } from './auth/remote-jwks';

// Request context: Row Level Security
export { RlsContext } from './database/rls.context';
export { RlsInterceptor } from './database/rls.interceptor';
export { PrincipalVerifier } from './core/principal';
export type { RlsPrincipal } from './core/principal';
export { WithoutRlsTransaction } from './core/decorators';
export { Clock } from './core/clock';

// Guards and decorators
export { JwtAuthGuard } from './auth/jwt-auth.guard';
export { AuthRateLimitGuard } from './auth/rate-limit';
export { CurrentSession, CurrentUser, Public } from './core/decorators';
export type { AuthPrincipal } from './core/decorators';

// Services a host app may call
export { AuthService } from './auth/auth.service';
export { SessionsService } from './sessions/sessions.service';
export { AccessTokenKeys } from './auth/access-token-keys';
export type { PublicJwk } from './auth/access-token-keys';

// Operators and the audit log (migration 000007)
export { AdminSessionsService, ADMIN_REVOCATION_REASONS } from './admin/admin-sessions.service';
export type { AdminActionOptions, AdminRevocationReason } from './admin/admin-sessions.service';
export type { AdminSession, AdminUser } from './admin/admin.repository';
export { AuditLogService } from './audit/audit-log.service';
export { AUTH_EVENT_TYPES } from './audit/audit-event';
export type { AuditEventInput, AuthEvent, AuthEventType, Page, PageRequest } from './audit/audit-event';
export { AdminSessionDto, AdminSessionPageDto, AdminUserDto } from './admin/admin.dto';
export { AuthEventDto, AuthEventPageDto } from './audit/auth-event.dto';

// DTOs
export { ChangePasswordDto, LoginDto, RefreshDto, RegisterDto, TokensDto, UserDto } from './auth/auth.dto';
export { RenameSessionDto, RevokedCountDto, RevokeSessionsQueryDto, SessionDto } from './sessions/session.dto';
export { ErrorDto } from './core/error.dto';

// Errors
export { AppErrorCode, AppException } from './core/app.exception';
export { AppExceptionFilter } from './core/app-exception.filter';

// Schema: entities for a host's own MikroORM instance, and the migrations
export { AUTH_ENTITIES } from './auth/orm-options';
export { User, USER_ROLES } from './users/user.entity';
export type { UserRole } from './users/user.entity';
export { Session, DEVICE_TYPES, REVOCATION_REASONS } from './sessions/session.entity';
export type { DeviceType, RevocationReason } from './sessions/session.entity';
export { MIGRATIONS_DIR, runMigrations } from './database/migrations';
export type { MigrationCommand, MigrationStatus } from './database/migrations';
export { ensureRuntimeRole, RUNTIME_GROUP_ROLE } from './database/runtime-role';
export { setUserRole } from './users/user-roles';
export type { RoleChange } from './users/user-roles';
