#!/usr/bin/env node
/**
 * The folder-level import graph of src/ must be acyclic: a top-level folder may import only from
 * folders below it (core → config → database → users → sessions → auth → the service's own folders).
 * Prints the order it found, or every cycle and the imports that make it. Exit 1 on a cycle.
 *
 *   node scripts/check-layers.js [srcDir]
 */
const { readdirSync, readFileSync, statSync } = require('node:fs');
const { dirname, join, relative, resolve, sep } = require('node:path');

const ROOT = '(src root)';
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]|\brequire\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function tsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [path] : [];
  });
}

function folderOf(srcDir, file) {
  const rel = relative(srcDir, file).split(sep);
  return rel.length > 1 ? rel[0] : ROOT;
}

/** Folder → folder → the imports (file: specifier) that make that edge. */
function importGraph(srcDir) {
  const graph = new Map();
  for (const file of tsFiles(srcDir)) {
    const from = folderOf(srcDir, file);
    if (!graph.has(from)) graph.set(from, new Map());
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const to = folderOf(srcDir, resolve(dirname(file), spec));
      if (to === from || relative(srcDir, resolve(dirname(file), spec)).startsWith('..')) continue;
      const edges = graph.get(from);
      if (!edges.has(to)) edges.set(to, []);
      edges.get(to).push(`${relative(srcDir, file)}: ${spec}`);
    }
  }
  return graph;
}

/** Strongly connected components with more than one folder (Tarjan), and a topological order when there are none. */
function analyse(graph) {
  const nodes = new Set([...graph.keys(), ...[...graph.values()].flatMap((e) => [...e.keys()])]);
  let index = 0;
  const idx = new Map(), low = new Map(), stack = [], onStack = new Set(), cycles = [], order = [];
  const visit = (v) => {
    idx.set(v, index); low.set(v, index); index++; stack.push(v); onStack.add(v);
    for (const w of (graph.get(v) ?? new Map()).keys()) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do { w = stack.pop(); onStack.delete(w); scc.push(w); } while (w !== v);
      if (scc.length > 1) cycles.push(scc.sort());
      order.push(...scc);
    }
  };
  for (const v of [...nodes].sort()) if (!idx.has(v)) visit(v);
  return { cycles, order };
}

function check(srcDir) {
  const graph = importGraph(srcDir);
  const { cycles, order } = analyse(graph);
  const evidence = cycles.map((scc) =>
    scc.flatMap((from) => scc.filter((to) => to !== from && graph.get(from)?.has(to)).map((to) => `${from} → ${to} (${graph.get(from).get(to)[0]})`)),
  );
  return { cycles, evidence, order };
}

module.exports = { analyse, check, importGraph };

if (require.main === module) {
  const { cycles, evidence, order } = check(resolve(process.argv[2] ?? join(__dirname, '..', 'src')));
  if (cycles.length) {
    console.error(`Import cycles between folders of src/:\n${cycles.map((c, i) => `  ${c.join(' ⇄ ')}\n    ${evidence[i].join('\n    ')}`).join('\n')}`);
    process.exit(1);
  }
  console.log(`src/ folders, lowest first: ${order.join(' → ')}`);
}
