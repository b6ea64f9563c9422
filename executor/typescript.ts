/**
 * TypeScript for `execute()` and `run()`: types stripped by sucrase, which
 * keeps every line where it was (an enum or a parameter property is rewritten
 * on its own line), so runtime stack traces point at the user's lines. A
 * syntax error names its line and column and shows the line.
 */

interface SucraseModule {
  transform(code: string, opts: { transforms: string[]; disableESTransforms?: boolean; filePath?: string }): { code: string };
}
let sucrase: SucraseModule | undefined;

/** A TypeScript namespace with a body (runtime code), which the stripper cannot turn into JavaScript. */
const NAMESPACE = /(^|[;{}\n])[ \t]*(export[ \t]+)?(namespace|module)[ \t]+[A-Za-z_$][\w$.]*[ \t\n]*\{/;

/** The code with string, template and comment contents blanked (lines kept), so a pattern sees only code. */
function codeOnly(src: string): string {
  return src.replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\/|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`/g, (m) => m.replace(/[^\n]/g, ' '));
}

function lineOf(src: string, index: number): number {
  return src.slice(0, index).split('\n').length;
}

/** A SyntaxError naming the place, with the line and a caret under the column. */
export function syntaxErrorAt(src: string, message: string, line: number, column: number, filename: string): SyntaxError {
  const text = src.split('\n')[line - 1] ?? '';
  const e = new SyntaxError(`${message} (${filename}:${line}:${column + 1})\n    ${text}\n    ${' '.repeat(column)}^`);
  e.stack = `SyntaxError: ${e.message}`;
  return e;
}

/**
 * JavaScript from TypeScript, with every line in place.
 * @throws SyntaxError naming the line and column of the error, or of a namespace (not supported)
 */
export async function stripTypes(src: string, filename: string): Promise<string> {
  sucrase ??= (await import('sucrase')) as SucraseModule;
  const ns = NAMESPACE.exec(codeOnly(src));
  if (ns && !/declare[ \t]+$/.test(src.slice(0, ns.index + ns[1]!.length))) {
    const at = ns.index + ns[1]!.length;
    const line = lineOf(src, at);
    const column = at - src.lastIndexOf('\n', at - 1) - 1;
    throw syntaxErrorAt(src, 'TypeScript namespaces are not supported here: use an object or a module instead', line, Math.max(0, column), filename);
  }
  try {
    return sucrase.transform(src, { transforms: ['typescript'], disableESTransforms: true, filePath: filename }).code;
  } catch (e) {
    const loc = (e as { loc?: { line: number; column: number } }).loc;
    // sucrase says "Error transforming <file>: <message> (<line>:<column>)", its column counted from 1
    const msg = (e instanceof Error ? e.message : String(e)).replace(/^Error transforming [^:]*: /, '').replace(/\s*\(\d+:\d+\)$/, '');
    const err = loc ? syntaxErrorAt(src, msg, loc.line, Math.max(0, loc.column - 1), filename) : new SyntaxError(msg);
    err.cause = e;
    throw err;
  }
}
