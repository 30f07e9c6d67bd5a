import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import { PrincipalCheck, TokenOnlyPrincipalCheck } from '../core/principal';
import { AccessTokenKeys } from './access-token-keys';
import { JwtAuthGuard } from './jwt-auth.guard';
import { JwtStrategy } from './jwt.strategy';
import { RemoteJwksKeys, ResourceServerOptions } from './remote-jwks';

/**
 * Verify-only mode for another service: the bearer guard and the decorators, with tokens checked
 * against the issuer's JWKS (cached; fetched again for an unknown `kid`). No database: the session
 * check of the issuing service does not apply, so a revoked session's access token stays valid
 * here until it expires (ACCESS_TOKEN_TTL, 15 minutes by default).
 *
 * Import it from `nest-rls-auth/resource-server`: that entry loads neither MikroORM nor `pg`.
 */
@Module({})
export class ResourceServerModule {
  static forRoot(options: ResourceServerOptions): DynamicModule {
    return {
      module: ResourceServerModule,
      global: true,
      imports: [PassportModule],
      providers: [
        { provide: AccessTokenKeys, useValue: new RemoteJwksKeys(options) },
        // No session store here: a token is honoured until it expires (see above).
        { provide: PrincipalCheck, useClass: TokenOnlyPrincipalCheck },
        JwtStrategy,
        JwtAuthGuard,
        ...(options.registerGlobalGuard === false ? [] : [{ provide: APP_GUARD, useExisting: JwtAuthGuard }]),
      ],
      exports: [AccessTokenKeys, PrincipalCheck, JwtAuthGuard],
    };
  }
}
