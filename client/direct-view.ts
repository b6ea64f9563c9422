import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { DEFAULT_WINDOW, serialize } from '../protocol/index.js';
import type { Channel, ChannelWindow } from '../protocol/index.js';
import { NoEnginesRegistered } from '../errors/index.js';
import { AsyncResult } from './asyncresult.js';
import type { RemoteChannel } from './channel.js';
import { MultiChannel } from './multi-channel.js';
import type { TaskState } from './asyncresult.js';
import { DIRECT_OPTIONS } from './options.js';
import type { DirectTaskOptions } from './options.js';
import { concatChunks, concatParts, lengthOf, partition, partitionLike, toArray } from './partition.js';
import type { TypedArray } from './partition.js';
import type { Submitter, TaskRequest } from './submitter.js';
import { checkInt, checkItems, checkName, checkNamePath, checkOptionKeys, isPlainObject, resolveTargets, show } from './validate.js';
import { View, mapArgs } from './view.js';
import type { MapOptions, PerTarget, Sequence } from './view.js';

type Request = Pick<TaskRequest, 'content' | 'buffers'>;

/** Options of `dv.channel(options, fn, ...args)`. */
export interface ChannelOptions {
  /**
   * how far a receiver may fall behind (values sent and not yet consumed)
   * before its sender's `send` waits, both directions (default 1,000 values or 64 MB)
   */
  window?: { items?: number; bytes?: number };
}

/** What `channel()` returns: one channel for a single target, else a MultiChannel. */
export type ChannelFor<S extends boolean, R> = S extends true ? RemoteChannel<unknown, R> : MultiChannel<unknown, R>;

/** A channel's function: it gets the Channel first, then the arguments. */
export type ChannelFunction<A extends unknown[], R> = (channel: Channel, ...args: A) => R | Promise<R>;

function channelWindow(opts: unknown): ChannelWindow {
  const o = checkOptionKeys('channel options', opts, ['window']) as ChannelOptions;
  if (o.window === undefined) return { ...DEFAULT_WINDOW };
  const w = checkOptionKeys('channel options: window', o.window, ['items', 'bytes']) as { items?: unknown; bytes?: unknown };
  return {
    items: w.items === undefined ? DEFAULT_WINDOW.items : checkInt('channel options: window.items', w.items, 1, 1e9),
    bytes: w.bytes === undefined ? DEFAULT_WINDOW.bytes : checkInt('channel options: window.bytes', w.bytes, 1, 2 ** 52),
  };
}

/**
 * Direct execution on named engines: every call runs on each target.
 * `rc.directView(0)` gives single values; `rc.directView([0, 1])` or
 * `rc.directView()` (all engines at call time) give arrays in target order.
 * Negative indices count from the last registered engine (`-1`: the last).
 * @example
 * const dv = rc.directView();
 * await dv.push({ a: 10 });
 * const r = await dv.apply((b: number) => a + b, 5); // [15, 15, ...]
 */
export class DirectView<S extends boolean = false> extends View<DirectTaskOptions> {
  /** @internal */
  constructor(client: Submitter, targetSpec: number | number[] | undefined, options: DirectTaskOptions) {
    super(client, targetSpec, options, DIRECT_OPTIONS);
  }

  /** The engines of the next call (all registered ones when the view was made without targets). */
  get targets(): number[] {
    if (this.targetSpec === undefined) return this.client.ids();
    return resolveTargets(([] as number[]).concat(this.targetSpec), this.client.ids());
  }

  /**
   * A new view on the same engines whose tasks carry these options (`timeoutMs`, `label`, `retainOnDisconnect`).
   * @example await rc.directView().withOptions({ timeoutMs: 5000 }).apply(maybeStuck);
   */
  withOptions(options: DirectTaskOptions): DirectView<S> {
    const given = checkOptionKeys('withOptions', options, [...DIRECT_OPTIONS, 'targets']);
    if ('targets' in given) throw new TypeError("a direct view's engines are fixed: make a view on others with rc.directView(targets)");
    return new DirectView<S>(this.client, this.targetSpec, { ...this.options, ...options });
  }

