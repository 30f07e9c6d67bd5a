import { Injectable } from '@nestjs/common';
import { createHash, hash, timingSafeEqual } from 'node:crypto';
import { HmacSha256 } from '../core/hmac';
import { AuthSettings } from '../core/settings';

export interface RefreshTokenClaims {
  userId: string;
  sessionId: string;
  generation: number;
}

const UUID_HEX = /^[0-9a-f]{32}$/;
const PAYLOAD_BYTES = 16 + 16 + 4;

/**
 * Refresh tokens: `base64url(userId ‖ sessionId ‖ generation) "." base64url(HMAC-SHA256)`.
 *
 * - The user id is readable before any database lookup, so the lookup can run under RLS as that user.
 * - The HMAC proves the server issued it; a forged token is rejected without touching the database.
 * - Tokens are a pure function of (user, session, generation) and the secret, so the server can
 *   re-derive the successor of a just-rotated token (grace window) and recognise an older, rotated
 *   token of a live session (reuse) — while the row stores only a SHA-256 of the current token.
 */
@Injectable()
export class RefreshTokenCodec {
  /** The MAC key's precomputed states (`HmacSha256`): a refresh computes two or three MACs. */
  private readonly macKey: HmacSha256;

  constructor(config: AuthSettings) {
    this.macKey = new HmacSha256(createHash('sha256').update('nest-rls-auth refresh v1\0').update(config.refreshToken.secret).digest());
  }

  issue(claims: RefreshTokenClaims): string {
    const payload = Buffer.alloc(PAYLOAD_BYTES);
    Buffer.from(claims.userId.replace(/-/g, ''), 'hex').copy(payload, 0);
    Buffer.from(claims.sessionId.replace(/-/g, ''), 'hex').copy(payload, 16);
    payload.writeUInt32BE(claims.generation, 32);
    return `${payload.toString('base64url')}.${this.mac(payload).toString('base64url')}`;
  }

  /** The claims of a token this server issued, or null for anything else (malformed or forged). */
  parse(token: unknown): RefreshTokenClaims | null {
    if (typeof token !== 'string' || token.length > 200) return null;
    const parts = token.split('.');
    if (parts.length !== 2 || !/^[A-Za-z0-9_-]+$/.test(parts[0]) || !/^[A-Za-z0-9_-]+$/.test(parts[1])) return null;
    const payload = Buffer.from(parts[0], 'base64url');
    const mac = Buffer.from(parts[1], 'base64url');
    if (payload.length !== PAYLOAD_BYTES || mac.length !== 32) return null;
    // Canonical encoding only, so one token has exactly one spelling (and one hash).
    if (payload.toString('base64url') !== parts[0] || mac.toString('base64url') !== parts[1]) return null;
    if (!timingSafeEqual(mac, this.mac(payload))) return null;
    const userHex = payload.subarray(0, 16).toString('hex');
    const sessionHex = payload.subarray(16, 32).toString('hex');
    if (!UUID_HEX.test(userHex) || !UUID_HEX.test(sessionHex)) return null;
    return { userId: toUuid(userHex), sessionId: toUuid(sessionHex), generation: payload.readUInt32BE(32) };
  }

  /** What the database stores: SHA-256 (hex) of the token. */
  hash(token: string): string {
    // The one-shot `crypto.hash` is a quarter of the cost of a `createHash` object for a short input.
    return hash('sha256', token, 'hex');
  }

  /** Constant-time comparison of two hex hashes. */
  sameHash(a: string, b: string): boolean {
    const x = Buffer.from(a, 'utf8');
    const y = Buffer.from(b, 'utf8');
    return x.length === y.length && timingSafeEqual(x, y);
  }

  private mac(payload: Buffer): Buffer {
    return this.macKey.digest(payload);
  }
}

function toUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
