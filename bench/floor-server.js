'use strict';
// The floor: a bare node:http + pg server that runs, per request, the SQL the service runs for
// S1 (GET /sessions), S2 (POST /auth/refresh) and S4 (GET /auth/me) — same transaction, same
// set_config, same statement texts, same protocol, same runtime role and pool size — with no
// framework and no token cryptography: the bearer token's payload and the refresh token's claims
// are decoded, not verified. What it measures is "DB work + raw HTTP".
//
//   FLOOR_DATABASE_URL (runtime role), FLOOR_POOL_MAX, FLOOR_STATEMENT_TIMEOUT_MS, PORT, HOST,
//   FLOOR_SET_CONFIG: JSON { text, extra } — the service's set_config statement, as captured
//   FLOOR_STATEMENTS: JSON { key: { form, text } } — each statement's form (inline or bound), as captured
//
// POST /auth/refresh runs the statements a refresh needs (one UPDATE); POST /auth/refresh-mirror
// also sends the second, identical UPDATE the service sends (see hot-paths.js rotateFlush).
const http = require('node:http');
const { createHash } = require('node:crypto');
const { Pool } = require('pg');
const { SQL, RLS_SETTING, render } = require('./hot-paths');

const SET_CONFIG = process.env.FLOOR_SET_CONFIG ? JSON.parse(process.env.FLOOR_SET_CONFIG) : { text: SQL.setConfig, extra: [] };
const setUser = (client, userId) => client.query(SET_CONFIG.text, [RLS_SETTING, userId, ...SET_CONFIG.extra]);
const FORMS = process.env.FLOOR_STATEMENTS ? JSON.parse(process.env.FLOOR_STATEMENTS) : {};
/** One hot-path statement, in the form the service sends it (see hot-paths.js). */
const q = (client, key, values) => {
  const { form, text } = FORMS[key] || {};
  const r = render(key, values, form, text);
  return client.query(r.text, r.values);
};
const REFRESH_TTL_MS = 30 * 86_400_000; // the service's defaults
const ABSOLUTE_MS = 90 * 86_400_000;
const FAKE_ACCESS_TOKEN = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${'x'.repeat(220)}.${'y'.repeat(43)}`; // a JWT's length

const pool = new Pool({
  connectionString: process.env.FLOOR_DATABASE_URL,
  max: Number(process.env.FLOOR_POOL_MAX || 10),
  idleTimeoutMillis: 30_000,
  application_name: 'nra-bench-floor',
  statement_timeout: Number(process.env.FLOOR_STATEMENT_TIMEOUT_MS || 10_000),
});

const toUuid = (hex) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
const sha256 = (s) => createHash('sha256').update(s).digest('hex');

function send(res, status, body) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function bearerClaims(req) {
  const m = /^Bearer ([^.]+)\.([^.]+)\.([^.]+)$/.exec(req.headers.authorization || '');
  if (!m) return null;
  const p = JSON.parse(Buffer.from(m[2], 'base64url').toString('utf8'));
  return { userId: p.sub, sessionId: p.sid };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Runs fn(client) inside BEGIN … COMMIT (ROLLBACK on error), like the service's RLS transaction. */
async function transaction(fn) {
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

class HttpError extends Error {
  constructor(status) {
    super(String(status));
    this.status = status;
  }
}

const sessionDto = (s, current) => ({
  id: s.id,
  deviceName: s.device_name,
  deviceType: s.device_type,
  userAgent: s.user_agent,
  ipAddress: s.ip_address,
  createdAt: s.created_at.toISOString(),
  lastUsedAt: s.last_used_at.toISOString(),
  expiresAt: s.expires_at.toISOString(),
  current: s.id === current,
});

/** S1 and S4 open the same way: set_config, then the session check. */
async function authenticated(client, who) {
  await setUser(client, who.userId);
  const active = await q(client, 'isActive', [who.sessionId, new Date()]);
  if (!active.rowCount) throw new HttpError(401);
}

async function listSessions(req, res) {
  const who = bearerClaims(req);
  if (!who) throw new HttpError(401);
  const rows = await transaction(async (c) => {
    await authenticated(c, who);
    return (await q(c, 'listActive', [new Date()])).rows;
  });
  send(res, 200, rows.map((s) => sessionDto(s, who.sessionId)));
}

async function me(req, res) {
  const who = bearerClaims(req);
  if (!who) throw new HttpError(401);
  const user = await transaction(async (c) => {
    await authenticated(c, who);
    return (await q(c, 'findUser', [who.userId])).rows[0];
  });
  if (!user) throw new HttpError(401);
  send(res, 200, { id: user.id, email: user.email, displayName: user.display_name, createdAt: user.created_at.toISOString() });
}

async function refresh(req, res, mirror) {
  const token = JSON.parse(await readBody(req)).refreshToken;
  const [payloadPart, macPart] = String(token).split('.');
  const payload = Buffer.from(payloadPart, 'base64url');
  if (payload.length !== 36 || !macPart) throw new HttpError(401);
  const userId = toUuid(payload.subarray(0, 16).toString('hex'));
  const sessionId = toUuid(payload.subarray(16, 32).toString('hex'));
  const nextPayload = Buffer.from(payload);
  nextPayload.writeUInt32BE(payload.readUInt32BE(32) + 1, 32);
  const next = `${nextPayload.toString('base64url')}.${macPart}`; // not a MAC: the floor verifies nothing
  await transaction(async (c) => {
    await setUser(c, ''); // the interceptor opens every request anonymous
    await setUser(c, userId); // the refresh flow then switches to the user
    const row = (await q(c, 'lockForRefresh', [sessionId])).rows[0];
    if (!row || !row.user_active || row.user_id !== userId || row.is_revoked) throw new HttpError(401);
    const now = new Date();
    if (sha256(token) === row.refresh_token_hash) {
      if (row.expires_at <= now) throw new HttpError(401);
      const hash = sha256(next);
      const expiresAt = new Date(Math.min(now.getTime() + REFRESH_TTL_MS, row.created_at.getTime() + ABSOLUTE_MS));
      await q(c, 'rotate', [hash, now, expiresAt, sessionId]);
      if (mirror) await q(c, 'rotateFlush', [hash, now, expiresAt, sessionId]);
    } else if (sha256(next) !== row.refresh_token_hash) {
      throw new HttpError(401); // (the service would revoke here; the bench never gets here)
    } // else: a repeat of the just-rotated token (grace): same successor, no write
  });
  send(res, 200, { accessToken: FAKE_ACCESS_TOKEN, refreshToken: next, tokenType: 'Bearer', expiresIn: 900, sessionId });
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  let handler;
  if (req.method === 'GET' && path === '/sessions') handler = listSessions(req, res);
  else if (req.method === 'GET' && path === '/auth/me') handler = me(req, res);
  else if (req.method === 'POST' && path === '/auth/refresh') handler = refresh(req, res, false);
  else if (req.method === 'POST' && path === '/auth/refresh-mirror') handler = refresh(req, res, true);
  else if (req.method === 'GET' && path === '/health') return send(res, 200, { status: 'ok' });
  else return send(res, 404, { statusCode: 404 });
  handler.catch((err) => {
    if (err instanceof HttpError) return send(res, err.status, { statusCode: err.status });
    console.error(err);
    send(res, 500, { statusCode: 500 });
  });
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT || 0), process.env.HOST || '127.0.0.1', () => {
  console.log(`floor listening on ${JSON.stringify(server.address())}`);
});
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
