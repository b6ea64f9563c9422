/**
 * The durable TaskStore: task records, the requests of unfinished tasks and
 * the replies of finished ones in a SQLite file (WAL mode) in the profile, so
 * a controller that dies loses nothing a restarted one cannot take up.
 *
 * Writes are batched: `add`, `update` and `finish` mark a task dirty, and
 * `flush` (called by the controller before any message leaves it) writes
 * every dirty task in one transaction. A task's row is written once per
 * flush however often it changed, so the hot path pays one upsert per task
 * per event-loop turn, not one per status change.
 *
 * Bounded on disk as the memory store is in memory: finished rows beyond
 * `maxRecords` (deleted in batches, once 1% over), or replies beyond
 * `maxBytes` in total, are deleted oldest first; a reply larger than `resultMaxBytes` is kept in memory only (the
 * row says so), and only the last `maxMemoryResults` of those.
 *
 * A request whose payload (its buffers) is larger than `requestMaxBytes` is
 * written without it (`payload_kept` 0): writing 100 MB in the controller's
 * event loop would stall every client and engine for a good part of a
 * second, and the client that sent it keeps it until the task settles. A
 * restarted controller asks that client for it again (controller/recovery.ts).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { OutcomeCache } from './outcomes.js';
import { matches } from './record.js';
import type { Outcome, TaskQuery, TaskRecord } from './record.js';
import type { RestoredTask, StoreCounts, StoredRequest, StoredTask, TaskStore } from './store.js';

export interface SqliteStoreLimits {
  /** finished records kept (default 100,000) */
  maxRecords: number;
  /** bytes of finished tasks' replies kept on disk (default 1 GiB) */
  maxBytes: number;
  /** a reply larger than this stays in memory only (default 1 MiB) */
  resultMaxBytes: number;
  /** outcomes kept for dependencies (default 200,000) */
  maxOutcomes: number;
  /** replies too large for the file kept in memory (default 64) */
  maxMemoryResults: number;
  /** a request whose buffers are larger is written without them (default 1 MiB) */
  requestMaxBytes: number;
}

// small columns first: reading one after a large blob would walk the blob's overflow pages
const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY,
  msg_id TEXT NOT NULL,
  finished INTEGER NOT NULL,
  reply_bytes INTEGER NOT NULL DEFAULT 0,
  reply_note TEXT,
  record TEXT NOT NULL,
  client BLOB,
  request BLOB,
  reply BLOB,
  payload_kept INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

interface Dirty {
  record: TaskRecord;
  request: StoredRequest | undefined;
  reply: readonly Buffer[] | undefined;
  /** its row's rowid, once written */
  seq: number | undefined;
}

interface Row {
  seq: number;
  msg_id: string;
  finished: number;
  record: string;
  request: Buffer | null;
  client: Buffer | null;
  reply: Buffer | null;
  reply_note: string | null;
  payload_kept: number;
}

/** Open (creating) the store at `path`; a file that is not a usable store fails with an error naming it and the fix. */
export function openSqliteStore(path: string, limits: Partial<SqliteStoreLimits> = {}): SqliteTaskStore {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    return new SqliteTaskStore(new Database(path), path, limits);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(
      `cannot use the task store ${path}: ${why}. Move or delete the file (the controller makes a new one), ` +
        'or start without a durable store: --store none',
      { cause: e },
    );
  }
}

export class SqliteTaskStore implements TaskStore {
  readonly where: string;
  readonly limits: SqliteStoreLimits;
  readonly #db: Database.Database;
  readonly #dirty = new Map<string, Dirty>();
  /**
   * every row's rowid by msg_id (no index on msg_id in the file: each insert and
   * delete then writes one b-tree, not two)
   */
  readonly #seqOf = new Map<string, number>();
  /** unfinished tasks (their records, by reference) */
  readonly #live = new Map<string, Dirty>();
  /** outcomes of tasks finished lately (older ones are read from the file) */
  readonly #outcomes: OutcomeCache;
  /** replies too large for the file, newest last */
  readonly #memReplies = new Map<string, readonly Buffer[]>();
  #finishedRows: number;
  /** finished rows allowed over maxRecords before a cull (1%: 0 below 100 records) */
  readonly #slack: number;
  #replyBytes: number;
  #submitted = 0;
  #completed = 0;
  readonly #insert: Statement;
  readonly #update: Statement;
  readonly #finish: Statement;
  readonly #get: Statement;
  readonly #getRecord: Statement;
  readonly #oldest: Statement;
  readonly #deleteTo: Statement;
  readonly #setMeta: Statement;
  readonly #getMeta: Statement;
  readonly #write: (items: Dirty[]) => void;

