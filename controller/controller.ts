/**
 * The controller hub: one Node process, two ROUTER sockets:
 * - clients: clients' DEALERs (requests, replies, output, engine events)
 * - engines: engines' DEALERs (registration, heartbeats, tasks, replies, output)
 * It parses headers and metadata only; argument and result frames pass through.
 *
 * This class wires the parts, each in its own file: endpoints
 * (protocol/endpoint.ts), dispatch (dispatch.ts), the engine registry
 * (registry.ts), the tasks (tasks.ts) and their lifecycle (lifecycle.ts), the
 * scheduler (scheduler.ts), the store (store/), and queries (queries.ts).
 */
import { Router } from 'zeromq';
import { AuthErrors, Endpoint, Session } from '../protocol/index.js';
import type { ContentOf } from '../protocol/index.js';
import { ProtocolError } from '../errors/index.js';
import type { SchemeName } from './schemes/index.js';
import type { Logger } from '../util/log.js';
import { ChannelRouter } from './channels.js';
import { ClientRegistry } from './clients.js';
import { clientHandlers, dispatch, engineHandlers, refuseClient } from './dispatch.js';
import type { Handlers, HubParts } from './dispatch.js';
import { Queries } from './queries.js';
import { EngineRegistry } from './registry.js';
import type { EngineState } from './registry.js';
import { Scheduler } from './scheduler.js';
import { schemes } from './schemes/index.js';
import { MemoryTaskStore } from './store/memory.js';
import type { TaskStore } from './store/store.js';
import type { Task } from './task.js';
import { TaskManager } from './tasks.js';
import { Recovery } from './recovery.js';
import { MemoryReturn } from '../util/memory-return.js';
import { clientGone } from './abort.js';
import type { AdaptHub, AdaptStatus } from './adapt.js';
import { SharedStore } from './shared/store.js';
import type { SharedLimits } from './shared/store.js';
import { clientOwner, engineOwner } from './shared/wire.js';
import type { HubObserver, HubView } from './dashboard/monitor.js';

/** What the controller holds of its adapter (controller/adapt.ts). */
export interface AdapterHandle {
  status(): AdaptStatus;
  stop(): Promise<void>;
}

export interface ControllerOptions {
  key: string;
  ip: string;
  /** 0 = a random free port */
  clientPort: number;
  enginePort: number;
  scheme: SchemeName;
  /** most outstanding load-balanced tasks per engine; 0 = unlimited */
  hwm: number;
  /** tasks an engine may hold beyond hwm (hwm > 0), taken back for an idle engine until they start (default 0) */
  prefetch?: number;
  heartbeatMs: number;
  /** an engine silent this long is declared dead */
  deadAfterMs: number;
  profile: string;
  clusterId: string;
  log: Logger;
  /** where task records go (default: a bounded in-memory store) */
  store?: TaskStore;
  /** called once the controller has stopped after a shutdown request */
  onShutdown?: () => void;
  /** CurveZMQ: the server's secret key (Z85); clients and engines must know its public key */
  curveSecretKey?: string;
  /** byte limits of shared objects (the settings sharedMaxBytes, sharedObjectMaxBytes) */
  shared: SharedLimits;
  /** which start of the cluster's controller this is: 0 the first, N the Nth restart by its supervisor (controller/supervisor.ts) */
  restart?: number;
}

export class Controller {
  readonly #o: ControllerOptions;
  readonly #clientSock: Router;
  readonly #engineSock: Router;
  readonly #p: HubParts;
  readonly #handlers: { client: Handlers; engine: Handlers };
  #timer: NodeJS.Timeout | undefined;
  #memory: MemoryReturn | undefined;
  #stopping = false;
  #adapter: AdapterHandle | undefined;
  #observer: HubObserver | undefined;
  clientPort = 0;
  enginePort = 0;
  /** 0 for the first start of the cluster's controller, N for its Nth restart */
  readonly restartCount: number;

