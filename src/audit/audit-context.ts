import { AsyncLocalStorage } from 'node:async_hooks';

/** Who is at the other end of the request an event happens in, as sessions record it. */
export interface AuditClientContext {
  ipAddress: string | null;
  userAgent: string | null;
}

const storage = new AsyncLocalStorage<AuditClientContext>();

/**
 * Runs `fn` with `context` as the client of every event recorded inside it (unless the event names
 * its own). The module's routes set it for their handlers (AuditContextInterceptor), so a service
 * deep inside a request need not be handed the request.
 */
export function runWithAuditContext<T>(context: AuditClientContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentAuditContext(): AuditClientContext | undefined {
  return storage.getStore();
}
