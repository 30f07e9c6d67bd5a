import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES } from '../src/config/environment';
import { loadConfig } from '../src/config/load-config';
import { resolveAuthSettings } from '../src/core/settings';

const root = join(__dirname, '..');
const envExample = readFileSync(join(root, '.env.example'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** Variables in .env.example, set (`NAME=value`) or documented but commented out (`# NAME=`). */
function envExampleEntries(): { documented: Set<string>; set: Record<string, string> } {
  const documented = new Set<string>();
  const set: Record<string, string> = {};
  for (const line of envExample.split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    documented.add(m[2]);
    if (!m[1]) set[m[2]] = m[3];
  }
  return { documented, set };
}

describe('configuration documentation', () => {
  it('.env.example documents every variable the service reads, and nothing else', () => {
    const { documented } = envExampleEntries();
    expect([...documented].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it('the values set in .env.example are valid and equal the defaults', () => {
    const { set } = envExampleEntries();
    const fromExample = loadConfig(set);
    const defaults = loadConfig({});
    // The module's settings as AuthModule resolves them (unset ones take AUTH_DEFAULTS), secrets blanked.
    const strip = (c: ReturnType<typeof loadConfig>) => {
      const settings = resolveAuthSettings({ ...c.auth, database: { ...c.auth.database, url: 'postgres://db' } });
      return {
        ...c,
        auth: { ...settings, accessToken: { ...settings.accessToken, secret: '' }, refreshToken: { ...settings.refreshToken, secret: '' } },
        database: { ...c.database, appPassword: '' },
      };
    };
    expect(strip(fromExample)).toEqual(strip(defaults));
  });

  it('the README configuration table names every variable', () => {
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## REST API'));
    const missing = CONFIG_VARIABLES.filter((name) => !table.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
