/**
 * The Scheduler, without processes, driven as the controller drives it: hwm,
 * targets, blacklists, priorities, LRU order, engines joining and leaving,
 * and the random source it hands to its scheme.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Scheduler } from '../../controller/scheduler.js';
import type { SchedEngine, SchedTask } from '../../controller/scheduler.js';
import { schemes } from '../../controller/schemes/index.js';
import type { PickEngine } from '../../controller/schemes/index.js';
import { seq } from '../support/index.js';

const { leastload, lru, plainrandom } = schemes;

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
