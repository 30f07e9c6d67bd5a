#!/usr/bin/env bash
# Packs the package with `npm pack` from no build (its prepare script builds dist/, as on a fresh
# clone), and checks the tarball the way a host app meets it:
#   1. its contents;
#   2. installed into examples/host-app (a NestJS 12 + MikroORM 7.2 app, copied to a scratch folder),
#      whose package.json pins the peer set at this repo's devDependency versions (checked here), with
#      --strict-peer-deps: npm must report no ERESOLVE and no peer-dependency warning, and the app's
#      `overrides` (the same as this package.json's: kysely, see below) must leave exactly one kysely,
#      at the overridden version;
#   3. loaded with require() and with import();
#   4. its type declarations compiled against with strict TypeScript 6 — CommonJS (TS 6's default
#      resolution for `--module commonjs`, and the legacy node10 resolution of TS 5 hosts) and
#      nodenext — where wrongly typed uses must fail to compile (so the types are really there);
#   5. the example app for real: built with its own tsconfig (nest new's: nodenext, isolatedModules,
#      strict); its migration script run twice on a scratch database on PostgreSQL (TEST_DATABASE_URL,
#      a superuser server URL; default postgres://postgres@127.0.0.1:5432/): the package's migrations,
#      its runtime role (this run's own name) and the app's notes table under RLS; then the app
#      started and driven over HTTP (scripts/package-host/harness.cjs drive): sign-in through the
#      module, the guarded route, A never sees B's notes, a write for another user answers 403, the
#      error bodies, logout refusing the next request; its log must hold no warning or error but the
#      403's, and each security event on one line.
# The scratch database and the run's runtime role are dropped at exit, and the app stopped.
# Runs on the Node of node_modules/.bin (the repo's pinned Node 24). Run as `npm run test:package`;
# exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
node_bin="$root/node_modules/.bin/node"
[[ -x "$node_bin" ]] || { echo "check-package: FAIL: $node_bin is missing: run npm install" >&2; exit 1; }
# npm's own shebang is `env node`: put the repo's Node first for every npm and node started below.
export PATH="$root/node_modules/.bin:$PATH"
tsc=("$node_bin" "$root/node_modules/typescript/bin/tsc")
started=$(date +%s)
phase_started=$started
phase() {
  local now
  now=$(date +%s)
  echo "== $* (started at $((now - started))s; the previous phase took $((now - phase_started))s)"
  phase_started=$now
}

app_pid=
stop_app() {
  [[ -n "$app_pid" ]] || return 0
  if kill -0 "$app_pid" 2>/dev/null; then
    kill -TERM "$app_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$app_pid" 2>/dev/null; then
      echo "check-package: the host app did not stop within 10s of SIGTERM; killing it" >&2
      kill -KILL "$app_pid" 2>/dev/null || true
      wait "$app_pid" 2>/dev/null || true
      app_pid=
      return 1
    fi
  fi
  wait "$app_pid" 2>/dev/null || true
  app_pid=
}

cleanup() {
  local status=$? cleanup_started
  cleanup_started=$(date +%s)
  trap - EXIT
  stop_app || true
  if [[ -f "$work/created-db" || -f "$work/created-role" ]]; then
    "$node_bin" "$root/scripts/package-host/harness.cjs" teardown \
      || echo "check-package: WARNING: could not drop the scratch database $NRA_DB / role $NRA_ROLE on the server" >&2
  fi
  rm -rf "$work"
  echo "check-package: cleaned up in $(($(date +%s) - cleanup_started))s" >&2
  exit "$status"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/nra-package-check.XXXXXX")
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
app="$work/consumer"
server_url=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/}
run_id=$("$node_bin" -p "require('crypto').randomBytes(6).toString('hex')")
# What the harness (scripts/package-host/harness.cjs) works on; roles are cluster-wide, so the
# runtime role's name is this run's own.
export NRA_REPO_ROOT="$root" NRA_SERVER_URL="$server_url" NRA_STATE_DIR="$work"
export NRA_DB="nra_pkg_$run_id" NRA_ROLE="nra_pkg_app_$run_id"
NRA_ROLE_PASSWORD=$("$node_bin" -p "require('crypto').randomBytes(24).toString('base64url')")
export NRA_ROLE_PASSWORD

