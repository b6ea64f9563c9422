/**
 * An ESLint rule: no import cycles between the project's modules. Relative
 * value imports (and re-exports) make the graph; `import type` does not (it
 * leaves no runtime edge). Reported once per cycle, at the import that closes
 * it in the file being linted.
 */
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const IMPORT = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

/** file -> the files it imports (resolved .js -> .ts), cached per lint run */
const graph = new Map();

function sourceOf(spec, from) {
  return resolve(dirname(from), spec.replace(/\.js$/, '.ts'));
}

function edges(file) {
  let out = graph.get(file);
  if (out) return out;
  out = [];
  graph.set(file, out);
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  for (const m of text.matchAll(IMPORT)) {
    // `import { type A, type B } from` is type-only too
    if (/^\s*import\s*\{\s*(type\s+[\w$]+\s*,?\s*)+\}/.test(m[0])) continue;
    out.push(sourceOf(m[1], file));
  }
  return out;
}

/** A path from `start` back to `target` through the graph, or undefined. */
function pathBack(start, target) {
  const seen = new Set();
  const stack = [[start, [start]]];
  while (stack.length > 0) {
    const [file, path] = stack.pop();
    if (file === target) return path;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const next of edges(file)) stack.push([next, [...path, next]]);
  }
  return undefined;
}

export default {
  meta: { type: 'problem', docs: { description: 'no import cycles between modules (type imports excepted)' }, schema: [] },
  create(context) {
    const file = context.filename;
    const check = (node) => {
      if (node.importKind === 'type' || node.exportKind === 'type' || !node.source) return;
      const spec = node.source.value;
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      if (node.specifiers?.length > 0 && node.specifiers.every((s) => s.importKind === 'type')) return;
      const target = sourceOf(spec, file);
      const path = pathBack(target, file);
      if (!path) return;
      const cwd = context.cwd;
      context.report({ node, message: `import cycle: ${[file, ...path].map((p) => relative(cwd, p)).join(' -> ')}` });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
