/**
 * nest-rls-auth — the public API for Nest apps that import the modules.
 * Anything not exported here is internal and may change.
 */

// Modules and their options
export { AuthModule, ResourceServerModule } from './auth/auth.module';
export { AUTH_MODULE_OPTIONS } from './auth/auth.module-definition';
export type { AuthModuleExtras } from './auth/auth.module-definition';
export { AuthSettings } from './auth/auth-settings';
export type { AuthModuleOptions } from './auth/auth-settings';
export type { ResourceServerOptions } from './auth/remote-jwks';
export { SessionsModule } from './sessions/sessions.module';
export { UsersModule } from './users/users.module';

// Request context: Row Level Security
export { RlsContext } from './database/rls.context';
export { PrincipalVerifier, RlsInterceptor, WithoutRlsTransaction } from './database/rls.interceptor';
export type { RlsPrincipal } from './database/rls.interceptor';
export { Clock } from './database/clock';

// Guards and decorators
export { JwtAuthGuard } from './auth/jwt-auth.guard';
export { AuthRateLimitGuard } from './auth/rate-limit';
export { CurrentSession, CurrentUser, Public } from './auth/decorators';
export type { AuthPrincipal } from './auth/decorators';

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
export { ErrorDto } from './common/error.dto';

// Errors
export { AppErrorCode, AppException } from './common/app.exception';
export { AppExceptionFilter } from './common/app-exception.filter';

// Schema: entities for a host's own MikroORM instance, and the migrations
export { AUTH_ENTITIES } from './database/orm-options';
export { User, USER_ROLES } from './users/user.entity';
export type { UserRole } from './users/user.entity';
export { Session, DEVICE_TYPES, REVOCATION_REASONS } from './sessions/session.entity';
export type { DeviceType, RevocationReason } from './sessions/session.entity';
export { MIGRATIONS_DIR, runMigrations } from './database/migrations';
export type { MigrationCommand, MigrationStatus } from './database/migrations';
export { ensureRuntimeRole, RUNTIME_GROUP_ROLE } from './database/runtime-role';
export { setUserRole } from './database/user-roles';
export type { RoleChange } from './database/user-roles';