fail() {
  echo "check-package: FAIL: $*" >&2
  exit 1
}

echo "check-package: node $("$node_bin" -v), npm $(npm -v), TypeScript $("${tsc[@]}" -v | sed 's/^Version //')"

phase "PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/)"
"$node_bin" "$root/scripts/package-host/harness.cjs" check || fail "no PostgreSQL server to run the host app against (above)"

phase "pack (from no build: the prepare script must build dist/)"
# No dist/ before `npm pack`, so the tarball holds dist/ only if the prepare script built it (npm pack
# runs it, and so does npm for a git dependency, which has no prepack step).
rm -rf "$root/dist"
tarball_name=$(npm pack --silent --pack-destination "$work" | tail -n 1)
tarball="$work/$tarball_name"
[[ -f "$tarball" ]] || fail "npm pack did not produce $tarball"
contents=$(tar -tzf "$tarball")

for required in package/package.json package/dist/index.js package/dist/index.d.ts; do
  grep -qx "$required" <<<"$contents" || fail "tarball lacks $required"
done
grep -qE '^package/migrations/[^/]+\.up\.sql$' <<<"$contents" || fail "tarball lacks migrations/*.up.sql"
grep -qE '^package/migrations/[^/]+\.down\.sql$' <<<"$contents" || fail "tarball lacks migrations/*.down.sql"
unwanted=$(grep -E '^package/(test|src|examples|\.data|bench|node_modules|scripts|\.ci)/|^package/dist/\.tsbuildinfo$|\.map$|^package/\.env' <<<"$contents" || true)
[[ -z "$unwanted" ]] || fail "tarball contains files it must not ship:
$unwanted"
echo "tarball $tarball_name: $(wc -l <<<"$contents") files, contents ok"

