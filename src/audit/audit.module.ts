import { Module } from '@nestjs/common';
import { AuditLogService } from './audit-log.service';
import { AuthEventsRepository } from './auth-events.repository';

/** The audit log. Needs RlsContext and Clock, which AuthModule (global) provides. */
@Module({
  providers: [AuditLogService, AuthEventsRepository],
  exports: [AuditLogService, AuthEventsRepository],
})
export class AuditModule {}
