/**
 * Notebooks in tests: reading a notebook's cells and outputs, running
 * `tscluster nbrun` as a child process, and the Jupyter gate of the notebook
 * suite.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from './env.js';
import { commandGate } from './gates.js';
import { pidGone, runNode, showResult } from './processes.js';
import type { CliResult } from './processes.js';

/** The classic Jupyter notebook server, which `tscluster nbrun` drives. */
export const jupyterGate = (): ReturnType<typeof commandGate> =>
  commandGate({
    name: 'jupyter notebook',
    command: 'jupyter',
    versionArgs: ['notebook', '--version'],
    install: 'apt-get install -y jupyter-notebook',
  });

export interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  ename?: string;
  evalue?: string;
  traceback?: string[];
  /** display_data / execute_result: the content by MIME type */
  data?: Record<string, string | string[]>;
}
export interface NotebookCell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: NotebookCell[];
  metadata: { kernelspec?: { name?: string } };
}

/** A notebook's multi-line string (a list of lines, or one string) as one string. */
export const joined = (s: string | string[] | undefined): string => (Array.isArray(s) ? s.join('') : (s ?? ''));

export function readNotebook(path: string): Notebook {
  return JSON.parse(readFileSync(path, 'utf8')) as Notebook;
}

/** The cell with this id (asserted to exist). */
export function cell(nb: Notebook, id: string): NotebookCell {
  const c = nb.cells.find((x) => x.id === id);
  assert.ok(c, `no cell with id ${id}`);
  return c;
}

/** A cell's stdout as one string. */
export function cellStdout(nb: Notebook, id: string): string {
  return (cell(nb, id).outputs ?? [])
    .filter((o) => o.output_type === 'stream' && o.name === 'stdout')
    .map((o) => joined(o.text))
    .join('');
}

/** A cell's HTML outputs (text/html of display_data and execute_result), each as one string. */
export function cellHtml(nb: Notebook, id: string): string[] {
  return (cell(nb, id).outputs ?? []).flatMap((o) => (o.data?.['text/html'] === undefined ? [] : [joined(o.data['text/html'])]));
}

/** A string without any whitespace, to compare printed values however they were wrapped. */
export const squeeze = (s: string): string => s.replace(/\s+/g, '');

/** Every error output of a notebook, as `cell <id>: <ename>: <evalue>`. */
export function errorOutputs(nb: Notebook): string[] {
  return nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.output_type === 'error').map((o) => `cell ${c.id}: ${o.ename}: ${o.evalue}`));
}

/** The notebooks of the repository. */
export const NOTEBOOKS = join(ROOT, 'notebooks');

/** The .ipynb files in notebooks/, sorted. */
export const notebookFiles = (): string[] =>
  readdirSync(NOTEBOOKS)
    .filter((f) => f.endsWith('.ipynb'))
    .sort();

/** A finished `tscluster nbrun`. */
export type NbrunResult = CliResult & { ms: number };

/** `tscluster nbrun ...` as a child process, from the project root. `onStart` gets the child (to signal it). */
export function nbrun(
  args: string[],
  { timeoutMs = 400_000, onStart }: { timeoutMs?: number; onStart?: (c: ChildProcess, out: () => string) => void } = {},
): Promise<NbrunResult> {
  return runNode(CLI, ['nbrun', ...args], { cwd: ROOT, timeoutMs, onStart, label: 'tscluster' });
}

/** The pid of the temporary server nbrun reported, checked gone. */
export function assertServerGone(r: NbrunResult): void {
  const m = /started a Jupyter server \(pid (\d+)\)/.exec(r.stdout);
  assert.ok(m, `nbrun reported no server pid\n${showResult(r)}`);
  assert.ok(pidGone(Number(m[1])), `the Jupyter server pid ${m[1]} is still there`);
}
