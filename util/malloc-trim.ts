/**
 * `malloc_trim(0)` through the small addon native/trim.c, which `npm install`
 * builds with node-gyp (binding.gyp). Where it did not build (no compiler),
 * `mallocTrim()` returns undefined; where the C library is not glibc, false.
 * Either way nothing else changes: the addon only returns freed memory sooner.
 */
import { createRequire } from 'node:module';

interface TrimAddon {
  trim(): boolean;
}

/** from dist/util/ to the package's build/ */
const ADDON = '../../build/Release/tscluster_trim.node';
let addon: TrimAddon | null | undefined;

function load(): TrimAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as TrimAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Is the addon there? */
export function canTrim(): boolean {
  return load() !== null;
}

/** Give the free pages inside malloc's heaps back to the system: true if some were, undefined without the addon. */
export function mallocTrim(): boolean | undefined {
  return load()?.trim();
}
