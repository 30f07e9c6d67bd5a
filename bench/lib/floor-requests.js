'use strict';
// What the floors (floor-server.js, stack-floor.js) share: the pg transaction, and what they do
// with a request besides SQL: read the bearer
// token's claims (decoded, not verified), shape the responses, and decide a refresh the way the
// service does — with no token cryptography: the refresh token's claims are decoded and its
// successor carries a dummy MAC.
const { createHash } = require('node:crypto');
const { SQL } = require('../hot-paths');

const REFRESH_TTL_MS = 30 * 86_400_000; // the service's defaults
const ABSOLUTE_MS = 90 * 86_400_000;
const FAKE_ACCESS_TOKEN = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${'x'.repeat(220)}.${'y'.repeat(43)}`; // a JWT's length

const toUuid = (hex) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
const sha256 = (s) => createHash('sha256').update(s).digest('hex');
/** Timestamps arrive as Date (pg) or as text (MikroORM's connection leaves them for its hydration). */
const date = (v) => (v instanceof Date ? v : new Date(v));

/** { userId, sessionId } from `Authorization: Bearer <jwt>`, or null. */
function bearerClaims(authorization) {
  const m = /^Bearer ([^.]+)\.([^.]+)\.([^.]+)$/.exec(authorization || '');
  if (!m) return null;
  const p = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8'));
  return { userId: p.sub, sessionId: p.sid };
}

const sessionDto = (s, current) => ({
  id: s.id,
  deviceName: s.device_name,
  deviceType: s.device_type,
  userAgent: s.user_agent,
  ipAddress: s.ip_address,
  createdAt: date(s.created_at).toISOString(),
  lastUsedAt: date(s.last_used_at).toISOString(),
  expiresAt: date(s.expires_at).toISOString(),
  current: s.id === current,
});

const userDto = (u) => ({ id: u.id, email: u.email, displayName: u.display_name, createdAt: date(u.created_at).toISOString() });

/** The refresh token's claims and its successor (generation + 1, same dummy MAC), or null. */
function decodeRefresh(token) {
  const [payloadPart, macPart] = String(token).split('.');
  const payload = Buffer.from(payloadPart || '', 'base64url');
  if (payload.length !== 36 || !macPart) return null;
  const nextPayload = Buffer.from(payload);
  nextPayload.writeUInt32BE(payload.readUInt32BE(32) + 1, 32);
  return {
    token: String(token),
    userId: toUuid(payload.subarray(0, 16).toString('hex')),
    sessionId: toUuid(payload.subarray(16, 32).toString('hex')),
    next: `${nextPayload.toString('base64url')}.${macPart}`,
  };
}

/**
 * The service's decision on a locked session row: `{ rotate: { hash, expiresAt } }` (the current
 * token), `{ grace: true }` (a repeat of the just-rotated one: same successor, no write) or null
 * (refused; the bench never gets there).
 */
function decideRefresh(claims, row, now) {
  if (!row || !row.user_active || row.user_id !== claims.userId || row.is_revoked) return null;
  if (sha256(claims.token) === row.refresh_token_hash) {
    if (date(row.expires_at) <= now) return null;
    const expiresAt = new Date(Math.min(now.getTime() + REFRESH_TTL_MS, date(row.created_at).getTime() + ABSOLUTE_MS));
    return { rotate: { hash: sha256(claims.next), expiresAt } };
  }
  return sha256(claims.next) === row.refresh_token_hash ? { grace: true } : null;
}

const tokensDto = (claims) => ({ accessToken: FAKE_ACCESS_TOKEN, refreshToken: claims.next, tokenType: 'Bearer', expiresIn: 900, sessionId: claims.sessionId });

/** Runs fn(client) inside BEGIN … COMMIT (ROLLBACK on error) on a client of a pg pool. */
async function pgTransaction(pool, fn) {
  const client = await pool.connect();
  try {
    await client.query(SQL.begin);
    const out = await fn(client);
    await client.query(SQL.commit);
    return out;
  } catch (err) {
    await client.query(SQL.rollback).catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

module.exports = { pgTransaction,  bearerClaims, sessionDto, userDto, decodeRefresh, decideRefresh, tokensDto };
