import { isIP } from 'node:net';
import { AppErrorCode, AppException } from '../core/app.exception';

/**
 * Opaque keyset cursors: the sort key of the last row of a page (e.g. a timestamp and an id),
 * base64url-encoded JSON. Not signed: a cursor only says where to resume a list the caller may read
 * anyway. Anything malformed is a 400, never a database error.
 */
export function encodeCursor(parts: string[]): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export type CursorPart = 'timestamp' | 'uuid' | 'ip';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** As the database writes it in `page_key`: UTC with microseconds. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const MAX_CURSOR_LENGTH = 200;

export function decodeCursor(cursor: string | undefined, shape: CursorPart[]): string[] | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const invalid = () => new AppException(AppErrorCode.INVALID_CURSOR);
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parts) || parts.length !== shape.length) throw invalid();
  shape.forEach((kind, i) => {
    const part: unknown = parts[i];
    const ok =
      typeof part === 'string' &&
      (kind === 'uuid' ? UUID.test(part) : kind === 'ip' ? isInet(part) : TIMESTAMP.test(part) && !Number.isNaN(Date.parse(part)));
    if (!ok) throw invalid();
  });
  return parts as string[];
}

/** An `inet` value as PostgreSQL prints it: an address, with a prefix length when it is not a single host. */
function isInet(text: string): boolean {
  const [address, prefix, ...rest] = text.split('/');
  if (rest.length > 0 || text.includes('%') || isIP(address) === 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (isIP(address) === 4 ? 32 : 128));
}

/** `limit` as a page size: the default when absent, otherwise a whole number within 1..max. */
export function pageSize(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return fallback;
  return Math.min(max, Math.max(1, Math.floor(limit)));
}

/**
 * A page from up to `limit + 1` rows fetched in order: the extra row only says that there is a next
 * page, whose cursor is the position of the last row kept.
 */
export function pageOf<R, T>(rows: R[], limit: number, position: (row: R) => string[], map: (row: R) => T): { items: T[]; nextCursor: string | null } {
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1];
  return { items: kept.map(map), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null };
}
