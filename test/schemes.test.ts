/**
 * Unit tests of the load-balancing pieces, without processes: the scheme pick
 * functions, the Scheduler (hwm, targets, blacklist, priorities, LRU order,
 * engines joining) and dependency evaluation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { evaluate } from '../controller/dependencies.js';
import type { DepSpec, Outcome } from '../controller/store/record.js';
import { Scheduler } from '../controller/scheduler.js';
import type { SchedEngine, SchedTask } from '../controller/scheduler.js';
import { schemes } from '../controller/schemes/index.js';
import type { PickEngine } from '../controller/schemes/index.js';

const { leastload, lru, plainrandom, twobin, weighted } = schemes;

/** A random() that returns the given values in turn (and fails if asked for more). */
function seq(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error(`the stub random was called more than ${values.length} times`);
    return values[i++]!;
  };
}

/** A deterministic PRNG (mulberry32), so statistical tests of the schemes see the same draws every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How often each index is picked over `draws` calls. */
function histogram(pick: PickEngine, loads: readonly number[], draws: number, random: () => number = Math.random): number[] {
  const counts = new Array<number>(loads.length).fill(0);
  for (let i = 0; i < draws; i++) {
    const k = pick(loads, random);
    assert.ok(Number.isInteger(k) && k >= 0 && k < loads.length, `index ${k} out of range for ${loads.length} engines`);
    counts[k]!++;
  }
  return counts;
}

// ------------------------------------------------------------------ schemes