  private constructor(o: ControllerOptions) {
    this.#o = o;
    this.restartCount = o.restart ?? 0;
    // mandatory: a send to a gone peer fails instead of vanishing. Pipes are unbounded (hwm 0), so a
    // send can only fail to go through for a peer whose pipe is being torn down: sendTimeout 0 makes
    // that an immediate EAGAIN instead of a wait that would stall every later send.
    const curve = o.curveSecretKey ? { curveServer: true, curveSecretKey: o.curveSecretKey } : {};
    const sockOpts = { mandatory: true, sendHighWaterMark: 0, receiveHighWaterMark: 0, linger: 0, sendTimeout: 0, ...curve };
    this.#clientSock = new Router(sockOpts);
    this.#engineSock = new Router(sockOpts);
    this.#p = this.#wire(o);
    this.#handlers = { client: clientHandlers(this.#p), engine: engineHandlers(this.#p) };
  }

  /** The two endpoints (clients, engines), sharing one session: one replay history for both ports. */
  #endpoints(o: ControllerOptions, store: TaskStore): { clients: Endpoint; engines: Endpoint } {
    const { log } = o;
    const session = new Session(o.key);
    // the callbacks below run once the parts exist (after start); what leaves, the store has (write-ahead)
    const common = { router: true, key: o.key, session, log, beforeSend: () => store.flush() };
    const clients = new Endpoint({
      ...common,
      peer: 'client',
      socket: this.#clientSock,
      onMessage: (m) => dispatch(clients, this.#handlers.client, 'a client', m, (msg, err) => refuseClient(clients, msg, err)),
      onSendError: (err, msgs) => this.#clientSendFailed(err, msgs),
      onDrop: (err, frames) => {
        const reply = err instanceof ProtocolError && err.reason === 'signature' ? authErrors.replyTo(frames) : undefined;
        if (reply) clients.sendFrames(reply);
      },
    });
    const authErrors = new AuthErrors(session);
    const engines = new Endpoint({
      ...common,
      peer: 'engine',
      socket: this.#engineSock,
      onMessage: (m) => dispatch(engines, this.#handlers.engine, 'an engine', m),
      onSendError: (err, msgs) => {
        if (!this.#p.registry.sendFailed(msgs[0]?.[0], gone(err)) && !this.#stopping) log.warn(`send to engine failed: ${String(err)}`);
      },
    });
    return { clients, engines };
  }

  #wire(o: ControllerOptions): HubParts {
    const { log } = o;
    const store = o.store ?? new MemoryTaskStore();
    const { clients, engines } = this.#endpoints(o, store);
    const shared = new SharedStore(o.shared);
    const scheduler = new Scheduler<Task, EngineState>(schemes[o.scheme], o.hwm === 0 ? 0 : o.hwm + (o.prefetch ?? 0));
    const registry = this.#registry(o, engines, scheduler, shared);
    const steal = o.hwm > 0 && (o.prefetch ?? 0) > 0;
    const tasks = new TaskManager({ store, registry, scheduler, clients, engines, log, onFinished: (t) => this.#p.queries.finished(t), steal });
    const clientRegistry = new ClientRegistry();
    const hub = { scheme: o.scheme, hwm: o.hwm, profile: o.profile, clusterId: o.clusterId };
    const channels = new ChannelRouter({ tasks, registry, clients, engines, log });
    const queries = new Queries({
      store,
      tasks,
      registry,
      scheduler,
      clients,
      engines,
      clientCount: () => clientRegistry.size,
      hub,
      adapt: () => this.#adapter?.status(),
      shared: () => ({ ...shared.stats, ...shared.traffic }),
      channels: () => channels.stats,
    });
    return {
      clients,
      engines,
      clientRegistry,
      registry,
      tasks,
      channels,
      queries,
      shared,
      shutdown: (_id, all, targets) => this.#shutdown(all, targets),
      dataOpened: (e) => this.#notify({ event: 'data', engine: registry.info(e) }),
      recovery: new Recovery({ store, tasks, registry, clients, log }),
    };
  }

  /** The engine registry, and what its engines joining, coming back and leaving do to the rest of the hub. */
  #registry(o: ControllerOptions, engines: Endpoint, scheduler: Scheduler<Task, EngineState>, shared: SharedStore): EngineRegistry {
    const { log } = o;
    const registry: EngineRegistry = new EngineRegistry({
      endpoint: engines,
      heartbeatMs: o.heartbeatMs,
      deadAfterMs: o.deadAfterMs,
      log,
      onJoin: (e) => {
        this.#observer?.engineJoined();
        this.#notify({ event: 'registered', engine: registry.info(e) });
        this.#p.recovery.saveEngines();
        scheduler.addEngine(e);
        this.#p.tasks.schedule();
      },
      onResume: (e, holds, finished) => {
        this.#observer?.engineJoined();
        const want = this.#p.tasks.resumed(e, holds, finished);
        scheduler.addEngine(e);
        this.#p.tasks.schedule();
        return want;
      },
      onLeave: (e, reason) => {
        if (e.absent === undefined) this.#observer?.engineLeft();
        this.#p.recovery.saveEngines();
        this.#p.tasks.engineGone(e, reason);
        // remote code on it waits no more and holds no lock
        shared.ownerGone(engineOwner(e.id));
        this.#notify({ event: 'unregistered', engine: registry.info(e), reason });
      },
    });
    return registry;
  }

  /** Bind both sockets and start serving. */
  static async start(o: ControllerOptions): Promise<Controller> {
    const c = new Controller(o);
    await c.#clientSock.bind(`tcp://${o.ip}:${o.clientPort || '*'}`);
    await c.#engineSock.bind(`tcp://${o.ip}:${o.enginePort || '*'}`);
    c.clientPort = portOf(c.#clientSock.lastEndpoint);
    c.enginePort = portOf(c.#engineSock.lastEndpoint);
    c.#p.recovery.start(o.restart ?? 0, Math.max(3 * o.deadAfterMs, 15_000));
    c.#p.clients.start();
    c.#p.engines.start();
    void c.#watchDisconnects();
    c.#timer = setInterval(() => c.#tick(), o.heartbeatMs);
    c.#memory = new MemoryReturn({ busy: () => c.#p.tasks.unfinished > 0, activity: () => c.#p.tasks.submitted, log: o.log });
    c.#memory.start();
    o.log.info(`listening: clients tcp://${o.ip}:${c.clientPort}, engines tcp://${o.ip}:${c.enginePort}; scheme ${o.scheme}, hwm ${o.hwm}`);
    return c;
  }

  get engineCount(): number {
    return this.#p.registry.size;
  }

  /** The hub as an adapter sees it: waiting tasks, engines and their load; it retires idle engines. */
  adaptHub(): AdaptHub {
    const { registry, tasks, queries } = this.#p;
    return {
      hwm: this.#o.hwm,
      queued: () => queries.queueStatus().unassigned,
      engines: () => [...registry.all()].map((e) => ({ id: e.id, job: e.job, load: e.load, lastBusy: e.lastBusy, retiring: e.retiring })),
      retire: (id, reason) => {
        const e = registry.get(id);
        if (!e) return;
        tasks.retire(e, reason);
        // no task can reach it now: one without a task shuts down at once
        if (e.load === 0) registry.send(e, 'shutdown_request', { hub: false });
      },
    };
  }

  /** The adapter: its status goes into stats; it stops (cancelling its jobs) before the controller does. */
  set adapter(a: AdapterHandle) {
    this.#adapter = a;
  }

  /** The hub as the dashboard reads it (controller/dashboard/). */
  hubView(): HubView {
    const { registry, clientRegistry, clients, engines, tasks } = this.#p;
    const o = this.#o;
    return {
      engines: () => registry.all(),
      queued: () => this.#p.queries.queueStatus().unassigned,
      dropped: () => ({ ...clients.dropped, ...engines.dropped }),
      clients: () => clientRegistry.size,
      store: tasks.store,
      cluster: { profile: o.profile, clusterId: o.clusterId, scheme: o.scheme, hwm: o.hwm },
      heartbeatMs: o.heartbeatMs,
    };
  }

  /** Watch every task and engine (the dashboard's monitor): set it before clients connect. */
  set observer(m: HubObserver) {
    this.#observer = m;
    this.#p.tasks.observer = m;
    // tasks taken up from the store after a restart were there before it
    for (const t of this.#p.tasks.pending()) m.submitted(t.record);
  }

  /** Counters of the hub (what `rc.stats()` answers). */
  stats(): ContentOf<'stats_reply'> {
    return this.#p.queries.stats();
  }

  /** Stop serving: engines are told to shut down when `engines` is set. */
  async stop({ engines = false }: { engines?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#memory?.stop();
    await this.#adapter?.stop().catch((e: unknown) => this.#o.log.warn(`the adapter did not stop cleanly: ${String(e)}`));
    if (engines) await this.#p.registry.stopAll(3000);
    await this.#p.clients.flush(500);
    await this.#p.engines.flush(500);
    this.#p.clients.close();
    this.#p.engines.close();
    this.#p.tasks.store.close();
    this.#o.log.info('stopped');
  }

  #shutdown(all: boolean, targets: number[] | undefined): void {
    if (all) {
      // stop() tells every engine
      this.#o.log.info('shutdown requested by a client');
      void this.stop({ engines: true }).then(() => this.#o.onShutdown?.());
      return;
    }
    const reg = this.#p.registry;
    for (const e of targets === undefined ? [...reg.all()] : targets.map((id) => reg.get(id))) {
      if (e) reg.send(e, 'shutdown_request', { hub: false });
    }
  }

  #tick(): void {
    // clients hear the controller is alive even when no task is running
    for (const identity of this.#p.clientRegistry.all()) this.#p.clients.send(identity, 'heartbeat', {});
    this.#p.registry.tick();
  }

  #notify(event: ContentOf<'engine_event'>): void {
    for (const identity of this.#p.clientRegistry.all()) this.#p.clients.send(identity, 'engine_event', event);
  }

  /** A dropped connection: probe every engine now; a gone peer fails with EHOSTUNREACH. */
  async #watchDisconnects(): Promise<void> {
    try {
      for await (const ev of this.#engineSock.events) {
        if (ev.type !== 'disconnect') continue;
        for (const delay of [0, 100, 500]) {
          setTimeout(() => {
            if (!this.#stopping) this.#p.registry.probe();
          }, delay);
        }
      }
    } catch {
      // socket closed
    }
  }

  #clientSendFailed(err: unknown, messages: Buffer[][]): void {
    const identity = messages[0]?.[0];
    // a client of the controller that died may not have reconnected yet: its results wait in the store
    if (gone(err) && identity && this.#p.recovery.mayReturn(identity)) return;
    if (gone(err) && identity) {
      // the client has gone: its queued work is cancelled; its results stay in the records for other clients to query
      this.#p.clientRegistry.remove(identity);
      clientGone(this.#p.tasks, identity, this.#o.log);
      // its waits end and its locks are released
      this.#p.shared.ownerGone(clientOwner(identity));
      this.#p.channels.clientGone(identity);
      return;
    }
    if (!this.#stopping) this.#o.log.warn(`send to client failed: ${String(err)}`);
  }
}

/** A send failed because its peer is gone or going (see the socket options). */
function gone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EHOSTUNREACH' || code === 'EAGAIN';
}

function portOf(endpoint: string | null): number {
  const m = /:(\d+)$/.exec(endpoint ?? '');
  if (!m) throw new Error(`cannot read the bound port from ${endpoint}`);
  return Number(m[1]);
}
