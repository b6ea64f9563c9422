#!/usr/bin/env node
/**
 * Bundles the engine process (dist/engine/main.js and what it imports) into one
 * file, dist/bundle/engine.js, after tsc. An engine then starts from one file
 * instead of ~190 modules: about half the CPU of its start-up, which is what
 * holds a start of many engines on few cores. The launchers run the bundle when
 * it is there (launcher/processes.ts), else dist/engine/main.js.
 *
 * Only the engine's main thread is bundled. Its execution worker
 * (dist/executor/thread.js) runs user code, which may import tscluster itself:
 * that must find the same modules as the worker, so the worker stays unbundled.
 * Native addons (zeromq) and packages loaded on demand stay outside.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/engine/main.js'],
  outfile: 'dist/bundle/engine.js',
  bundle: true,
  minify: true,
  sourcemap: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external: ['zeromq', 'better-sqlite3', 'sucrase'],
  // the bundle is ESM; a bundled CommonJS dependency that calls require() gets one
  banner: { js: "import { createRequire as __tscRequire } from 'node:module'; const require = __tscRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
});
const inputs = Object.keys(result.metafile.inputs).length;
process.stdout.write(`bundled the engine: ${inputs} modules -> dist/bundle/engine.js\n`);
