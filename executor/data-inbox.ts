/**
 * An engine's data inbox: a ROUTER socket owned by its execution worker, on
 * which clients send the large payload frames of their requests directly
 * (`data_put`, one hop, past the controller), while the request itself goes
 * through the controller. Frames received here are ZeroMQ's own memory and
 * become the task's values in this thread without a copy.
 *
 * It never leaves a receive pending: a worker thread that is terminated (an
 * interrupted task) while ZeroMQ waits in it ends the whole process. So it
 * reads without waiting, and only while a task waits for its data; between
 * tasks, what arrives waits in ZeroMQ's queue.
 */
import { Router } from 'zeromq';
import { ProtocolError } from '../errors/protocol.js';
import { unpack } from '../protocol/packing.js';
import { DataWire } from './data-wire.js';
import type { TaskError } from './messages.js';

export interface InboxOptions {
  /** the cluster key */
  key: string;
  /** the address to bind, `tcp://ip:port` (port 0: any free one) */
  bind: string;
  /** CurveZMQ server keys, when the cluster encrypts */
  curve?: { publicKey: string; secretKey: string };
}

/** data that no task claimed is dropped after this long (its task was aborted before it reached the engine) */
const UNCLAIMED_MS = 10 * 60_000;
/** how long a task waits for its data (or a result for its ack): this, plus its bytes at 10 MB/s */
const BASE_WAIT_MS = 30_000;
const waitMsFor = (bytes: number): number => BASE_WAIT_MS + bytes / 10_000;
const BIND_TRIES = 40;
/** the longest pause between reads while the awaited bytes could still be arriving at full speed */
const SHORT_PAUSE_MS = 5;
/** the longest pause between reads of a long wait */
const LONG_PAUSE_MS = 25;

export class DataInbox {
  readonly #sock: Router;
  readonly #wire: DataWire;
  readonly #arrived = new Map<string, { frames: Buffer[]; at: number }>();
  /** data_acks received for results sent from here */
  readonly #acked = new Set<string>();
  readonly url: string;
  readonly #onDrop: (why: string) => void;

  private constructor(sock: Router, wire: DataWire, url: string, onDrop: (why: string) => void) {
    this.#sock = sock;
    this.#wire = wire;
    this.url = url;
    this.#onDrop = onDrop;
  }

