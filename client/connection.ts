/**
 * A client's link to its controller: one DEALER socket and its endpoint, the
 * connect handshake (with clear errors for a wrong key, a failed CurveZMQ
 * handshake or a controller that is not there), and the watch that notices a
 * controller that is gone.
 */
import { Dealer } from 'zeromq';
import type { Observer } from 'zeromq';
import { ConnectionLost, ProtocolError, TimeoutError } from '../errors/index.js';
import { Endpoint, readAuthError } from '../protocol/index.js';
import type { AnyMessage, BuildOptions, ContentOf, Header, Incoming, Message, MsgType, ReplyOf, RequestType } from '../protocol/index.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { controllerRuns, curveClient, endpointOf, readConnectionFile } from '../profiles/index.js';
import { sameProcess } from '../util/proc.js';
import type { ConnectionInfo } from '../profiles/index.js';
import { isLocal } from '../util/net.js';

export interface ConnectionEvents {
  /** every parsed message that is not the reply to a request */
  onMessage: (msg: AnyMessage) => void;
  /** the controller is gone; the connection is closed */
  onLost: (err: ConnectionLost) => void;
  /** does the client wait for anything (tasks, results, engines)? While it does not, the connection keeps no process alive */
  busy: () => boolean;
  /** a restarted controller answers on the same address (its supervisor brought it back): the client takes up its tasks with it */
  onRestart: (hub: ContentOf<'connect_reply'>) => void;
}

export { isLocal } from '../util/net.js';

export class Connection {
  readonly #sock: Dealer;
  readonly #ep: Endpoint;
  #info: ConnectionInfo;
  readonly #file: string;
  readonly #events: ConnectionEvents;
  readonly #observer: Observer;
  #closed = false;
  /** why the connection was lost, for every later call */
  #lostError: ConnectionLost | undefined;
  #lastHeard = Date.now();
  #watch: NodeJS.Timeout | undefined;
  #handshakeError: string | undefined;
  /** since when the controller seems gone while a restarted one may answer (epoch ms), if it does */
  #rejoining: number | undefined;
  #graceMs = 60_000;
  /** the pid of the controller last heard (another one answering means it was restarted) */
  #known = 0;
  /** the local end of a tunnel the connection goes through, if any */
  #via: { ip: string; port: number; what: string } | undefined;