phase "install into examples/host-app (a NestJS 12 + MikroORM 7.2 host: its pinned peers, --strict-peer-deps)"
example="$root/examples/host-app"
mkdir -p "$app"
# The example as a reader gets it: without the node_modules, build output or .env of a local run.
tar -C "$example" --exclude=./node_modules --exclude=./dist --exclude=./.env --exclude='*.tsbuildinfo' -cf - . | tar -C "$app" -xf -
# Its package.json must pin every peerDependency of the package, and every package it shares with this
# repo, at this repo's version, and carry this package.json's `overrides` (kysely: MikroORM 7.2.1 pins
# kysely 0.29.6, whose transactions leak pooled connections when a backend dies — kysely#1990; the
# README tells hosts to add the same override). Its nest-rls-auth is this run's tarball.
peer_specs=$(cd "$root" && NRA_CONSUMER_PKG="$app/package.json" NRA_TARBALL="$tarball" NRA_TARBALL_NAME="$tarball_name" "$node_bin" -e "
  const { readFileSync, writeFileSync } = require('fs');
  const pkg = require('./package.json');
  const host = JSON.parse(readFileSync(process.env.NRA_CONSUMER_PKG, 'utf8'));
  const fail = (m) => { console.error(m); process.exit(1); };
  const ours = { ...pkg.dependencies, ...pkg.devDependencies };
  const theirs = { ...host.dependencies, ...host.devDependencies };
  const problems = [];
  for (const peer of Object.keys(pkg.peerDependencies ?? {})) if (!host.dependencies?.[peer]) problems.push('peerDependency ' + peer + ' is not a dependency of examples/host-app');
  for (const [name, version] of Object.entries(theirs)) {
    if (name !== 'nest-rls-auth' && ours[name] && ours[name] !== version) problems.push(name + ' is ' + version + ' in examples/host-app, ' + ours[name] + ' here');
  }
  if (JSON.stringify(host.overrides) !== JSON.stringify(pkg.overrides)) problems.push('examples/host-app overrides ' + JSON.stringify(host.overrides) + ', not ' + JSON.stringify(pkg.overrides));
  const wanted = 'file:../../' + process.env.NRA_TARBALL_NAME;
  if (host.dependencies?.['nest-rls-auth'] !== wanted) problems.push('examples/host-app depends on nest-rls-auth ' + host.dependencies?.['nest-rls-auth'] + ', not ' + wanted + ' (what npm pack writes at the repository root)');
  if (problems.length) fail(problems.join('\n'));
  host.dependencies['nest-rls-auth'] = 'file:' + process.env.NRA_TARBALL;
  writeFileSync(process.env.NRA_CONSUMER_PKG, JSON.stringify(host, null, 2) + '\n');
  console.log(Object.entries(theirs).filter(([name]) => name !== 'nest-rls-auth').map(([name, version]) => name + '@' + version).join(' '));
") || fail "examples/host-app/package.json does not match this package (above)"
kysely_version=$(cd "$root" && "$node_bin" -p "require('./package.json').overrides.kysely")
echo "host packages: $peer_specs"
echo "overrides: $(cd "$app" && "$node_bin" -p "JSON.stringify(require('./package.json').overrides)")"
# npm run exports its own prefix (npm_config_local_prefix=$root): the install must resolve the
# scratch project. --legacy-peer-deps=false: a user .npmrc must not turn the peer checks off.
if ! (cd "$app" && env -u npm_config_local_prefix npm install --no-audit --no-fund --strict-peer-deps --legacy-peer-deps=false \
  >"$work/install.log" 2>&1); then
  cat "$work/install.log" >&2
  fail "npm install of examples/host-app with the tarball failed"
fi
if grep -qiE 'peer|ERESOLVE' "$work/install.log"; then
  cat "$work/install.log" >&2
  fail "npm reported a peer-dependency problem (above) installing the tarball with its peers"
fi
sed 's/^/  npm: /' "$work/install.log"
[[ -f "$app/node_modules/nest-rls-auth/dist/index.js" ]] || fail "the package is not installed"
# Every package the install resolved must be the version asked for, and the override must leave one
# kysely, at its version (without it, @mikro-orm/sql and @mikro-orm/postgresql pull in 0.29.6).
# shellcheck disable=SC2086 # $peer_specs is a list of package specs
(cd "$app" && "$node_bin" -e "
  const { readFileSync } = require('fs');
  const { execFileSync } = require('child_process');
  const problems = [];
  for (const spec of process.argv.slice(2)) {
    const at = spec.lastIndexOf('@');
    const [name, want] = [spec.slice(0, at), spec.slice(at + 1)];
    const got = JSON.parse(readFileSync('node_modules/' + name + '/package.json', 'utf8')).version;
    if (got !== want) problems.push(name + ' is ' + got + ', not ' + want);
  }
  const copies = execFileSync('find', ['.', '-path', '*/node_modules/kysely/package.json'], { encoding: 'utf8' })
    .split('\n').filter(Boolean)
    .map((f) => f + ' ' + JSON.parse(readFileSync(f, 'utf8')).version);
  if (copies.length !== 1 || !copies[0].endsWith(' ' + process.argv[1]))
    problems.push('kysely must be installed once, at ' + process.argv[1] + ' (the override): found ' + (copies.join(', ') || 'none'));
  if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
  console.log('installed: ' + (process.argv.length - 2) + ' packages at the versions asked for; ' + copies[0]);
" "$kysely_version" $peer_specs) || fail "the host project did not get the packages it asked for"

phase "require()"
(cd "$app" && "$node_bin" -e "
  const m = require('nest-rls-auth');
  for (const k of ['AuthModule','RlsInterceptor','RlsContext','JwtAuthGuard','Public','CurrentUser','CurrentSession','LoginDto','TokensDto','AUTH_ENTITIES','runMigrations','ensureRuntimeRole'])
    if (!m[k]) throw new Error('missing ' + k);
  for (const k of ['LocalAccessTokenKeys','JwtStrategy','SessionsRepository','AppConfig','loadConfig','prepareDatabase','EmbeddedDatabase'])
    if (k in m) throw new Error('internal name exported: ' + k);
  if (typeof m.AuthModule.forRootAsync !== 'function' || typeof m.AuthModule.forResourceServer !== 'function') throw new Error('AuthModule lacks its static builders');
  const sql = require('fs').readdirSync(m.MIGRATIONS_DIR).filter((f) => f.endsWith('.up.sql'));
  if (sql.length === 0) throw new Error('MIGRATIONS_DIR has no migrations: ' + m.MIGRATIONS_DIR);
  const main = require.resolve('nest-rls-auth');
  if (!main.endsWith('node_modules/nest-rls-auth/dist/index.js')) throw new Error('resolved to ' + main);
") || fail "require('nest-rls-auth') does not expose the public API"

phase "import()"
(cd "$app" && "$node_bin" --input-type=module -e "
  import('nest-rls-auth').then((m) => {
    if (!m.AuthModule || !m.JwtAuthGuard || !m.default || m.default.AuthModule !== m.AuthModule) process.exit(1);
  }, (err) => { console.error(err); process.exit(1); });
") || fail "import('nest-rls-auth') does not expose the public API"

phase "types"
cat >"$app/uses-types.ts" <<'TS'
import { DynamicModule } from '@nestjs/common';
import { AuthModule, AuthModuleOptions, CurrentUser, JwtAuthGuard, ResourceServerOptions, TokensDto } from 'nest-rls-auth';

const options: AuthModuleOptions = {
  accessToken: { secret: 'a'.repeat(32), ttlSeconds: 900 },
  refreshToken: { secret: 'b'.repeat(32) },
  database: { url: 'postgres://app@localhost/app' },
};
const auth: DynamicModule = AuthModule.forRootAsync({ useHostOrm: false, routePrefix: 'api', registerGlobalGuard: true, registerExceptionFilter: false, useFactory: () => options });
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
# --ignoreConfig: the files are named on the command line, and the app's tsconfig.json is not for them.
tsc_flags=(--ignoreConfig --noEmit --strict --esModuleInterop --experimentalDecorators --emitDecoratorMetadata --skipLibCheck --target ES2022 --types node)
# All misuses are compiled in one run with the CommonJS correct use (each file is checked on its own):
# uses-types.ts must have no error and every misuse file must have one. CommonJS as TypeScript 6
# resolves it by default (`--module commonjs` alone: bundler resolution through package.json
# exports, what a Nest CLI tsconfig without moduleResolution gets).
misuse_files=()
for i in "${!misuses[@]}"; do
  printf '%s\n' "${misuses[$i]}" >"$app/misuse-$i.ts"
  misuse_files+=("misuse-$i.ts")
done
if (cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module commonjs uses-types.ts "${misuse_files[@]}" >"$work/commonjs.log" 2>&1); then
  fail "misuses compiled, so the types are not enforced"
fi
if grep -vqE '^(misuse-[0-9]+\.ts\([0-9,]+\): error TS|  )' "$work/commonjs.log"; then
  fail "a correct use of the types does not compile (CommonJS, TypeScript 6's default resolution):
$(grep -vE '^(misuse-[0-9]+\.ts\([0-9,]+\): error TS|  )' "$work/commonjs.log")"
fi
for i in "${!misuses[@]}"; do
  grep -q "^misuse-$i\.ts([0-9,]*): error TS" "$work/commonjs.log" || fail "this misuse compiled, so the types are not enforced: ${misuses[$i]}
$(cat "$work/commonjs.log")"
done
# node10 (main/types, no exports): deprecated by TypeScript 6, still what TypeScript 5 hosts with
# `"module": "commonjs"` resolve with.
(cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module commonjs --moduleResolution node10 --ignoreDeprecations 6.0 uses-types.ts) \
  || fail "a correct use of the types does not compile (CommonJS, legacy node10 resolution)"
(cd "$app" && "${tsc[@]}" "${tsc_flags[@]}" --module nodenext --moduleResolution nodenext uses-types.ts uses-types.mts) \
  || fail "a correct use of the types does not compile (Node16+ resolution through package.json exports)"
echo "types ok: correct uses compile (commonjs, node10, nodenext), ${#misuses[@]} misuses are refused"

phase "examples/host-app: build (its tsconfig: nodenext, isolatedModules, strict, as nest new writes it)"
cp "$root/scripts/package-host/harness.cjs" "$app/harness.cjs"
(cd "$app" && env -u npm_config_local_prefix npm run build --silent) || fail "examples/host-app does not compile against the package"

phase "examples/host-app: its migration script on a scratch database (twice: the second run finds nothing to do)"
{ read -r owner_url && read -r runtime_url; } < <(cd "$app" && "$node_bin" harness.cjs create) || fail "could not create the scratch database (above)"
[[ -n "${runtime_url:-}" ]] || fail "could not create the scratch database (above)"
for run in 1 2; do
  (cd "$app" && DATABASE_URL="$owner_url" DATABASE_APP_URL="$runtime_url" "$node_bin" dist/migrate.js) >"$work/migrate-$run.log" 2>&1 \
    || { cat "$work/migrate-$run.log" >&2; fail "the migration script failed (run $run)"; }
  sed "s/^/  migrate ($run): /" "$work/migrate-$run.log"
done
grep -q 'up to date' "$work/migrate-2.log" && ! grep -q 'applied' "$work/migrate-2.log" || fail "the second migration run applied something again"
(cd "$app" && "$node_bin" harness.cjs verify) || fail "the migration script did not set the database up as expected (above)"

phase "examples/host-app: start and serve"
secrets=$("$node_bin" -p "const r = () => require('crypto').randomBytes(32).toString('base64url'); r() + ' ' + r()")
# A port below the ephemeral range (see test/support/net.ts); another one if it is taken meanwhile.
port=
for attempt in $(seq 1 10); do
  try_port=$((10000 + RANDOM % 20000))
  (cd "$app" && NO_COLOR=1 HOST=127.0.0.1 PORT="$try_port" DATABASE_APP_URL="$runtime_url" JWT_ACCESS_SECRET="${secrets% *}" REFRESH_TOKEN_SECRET="${secrets#* }" \
    exec "$node_bin" dist/main.js) >"$work/app.log" 2>&1 &
  app_pid=$!
  for _ in $(seq 1 300); do
    grep -q "Listening on http://127.0.0.1:$try_port\$" "$work/app.log" && { port=$try_port; break; }
    kill -0 "$app_pid" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$port" ]] && break
  stop_app || true
  grep -q 'EADDRINUSE' "$work/app.log" || break
  echo "port $try_port was taken (attempt $attempt); trying another"
done
if [[ -z "$port" ]]; then
  cat "$work/app.log" >&2
  fail "the host app did not start listening within 30s (its output is above)"
fi
echo "host app (pid $app_pid) listening on 127.0.0.1:$port"
if ! (cd "$app" && NRA_PORT="$port" "$node_bin" harness.cjs drive); then
  sed 's/^/  app: /' "$work/app.log" >&2
  fail "the host app did not serve as expected"
fi
stop_app || fail "the host app did not stop on SIGTERM"
# A clean host boots, serves and stops without a warning or an error from Node, Nest or the package,
# but for the one the 403 above is logged with.
expected_warning='WARN \[Errors\] Database rejected input: RowLevelSecurityViolationException \(42501\)$'
[[ $(grep -cE "$expected_warning" "$work/app.log") == 1 ]] || { sed 's/^/  app: /' "$work/app.log" >&2; fail "the 403 was not logged once as a database rejection (above)"; }
if grep -vE "$expected_warning" "$work/app.log" | grep -qE '^\(node:[0-9]+\) |Warning:| (WARN|ERROR) '; then
  sed 's/^/  app: /' "$work/app.log" >&2
  fail "the host app logged warnings or errors (above)"
fi
# Security events reach the host's own ConsoleLogger as one line each: the message, then JSON fields.
logins=$(grep -cE ' LOG \[Auth\] Login succeeded \{"event":"auth.login.succeeded","userId":"[0-9a-f-]{36}","sessionId":"[0-9a-f-]{36}"\}$' "$work/app.log" || true)
[[ "$logins" == 2 ]] || { sed 's/^/  app: /' "$work/app.log" >&2; fail "expected the 2 sign-ins as one-line security events, found $logins (above)"; }
if grep -qE 'Object\([0-9]+\)' "$work/app.log"; then
  sed 's/^/  app: /' "$work/app.log" >&2
  fail "the host app's log dumps an object over several lines (above)"
fi
echo "host app stopped; its log has no unexpected warning or error, and one line per security event"

phase "done"
echo "check-package: OK in $(($(date +%s) - started))s"