  /** Bind (the same port again after a restart of the worker: the old socket may take a moment to let go of it). */
  static async open(o: InboxOptions, onDrop: (why: string) => void): Promise<DataInbox> {
    let last: unknown;
    for (let i = 0; i < BIND_TRIES; i++) {
      const sock = new Router({
        receiveTimeout: 0,
        receiveHighWaterMark: 0,
        // a result for a client not connected here fails at once (and goes through the controller instead)
        mandatory: true,
        sendHighWaterMark: 0,
        linger: 0,
        ...(o.curve ? { curveServer: true, curvePublicKey: o.curve.publicKey, curveSecretKey: o.curve.secretKey } : {}),
      });
      try {
        await sock.bind(o.bind);
        return new DataInbox(sock, new DataWire(o.key), sock.lastEndpoint ?? o.bind, onDrop);
      } catch (e) {
        last = e;
        sock.close();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`cannot bind the data endpoint ${o.bind}: ${last instanceof Error ? last.message : String(last)}`);
  }

  /**
   * The payload frames of task `msgId`, once they have arrived. Reads without
   * waiting, at short intervals, until they are there, `cancelled()` says why
   * to stop, or the wait (30 s plus the bytes at 10 MB/s) is over.
   */
  async take(msgId: string, bytes: number, cancelled: () => TaskError | undefined): Promise<Buffer[] | TaskError> {
    let stop: TaskError | undefined;
    await this.#readUntil(bytes, () => this.#arrived.has(msgId) || (stop = cancelled()) !== undefined);
    const hit = this.#arrived.get(msgId);
    if (hit) {
      this.#arrived.delete(msgId);
      return hit.frames;
    }
    return (
      stop ?? {
        ename: 'DataLinkError',
        evalue:
          `the task's ${bytes} bytes of data did not reach the engine's data endpoint (${this.url}) within ${Math.round(waitMsFor(bytes) / 1000)} s: ` +
          'the client cannot reach it (a firewall, a tunnel), or the engine restarted its execution worker. ' +
          'Connect with Client.connect({ directData: false }) to send everything through the controller.',
        traceback: [],
      }
    );
  }

  /**
   * Send the result frames of task `msgId` to the client whose data link has
   * routing id `to`, and wait until it says they arrived (the frames are this
   * thread's memory, read by ZeroMQ while it sends: nothing may change or free
   * them before). False when that client has no link here (nothing was sent).
   */
  async sendResult(to: string, msgId: string, frames: Buffer[], bytes: number): Promise<boolean> {
    const out = this.#wire.result(to, msgId, frames);
    try {
      await this.#sock.send(out);
    } catch {
      return false; // EHOSTUNREACH: not connected here
    }
    await this.#readUntil(bytes, () => this.#acked.has(msgId));
    this.#acked.delete(msgId);
    // ZeroMQ lets go of the frames through this thread's event loop: let it turn once
    await new Promise((r) => setImmediate(r));
    return true;
  }

  /**
   * Read what arrives, without ever leaving a receive pending, until `done()`
   * or the wait for `bytes` (30 s plus the bytes at 10 MB/s) is over. Between
   * reads that bring nothing, pause from 0 up to 5 ms while the bytes could
   * still be on their way at full speed (twice their time at 1 GB/s); a wait
   * longer than that (many engines sharing the cores and the link) pauses up
   * to an eighth of the time waited so far, at most 25 ms: each read costs a
   * wake-up of this thread, and with 64 engines waiting on 2 cores the reads
   * of a 5 ms rhythm took more CPU than the transfer they waited for.
   */
  async #readUntil(bytes: number, done: () => boolean): Promise<void> {
    const start = Date.now();
    const deadline = start + waitMsFor(bytes);
    const fullSpeedMs = (2 * bytes) / 1e6;
    let pause = 0;
    for (;;) {
      const got = await this.#read();
      const now = Date.now();
      if (done() || now > deadline) return;
      const waited = now - start;
      const cap = waited <= fullSpeedMs ? SHORT_PAUSE_MS : Math.min(LONG_PAUSE_MS, Math.max(SHORT_PAUSE_MS, waited / 8));
      pause = got ? 0 : Math.min(cap, pause + 1 + (pause >> 2));
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /**
   * Read what has arrived without waiting; true when something did. Asks
   * `readable` first: a receive on an empty socket fails (EAGAIN) with an
   * error and a rejected promise, which cost far more than the check, and a
   * worker waiting for its data polls often (with 64 engines on 2 cores, the
   * failed receives, their rejections and the timers between them were the
   * engines' largest JavaScript cost in a profile of a push to all).
   */
  async #read(): Promise<boolean> {
    let any = false;
    while (this.#sock.readable) {
      let frames: Buffer[];
      try {
        frames = await this.#sock.receive();
      } catch {
        break; // EAGAIN: nothing more for now
      }
      any = true;
      this.#accept(frames.slice(1));
    }
    if (any) this.#forgetUnclaimed();
    return any;
  }

  #accept(frames: Buffer[]): void {
    let messages: Buffer[][];
    try {
      messages = unpack(frames);
    } catch (e) {
      this.#drop(e);
      return;
    }
    for (const m of messages) {
      try {
        const msg = this.#wire.read(m);
        if (msg.type === 'data_put') this.#arrived.set(msg.msgId, { frames: msg.buffers, at: Date.now() });
        else this.#acked.add(msg.msgId);
      } catch (e) {
        this.#drop(e);
      }
    }
  }

  #drop(e: unknown): void {
    this.#onDrop(e instanceof ProtocolError ? `${e.reason}: ${e.message}` : String(e));
  }

  #forgetUnclaimed(): void {
    const old = Date.now() - UNCLAIMED_MS;
    for (const [id, d] of this.#arrived) if (d.at < old) this.#arrived.delete(id);
  }

  close(): void {
    this.#sock.close();
  }
}
