/**
 * The client's direct links to engines' data endpoints: the large payload of
 * a request to one engine (a push, an apply with big arguments) goes
 * straight to that engine's execution worker (`data_put`, signed with the
 * cluster key, CurveZMQ with the engine's key when the cluster encrypts),
 * while the request itself goes through the controller, which keeps seeing
 * every request and reply. One hop instead of two, and no copy on the engine.
 *
 * A link is used only once a TCP connection to the endpoint has succeeded
 * (checked when the client hears of the engine): a client that reaches only
 * the controller (a tunnel, a firewall) sends everything through it.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Dealer } from 'zeromq';
import { Endpoint } from '../protocol/index.js';
import type { EngineInfo, Incoming } from '../protocol/index.js';
import { Session } from '../protocol/session.js';
import { curveClient } from '../profiles/index.js';

/** requests whose frames total at least this go through a data link */
export const DIRECT_MIN_BYTES = 1024 * 1024;
const PROBE_TIMEOUT_MS = 2000;
/** an endpoint found unreachable is tried again after this long */
const RETRY_MS = 30_000;

interface Link {
  url: string;
  curveKey: string | null;
  state: 'probing' | 'up' | 'down';
  checked: number;
  ep?: Endpoint;
}

export interface DataLinkEvents {
  /** the result frames of a task, sent straight from its engine */
  onResult(msgId: string, buffers: Buffer[]): void;
  /** is the client waiting for anything (its links then receive actively) */
  busy(): boolean;
}

export interface DataLinkStats {
  /** engines whose data endpoint this client reaches */
  links: number;
  /** requests whose payload went through a data link, and their bytes */
  tasks: number;
  bytes: number;
  /** results that came through a data link, and their bytes */
  results: number;
  resultBytes: number;
}

export class DataLinks {
  readonly #key: string;
  readonly #session: Session;
  readonly #links = new Map<number, Link>();
  readonly #stats: Omit<DataLinkStats, 'links'> = { tasks: 0, bytes: 0, results: 0, resultBytes: 0 };
  readonly #events: DataLinkEvents;
  #closed = false;
  /** this client's routing identity on every engine's data endpoint (results are sent to it) */
  readonly routingId = randomUUID();
  /** links that are up */
  #up = 0;

  constructor(key: string, events: DataLinkEvents) {
    this.#key = key;
    this.#session = new Session(key);
    this.#events = events;
  }

  /** Some engine's data endpoint is reachable: results may come this way. */
  get anyUp(): boolean {
    return this.#up > 0;
  }

  /** Work has begun: links receive actively until it is done. */
  wake(): void {
    for (const l of this.#links.values()) l.ep?.wake();
  }

  get stats(): DataLinkStats {
    return { links: this.#up, ...this.#stats };
  }

  /** Check (in the background) that the engine's data endpoint is reachable. */
  probe(e: EngineInfo): void {
    if (!e.data || this.#closed) return;
    const known = this.#links.get(e.id);
    if (known && known.url === e.data.url && (known.state !== 'down' || Date.now() - known.checked < RETRY_MS)) return;
    if (known) this.forget(e.id);
    const link: Link = { url: e.data.url, curveKey: e.data.curve_key, state: 'probing', checked: Date.now() };
    this.#links.set(e.id, link);
    const m = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(link.url);
    if (!m) {
      link.state = 'down';
      return;
    }
    const sock = connect({ host: m[1]!, port: Number(m[2]) });
    sock.unref();
    const done = (up: boolean): void => {
      sock.destroy();
      clearTimeout(timer);
      if (link.state === 'probing') {
        link.state = up ? 'up' : 'down';
        // a link forgotten while it was probed (its engine left) is not opened: nothing would close it
        if (up && this.#links.get(e.id) === link) this.#open(link);
      }
      link.checked = Date.now();
    };
    const timer = setTimeout(() => done(false), PROBE_TIMEOUT_MS);
    timer.unref();
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  }

  /**
   * Send the payload of task `msgId` to engine `e`'s data endpoint. False
   * (nothing sent) when the endpoint is not known to be reachable: the
   * payload then travels with the request.
   */
  send(e: EngineInfo, msgId: string, frames: Buffer[], bytes: number): boolean {
    const link = this.#links.get(e.id);
    if (!link?.ep || link.state !== 'up' || this.#closed) {
      if (e.data && (!link || link.state === 'down')) this.probe(e);
      return false;
    }
    link.ep.send(undefined, 'data_put', { msg_id: msgId }, { buffers: frames });
    this.#stats.tasks++;
    this.#stats.bytes += bytes;
    return true;
  }

  /** Connect a link whose endpoint answered. */
  #open(link: Link): void {
    if (link.ep || this.#closed) return;
    const dealer = new Dealer({
      routingId: this.routingId,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      linger: 1000,
      ...curveClient(link.curveKey),
    });
    dealer.connect(link.url);
    const ep: Endpoint = new Endpoint({
      peer: 'engine-data',
      socket: dealer,
      router: false,
      key: this.#key,
      session: this.#session,
      onMessage: (m) => this.#receive(ep, m),
      busy: () => this.#events.busy(),
    });
    link.ep = ep;
    this.#up++;
    ep.start();
  }

  #receive(ep: Endpoint, m: Incoming): void {
    const msg = ep.parse(m);
    if (msg?.type !== 'data_result') return;
    // the engine holds the memory it sent from until it hears this
    ep.send(undefined, 'data_ack', { msg_id: msg.content.msg_id });
    this.#stats.results++;
    this.#stats.resultBytes += msg.buffers.reduce((n, b) => n + b.byteLength, 0);
    this.#events.onResult(msg.content.msg_id, msg.buffers);
  }

  /** The engine is gone: close its link. */
  forget(engineId: number): void {
    const link = this.#links.get(engineId);
    if (!link) return;
    this.#links.delete(engineId);
    if (link.ep) {
      this.#up--;
      link.ep.close();
    }
  }

  close(): void {
    this.#closed = true;
    for (const id of [...this.#links.keys()]) this.forget(id);
  }
}
