/**
 * Functions travel as source text. They do not capture closures: free names
 * resolve in the engine namespace (push them first).
 */
import { SerializationError } from '../errors/protocol.js';

/** Source text of a function, checked to be shippable. */
export function functionSource(fn: unknown, where = 'function'): string {
  if (typeof fn !== 'function') {
    throw new SerializationError(`${where} must be a function, got ${fn === null ? 'null' : typeof fn}`, typeof fn, where);
  }
  const src = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) {
    throw new SerializationError(
      `${where} (${fn.name || 'anonymous'}) is a built-in or bound function, whose source cannot be shipped: wrap it, e.g. (x) => Math.sqrt(x)`,
      'function',
      where,
    );
  }
  return src;
}

/**
 * The expression texts to try, in order, to turn shipped source back into a
 * function: plain expressions (arrow, function, async, class), then method syntax
 * (`name(x) {}`, `async name() {}`, `*gen() {}`) wrapped in an object literal.
 */
export function compileCandidates(src: string): { code: string; method: boolean }[] {
  return [
    { code: `(${src}\n)`, method: false },
    { code: `({ ${src}\n})`, method: true },
  ];
}
