/**
 * Values and code that do not travel as they are, and the messages that say
 * so: what would arrive empty is refused, the path names the field, a free
 * name hints at closures, and TypeScript errors and runtime lines point at
 * the user's own lines.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RemoteError, SerializationError } from '../index.js';
import { serialize } from '../protocol/index.js';
import { sharedCluster, tempRootForFile } from './support/index.js';

tempRootForFile('values');

/** The error a promise rejects with (failing when it resolves). */
async function rejection(p: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(p).then(
    () => assert.fail('must fail'),
    (e: unknown) => e,
  );
}

describe('values that would be lost are refused, naming them', () => {
  test('sending a URL, an AbortController or a generator fails at the call, naming its path and type', () => {
    const cases: [unknown, string, string][] = [
      [{ link: new URL('https://example.org/') }, 'args.link', 'URL'],
      [[1, new AbortController()], 'args[1]', 'AbortController'],
      [
        {
          a: (function* gen() {
            yield 1;
          })(),
        },
        'args.a',
        'Generator',
      ],
    ];
    for (const [value, path, type] of cases) {
      assert.throws(
        () => serialize(value, 'args'),
        (e: unknown) =>
          e instanceof SerializationError && e.path === path && e.typeName === type && /would arrive as an empty object/.test(e.message),
        type,
      );
    }
    // plain data still travels
    assert.ok(serialize({ d: new Date(), m: new Map([[1, 'x']]), b: Buffer.from('x'), e: new Error('x') }, 'args').length > 0);
  });

  const { rc } = sharedCluster({ n: 1 }, '');

  test('a result that would arrive empty (a URL, a generator) fails with SerializationError naming the field', async () => {
    const dv = rc().directView(0);
    const url = await rejection(dv.apply(() => ({ page: new URL('https://example.org/a') })));
    assert.ok(url instanceof SerializationError, String(url));
    assert.equal(url.path, 'result.page');
    assert.equal(url.typeName, 'URL');
    const gen = await rejection(
      dv.apply(function* numbers() {
        yield 1;
      }),
    );
    assert.ok(gen instanceof SerializationError, String(gen));
    assert.equal(gen.typeName, 'Generator');
    assert.match(gen.message, /a Generator/);
  });

  test('the path of a function held by a class instance names the field, not the holder', async () => {
    const err = await rejection(
      rc()
        .directView(0)
        .apply(() => {
          class Holder {
            f = (): number => 1;
            n = 2;
          }
          return { a: new Holder() };
        }),
    );
    assert.ok(err instanceof SerializationError, String(err));
    assert.equal(err.path, 'result.a.f');
    assert.equal(err.typeName, 'function');
  });

  test('a free name in a remote function says functions carry no closure, and how to send the name', async () => {
    const err = await rejection(
      rc()
        .directView(0)
        .apply(() => (globalThis as { notPushed?: number }).notPushed ?? (eval('undefinedName') as number)),
    );
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.ename, 'ReferenceError');
    assert.match(
      err.evalue,
      /undefinedName is not defined \(a function runs on the engine without its closure: pass undefinedName as an argument, or push it first/,
    );
  });
});

describe('TypeScript in execute() (1 engine)', () => {
  const { rc } = sharedCluster({ n: 1 }, 'ts');

  test('a syntax error names its own line and column and shows the line, not a type annotation before it', async () => {
    const err = await rejection(rc().directView(0).execute('const ok: number = 1;\nconst broken: number = ;\n', { typescript: true }));
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.ename, 'SyntaxError');
    assert.match(err.evalue, /:2:24\)/);
    assert.match(err.evalue, /const broken: number = ;/);
    // code that is not JavaScript (a type annotation) and not TypeScript either reports the TypeScript error
    const mixed = await rejection(rc().directView(0).execute('let a: string = "x";\nlet b = = 2;'));
    assert.ok(mixed instanceof RemoteError);
    assert.match(mixed.evalue, /:2:\d+\)/);
  });

  test('after an enum, runtime errors point at the right line', async () => {
    const code = ['enum Color {', '  Red,', '  Green,', '}', 'const pick: Color = Color.Green;', 'throw new Error(`line six, color ${pick}`);'].join(
      '\n',
    );
    const err = await rejection(rc().directView(0).execute(code, { typescript: true, filename: '/virtual/colors.ts' }));
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.evalue, 'line six, color 1');
    assert.match(err.remoteStack, /colors\.ts:6:/);
  });

  test('a namespace is refused with a clear error naming its line', async () => {
    const err = await rejection(rc().directView(0).execute('const x = 1;\nnamespace Shapes { export const n = 3; }', { typescript: true }));
    assert.ok(err instanceof RemoteError);
    assert.match(err.evalue, /namespaces are not supported here.*:2:1\)/s);
  });
});
