import { Module } from '@nestjs/common';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { AuditModule } from '../audit/audit.module';
import { PrincipalVerifier } from '../core/principal';
import { RefreshTokenCodec } from './refresh-token';
import { SessionPrincipalVerifier } from './session-principal.verifier';
import { Session } from './session.entity';
import { SessionsPurgeService } from './sessions-purge.service';
import { SessionsService } from './sessions.service';

@Module({
  imports: [MikroOrmModule.forFeature([Session]), AuditModule],
  providers: [SessionsService, SessionsPurgeService, RefreshTokenCodec, { provide: PrincipalVerifier, useClass: SessionPrincipalVerifier }],
  exports: [SessionsService, SessionsPurgeService, RefreshTokenCodec, PrincipalVerifier],
})
export class SessionsModule {}