describe('scheme pick functions', () => {
  test('every scheme is exported by name', () => {
    assert.deepEqual(Object.keys(schemes).sort(), ['leastload', 'lru', 'plainrandom', 'twobin', 'weighted']);
  });

  test('leastload picks the minimum load', () => {
    const never = seq();
    assert.equal(leastload([3, 1, 2], never), 1);
    assert.equal(leastload([5, 4, 3, 2, 0], never), 4);
    assert.equal(leastload([0, 9], never), 0);
    assert.equal(leastload([7], never), 0);
  });

  test('leastload ties go to the lowest index (the least recently used)', () => {
    const never = seq();
    assert.equal(leastload([0, 0, 0], never), 0);
    assert.equal(leastload([2, 1, 1], never), 1);
    assert.equal(leastload([4, 4, 0, 0], never), 2);
    assert.equal(leastload([3, 2, 5, 2, 2], never), 1);
  });

  test('lru always picks index 0, whatever the loads', () => {
    for (const loads of [[0], [0, 0], [9, 0, 0], [5, 4, 3, 2, 1], [0, 100]]) {
      assert.equal(lru(loads, Math.random), 0, JSON.stringify(loads));
    }
  });

  test('plainrandom maps a stub random sequence onto the expected indices', () => {
    const loads = [0, 0, 0, 0];
    assert.equal(plainrandom(loads, seq(0)), 0);
    assert.equal(plainrandom(loads, seq(0.2499)), 0);
    assert.equal(plainrandom(loads, seq(0.25)), 1);
    assert.equal(plainrandom(loads, seq(0.5)), 2);
    assert.equal(plainrandom(loads, seq(0.74)), 2);
    assert.equal(plainrandom(loads, seq(0.75)), 3);
    assert.equal(plainrandom(loads, seq(0.999999)), 3);
    // loads do not matter
    assert.equal(plainrandom([100, 0, 0], seq(0.1)), 0);
  });

  test('plainrandom with Math.random stays in range and is uniform (20,000 draws over 4 engines, each within 20% of 5000)', (t) => {
    const counts = histogram(plainrandom, [3, 0, 1, 7], 20000);
    t.diagnostic(`plainrandom counts: ${counts.join(', ')}`);
    for (const c of counts) assert.ok(c >= 4000 && c <= 6000, `counts ${counts.join(', ')}`);
    // chi-square with 3 degrees of freedom: 0.1% critical value is 16.27; use a far more generous bound
    const chi2 = counts.reduce((s, c) => s + (c - 5000) ** 2 / 5000, 0);
    assert.ok(chi2 < 40, `chi-square ${chi2.toFixed(2)} (counts ${counts.join(', ')})`);
  });

  test('twobin draws twice and returns the lower index (the less recently used) of the two', () => {
    const loads = [0, 0, 0, 0];
    assert.equal(twobin(loads, seq(0.9, 0.1)), 0);
    assert.equal(twobin(loads, seq(0.1, 0.9)), 0);
    assert.equal(twobin(loads, seq(0.6, 0.8)), 2);
    assert.equal(twobin(loads, seq(0.8, 0.6)), 2);
    assert.equal(twobin(loads, seq(0.99, 0.99)), 3);
    assert.equal(twobin(loads, seq(0.3, 0.3)), 1);
    // loads are ignored: only the order counts
    assert.equal(twobin([0, 0, 9, 9], seq(0.6, 0.9)), 2);
  });

  test('twobin over many draws stays in range, uses every index and favours the least recently used', (t) => {
    const counts = histogram(twobin, [0, 0, 0, 0], 20000, mulberry32(1));
    t.diagnostic(`twobin counts: ${counts.join(', ')}`);
    // P(min of two uniform draws over 4 = k) = ((4-k)^2 - (3-k)^2) / 16: 7/16, 5/16, 3/16, 1/16
    const expected = [7, 5, 3, 1].map((x) => (x / 16) * 20000);
    counts.forEach((c, i) => assert.ok(Math.abs(c - expected[i]!) < expected[i]! * 0.2, `index ${i}: ${c}, expected about ${expected[i]}`));
  });

  test('weighted prefers lighter loads: with loads [0, 10], index 0 wins almost every draw', (t) => {
    const counts = histogram(weighted, [0, 10], 20000);
    t.diagnostic(`weighted counts for loads [0, 10]: ${counts.join(', ')}`);
    assert.ok(counts[0]! >= 19990, `counts ${counts.join(', ')}`);
    // between two non-zero loads the lighter one still wins far more often
    const mixed = histogram(weighted, [1, 4], 20000, mulberry32(2));
    t.diagnostic(`weighted counts for loads [1, 4]: ${mixed.join(', ')}`);
    // P(1 wins) = P(both draws pick 1) = (0.25 / 1.25)^2 = 0.04
    assert.ok(mixed[0]! > 18000 && mixed[1]! > 400, `counts ${mixed.join(', ')}`);
  });

  test('weighted handles zero loads: all zero is uniform, a zero beats any non-zero load, a single engine is index 0', (t) => {
    const zeros = histogram(weighted, [0, 0, 0, 0], 20000, mulberry32(3));
    t.diagnostic(`weighted counts for loads [0, 0, 0, 0]: ${zeros.join(', ')}`);
    for (const c of zeros) assert.ok(c >= 4000 && c <= 6000, `counts ${zeros.join(', ')}`);
    const holes = histogram(weighted, [0, 5, 0], 20000, mulberry32(4));
    assert.ok(holes[1]! <= 2 && holes[0]! > 8000 && holes[2]! > 8000, `counts ${holes.join(', ')}`);
    assert.equal(weighted([0], seq(0.5, 0.5)), 0);
    assert.equal(weighted([3], seq(0.999, 0.999)), 0);
  });

  test('weighted with a stub random sequence: two weighted draws, the heavier weight wins', () => {
    // equal weights: x = 0.75 * total falls in the second bin; the first draw wins a tie
    assert.equal(weighted([0, 0], seq(0.75, 0.1)), 1);
    assert.equal(weighted([0, 0], seq(0.1, 0.75)), 0);
    // weights about [1, 1/3], total 4/3: 0.9 -> bin 1, 0.1 -> bin 0; the lighter load wins
    assert.equal(weighted([1, 3], seq(0.9, 0.1)), 0);
    assert.equal(weighted([1, 3], seq(0.9, 0.95)), 1);
    // a draw just below 1 lands in the last bin
    assert.equal(weighted([2, 2, 2], seq(0.9999999, 0.9999999)), 2);
  });
});

// ------------------------------------------------------------------ Scheduler

interface Eng extends SchedEngine {
  name: string;
  load: number;
}

/** What the scheduler reads of a task (SchedTask), plus a name to check placements by. */
interface T extends SchedTask {
  msgId: string;
  blacklist: Set<number> | undefined;
}

let taskCounter = 0;

function task(o: { name?: string; priority?: number; targets?: number[]; blacklist?: number[] } = {}): T {
  return {
    msgId: o.name ?? `t${taskCounter++}`,
    priority: o.priority ?? 0,
    targets: o.targets,
    blacklist: o.blacklist ? new Set(o.blacklist) : undefined,
  };
}

