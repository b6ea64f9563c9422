/**
 * Notebooks in nbformat 4: the types nbrun uses, reading a notebook (checked
 * enough to run it: a clear error naming the file and what is wrong), and
 * writing it back as Jupyter does.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';

export type MultilineString = string | string[];
export type MimeBundle = Record<string, unknown>;

export interface StreamOutput {
  output_type: 'stream';
  name: string;
  text: MultilineString;
}
export interface DataOutput {
  output_type: 'display_data' | 'execute_result';
  data: MimeBundle;
  metadata: Record<string, unknown>;
  execution_count?: number | null;
}
export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DataOutput | ErrorOutput;

export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: MultilineString;
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: { kernelspec?: { name?: string; display_name?: string; language?: string }; language_info?: unknown; [k: string]: unknown };
  cells: Cell[];
}

export const text = (s: MultilineString): string => (Array.isArray(s) ? s.join('') : s);

/** Jupyter stores strings as lists of lines, each keeping its newline. */
function lines(s: string): string[] {
  return s.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}

function splitBundle(data: MimeBundle): MimeBundle {
  const out: MimeBundle = {};
  for (const [mime, v] of Object.entries(data)) out[mime] = typeof v === 'string' && !isJsonMime(mime) ? lines(v) : v;
  return out;
}

/** The notebook as Jupyter writes it: keys sorted, indent 1, multi-line strings as lists of lines. */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((c) => {
    const cell: Cell = { ...c, source: lines(text(c.source)) };
    if (c.outputs) {
      cell.outputs = c.outputs.map((o) => {
        if (o.output_type === 'stream') return { ...o, text: lines(text(o.text)) };
        if (o.output_type === 'error') return o;
        return { ...o, data: splitBundle(o.data) };
      });
    }
    return cell;
  });
  return `${JSON.stringify(sortKeys({ ...nb, cells }), null, 1)}\n`;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = sortKeys((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}

/** Write the notebook atomically (never seen half-written), readable as before: mode 0666 less the umask. */
export function writeNotebook(path: string, nb: Notebook): void {
  writeFileAtomic(path, serializeNotebook(nb), 0o666);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const isMultiline = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.every((l) => typeof l === 'string'));

const CELL_TYPES = ['code', 'markdown', 'raw'];

/** What keeps the cell at `i` from being run and written back, or undefined. */
function cellProblem(c: unknown, i: number): string | undefined {
  if (!isObject(c)) return `cells[${i}] is not an object`;
  if (typeof c.cell_type !== 'string' || !CELL_TYPES.includes(c.cell_type)) return `cells[${i}] has no cell_type 'code', 'markdown' or 'raw'`;
  if (!isMultiline(c.source)) return `cells[${i}] has no source (a string or a list of strings)`;
  return undefined;
}

/** What keeps this JSON value from being an nbformat 4 notebook, or undefined. */
function notebookProblem(nb: unknown): string | undefined {
  if (!isObject(nb)) return `the file holds ${Array.isArray(nb) ? 'an array' : nb === null ? 'null' : `a ${typeof nb}`}, not an object`;
  const missing = ['cells', 'nbformat'].filter((k) => !(k in nb));
  if (missing.length > 0) return `missing ${missing.map((k) => `'${k}'`).join(' and ')}`;
  if (nb.nbformat !== 4) return `nbformat is ${JSON.stringify(nb.nbformat)}, not 4`;
  if (!Array.isArray(nb.cells)) return "'cells' is not an array";
  if (nb.metadata !== undefined && !isObject(nb.metadata)) return "'metadata' is not an object";
  for (const [i, c] of nb.cells.entries()) {
    const problem = cellProblem(c, i);
    if (problem) return problem;
  }
  return undefined;
}

/** Read a notebook, or throw an error naming the file and what is wrong with it. */
export function readNotebook(path: string): Notebook {
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the notebook: ${(e as Error).message}`, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(content);
  } catch (e) {
    throw new Error(`${path}: not a Jupyter notebook: the file is not JSON (${(e as Error).message})`, { cause: e });
  }
  const problem = notebookProblem(json);
  if (problem) throw new Error(`${path}: not a Jupyter notebook in format 4 (nbformat 4 with a cells array): ${problem}`);
  const nb = json as Omit<Notebook, 'metadata'> & { metadata?: Notebook['metadata'] };
  return { ...nb, metadata: nb.metadata ?? {} };
}
