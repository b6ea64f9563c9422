/**
 * A scheme picks one engine for a task. It sees only the loads of the engines
 * that may take the task, in least-recently-used order (oldest first), and
 * returns an index into that list.
 */
export type PickEngine = (loads: readonly number[], random: () => number) => number;
