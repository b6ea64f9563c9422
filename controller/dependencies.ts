/**
 * Dependencies between tasks. `after` (time): run once these have finished;
 * `follow` (location): run where these ran. `all` or any; `success` and
 * `failure` say which outcomes count.
 */
import type { DepSpec, Outcome } from './store/record.js';

export type DepState =
  | { kind: 'met'; /** for a location dependency, where the task may run */ engines: number[] | undefined }
  | { kind: 'wait' }
  | { kind: 'impossible'; why: string };

/**
 * Evaluate a dependency against task outcomes.
 * @param location true for `follow`: the engines the dependencies ran on restrict the task
 */
export function evaluate(dep: DepSpec, outcome: (id: string) => Outcome | 'pending' | undefined, location: boolean): DepState {
  const acceptable = (o: Outcome): boolean => (o.ok ? dep.success : dep.failure);
  const wanted = dep.success && dep.failure ? 'finished' : dep.success ? 'succeeded' : 'failed';
  let pending = 0;
  const good: Outcome[] = [];
  const bad: string[] = [];
  for (const id of dep.ids) {
    const o = outcome(id);
    if (o === undefined || o === 'pending') pending++;
    else if (acceptable(o)) good.push(o);
    else bad.push(id);
  }
  if (dep.all) {
    if (bad.length > 0) return { kind: 'impossible', why: `dependency ${bad[0]} has not ${wanted} and never will` };
    if (location) {
      const engines = new Set(good.map((o) => o.engineId));
      if (engines.has(null)) return { kind: 'impossible', why: 'a dependency to follow never ran on an engine' };
      if (engines.size > 1) {
        return {
          kind: 'impossible',
          why: `follow-all over results that ran on engines ${[...engines].sort().join(' and ')}: no one engine has them all`,
        };
      }
      if (pending > 0) return { kind: 'wait' };
      return { kind: 'met', engines: [...engines] as number[] };
    }
    return pending > 0 ? { kind: 'wait' } : { kind: 'met', engines: undefined };
  }
  if (good.length > 0) {
    const engines = location ? [...new Set(good.map((o) => o.engineId).filter((e): e is number => e !== null))] : undefined;
    if (engines && engines.length === 0) return { kind: 'impossible', why: 'no dependency to follow ran on an engine' };
    return { kind: 'met', engines };
  }
  if (pending > 0) return { kind: 'wait' };
  return { kind: 'impossible', why: `none of the ${dep.ids.length} dependencies has ${wanted}` };
}

/** Tasks waiting on others to finish, by the msg_id they wait for. */
export class Dependents<T> {
  readonly #waiting = new Map<string, Set<T>>();

  /** `task` waits for each of `ids`. */
  add(task: T, ids: Iterable<string>): void {
    for (const id of ids) {
      let set = this.#waiting.get(id);
      if (!set) this.#waiting.set(id, (set = new Set()));
      set.add(task);
    }
  }

  /** The tasks that waited for `id` (which has finished); they wait for it no more. */
  take(id: string): T[] {
    const set = this.#waiting.get(id);
    if (!set) return [];
    this.#waiting.delete(id);
    return [...set];
  }
}
