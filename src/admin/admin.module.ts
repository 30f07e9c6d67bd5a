import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AdminAccessInterceptor } from './admin-access.interceptor';
import { AdminSessionsService } from './admin-sessions.service';
import { AdminRepository } from './admin.repository';

/** `AdminSessionsService` and the admin check of the /admin routes (their controller is composed in AuthModule). Needs RlsContext and Clock, which AuthModule (global) provides. */
@Module({
  imports: [AuditModule],
  providers: [AdminSessionsService, AdminRepository, AdminAccessInterceptor],
  exports: [AdminSessionsService, AdminAccessInterceptor],
})
export class AdminModule {}
