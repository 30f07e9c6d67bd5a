import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AdminAccessInterceptor } from './admin-access.interceptor';
import { AdminSessionsService } from './admin-sessions.service';
import { AdminController } from './admin.controller';
import { AdminRepository } from './admin.repository';

/** The /admin routes and `AdminSessionsService`. Needs RlsContext and Clock, which AuthModule (global) provides. */
@Module({
  imports: [AuditModule],
  controllers: [AdminController],
  providers: [AdminSessionsService, AdminRepository, AdminAccessInterceptor],
  exports: [AdminSessionsService],
})
export class AdminModule {}