  get #single(): S {
    return (typeof this.targetSpec === 'number') as S;
  }

  #resolve(): number[] {
    const t = this.targets;
    if (t.length === 0) {
      throw new NoEnginesRegistered('no engines are registered: start some with `tscluster engines -n 2`, or wait with `await rc.waitForEngines(n)`');
    }
    return t;
  }

  /** The same request on every target: one message, which the controller fans out, when there are several. */
  #send(targets: number[], req: Request): TaskState[] {
    const r = { ...req, route: 'direct' as const, targets, options: this.wire };
    return targets.length === 1 ? [this.client.submit(r)] : this.client.broadcast(r);
  }

  #each<R>(targets: number[], req: Request, combine?: (v: unknown[]) => PerTarget<S, R>): AsyncResult<PerTarget<S, R>, S> {
    const tasks = this.#send(targets, req);
    const single = this.#single;
    return new AsyncResult(tasks, single, combine ?? ((v) => (single ? v[0] : v) as PerTarget<S, R>));
  }

  /**
   * Run `fn(...args)` on every target.
   * @example const pids = await rc.directView().apply(() => process.pid);
   */
  apply<A extends unknown[], R>(fn: (...args: A) => R | Promise<R>, ...args: A): AsyncResult<PerTarget<S, Awaited<R>>, S> {
    const targets = this.#resolve();
    const buffers = serialize(args, 'args', this.source(fn));
    return this.#each(targets, { content: { kind: 'apply' }, buffers });
  }

  /**
   * Start `fn(channel, ...args)` on every target, a long-lived function that
   * exchanges values with this client through `channel` (as execnet's
   * remote_exec). A single target gives its RemoteChannel; several give a
   * MultiChannel. Options (the flow-control `window`) may come first. While the
   * function runs, the engine's later tasks wait behind it.
   * @example
   * const ch = rc.directView(0).channel(async (ch) => { for await (const x of ch) await ch.send(x); });
   * await ch.send('ping'); await ch.receive(); // 'ping'
   * @example const mc = rc.directView().channel({ window: { items: 100 } }, producer, 10000);
   */
  channel<A extends unknown[], R>(fn: ChannelFunction<A, R>, ...args: A): ChannelFor<S, Awaited<R>>;
  channel<A extends unknown[], R>(options: ChannelOptions, fn: ChannelFunction<A, R>, ...args: A): ChannelFor<S, Awaited<R>>;
  channel(first: unknown, ...rest: unknown[]): RemoteChannel | MultiChannel {
    const hasOptions = isPlainObject(first);
    const window = channelWindow(hasOptions ? first : {});
    const fn = hasOptions ? rest[0] : first;
    const args = hasOptions ? rest.slice(1) : rest;
    const targets = this.#resolve();
    const buffers = serialize(args, 'args', this.source(fn));
    const channels = targets.map((engine) =>
      this.client.channel({ content: { kind: 'apply' }, route: 'direct', targets: [engine], buffers, options: this.wire, channel: window }, engine),
    );
    return this.#single ? channels[0]! : new MultiChannel(channels);
  }

  /**
   * Partition `items` into one contiguous block per target and call `fn` on
   * each item there; several sequences are zipped. Results come back in input order.
   * @example await rc.directView().map((x: number) => x + 1, [1, 2, 3, 4]); // [2, 3, 4, 5]
   */
  map<T, R>(fn: (item: T) => R | Promise<R>, items: Sequence<T>): AsyncResult<Awaited<R>[], false>;
  map<T1, T2, R>(fn: (a: T1, b: T2) => R | Promise<R>, a: Sequence<T1>, b: Sequence<T2>): AsyncResult<Awaited<R>[], false>;
  map<T1, T2, T3, R>(
    fn: (a: T1, b: T2, c: T3) => R | Promise<R>,
    a: Sequence<T1>,
    b: Sequence<T2>,
    c: Sequence<T3>,
  ): AsyncResult<Awaited<R>[], false>;
  map(fn: (...args: never[]) => unknown, ...rest: unknown[]): AsyncResult<unknown[], false> {
    const { items, spread } = mapArgs(rest, []);
    const targets = this.#resolve();
    const src = this.source(fn);
    const blocks = partition(items, targets.length);
    const content = spread ? { kind: 'map' as const, spread: true } : { kind: 'map' as const };
    const tasks = targets.map((engine, i) =>
      this.client.submit({ content, route: 'direct', targets: [engine], buffers: serialize(blocks[i], 'items', src), options: this.wire }),
    );
    const shape = { items: 'chunks' as const, ordered: true, sizes: blocks.map((b) => b.length) };
    return new AsyncResult(tasks, false, (v, order) => concatChunks<unknown>(v, order, true), shape);
  }

  /**
   * Partition `items` into one contiguous block per target and run `fn` on each block there; concatenate.
   * @example await rc.directView().mapChunks((xs: number[]) => xs.map((x) => x * 2), [1, 2, 3, 4]);
   */
  mapChunks<T, R>(fn: (items: T[]) => R[] | Promise<R[]>, items: Sequence<T>, _opts?: MapOptions): AsyncResult<R[], false> {
    const all = toArray(checkItems('items', items) as Sequence<T>);
    const targets = this.#resolve();
    const blocks = partition(all, targets.length);
    const chunks = targets.map((t, i) => ({ items: blocks[i]!, targets: [t], route: 'direct' as const }));
    return this.chunkTasks(fn, chunks, true) as AsyncResult<R[], false>;
  }

  protected self(): this {
    return this;
  }

  /**
   * Run a code string in each target's namespace; `var` and `let` names persist there.
   * TypeScript is stripped of its types (always with `typescript: true`).
   * @example await dv.execute('var counter = 0');
   */
  execute(code: string, opts: { typescript?: boolean; filename?: string } = {}): AsyncResult<PerTarget<S, undefined>, S> {
    if (typeof code !== 'string') throw new TypeError(`execute takes a code string, got ${show(code)}`);
    checkOptionKeys('execute options', opts, ['typescript', 'filename']);
    const content = {
      kind: 'execute' as const,
      code,
      ...(opts.typescript ? { typescript: true } : {}),
      ...(opts.filename ? { filename: opts.filename } : {}),
    };
    return this.#each(this.#resolve(), { content, buffers: [] });
  }

  /**
   * Run a .js or .ts file's code in each target's namespace, like `execute`
   * (the file is read here and sent; its path names it in remote stacks).
   * @example await dv.run('./setup.ts');
   */
  run(file: string): AsyncResult<PerTarget<S, undefined>, S> {
    if (typeof file !== 'string') throw new TypeError(`run takes a file path, got ${show(file)}`);
    const path = resolvePath(file);
    const code = readFileSync(path, 'utf8');
    return this.execute(code, { typescript: /\.[mc]?tsx?$/.test(path), filename: path });
  }

  /**
   * Reset each target's namespace: pushed values and globals from `execute` are gone
   * (the engine starts a fresh execution worker).
   * @example await dv.clear();
   */
  clear(): AsyncResult<PerTarget<S, undefined>, S> {
    return this.#each(this.#resolve(), { content: { kind: 'clear' }, buffers: [] });
  }

  /**
   * Partition `items` into contiguous blocks, one per target in order, and push
   * each block as `name` there. Typed arrays are split as typed arrays. With
   * `flatten`, a block of one item is pushed as the item itself.
   * @example await dv.scatter('part', [...Array(100).keys()]); await dv.gather('part');
   */
  scatter(name: string, items: ArrayLike<unknown> | Iterable<unknown>, opts: { flatten?: boolean } = {}): AsyncResult<undefined[], false> {
    checkName('scatter: the name', name);
    checkItems('scatter: the items', items);
    const { flatten = false } = checkOptionKeys('scatter options', opts, ['flatten']) as { flatten?: boolean };
    const targets = this.#resolve();
    const blocks = partitionLike(items, targets.length);
    const tasks = targets.map((engine, i) => {
      const block = blocks[i]!;
      const value = flatten && lengthOf(block) === 1 ? (block as ArrayLike<unknown>)[0] : block;
      const buffers = serialize({ [name]: value }, 'scattered');
      return this.client.submit({ content: { kind: 'push' }, route: 'direct', targets: [engine], buffers, options: this.wire });
    });
    return new AsyncResult(tasks, false, (v) => v as undefined[]);
  }

  /**
   * Pull `name` from every target and concatenate, in target order: arrays
   * into one array, typed arrays of one kind into one typed array.
   * @example const all = await dv.gather('part');
   */
  gather<T = unknown>(name: string): AsyncResult<T[], false>;
  gather<T extends TypedArray>(name: string): AsyncResult<T, false>;
  gather(name: string): AsyncResult<unknown, false> {
    checkNamePath('gather: the name', name);
    const targets = this.#resolve();
    const tasks = this.#send(targets, { content: { kind: 'pull', names: [name] }, buffers: [] });
    return new AsyncResult(tasks, false, (v) => concatParts(v.map((x) => (x as unknown[])[0])));
  }

  /**
   * Set names in each target's namespace; functions run there see them as globals.
   * @example await dv.push({ a: 10, table: new Map([[1, 'x']]) });
   */
  push(record: Record<string, unknown>): AsyncResult<PerTarget<S, undefined>, S> {
    // JavaScript callers may pass anything
    const given: unknown = record;
    if (given === null || typeof given !== 'object' || Array.isArray(given)) {
      throw new TypeError(`push takes an object of names to values, e.g. { a: 10 }, got ${show(given)}`);
    }
    for (const k of Object.keys(record)) checkName('push: a name', k);
    const buffers = serialize(record, 'pushed');
    return this.#each(this.#resolve(), { content: { kind: 'push' }, buffers });
  }

  /**
   * Read a name (or several) from each target's namespace; a name may be a dotted path (`cfg.size`).
   * @example const a = await rc.directView(0).pull('a');
   * @example const [a, b] = await rc.directView(0).pull(['a', 'b']);
   */
  pull<V = unknown>(name: string): AsyncResult<PerTarget<S, V>, S>;
  pull<V extends unknown[] = unknown[]>(names: string[]): AsyncResult<PerTarget<S, V>, S>;
  pull(names: string | string[]): AsyncResult<PerTarget<S, unknown>, S> {
    const one = typeof names === 'string';
    const given: unknown = names;
    if (!one && !Array.isArray(given)) throw new TypeError(`pull takes a name or an array of names, got ${show(given)}`);
    const list = one ? [names] : names;
    list.forEach((n, i) => checkNamePath(one ? 'pull: the name' : `pull: names[${i}]`, n));
    const single = this.#single;
    return this.#each(this.#resolve(), { content: { kind: 'pull', names: list }, buffers: [] }, (v) => {
      const per = v.map((x) => (one ? (x as unknown[])[0] : x));
      return (single ? per[0] : per) as PerTarget<S, unknown>;
    });
  }
}
