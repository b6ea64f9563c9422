/**
 * Work stealing. With prefetch, an engine holds a task ready behind the one
 * it runs; when another engine goes idle and nothing is queued, the ready
 * task of the busiest engine is asked back (a steal_request), and, if it has
 * not started, the engine hands it back (steal_reply) and the scheduler gives
 * it to the idle one. So a short task never waits behind a long one while an
 * engine is idle, and no task runs twice: the engine's runner gives back only
 * what it has not handed to its execution worker.
 */
import type { EngineState } from './registry.js';
import type { Task } from './task.js';

/** A steal to ask for: from `victim`, the task `task`. */
export interface Steal {
  victim: EngineState;
  task: Task;
}

/**
 * The steals that would put the `engines` that are idle to work: for each
 * idle engine, the most recently sent load-balanced task it may run of the
 * engine holding the most tasks (two at least: one runs) that is not asked
 * already (one steal_request at a time per engine).
 */
export function stealsFor(engines: readonly EngineState[]): Steal[] {
  const out: Steal[] = [];
  const victims = new Set<EngineState>();
  for (const thief of engines) {
    if (thief.load !== 0 || thief.retiring !== undefined) continue;
    let best: Steal | undefined;
    for (const e of engines) {
      if (e === thief || e.load < 2 || e.stealing || victims.has(e) || (best && e.load <= best.victim.load)) continue;
      const task = lastStealable(e, thief);
      if (task) best = { victim: e, task };
    }
    if (!best) break;
    victims.add(best.victim);
    out.push(best);
  }
  return out;
}

function lastStealable(e: EngineState, thief: EngineState): Task | undefined {
  let last: Task | undefined;
  for (const t of e.inFlight) {
    if (t.record.route !== 'lb' || t.abort !== undefined) continue;
    if (t.targets !== undefined && !t.targets.includes(thief.id)) continue;
    if (t.blacklist?.has(thief.id)) continue;
    last = t;
  }
  return last;
}
