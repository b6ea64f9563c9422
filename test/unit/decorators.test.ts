/**
 * @view.parallel() and @view.remote() as method decorators in both forms,
 * without processes: a small class compiled by TypeScript with standard (TC39)
 * decorators and with legacy ones (`experimentalDecorators`, as tslab compiles
 * notebook cells), run against a view that records what it is asked to run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { parallelDecorator, remoteDecorator } from '../../client/functions.js';
import type { MethodDecorator, ParallelFunction, RemoteFunction } from '../../client/functions.js';

type AnyView = Parameters<typeof remoteDecorator>[0];

/** A view whose apply/mapChunks/map record their calls and return a marker instead of an AsyncResult. */
function recordingView(): { view: AnyView; calls: { method: string; fn: unknown; args: unknown[] }[] } {
  const calls: { method: string; fn: unknown; args: unknown[] }[] = [];
  const record =
    (method: string) =>
    (fn: unknown, ...args: unknown[]): string => {
      calls.push({ method, fn, args });
      return `${method} result`;
    };
  const view = { apply: record('apply'), mapChunks: record('mapChunks'), map: record('map') } as unknown as AnyView;
  return { view, calls };
}

const SOURCE = `
export function build(parallel, remote) {
  class Jobs {
    @parallel() static square(xs) { return xs.map((x) => x * x); }
    @remote() static host() { return process.pid; }
    @remote() add(a, b) { return a + b; }
  }
  return Jobs;
}`;

type Jobs = { square: ParallelFunction<number, number>; host: RemoteFunction<[], number>; new (): { add: RemoteFunction<[number, number], number> } };

/** Compile SOURCE with the given decorator form and build the class with the decorators of `view`. */
async function compiled(experimentalDecorators: boolean, view: AnyView): Promise<Jobs> {
  const js = ts.transpileModule(SOURCE, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, experimentalDecorators },
  }).outputText;
  if (experimentalDecorators) assert.match(js, /__decorate\(/, 'compiled with legacy decorators');
  else assert.match(js, /__esDecorate\(/, 'compiled with standard decorators');
  const mod = (await import(`data:text/javascript,${encodeURIComponent(js)}`)) as {
    build: (p: () => MethodDecorator, r: () => MethodDecorator) => Jobs;
  };
  return mod.build(
    () => parallelDecorator(view, { chunksize: 2 }),
    () => remoteDecorator(view),
  );
}

describe('decorators in both forms', () => {
  for (const legacy of [false, true]) {
    const form = legacy ? 'legacy (experimentalDecorators: true)' : 'standard (TC39)';
    test(`${form}: static and instance methods become parallel and remote functions of the view`, async () => {
      const { view, calls } = recordingView();
      const Jobs = await compiled(legacy, view);
      assert.equal(Jobs.square.view, view);
      assert.equal(Jobs.square.name, 'square');
      assert.equal(Jobs.square([1, 2, 3]), 'mapChunks result');
      assert.equal(Jobs.host.view, view);
      assert.equal(Jobs.host(), 'apply result');
      assert.equal(new Jobs().add(2, 3), 'apply result');
      assert.deepEqual(
        calls.map((c) => [c.method, c.args]),
        [
          ['mapChunks', [[1, 2, 3], { chunksize: 2 }]],
          ['apply', []],
          ['apply', [2, 3]],
        ],
      );
      // the engine gets the method's own code
      assert.match(String(calls[0]!.fn), /xs\.map\(\(x\) => x \* x\)/);
      assert.match(String(calls[2]!.fn), /return a \+ b/);
    });
  }

  test('legacy form by hand: the descriptor comes back with the function replaced, the rest kept', () => {
    const { view } = recordingView();
    const method = (xs: number[]): number[] => xs;
    const descriptor = { value: method, writable: true, enumerable: false, configurable: true };
    const out = parallelDecorator(view, {})({}, 'same', descriptor);
    assert.equal(typeof out.value, 'function');
    assert.notEqual(out.value, method);
    assert.equal((out.value as unknown as ParallelFunction<number, number>).view, view);
    assert.deepEqual({ ...out, value: undefined }, { ...descriptor, value: undefined });
  });

  test('legacy form on something that is not a method is refused, naming it', () => {
    const { view } = recordingView();
    const dec = remoteDecorator(view) as unknown as (t: object, k: string, d: PropertyDescriptor) => unknown;
    assert.throws(() => dec({}, 'count', { value: 3 }), /decorate methods; count is not one/);
  });
});
