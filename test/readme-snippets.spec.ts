import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The README shows examples/host-app as it is: every code block marked `<!-- file: PATH -->` is that
 * file, byte for byte (CI compiles and runs the app itself in `npm run test:package`), its Install
 * command names the package's peer set at the versions the app pins, and the app's `.env.example`
 * holds well-formed URLs for every variable the app reads.
 */
const ROOT = join(__dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'host-app');
const read = (...path: string[]): string => readFileSync(join(ROOT, ...path), 'utf8');
const readme = read('README.md');
const rootPkg = JSON.parse(read('package.json')) as { version: string; peerDependencies: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>; overrides: unknown };
const examplePkg = JSON.parse(read('examples', 'host-app', 'package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; overrides: unknown };

/** `<!-- file: PATH -->` then a fenced block: [PATH, the block's text]. */
function fileSnippets(): Array<[string, string]> {
  return [...readme.matchAll(/<!-- file: (\S+) -->\n```[a-z]*\n([\s\S]*?)\n```/g)].map((m) => [m[1], m[2]]);
}

/** `KEY=value` lines of a .env file. */
function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => /^[A-Z_][A-Z0-9_]*=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('README snippets and examples/host-app', () => {
  it('shows the example app’s module and controller, and each marked snippet is its file byte for byte', () => {
    const snippets = fileSnippets();
    expect(snippets.map(([path]) => path)).toEqual(expect.arrayContaining(['examples/host-app/src/app.module.ts', 'examples/host-app/src/profile.controller.ts']));
    for (const [path, text] of snippets) expect({ path, text }).toEqual({ path, text: read(path).replace(/\n$/, '') });
  });

  it('its Install command names every peer dependency (and reflect-metadata, rxjs) at the version the example app pins', () => {
    const block = /<!-- install-command -->\n```sh\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const words = block!.replace(/\\\n/g, ' ').trim().split(/\s+/);
    expect(words.slice(0, 2)).toEqual(['npm', 'install']);
    expect(words[2]).toMatch(new RegExp(`nest-rls-auth-${rootPkg.version.replace(/\./g, '\\.')}\\.tgz$`));
    const specs = Object.fromEntries(words.slice(3).map((w) => [w.slice(0, w.lastIndexOf('@')), w.slice(w.lastIndexOf('@') + 1)]));
    const peerSet = [...Object.keys(rootPkg.peerDependencies), 'reflect-metadata', 'rxjs'].sort();
    expect(Object.keys(specs).sort()).toEqual(peerSet);
    for (const [name, version] of Object.entries(specs)) expect({ name, version }).toEqual({ name, version: examplePkg.dependencies[name] });
  });

  it('the example app pins the versions this repository uses, its overrides, and the tarball npm pack writes', () => {
    const ours: Record<string, string> = { ...rootPkg.dependencies, ...rootPkg.devDependencies };
    const theirs: Record<string, string> = { ...examplePkg.dependencies, ...examplePkg.devDependencies };
    const differing = Object.entries(theirs).filter(([name, version]) => name !== 'nest-rls-auth' && ours[name] !== undefined && ours[name] !== version);
    expect(differing).toEqual([]);
    expect(Object.keys(rootPkg.peerDependencies).filter((peer) => !examplePkg.dependencies[peer])).toEqual([]);
    expect(examplePkg.overrides).toEqual(rootPkg.overrides);
    expect(examplePkg.dependencies['nest-rls-auth']).toBe(`file:../../nest-rls-auth-${rootPkg.version}.tgz`);
  });

  it('the example’s .env.example sets every variable the app and its migration script read, with well-formed database URLs', () => {
    const env = parseEnv(readFileSync(join(EXAMPLE, '.env.example'), 'utf8'));
    const sources = ['app.module.ts', 'main.ts', 'migrate.ts'].map((f) => readFileSync(join(EXAMPLE, 'src', f), 'utf8')).join('\n');
    const names = [...sources.matchAll(/(?:getOrThrow(?:<\w+>)?\(|required\(|process\.env\.)'?([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]);
    expect(names).toEqual(expect.arrayContaining(['DATABASE_URL', 'DATABASE_APP_URL', 'JWT_ACCESS_SECRET', 'REFRESH_TOKEN_SECRET']));
    expect([...new Set(names)].filter((name) => !(name in env))).toEqual([]);

    const owner = new URL(env.DATABASE_URL);
    const app = new URL(env.DATABASE_APP_URL);
    for (const url of [owner, app]) expect(url.protocol).toMatch(/^postgres(ql)?:$/);
    // The runtime role: its own login and password, on the owner's server and database.
    expect(app.username).not.toBe('');
    expect(app.password).not.toBe('');
    expect(app.username).not.toBe(owner.username);
    expect(`${app.host}${app.pathname}`).toBe(`${owner.host}${owner.pathname}`);
  });
});
