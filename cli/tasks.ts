/** `tscluster tasks`: the task records of a running cluster, and aborting others' work on purpose. */
import { Client } from '../client/client.js';
import type { TaskQuery, TaskRecordInfo, TaskStatus } from '../client/query.js';
import { DEFAULT_PROFILE } from '../profiles/index.js';
import { CLUSTER_OPTIONS, PROFILE_ROWS, UsageError, intFlag, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster tasks [--status S] [--label L] [--client ID] [--engine N] [--limit N] [--json]
       tscluster tasks --abort (--client ID | --all)

List the task records the controller keeps (unfinished tasks and the last
finished ones), oldest first; or abort tasks on purpose: those of one client
(its id is in the CLIENT column and in rc.id), or of every client.

Options:
  --status S             only tasks in this state (submitted, waiting, queued, running, retrying, done, failed; repeatable)
  --label L              only tasks with this label
  --client ID            only the tasks of this client
  --engine N             only tasks that ran (or run) on engine N
  --limit N              at most N, the most recent
  --json                 machine-readable output
  --abort                abort the unfinished tasks selected by --client or --all
  --all                  with --abort: every client's tasks
${PROFILE_ROWS}
  -h, --help             this help

Examples:
  tscluster tasks --status failed
  tscluster tasks --abort --client 3f2a9c1e-...`;

function table(records: TaskRecordInfo[]): string {
  const rows = [
    ['MSG ID', 'CLIENT', 'STATUS', 'ENGINE', 'LABEL', 'SUBMITTED', 'SECONDS', 'ERROR'],
    ...records.map((r) => [
      r.msgId,
      r.client.slice(0, 8),
      r.status,
      r.engineId === null ? '-' : String(r.engineId),
      r.label ?? '-',
      r.submitted.toISOString(),
      r.started && r.completed ? ((r.completed.getTime() - r.started.getTime()) / 1000).toFixed(3) : '-',
      r.ename ?? '',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function query(values: Record<string, unknown>): TaskQuery {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
  const statuses = list(values.status);
  const q: TaskQuery = {};
  if (statuses.length > 0) q.status = statuses as TaskStatus[];
  if (typeof values.label === 'string') q.label = values.label;
  if (typeof values.client === 'string') q.client = values.client;
  if (typeof values.engine === 'string') q.engineId = intFlag('engine', values.engine, 0);
  if (typeof values.limit === 'string') q.limit = intFlag('limit', values.limit, 1, 1);
  return q;
}

async function run(argv: string[]): Promise<number> {
  const options = {
    ...CLUSTER_OPTIONS,
    status: { type: 'string', multiple: true },
    label: { type: 'string' },
    client: { type: 'string' },
    engine: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    abort: { type: 'boolean' },
    all: { type: 'boolean' },
  } as const;
  const { values } = parse(argv, options, help);
  if (values.help) return (console.log(help()), 0);
  if (values.abort && !values.all && typeof values.client !== 'string') throw new UsageError(`--abort takes --client ID or --all\n\n${help()}`);
  if (values.all && !values.abort) throw new UsageError('--all goes with --abort');
  const rc = await Client.connect({ profile: String(values.profile ?? DEFAULT_PROFILE), clusterId: String(values['cluster-id'] ?? '') });
  try {
    if (values.abort) {
      const n = await rc.abort(values.all ? { all: true } : { client: String(values.client) });
      console.log(`aborted ${n} task${n === 1 ? '' : 's'}`);
      return 0;
    }
    const records = await rc.dbQuery(query(values));
    console.log(values.json ? JSON.stringify(records, null, 2) : records.length === 0 ? 'no task records' : table(records));
    return 0;
  } finally {
    await rc.close();
  }
}

export const tasks: Command = { summary: 'list task records; abort tasks of a client or of all clients', help, run };
