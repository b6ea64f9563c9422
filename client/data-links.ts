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
import { Endpoint, isChannelMsg } from '../protocol/index.js';
import type { ChannelMsg, EngineInfo, Incoming } from '../protocol/index.js';
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
  /** the engine's stream endpoint (channels), on the same host */
  streamUrl: string | undefined;
  state: 'probing' | 'up' | 'down';
  checked: number;
  ep?: Endpoint;
  stream?: Endpoint;
}

export interface DataLinkEvents {
  /** the result frames of a task, sent straight from its engine */
  onResult(msgId: string, buffers: Buffer[]): void;
  /** a channel message, straight from the engine's stream endpoint */
  onChannel(msg: ChannelMsg): void;
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
    for (const l of this.#links.values()) {
      l.ep?.wake();
      l.stream?.wake();
    }
  }

  get stats(): DataLinkStats {
    return { links: this.#up, ...this.#stats };
  }

  /**
   * Resolves once no link is being checked, or after `ms`: a client that has
   * just connected then sends its first channels and payloads direct.
   */
  settled(ms: number): Promise<void> {
    return this.ready(() => [], ms);
  }

  /**
   * Wait at most `ms` until each of these engines has announced its data
   * endpoint (it does so once its execution worker is up, just after it
   * registers) and the checks of the endpoints have ended.
   */
  async ready(engines: () => readonly EngineInfo[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const pending = (): boolean => !this.#closed && (engines().some((e) => !e.data) || [...this.#links.values()].some((l) => l.state === 'probing'));
    while (pending() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  }

  /** Check (in the background) that the engine's data endpoint is reachable. */
  probe(e: EngineInfo): void {
    if (!e.data || this.#closed) return;
    const known = this.#links.get(e.id);
    if (
      known &&
      known.url === e.data.url &&
      known.streamUrl === e.data.stream_url &&
      (known.state !== 'down' || Date.now() - known.checked < RETRY_MS)
    )
      return;
    if (known) this.forget(e.id);
    const link: Link = { url: e.data.url, curveKey: e.data.curve_key, streamUrl: e.data.stream_url, state: 'probing', checked: Date.now() };
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
    if (this.put(e.id, msgId, frames, bytes)) {
      this.#stats.tasks++;
      return true;
    }
    const link = this.#links.get(e.id);
    if (e.data && (!link || link.state === 'down')) this.probe(e);
    return false;
  }

  /**
   * Send frames to engine `engineId`'s data endpoint as data_put `id` (a
   * task's payload, a channel's large batch); false (nothing sent) when its
   * link is not up.
   */
  put(engineId: number, id: string, frames: Buffer[], bytes: number): boolean {
    const link = this.#links.get(engineId);
    if (!link?.ep || link.state !== 'up' || this.#closed) return false;
    link.ep.send(undefined, 'data_put', { msg_id: id }, { buffers: frames });
    this.#stats.bytes += bytes;
    return true;
  }

  /**
   * The stream link to engine `engineId` (channel messages, one hop), when
   * it is up; undefined: channels to that engine go through the controller.
   */
  stream(engineId: number): Endpoint | undefined {
    const link = this.#links.get(engineId);
    return link?.state === 'up' && !this.#closed ? link.stream : undefined;
  }

  /** Connect a link whose endpoint answered (and its stream link, when the engine has one). */
  #open(link: Link): void {
    if (link.ep || this.#closed) return;
    link.ep = this.#connect(link, link.url, 'engine-data', (ep, m) => this.#receive(ep, m));
    if (link.streamUrl !== undefined) link.stream = this.#connect(link, link.streamUrl, 'engine-stream', (ep, m) => this.#receiveStream(ep, m));
    this.#up++;
  }

  #connect(link: Link, url: string, peer: string, onMessage: (ep: Endpoint, m: Incoming) => void): Endpoint {
    const dealer = new Dealer({
      routingId: this.routingId,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      linger: 1000,
      ...curveClient(link.curveKey),
    });
    dealer.connect(url);
    const ep: Endpoint = new Endpoint({
      peer,
      socket: dealer,
      router: false,
      key: this.#key,
      session: this.#session,
      onMessage: (m) => onMessage(ep, m),
      busy: () => this.#events.busy(),
    });
    ep.start();
    return ep;
  }

  #receiveStream(ep: Endpoint, m: Incoming): void {
    const msg = ep.parse(m);
    if (isChannelMsg(msg)) this.#events.onChannel(msg);
    else if (msg) ep.drop(new Error(`a ${msg.type} on a stream link (it takes channel messages only)`), m.frames);
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
      link.stream?.close();
    }
  }

  close(): void {
    this.#closed = true;
    for (const id of [...this.#links.keys()]) this.forget(id);
  }
}