  private constructor(info: ConnectionInfo, file: string, events: ConnectionEvents) {
    this.#info = info;
    this.#file = file;
    this.#events = events;
    // a routing id of its own: a restarted controller knows this client by it (its tasks' replies go to it)
    this.#sock = new Dealer({
      routingId: `client-${randomUUID()}`,
      linger: 1000,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      ...curveClient(info.curve_serverkey),
    });
    // one observer, taken once: a closed observer is not made anew by a second `events` access
    this.#observer = this.#sock.events;
    this.#ep = new Endpoint({
      peer: 'controller',
      socket: this.#sock,
      router: false,
      key: info.key,
      onMessage: (m) => this.#onMessage(m),
      onSendError: (err) => {
        if (!this.#closed) process.emitWarning(`tscluster client: send failed: ${String(err)}`);
      },
      onDrop: (err, frames) => this.#onDrop(err, frames),
      busy: events.busy,
    });
  }

  /**
   * Connect and handshake; resolves with the connection and the controller's connect reply.
   * @throws TimeoutError naming the controller, the file and the likely cause; ProtocolError for a wrong key
   */
  static async open(
    info: ConnectionInfo,
    file: string,
    o: { timeoutMs: number; lostAfterMs: number; graceMs?: number; via?: { ip: string; port: number; what: string } },
    events: ConnectionEvents,
  ): Promise<{ conn: Connection; hub: ContentOf<'connect_reply'> }> {
    const c = new Connection(info, file, events);
    c.#via = o.via;
    if (o.graceMs !== undefined) c.#graceMs = o.graceMs;
    void c.#watchHandshake();
    c.#sock.connect(endpointOf({ transport: info.transport, ...(o.via ?? info) }));
    c.#ep.start();
    try {
      const reply = await c.#ep.request('connect_request', {}, o.timeoutMs);
      c.#known = reply.content.controller_pid;
      c.#watchController(o.lostAfterMs);
      return { conn: c, hub: reply.content };
    } catch (e) {
      // nothing queued for a controller that never answered is worth waiting for at exit
      c.#sock.linger = 0;
      c.#shut();
      throw e instanceof TimeoutError ? c.#noReply(o.timeoutMs) : e;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The id of this client's session (in every header it sends). */
  get sessionId(): string {
    return this.#ep.session.id;
  }

  /** Where the controller listens, e.g. tcp://127.0.0.1:5555 (and the tunnel the connection goes through). */
  get endpoint(): string {
    return `${endpointOf(this.#info)}${this.#via ? ` (${this.#via.what})` : ''}`;
  }

  send<T extends MsgType>(type: T, content: ContentOf<T>, opts: BuildOptions = {}): Header & { msg_type: T } {
    if (this.#closed) throw this.#closedError();
    return this.#ep.send(undefined, type, content, opts);
  }

  request<T extends RequestType>(type: T, content: ContentOf<T>, timeoutMs: number, buffers?: Buffer[]): Promise<Message<ReplyOf<T>>> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#ep.request(type, content, timeoutMs, undefined, buffers ? { buffers } : {});
  }

  /** Work has begun that waits for an answer: receive actively until it is done. */
  wake(): void {
    this.#ep.wake();
  }

  /** Send what is queued (waiting up to a second), then close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#ep.flush(1000);
    this.#shut();
    this.#ep.failRequests(new ConnectionLost('the client was closed before the reply arrived'));
  }

  #closedError(): ConnectionLost {
    if (this.#lostError) return new ConnectionLost(this.#lostError.message, { cause: this.#lostError });
    return new ConnectionLost('the client is closed');
  }

  #shut(): void {
    clearInterval(this.#watch);
    this.#closed = true;
    this.#ep.close();
  }

  #onMessage(m: Incoming): void {
    this.#lastHeard = Date.now();
    const msg = this.#ep.parse(m);
    if (msg) this.#events.onMessage(msg);
  }

  /** A wrongly signed message may be the controller's auth_error: the key in the file is not the controller's. */
  #onDrop(err: unknown, frames: Buffer[]): void {
    if (!(err instanceof ProtocolError) || err.reason !== 'signature') return;
    const parentId = readAuthError(frames);
    if (parentId === undefined) return;
    this.#ep.rejectRequest(
      parentId,
      new ProtocolError(
        `the controller at ${this.endpoint} refused this client's signature: the key in ${this.#file} does not match the running controller's. ` +
          'The file is stale or was changed; use the connection file the running controller wrote (or restart the cluster).',
        'signature',
      ),
    );
  }

  /**
   * A failed security handshake (CurveZMQ key mismatch, or plain text to a
   * CurveZMQ server) shows in socket events. Events are read only until the
   * handshake succeeds: a pending read would hold the process open. (The
   * observer is not closed early: zeromq.js would leave the socket's monitor
   * running, and a later observer could collide with it.)
   */
  async #watchHandshake(): Promise<void> {
    try {
      for (;;) {
        const ev = await this.#observer.receive();
        if (ev.type === 'handshake') return;
        if (ev.type.startsWith('handshake:error')) this.#handshakeError = ev.type;
        if (this.#closed) return;
      }
    } catch {
      // the socket closed
    }
  }

  #noReply(timeoutMs: number): TimeoutError {
    const info = this.#info;
    const curve = info.curve_serverkey
      ? " The cluster uses CurveZMQ: the curve_serverkey in the file must be the running controller's."
      : ' If the controller was started with --curve, this file lacks its curve_serverkey: use the file that controller wrote.';
    const cause = this.#handshakeError
      ? ` The security handshake failed (${this.#handshakeError}).${curve}`
      : ` Is it running and reachable? \`tscluster list\` shows the clusters.${curve}`;
    return new TimeoutError(
      `no reply from the controller at ${this.endpoint} within ${timeoutMs} ms (connection file ${this.#file}, controller pid ${info.controller_pid}).${cause}`,
    );
  }

  /**
   * Notice a controller that is gone: silent too long (it heartbeats every
   * second), or, on this machine, its process has exited. A supervised
   * controller comes back on the same address: until the grace period ends
   * the client asks for it (#rejoin). The check runs on an unref'd timer: it
   * never keeps the process alive.
   */
  #watchController(lostAfterMs: number): void {
    const period = Math.min(1000, lostAfterMs / 2);
    let lastTick = Date.now();
    this.#watch = setInterval(() => {
      const now = Date.now();
      // this process was blocked (synchronous user code): messages may be waiting unread, so listen again first
      if (now - lastTick > 2 * period) this.#lastHeard = now;
      lastTick = now;
      if (this.#rejoining !== undefined) return;
      const silent = now - this.#lastHeard;
      const pid = this.#info.controller_pid;
      if (this.#local && !controllerRuns(this.#info)) this.#suspect(`the controller (pid ${pid}) has exited`);
      else if (silent > lostAfterMs) this.#suspect(`no word from the controller at ${this.endpoint} for ${Math.round(silent / 1000)} s`);
    }, period);
    this.#watch.unref();
  }

  /** Through a tunnel, the controller runs elsewhere even when its file says 127.0.0.1. */
  get #local(): boolean {
    return this.#via === undefined && isLocal(this.#info.ip);
  }

  /** The controller seems gone: lost, unless a supervisor may bring it back (then wait for it, up to the grace period). */
  #suspect(why: string): void {
    const i = this.#info;
    const supervised =
      i.supervisor_pid !== undefined && (!this.#local || sameProcess({ pid: i.supervisor_pid, start: i.supervisor_start ?? null, cmd: null }));
    if (!supervised) {
      this.#lost(why);
      return;
    }
    this.#rejoining = Date.now();
    void this.#rejoin(why);
  }

  /**
   * Ask for the controller until one answers on the same address (ZeroMQ
   * reconnects by itself) or the grace period ends. One that answers with
   * another pid is a restarted controller: `onRestart`.
   */
  async #rejoin(why: string): Promise<void> {
    const since = this.#rejoining ?? Date.now();
    while (!this.#closed && Date.now() - since < this.#graceMs) {
      if (this.#local) {
        try {
          this.#info = readConnectionFile('client', { connectionFile: this.#file }).info;
        } catch {
          // the cluster was stopped (its files are gone), or the file is being rewritten
          if (!existsSync(this.#file)) break;
        }
      }
      try {
        const reply = await this.#ep.request('connect_request', {}, 2000);
        this.#lastHeard = Date.now();
        this.#rejoining = undefined;
        if (reply.content.controller_pid !== this.#known) {
          this.#known = reply.content.controller_pid;
          this.#events.onRestart(reply.content);
        }
        return;
      } catch {
        // not back yet
      }
    }
    this.#lost(`${why}, and no controller answered on the same address within ${Math.round(this.#graceMs / 1000)} s`);
  }

  #lost(why: string): void {
    if (this.#closed) return;
    this.#sock.linger = 0;
    this.#shut();
    const err = new ConnectionLost(
      `the connection to the controller was lost: ${why} (\`tscluster list\` shows the cluster; \`tscluster stop\` cleans up after it)`,
    );
    this.#lostError = err;
    this.#ep.failRequests(err);
    this.#events.onLost(err);
  }
}
