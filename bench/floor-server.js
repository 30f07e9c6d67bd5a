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
const http = require('node:http');
const { Pool } = require('pg');
const { SQL, RLS_SETTING, render } = require('./hot-paths');
const { pgTransaction, bearerClaims, sessionDto, userDto, decodeRefresh, decideRefresh, tokensDto } = require('./lib/floor-requests');

const SET_CONFIG = process.env.FLOOR_SET_CONFIG ? JSON.parse(process.env.FLOOR_SET_CONFIG) : { text: SQL.setConfig, extra: [] };
const setUser = (client, userId) => client.query(SET_CONFIG.text, [RLS_SETTING, userId, ...SET_CONFIG.extra]);
const FORMS = process.env.FLOOR_STATEMENTS ? JSON.parse(process.env.FLOOR_STATEMENTS) : {};
/** One hot-path statement, in the form the service sends it (see hot-paths.js). */
const q = (client, key, values) => {
  const { form, text } = FORMS[key] || {};
  const r = render(key, values, form, text);
  return client.query(r.text, r.values);
};

const pool = new Pool({
  connectionString: process.env.FLOOR_DATABASE_URL,
  max: Number(process.env.FLOOR_POOL_MAX || 10),
  idleTimeoutMillis: 30_000,
  application_name: 'nra-bench-floor',
  statement_timeout: Number(process.env.FLOOR_STATEMENT_TIMEOUT_MS || 10_000),
});


function send(res, status, body) {
  const data = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(data) });
  res.end(data);
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
const transaction = (fn) => pgTransaction(pool, fn);

class HttpError extends Error {
  constructor(status) {
    super(String(status));
    this.status = status;
  }
}


/** S1 and S4 open the same way: set_config, then the session check. */
async function authenticated(client, who) {
  await setUser(client, who.userId);
  const active = await q(client, 'isActive', [who.sessionId, new Date()]);
  if (!active.rowCount) throw new HttpError(401);
}

async function listSessions(req, res) {
  const who = bearerClaims(req.headers.authorization);
  if (!who) throw new HttpError(401);
  const rows = await transaction(async (c) => {
    await authenticated(c, who);
    return (await q(c, 'listActive', [new Date()])).rows;
  });
  send(res, 200, rows.map((s) => sessionDto(s, who.sessionId)));
}

async function me(req, res) {
  const who = bearerClaims(req.headers.authorization);
  if (!who) throw new HttpError(401);
  const user = await transaction(async (c) => {
    await authenticated(c, who);
    return (await q(c, 'findUser', [who.userId])).rows[0];
  });
  if (!user) throw new HttpError(401);
  send(res, 200, userDto(user));
}

async function refresh(req, res) {
  const claims = decodeRefresh(JSON.parse(await readBody(req)).refreshToken);
  if (!claims) throw new HttpError(401);
  await transaction(async (c) => {
    await setUser(c, claims.userId); // the refresh flow runs its own transaction as the token's user
    const row = (await q(c, 'lockForRefresh', [claims.sessionId])).rows[0];
    const now = new Date();
    const decision = decideRefresh(claims, row, now);
    if (!decision) throw new HttpError(401);
    if (decision.rotate) {
      const { hash, expiresAt } = decision.rotate;
      const values = [hash, now, expiresAt, req.headers['user-agent'] ?? null, claims.sessionId];
      await q(c, 'rotate', values);
    }
  });
  send(res, 200, tokensDto(claims));
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  let handler;
  if (req.method === 'GET' && path === '/sessions') handler = listSessions(req, res);
  else if (req.method === 'GET' && path === '/auth/me') handler = me(req, res);
  else if (req.method === 'POST' && path === '/auth/refresh') handler = refresh(req, res);
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
