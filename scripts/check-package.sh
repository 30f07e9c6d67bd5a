#!/usr/bin/env bash
# Builds the package, packs it with `npm pack`, and checks the tarball the way a consumer meets it:
# its contents, then installed into a scratch project (peers installed by npm), loaded with
# require() and with import(), and its type declarations compiled against with strict TypeScript
# (a wrongly typed use must fail to compile, so the types are really there).
# Run as `npm run test:package`; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tsc=("node" "$root/node_modules/typescript/bin/tsc")
started=$(date +%s)

work=$(mktemp -d "${TMPDIR:-/tmp}/nra-package-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

fail() {
  echo "check-package: FAIL: $*" >&2
  exit 1
}

echo "== build ($(($(date +%s) - started))s)"
npm run build --silent

echo "== pack ($(($(date +%s) - started))s)"
tarball_name=$(npm pack --silent --pack-destination "$work" | tail -n 1)
tarball="$work/$tarball_name"
[[ -f "$tarball" ]] || fail "npm pack did not produce $tarball"
contents=$(tar -tzf "$tarball")

for required in package/package.json package/dist/index.js package/dist/index.d.ts; do
  grep -qx "$required" <<<"$contents" || fail "tarball lacks $required"
done
grep -qE '^package/migrations/[^/]+\.up\.sql$' <<<"$contents" || fail "tarball lacks migrations/*.up.sql"
grep -qE '^package/migrations/[^/]+\.down\.sql$' <<<"$contents" || fail "tarball lacks migrations/*.down.sql"
unwanted=$(grep -E '^package/(test|src|\.data|bench|node_modules|scripts|\.ci)/|^package/dist/\.tsbuildinfo$|\.map$|^package/\.env' <<<"$contents" || true)
[[ -z "$unwanted" ]] || fail "tarball contains files it must not ship:
$unwanted"
echo "tarball $tarball_name: $(wc -l <<<"$contents") files, contents ok"

echo "== install into a scratch project ($(($(date +%s) - started))s)"
app="$work/consumer"
mkdir -p "$app"
cat >"$app/package.json" <<'JSON'
{ "name": "nra-package-consumer", "version": "1.0.0", "private": true }
JSON
# The consumer pins MikroORM to the version this repo is tested with (the design pins it, and the
# registry here has @mikro-orm/postgresql 6.6.17 without a matching @mikro-orm/knex, so an unpinned
# ">=6.6.16 <7" can fail to install); the other peers (@nestjs/*) are left for npm to install.
# @types/node: what a TypeScript consumer has anyway. Versions: the repo's devDependencies.
pinned=$(node -p "
  const { devDependencies: dev } = require('./package.json');
  ['@mikro-orm/core', '@mikro-orm/postgresql', '@mikro-orm/migrations', '@mikro-orm/nestjs', '@types/node'].map((n) => n + '@' + dev[n]).join(' ')
")
# shellcheck disable=SC2086 # $pinned is a list of package specs
(cd "$app" && npm install --no-audit --no-fund --prefer-offline --loglevel=error "$tarball" $pinned >/dev/null) \
  || fail "npm install of the tarball failed"
[[ -f "$app/node_modules/nest-rls-auth/dist/index.js" ]] || fail "the package is not installed"
for peer in @nestjs/common @nestjs/core @nestjs/jwt @nestjs/passport @nestjs/swagger @nestjs/throttler; do
  [[ -f "$app/node_modules/$peer/package.json" ]] || fail "npm did not install the peer dependency $peer"
done

echo "== require() ($(($(date +%s) - started))s)"
(cd "$app" && node -e "
  const m = require('nest-rls-auth');
  for (const k of ['AuthModule','SessionsModule','RlsInterceptor','RlsContext','JwtAuthGuard','Public','CurrentUser','CurrentSession','LoginDto','TokensDto','AUTH_ENTITIES','runMigrations'])
    if (!m[k]) throw new Error('missing ' + k);
  for (const k of ['LocalAccessTokenKeys','JwtStrategy','SessionsRepository','AppConfig','loadConfig','prepareDatabase','EmbeddedDatabase'])
    if (k in m) throw new Error('internal name exported: ' + k);
  if (typeof m.AuthModule.forRootAsync !== 'function' || typeof m.AuthModule.forResourceServer !== 'function') throw new Error('AuthModule lacks its static builders');
  const sql = require('fs').readdirSync(m.MIGRATIONS_DIR).filter((f) => f.endsWith('.up.sql'));
  if (sql.length === 0) throw new Error('MIGRATIONS_DIR has no migrations: ' + m.MIGRATIONS_DIR);
  const main = require.resolve('nest-rls-auth');
  if (!main.endsWith('node_modules/nest-rls-auth/dist/index.js')) throw new Error('resolved to ' + main);
") || fail "require('nest-rls-auth') does not expose the public API"

echo "== import() ($(($(date +%s) - started))s)"
(cd "$app" && node --input-type=module -e "
  import('nest-rls-auth').then((m) => {
    if (!m.AuthModule || !m.JwtAuthGuard || !m.default || m.default.AuthModule !== m.AuthModule) process.exit(1);
  }, (err) => { console.error(err); process.exit(1); });
") || fail "import('nest-rls-auth') does not expose the public API"

echo "== types ($(($(date +%s) - started))s)"
cat >"$app/uses-types.ts" <<'TS'
import { DynamicModule } from '@nestjs/common';
import { AuthModule, AuthModuleOptions, CurrentUser, JwtAuthGuard, ResourceServerOptions, TokensDto } from 'nest-rls-auth';

const options: AuthModuleOptions = {
  accessToken: { secret: 'a'.repeat(32), ttlSeconds: 900 },
  refreshToken: { secret: 'b'.repeat(32) },
  database: { url: 'postgres://app@localhost/app' },
  registerGlobalGuard: true,
};
const auth: DynamicModule = AuthModule.forRootAsync({ useHostOrm: false, routePrefix: 'api', useFactory: () => options });
const rs: ResourceServerOptions = { jwksUri: 'https://auth.example.com/.well-known/jwks.json', issuer: 'i', audience: 'a' };
const rsModule: DynamicModule = AuthModule.forResourceServer(rs);
function read(tokens: TokensDto): string {
  return tokens.accessToken;
}
class HostGuard extends JwtAuthGuard {}
export { auth, rsModule, read, HostGuard, CurrentUser };
TS
cat >"$app/uses-types.mts" <<'TS'
import { AuthModule, type AuthModuleOptions } from 'nest-rls-auth';
const options: AuthModuleOptions = { accessToken: { secret: 'a'.repeat(32) }, refreshToken: { secret: 'b'.repeat(32) } };
export const auth = AuthModule.forRoot(options);
TS
# Each line is one misuse that strict TypeScript must refuse; if the declarations did not resolve,
# these would compile as `any`.
misuses=(
  "import { AuthModuleOptions } from 'nest-rls-auth'; export const o: AuthModuleOptions = { accessToken: { secret: 42 }, refreshToken: { secret: 'x' } };"
  "import { AuthModuleOptions } from 'nest-rls-auth'; export const o: AuthModuleOptions = { accessToken: { secret: 'x' } };"
  "import { TokensDto } from 'nest-rls-auth'; export const n = (t: TokensDto): number => t.accessToken;"
  "import { AuthModule } from 'nest-rls-auth'; export const m = AuthModule.forResourceServer({ jwksUri: 'x' });"
  "import { NoSuchExport } from 'nest-rls-auth'; export const x = NoSuchExport;"
)
# Peer packages' own typings are not this package's concern (skipLibCheck), but its declarations
# must resolve: the misuses below prove they are not silently `any`.
tsc_flags=(--noEmit --strict --esModuleInterop --experimentalDecorators --emitDecoratorMetadata --skipLibCheck --target ES2022 --types node)
(cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module commonjs --moduleResolution node10 uses-types.ts) \
  || fail "a correct use of the types does not compile (CommonJS resolution)"
(cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module nodenext --moduleResolution nodenext uses-types.ts uses-types.mts) \
  || fail "a correct use of the types does not compile (Node16+ resolution through package.json exports)"
# All misuses in one compiler run (each file is checked on its own): every file must have an error.
misuse_files=()
for i in "${!misuses[@]}"; do
  printf '%s\n' "${misuses[$i]}" >"$app/misuse-$i.ts"
  misuse_files+=("misuse-$i.ts")
done
if (cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module commonjs --moduleResolution node10 "${misuse_files[@]}" >"$work/misuse.log" 2>&1); then
  fail "misuses compiled, so the types are not enforced"
fi
for i in "${!misuses[@]}"; do
  grep -q "^misuse-$i\.ts([0-9,]*): error TS" "$work/misuse.log" || fail "this misuse compiled, so the types are not enforced: ${misuses[$i]}
$(cat "$work/misuse.log")"
done
echo "types ok: correct uses compile, ${#misuses[@]} misuses are refused"

echo "check-package: OK in $(($(date +%s) - started))s"
