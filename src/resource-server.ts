/**
 * nest-rls-auth/resource-server — verify-only mode for services that accept the issuer's access
 * tokens and have no database of their own. Importing this entry loads neither MikroORM, nor `pg`,
 * nor the embedded database: a verify-only host installs only `@nestjs/*`, passport and this package.
 */
export { ResourceServerModule } from './auth/resource-server.module';
export type { ResourceServerOptions } from './auth/remote-jwks';
export { JwtAuthGuard } from './auth/jwt-auth.guard';
export { AccessTokenKeys } from './auth/access-token-keys';
export { CurrentSession, CurrentUser, Public } from './core/decorators';
export type { AuthPrincipal } from './core/principal';
export { AppExceptionFilter } from './core/app-exception.filter';
export { ErrorDto } from './core/error.dto';