  constructor(db: Database.Database, where: string, limits: Partial<SqliteStoreLimits> = {}) {
    this.#db = db;
    this.where = where;
    this.limits = {
      maxRecords: 100_000,
      maxBytes: 1024 ** 3,
      resultMaxBytes: 1024 ** 2,
      maxOutcomes: 200_000,
      maxMemoryResults: 64,
      requestMaxBytes: 1024 ** 2,
      ...limits,
    };
    this.#outcomes = new OutcomeCache(this.limits.maxOutcomes);
    this.#slack = Math.floor(this.limits.maxRecords / 100);
    db.pragma('journal_mode = WAL');
    // a killed process loses nothing WAL has written; the OS syncs it (a power cut may lose the last transactions)
    db.pragma('synchronous = NORMAL');
    db.pragma('journal_size_limit = 67108864');
    db.exec(SCHEMA);
    // a file from before payload_kept: every request in it was written whole
    const columns = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('tasks') as string[];
    if (!columns.includes('payload_kept')) db.exec('ALTER TABLE tasks ADD COLUMN payload_kept INTEGER NOT NULL DEFAULT 1');
    db.prepare('SELECT count(*) FROM tasks').pluck().get(); // a corrupt file fails here, at open
    this.#insert = db.prepare('INSERT INTO tasks (msg_id, finished, record, request, client, payload_kept) VALUES (?, 0, ?, ?, ?, ?)');
    this.#update = db.prepare('UPDATE tasks SET record = ? WHERE seq = ?');
    this.#finish = db.prepare(
      'UPDATE tasks SET finished = 1, record = ?, request = NULL, client = NULL, reply = ?, reply_bytes = ?, reply_note = ? WHERE seq = ?',
    );
    this.#get = db.prepare('SELECT * FROM tasks WHERE seq = ?');
    this.#getRecord = db.prepare('SELECT finished, record FROM tasks WHERE seq = ?');
    this.#oldest = db.prepare('SELECT seq, msg_id AS id, reply_bytes AS bytes FROM tasks WHERE finished = 1 ORDER BY seq LIMIT ?');
    this.#deleteTo = db.prepare('DELETE FROM tasks WHERE finished = 1 AND seq <= ?');
    this.#setMeta = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.#getMeta = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    this.#write = db.transaction((items: Dirty[]) => {
      for (const d of items) this.#writeOne(d);
      // in the same transaction: one commit per flush
      // deleting a row rewrites its page: a batch at a time (past 1% over) costs far less than a row per flush
      if (this.#finishedRows > this.limits.maxRecords + this.#slack || this.#replyBytes > this.limits.maxBytes) this.#cull();
    });
    for (const row of db.prepare('SELECT seq, msg_id AS id FROM tasks').iterate() as IterableIterator<{ seq: number; id: string }>) {
      this.#seqOf.set(row.id, row.seq);
    }
    const totals = db.prepare('SELECT count(*) AS n, total(reply_bytes) AS bytes FROM tasks WHERE finished = 1').get() as {
      n: number;
      bytes: number;
    };
    this.#finishedRows = totals.n;
    this.#replyBytes = totals.bytes;
  }

  #rememberOutcome(r: TaskRecord): void {
    this.#outcomes.remember(r.msgId, r.status === 'done', r.engineId);
  }

  add(record: TaskRecord, request?: StoredRequest): void {
    const d: Dirty = { record, request, reply: undefined, seq: undefined };
    this.#live.set(record.msgId, d);
    this.#dirty.set(record.msgId, d);
    this.#submitted++;
  }

  update(record: TaskRecord): void {
    const d = this.#live.get(record.msgId);
    if (d) this.#dirty.set(record.msgId, d);
  }

  finish(record: TaskRecord, reply: readonly Buffer[]): void {
    const d = this.#live.get(record.msgId);
    if (!d || d.reply !== undefined) return;
    this.#live.delete(record.msgId);
    // received frames may be views into a large packed batch: keep copies, not the batch
    d.reply = reply.map((f) => (f.byteOffset === 0 && f.buffer.byteLength === f.byteLength ? f : Buffer.from(f)));
    this.#dirty.set(record.msgId, d);
    this.#rememberOutcome(record);
    this.#completed++;
  }

  flush(): void {
    if (this.#dirty.size === 0 || !this.#db.open) return;
    const items = [...this.#dirty.values()];
    this.#dirty.clear();
    this.#write(items);
  }

  #writeOne(d: Dirty): void {
    const r = d.record;
    const json = JSON.stringify(r);
    if (d.seq === undefined) {
      const frames = d.request?.frames;
      // signature, header, parent, metadata, content, then the buffers
      const kept = frames === undefined || frames.slice(5).reduce((n, f) => n + f.length, 0) <= this.limits.requestMaxBytes;
      const request = frames === undefined ? null : encodeFrames(kept ? frames : frames.slice(0, 5));
      const info = this.#insert.run(r.msgId, json, request, d.request?.client ?? null, kept ? 1 : 0);
      d.seq = Number(info.lastInsertRowid);
      this.#seqOf.set(r.msgId, d.seq);
      d.request = undefined; // written: the task's own copy serves until it finishes
      if (d.reply === undefined) return;
    } else if (d.reply === undefined) {
      this.#update.run(json, d.seq);
      return;
    }
    const bytes = d.reply.reduce((n, f) => n + f.length, 0);
    let blob: Buffer | null = null;
    let note: string | null = null;
    if (bytes <= this.limits.resultMaxBytes) blob = encodeFrames(d.reply);
    else {
      note = `its reply (${bytes} bytes) is larger than the store keeps (storeResultMaxBytes ${this.limits.resultMaxBytes}): kept in memory only`;
      this.#memReplies.set(r.msgId, d.reply);
      if (this.#memReplies.size > this.limits.maxMemoryResults) this.#memReplies.delete(this.#memReplies.keys().next().value!);
    }
    this.#finish.run(json, blob, blob?.length ?? 0, note, d.seq);
    this.#finishedRows++;
    this.#replyBytes += blob?.length ?? 0;
  }

  /**
   * Delete the oldest finished rows until the store is within its limits. In
   * a steady stream a few rows are over at each flush: only as many are read.
   */
  #cull(): void {
    const { maxRecords, maxBytes } = this.limits;
    while (this.#finishedRows > maxRecords || (this.#replyBytes > maxBytes && this.#finishedRows > 1)) {
      const rows = this.#oldest.all(Math.min(1000, Math.max(16, this.#finishedRows - maxRecords))) as { seq: number; id: string; bytes: number }[];
      if (rows.length === 0) break;
      let last = -1;
      let n = 0;
      let bytes = 0;
      for (const row of rows) {
        if (this.#finishedRows - n <= maxRecords && this.#replyBytes - bytes <= maxBytes) break;
        last = row.seq;
        n++;
        bytes += row.bytes;
        this.#seqOf.delete(row.id);
        this.#memReplies.delete(row.id);
      }
      if (last < 0) break;
      this.#deleteTo.run(last);
      this.#finishedRows -= n;
      this.#replyBytes -= bytes;
    }
  }

  get(msgId: string): StoredTask | undefined {
    const live = this.#live.get(msgId);
    if (live) return { record: live.record, reply: undefined };
    const pending = this.#dirty.get(msgId);
    if (pending?.reply) return { record: pending.record, reply: pending.reply };
    const seq = this.#seqOf.get(msgId);
    const row = seq === undefined ? undefined : (this.#get.get(seq) as Row | undefined);
    if (!row) return undefined;
    const record = JSON.parse(row.record) as TaskRecord;
    if (row.finished === 0) return { record, reply: undefined };
    const reply = row.reply ? decodeFrames(row.reply) : this.#memReplies.get(msgId);
    if (reply) return { record, reply };
    return { record, reply: undefined, replyNote: row.reply_note ?? 'its reply was not kept' };
  }

  outcome(msgId: string): Outcome | 'pending' | undefined {
    const o = this.#outcomes.get(msgId);
    if (o) return o;
    if (this.#live.has(msgId)) return 'pending';
    // finished before this controller started (or its outcome left memory): read from the file
    const seq = this.#seqOf.get(msgId);
    const row = seq === undefined ? undefined : (this.#getRecord.get(seq) as Pick<Row, 'finished' | 'record'> | undefined);
    if (!row || row.finished === 0) return undefined;
    const r = JSON.parse(row.record) as TaskRecord;
    return { ok: r.status === 'done', engineId: r.engineId };
  }

  query(q: TaskQuery): TaskRecord[] {
    this.flush();
    const out: TaskRecord[] = [];
    for (const row of this.#db.prepare('SELECT record FROM tasks ORDER BY seq').pluck().iterate() as IterableIterator<string>) {
      const r = JSON.parse(row) as TaskRecord;
      if (matches(r, q)) out.push(r);
    }
    out.sort((a, b) => a.submitted - b.submitted);
    return q.limit !== undefined && out.length > q.limit ? out.slice(out.length - q.limit) : out;
  }

  purge(msgIds: readonly string[] | 'all'): number {
    this.flush();
    const sum = this.#db.prepare('SELECT count(*) AS n, total(reply_bytes) AS bytes FROM tasks WHERE finished = 1');
    const before = sum.get() as { n: number; bytes: number };
    const ids = msgIds === 'all' ? [...this.#seqOf.keys()] : msgIds;
    const del = this.#db.prepare('DELETE FROM tasks WHERE finished = 1 AND seq = ?');
    this.#db.transaction(() => {
      for (const id of ids) {
        const seq = this.#seqOf.get(id);
        if (seq === undefined || del.run(seq).changes === 0) continue; // unknown, or unfinished: stays
        this.#seqOf.delete(id);
        this.#memReplies.delete(id);
      }
    })();
    const after = sum.get() as { n: number; bytes: number };
    this.#finishedRows = after.n;
    this.#replyBytes = after.bytes;
    return before.n - after.n;
  }

  counts(): StoreCounts {
    return { submitted: this.#submitted, completed: this.#completed, records: this.#finishedRows + this.#live.size };
  }

  restore(): RestoredTask[] {
    this.flush();
    const rows = this.#db.prepare('SELECT * FROM tasks WHERE finished = 0 ORDER BY seq').all() as Row[];
    const out: RestoredTask[] = [];
    for (const row of rows) {
      const record = JSON.parse(row.record) as TaskRecord;
      if (!row.request || !row.client) continue;
      const d: Dirty = { record, request: undefined, reply: undefined, seq: row.seq };
      this.#live.set(record.msgId, d);
      out.push({ record, request: { frames: decodeFrames(row.request), client: row.client }, payloadKept: row.payload_kept !== 0 });
    }
    // counted as submitted to this store, so that submitted - completed stays the number unfinished
    this.#submitted += out.length;
    return out;
  }

  getMeta(key: string): string | undefined {
    return this.#getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    this.#setMeta.run(key, value);
  }

  close(): void {
    if (!this.#db.open) return;
    try {
      this.flush();
    } finally {
      this.#db.close();
    }
  }
}

/** Frames as one blob: a count, each length (uint32 LE), then the bytes. */
export function encodeFrames(frames: readonly Buffer[]): Buffer {
  const head = Buffer.allocUnsafe(4 + 4 * frames.length);
  head.writeUInt32LE(frames.length, 0);
  frames.forEach((f, i) => head.writeUInt32LE(f.length, 4 + 4 * i));
  return Buffer.concat([head, ...frames]);
}

export function decodeFrames(blob: Buffer): Buffer[] {
  const n = blob.readUInt32LE(0);
  let at = 4 + 4 * n;
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const len = blob.readUInt32LE(4 + 4 * i);
    out.push(blob.subarray(at, at + len));
    at += len;
  }
  if (at !== blob.length) throw new Error(`a stored message is damaged (${blob.length} bytes, frames say ${at})`);
  return out;
}