/**
 * A scheduler driven as the controller drives it: after every change it
 * schedules and starts each placement (raising the engine's load); placements
 * are recorded as [task name, engine id].
 */
function make(pick: PickEngine, hwm: number, ids: number[], random: () => number = Math.random) {
  const assigned: [string, number][] = [];
  const running = new Map<string, Eng>();
  const sched = new Scheduler<T, Eng>(pick, hwm, random);
  const place = (): void => {
    for (const { task: t, engine: e } of sched.schedule()) {
      e.load++;
      assigned.push([t.msgId, e.id]);
      running.set(t.msgId, e);
    }
  };
  const s = {
    submit: (t: T): void => {
      sched.submit(t);
      place();
    },
    addEngine: (e: Eng): void => {
      sched.addEngine(e);
      place();
    },
    remove: (t: T): boolean => sched.remove(t),
    removeEngine: (e: Eng): void => sched.removeEngine(e),
    placeable: (t: T): boolean => sched.placeable(t),
    pending: (): Generator<T> => sched.pending(),
    get queued(): number {
      return sched.queued;
    },
    get order(): Eng[] {
      return sched.order;
    },
  };
  const engines = new Map<number, Eng>();
  for (const id of ids) {
    const e: Eng = { id, load: 0, name: `e${id}` };
    engines.set(id, e);
    s.addEngine(e);
  }
  /** The task finished: its engine's load drops and the scheduler runs again (as the controller does on a reply). */
  const finish = (name: string): void => {
    const e = running.get(name);
    assert.ok(e, `task ${name} is not running`);
    running.delete(name);
    e.load--;
    place();
  };
  const order = (): number[] => s.order.map((e) => e.id);
  return { s, assigned, engines, finish, order };
}

