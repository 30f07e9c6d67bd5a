import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { check, importGraph } = require('../scripts/check-layers.js') as {
  check(srcDir: string): { cycles: string[][]; evidence: string[][]; order: string[] };
  importGraph(srcDir: string): Map<string, Map<string, string[]>>;
};

const SRC = resolve(__dirname, '..', 'src');

describe('src/ layers (scripts/check-layers.js)', () => {
  it('no two top-level folders of src/ import each other, directly or through others', () => {
    const { cycles, evidence } = check(SRC);
    expect(evidence).toEqual([]);
    expect(cycles).toEqual([]);
  });

  it('core/ is the bottom layer: it imports no other folder of src/', () => {
    expect([...(importGraph(SRC).get('core')?.keys() ?? [])]).toEqual([]);
  });

  it('the check finds a cycle, and names the imports that make it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nra-layers-'));
    try {
      mkdirSync(join(dir, 'a'));
      mkdirSync(join(dir, 'b'));
      mkdirSync(join(dir, 'c'));
      writeFileSync(join(dir, 'a', 'x.ts'), "import { y } from '../b/y';\nexport const x = y;\n");
      writeFileSync(join(dir, 'b', 'y.ts'), "export { z as y } from '../c/z';\n");
      writeFileSync(join(dir, 'c', 'z.ts'), "import type { x } from '../a/x';\nexport const z = 1 as unknown as typeof x;\n");
      const { cycles, evidence } = check(dir);
      expect(cycles).toEqual([['a', 'b', 'c']]);
      expect(evidence[0]).toEqual(expect.arrayContaining([expect.stringContaining('c → a (c/z.ts: ../a/x)')]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