describe('Scheduler', () => {
  test('new engines enter at the front of the LRU order and take work at once', () => {
    const { s, assigned, order, engines } = make(lru, 1, [0, 1]);
    assert.deepEqual(order(), [1, 0], 'the newest engine is first');
    // queued work, no engine free
    s.submit(task({ name: 'a' }));
    s.submit(task({ name: 'b' }));
    s.submit(task({ name: 'c' }));
    assert.deepEqual(assigned, [
      ['a', 1],
      ['b', 0],
    ]);
    assert.equal(s.queued, 1);
    const e2: Eng = { id: 2, load: 0, name: 'e2' };
    engines.set(2, e2);
    s.addEngine(e2);
    assert.deepEqual(assigned.at(-1), ['c', 2], 'the engine that joined took the queued task');
    assert.equal(s.queued, 0);
  });

  test('sending moves the engine to the end of the LRU order; lru rotates strictly', () => {
    const { s, assigned, order, finish } = make(lru, 0, [0, 1, 2]);
    assert.deepEqual(order(), [2, 1, 0]);
    for (let i = 0; i < 7; i++) {
      s.submit(task({ name: `t${i}` }));
      finish(`t${i}`);
    }
    assert.deepEqual(
      assigned.map(([, e]) => e),
      [2, 1, 0, 2, 1, 0, 2],
    );
    assert.deepEqual(order(), [1, 0, 2]);
  });

  test('hwm 1: one task per engine, the rest wait in the queue until an engine is free', () => {
    const { s, assigned, engines, finish } = make(leastload, 1, [0, 1]);
    for (const n of ['a', 'b', 'c', 'd']) s.submit(task({ name: n }));
    assert.deepEqual(assigned, [
      ['a', 1],
      ['b', 0],
    ]);
    assert.equal(s.queued, 2);
    assert.deepEqual(
      [...s.pending()].map((t) => t.msgId),
      ['c', 'd'],
    );
    assert.deepEqual(
      [...engines.values()].map((e) => e.load),
      [1, 1],
    );
    finish('b');
    assert.deepEqual(assigned.at(-1), ['c', 0]);
    assert.equal(s.queued, 1);
    finish('a');
    assert.deepEqual(assigned.at(-1), ['d', 1]);
    assert.equal(s.queued, 0);
  });

  test('hwm 0 (unlimited): every task is assigned at once, leastload spreads them', () => {
    const { s, assigned, engines } = make(leastload, 0, [0, 1]);
    for (let i = 0; i < 5; i++) s.submit(task());
    assert.equal(assigned.length, 5);
    assert.equal(s.queued, 0);
    assert.deepEqual([...engines.values()].map((e) => e.load).sort(), [2, 3]);
    assert.deepEqual(
      assigned.map(([, e]) => e),
      [1, 0, 1, 0, 1],
    );
  });

  test('hwm 2 allows two outstanding tasks per engine', () => {
    const { s, assigned, engines } = make(leastload, 2, [0, 1]);
    for (let i = 0; i < 5; i++) s.submit(task());
    assert.equal(assigned.length, 4);
    assert.equal(s.queued, 1);
    assert.deepEqual(
      [...engines.values()].map((e) => e.load),
      [2, 2],
    );
  });

  test('targets restrict a task to the engines named, even when another is less recently used', () => {
    const { s, assigned } = make(lru, 0, [0, 1, 2]);
    s.submit(task({ name: 'a', targets: [0] }));
    s.submit(task({ name: 'b', targets: [0, 1] }));
    s.submit(task({ name: 'c', targets: [2] }));
    assert.deepEqual(assigned, [
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
  });

  test('a blacklisted engine is never picked for that task', () => {
    const { s, assigned } = make(lru, 0, [0, 1]);
    // engine 1 is least recently used, but the task failed there
    s.submit(task({ name: 'a', blacklist: [1] }));
    assert.deepEqual(assigned, [['a', 0]]);
    // blacklist and targets combined leave nothing: the task waits, placeable() says it never can
    const t = task({ name: 'b', targets: [1], blacklist: [1] });
    assert.equal(s.placeable(t), false);
    assert.equal(s.placeable(task({ blacklist: [1] })), true);
    assert.equal(s.placeable(task({ targets: [5] })), false);
  });

  test('the scheme sees only eligible engines, in LRU order, and its index maps back onto them', () => {
    const seen: number[][] = [];
    const pickLast: PickEngine = (loads) => {
      seen.push([...loads]);
      return loads.length - 1;
    };
    const { s, assigned, engines } = make(pickLast, 0, [0, 1, 2, 3]);
    engines.get(2)!.load = 5;
    s.submit(task({ name: 'a', blacklist: [0] }));
    // order is [3, 2, 1, 0]; engine 0 is blacklisted: eligible [3, 2, 1] with loads [0, 5, 0]
    assert.deepEqual(seen, [[0, 5, 0]]);
    assert.deepEqual(assigned, [['a', 1]]);
    // a single eligible engine is taken without asking the scheme
    s.submit(task({ name: 'b', targets: [3] }));
    assert.equal(seen.length, 1);
    assert.deepEqual(assigned.at(-1), ['b', 3]);
  });

  test('priority: higher first, FIFO among equals', () => {
    const { s, assigned, finish } = make(leastload, 1, [0]);
    s.submit(task({ name: 'block' }));
    const prios: [string, number][] = [
      ['p1', 1],
      ['p5a', 5],
      ['p3', 3],
      ['p5b', 5],
      ['p0', 0],
      ['n2', -2],
      ['p0b', 0],
    ];
    for (const [name, priority] of prios) s.submit(task({ name, priority }));
    assert.deepEqual(
      [...s.pending()].map((t) => t.msgId),
      ['p5a', 'p5b', 'p3', 'p1', 'p0', 'p0b', 'n2'],
    );
    let last = 'block';
    for (let i = 0; i < prios.length; i++) {
      finish(last);
      last = assigned.at(-1)![0];
    }
    assert.deepEqual(
      assigned.map(([n]) => n),
      ['block', 'p5a', 'p5b', 'p3', 'p1', 'p0', 'p0b', 'n2'],
    );
    assert.equal(s.queued, 0);
  });

  test('a task only a busy engine can take does not block an independent task behind it', () => {
    const { s, assigned, engines, finish } = make(leastload, 1, [0, 1]);
    s.submit(task({ name: 'busy1', targets: [1] }));
    s.submit(task({ name: 'wants1', targets: [1] }));
    s.submit(task({ name: 'free' }));
    assert.deepEqual(assigned, [
      ['busy1', 1],
      ['free', 0],
    ]);
    assert.deepEqual(
      [...s.pending()].map((t) => t.msgId),
      ['wants1'],
    );
    // same across priorities: a higher-priority task waiting for engine 1 does not hold back a lower one
    s.submit(task({ name: 'hi-wants1', priority: 9, targets: [1] }));
    finish('free');
    s.submit(task({ name: 'lo-free', priority: -1 }));
    assert.deepEqual(assigned.at(-1), ['lo-free', 0]);
    assert.equal(engines.get(1)!.load, 1);
    finish('busy1');
    assert.deepEqual(assigned.at(-1), ['hi-wants1', 1], 'the higher priority goes first once engine 1 is free');
    finish('hi-wants1');
    assert.deepEqual(assigned.at(-1), ['wants1', 1]);
    assert.equal(s.queued, 0);
  });

  test('an independent task is placed even behind thousands of tasks only a busy engine can take', () => {
    const { s, assigned } = make(leastload, 1, [0, 1]);
    s.submit(task({ name: 'busy1', targets: [1] }));
    for (let i = 0; i < 5000; i++) s.submit(task({ name: `wants1-${i}`, targets: [1] }));
    s.submit(task({ name: 'free' }));
    assert.deepEqual(
      assigned,
      [
        ['busy1', 1],
        ['free', 0],
      ],
      'the idle engine takes the independent task',
    );
    assert.equal(s.queued, 5000);
  });

  test('a task placed from behind a blocked one and then submitted again (a retry) is pending once', () => {
    const { s, assigned, engines, finish } = make(leastload, 1, [0, 1]);
    s.submit(task({ name: 'busy1', targets: [1] }));
    s.submit(task({ name: 'x', targets: [1] }));
    const y = task({ name: 'y', targets: [0, 1] });
    s.submit(y);
    // y was placed on engine 0 from behind x, which waits for engine 1
    assert.deepEqual(assigned, [
      ['busy1', 1],
      ['y', 0],
    ]);
    // y fails on engine 0: the controller blacklists it there and submits it again
    engines.get(0)!.load--;
    y.blacklist = new Set([0]);
    s.submit(y);
    assert.equal(s.queued, 2);
    const pending = [...s.pending()].map((t) => t.msgId);
    assert.deepEqual(
      pending,
      ['x', 'y'],
      `each queued task once (the controller fails every pending task of a dead engine: a duplicate is failed twice), got ${pending.join(', ')}`,
    );
    // and it runs once, after x (FIFO)
    finish('busy1');
    finish('x');
    assert.deepEqual(assigned.slice(2), [
      ['x', 1],
      ['y', 1],
    ]);
    assert.equal(s.queued, 0);
    assert.deepEqual([...s.pending()], []);
  });

  test('remove() takes a queued task out; it is never assigned', () => {
    const { s, assigned, finish } = make(leastload, 1, [0]);
    s.submit(task({ name: 'a' }));
    const b = task({ name: 'b' });
    s.submit(b);
    s.submit(task({ name: 'c' }));
    assert.equal(s.remove(b), true);
    assert.equal(s.remove(b), false, 'only once');
    assert.equal(s.queued, 1);
    assert.deepEqual(
      [...s.pending()].map((t) => t.msgId),
      ['c'],
    );
    finish('a');
    assert.deepEqual(
      assigned.map(([n]) => n),
      ['a', 'c'],
    );
  });

  test('removeEngine: a removed engine gets no more work', () => {
    const { s, assigned, engines } = make(lru, 0, [0, 1]);
    s.removeEngine(engines.get(1)!);
    for (let i = 0; i < 3; i++) s.submit(task());
    assert.deepEqual(
      assigned.map(([, e]) => e),
      [0, 0, 0],
    );
    assert.equal(s.placeable(task({ targets: [1] })), false);
  });

  test('the random source given to the scheduler reaches the scheme', () => {
    const { s, assigned } = make(plainrandom, 0, [0, 1, 2], seq(0.9, 0.1, 0.5));
    for (let i = 0; i < 3; i++) s.submit(task());
    // order [2, 1, 0]: 0.9 -> index 2 = engine 0, which moves to the end (the order stays [2, 1, 0])
    assert.equal(assigned[0]![1], 0);
    // after engine 0 moved to the end the order is [2, 1, 0]; 0.1 -> index 0 = engine 2
    assert.equal(assigned[1]![1], 2);
    // order [1, 0, 2]; 0.5 -> index 1 = engine 0
    assert.equal(assigned[2]![1], 0);
  });
});

// ------------------------------------------------------------------ dependencies

function dep(ids: string[], o: Partial<Omit<DepSpec, 'ids'>> = {}): DepSpec {
  return { ids, all: o.all ?? true, success: o.success ?? true, failure: o.failure ?? false };
}

function outcomes(known: Record<string, Outcome | 'pending'>): (id: string) => Outcome | 'pending' | undefined {
  return (id) => known[id];
}

const ok = (engineId: number): Outcome => ({ ok: true, engineId });
const failed = (engineId: number | null): Outcome => ({ ok: false, engineId });

describe('dependencies: evaluate', () => {
  test('after all: waits while any is pending, met when all succeeded, impossible once one failed', () => {
    const d = dep(['a', 'b']);
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: ok(1) }), false), { kind: 'met', engines: undefined });
    const st = evaluate(d, outcomes({ a: 'pending', b: failed(1) }), false);
    assert.equal(st.kind, 'impossible', 'a failure is final even while another is pending');
  });

  test('after any: met as soon as one succeeded, waits while none has, impossible when all failed', () => {
    const d = dep(['a', 'b', 'c'], { all: false });
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending', c: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0), b: 'pending', c: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0), b: ok(1), c: 'pending' }), false), { kind: 'met', engines: undefined });
    assert.equal(evaluate(d, outcomes({ a: failed(0), b: failed(1), c: failed(0) }), false).kind, 'impossible');
  });

  test('success: false, failure: true: met only by a failure; a success makes it impossible', () => {
    const d = dep(['a'], { success: false, failure: true });
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending' }), false), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: failed(0) }), false), { kind: 'met', engines: undefined });
    const st = evaluate(d, outcomes({ a: ok(0) }), false);
    assert.equal(st.kind, 'impossible');
    assert.match((st as { why: string }).why, /failed/);
  });

  test('success and failure both count: any finished outcome meets it', () => {
    const d = dep(['a', 'b'], { success: true, failure: true });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: failed(1) }), false), { kind: 'met', engines: undefined });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(0), b: 'pending' }), false), { kind: 'wait' });
  });

  test('follow all on one engine: waits while pending, then met with that engine', () => {
    const d = dep(['a', 'b']);
    assert.deepEqual(evaluate(d, outcomes({ a: 'pending', b: 'pending' }), true), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(1), b: 'pending' }), true), { kind: 'wait' });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(1), b: ok(1) }), true), { kind: 'met', engines: [1] });
  });

  test('follow all over two engines is impossible as soon as the second engine is known (even with others pending)', () => {
    const d = dep(['a', 'b', 'c']);
    const st = evaluate(d, outcomes({ a: ok(0), b: ok(1), c: 'pending' }), true);
    assert.equal(st.kind, 'impossible');
    assert.match((st as { why: string }).why, /0 and 1/);
    assert.equal(evaluate(d, outcomes({ a: ok(0), b: ok(1), c: ok(0) }), true).kind, 'impossible');
  });

  test('follow of a task that never ran on an engine is impossible', () => {
    const d = dep(['a'], { success: true, failure: true });
    assert.equal(evaluate(d, outcomes({ a: failed(null) }), true).kind, 'impossible');
    assert.equal(evaluate(dep(['a'], { all: false, failure: true }), outcomes({ a: failed(null) }), true).kind, 'impossible');
  });

  test('follow any: met with the engines of the ones that succeeded', () => {
    const d = dep(['a', 'b', 'c'], { all: false });
    assert.deepEqual(evaluate(d, outcomes({ a: ok(2), b: 'pending', c: 'pending' }), true), { kind: 'met', engines: [2] });
    const st = evaluate(d, outcomes({ a: ok(2), b: ok(0), c: failed(1) }), true);
    assert.equal(st.kind, 'met');
    assert.deepEqual([...(st as { engines: number[] }).engines].sort(), [0, 2]);
  });

  test('a location dependency on a failed task (default success only) is impossible', () => {
    assert.equal(evaluate(dep(['a']), outcomes({ a: failed(0) }), true).kind, 'impossible');
  });
});
