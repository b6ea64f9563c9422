/**
 * An engine's main thread: owns the socket, registers, heartbeats, and hands
 * tasks to its runner (engine/runner.ts), whose execution worker runs the
 * user code. User code never runs here, so the engine answers heartbeats
 * while a task computes.
 */
import { hostname } from 'node:os';
import { v4 as uuidv4 } from 'uuid';
import { Dealer, curveKeyPair } from 'zeromq';
import { Endpoint } from '../protocol/index.js';
import type { ApplyReplyMetadata, ChannelWindow, ContentOf, DataEndpoint, ErrorContent, Incoming, Message } from '../protocol/index.js';
import type { ConnectionInfo } from '../profiles/index.js';
import { curveClient, endpointOf } from '../profiles/index.js';
import type { Logger } from '../util/log.js';
import { isLocal, outwardAddress } from '../util/net.js';
import { sameProcess } from '../util/proc.js';
import { mpiPlace } from './mpi.js';
import { setLongTimeout } from '../util/timers.js';
import type { Timer } from '../util/timers.js';
import { EngineChannels } from './channels.js';
import { MemoryReturn } from '../util/memory-return.js';
import { OutputBuffer } from './output.js';
import { TaskRunner } from './runner.js';
import { SharedRelay } from './shared.js';
import { SentReplies } from './sent.js';
import type { DataStatus, RunnerTask, TaskResult } from './runner.js';

export interface EngineOptions {
  info: ConnectionInfo;
  /** the file the info came from, for messages */
  file: string;
  log: Logger;
  /** how long to wait for the controller to answer registration */
  registrationTimeoutMs: number;
  /** exit when the controller is silent this long (default: its dead_after_ms x 2, at least 10 s) */
  controllerTimeoutMs?: number;
  /**
   * with a supervised controller (its connection file names the supervisor, and on this machine it is alive):
   * wait this long for it to be restarted before exiting (default 60 s)
   */
  controllerGraceMs?: number;
  /** called when the engine has stopped; the process should exit with the code */
  onExit: (code: number) => void;
  /**
   * heap limit of the execution worker, MB (default: the engine process's own limit). With an
   * explicit limit, a task that exhausts memory ends its worker only, not the engine.
   */
  maxMemoryMb?: number;
  /**
   * give the execution worker a data endpoint, where clients send large
   * payloads directly (default true); bound on the address this host reaches
   * the controller from
   */
  dataEndpoint?: boolean;
}

export class Engine {
  readonly uuid = uuidv4();
  id = -1;
  readonly #o: EngineOptions;
  readonly #sock: Dealer;
  readonly #ep: Endpoint;
  readonly #runner: TaskRunner;
  #memory: MemoryReturn | undefined;
  readonly #output: OutputBuffer;
  /** shared-object calls of remote code, relayed to the controller */
  readonly #shared: SharedRelay;
  /** channel messages: through the controller, or the stream endpoint */
  readonly #channels: EngineChannels;
  #lastController = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #controllerTimeoutMs = 10000;
  #heartbeatMs = 1000;
  #lastBeat = Date.now();
  /** the process's CPU time at the last heartbeat (its share since then goes with the next one) */
  #lastCpu = process.cpuUsage();
  #reregistering = false;
  /** replies sent lately, kept for a controller that dies before it stores them (sent again when it is back) */
  readonly #sent = new SentReplies();
  #stopped = false;
  /** why this engine takes no new tasks (its lifetime ended), once it does not */
  #retiring: string | undefined;
  #lifetimeTimer: Timer | undefined;
  /** the CurveZMQ keys of its data endpoint (with a curve cluster) */
  readonly #dataCurve: { publicKey: string; secretKey: string } | undefined;
  #data: DataEndpoint | null = null;

  constructor(o: EngineOptions) {
    this.#o = o;
    this.#dataCurve = o.info.curve_serverkey ? curveKeyPair() : undefined;
    this.#sock = new Dealer({
      routingId: this.uuid,
      linger: 1000,
      sendHighWaterMark: 0,
      receiveHighWaterMark: 0,
      ...curveClient(o.info.curve_serverkey),
    });
    this.#ep = new Endpoint({
      peer: 'controller',
      socket: this.#sock,
      router: false,
      key: o.info.key,
      // requests may have waited in the controller's queue; the controller checked their age on arrival
      replayHorizon: false,
      log: o.log,
      onMessage: (m) => this.#onMessage(m),
      onSendError: (err) => {
        if (!this.#stopped) o.log.warn(`send failed: ${String(err)}`);
      },
    });
    this.#output = new OutputBuffer((name, text, parent) =>
      this.#ep.send(undefined, 'stream', { name, text }, { parent, metadata: { engine_id: this.id } }),
    );
    this.#shared = new SharedRelay(this.#ep);
    this.#channels = new EngineChannels({ controller: this.#ep, key: o.info.key, log: o.log, toRunner: (m) => this.#runner.channelMessage(m) });
    this.#runner = new TaskRunner({
      log: o.log,
      shared: this.#shared,
      ...(o.maxMemoryMb === undefined ? {} : { maxMemoryMb: o.maxMemoryMb }),
      engineId: () => this.id,
      onStream: (task, name, text) => this.#output.write(task.msgId, task.parent, name, text),
      onFinish: (task, r) => this.#reply(task, r),
      onChannel: (m) => this.#channels.fromWorker(m),
      onHandedBack: (tasks) => this.#handBack(tasks.map((t) => t.msgId)),
      onDrained: () => this.#retired(),
      ...(o.dataEndpoint === false ? {} : { data: { key: o.info.key, ...(this.#dataCurve ? { curve: this.#dataCurve } : {}) } }),
    });
  }

  /** Connect, start the worker, register. Resolves with the engine id. */
  async start(): Promise<number> {
    this.#sock.connect(endpointOf(this.#o.info));
    this.#ep.start();
    let dataBind: string | undefined;
    if (this.#o.dataEndpoint !== false) {
      const ip = await outwardAddress(this.#o.info.ip, this.#o.info.port).catch(() => '127.0.0.1');
      dataBind = `tcp://${ip.includes(':') ? `[${ip}]` : ip}:0`;
    }
    // the worker starts while the engine registers; its data endpoint is announced once it is open
    const streamUp = dataBind === undefined ? Promise.resolve() : this.#channels.open(dataBind, this.#dataCurve);
    const workerUp = Promise.all([this.#runner.start(dataBind), streamUp]).then(([data]) => {
      this.#data = dataEndpointOf(data, this.#dataCurve, this.#channels.url);
    });
    const r = await this.#register(this.#o.registrationTimeoutMs);
    this.#controllerTimeoutMs = this.#o.controllerTimeoutMs ?? Math.max(10000, r.dead_after_ms * 2);
    this.#lastController = Date.now();
    this.#lastBeat = Date.now();
    this.#heartbeatMs = r.heartbeat_ms;
    this.#timer = setInterval(() => this.#beat(), r.heartbeat_ms);
    this.#memory = new MemoryReturn({ busy: () => !this.#runner.idle, activity: () => this.#runner.added, log: this.#o.log });
    this.#memory.start();
    await workerUp;
    // the first registration went out before the worker was up (a registration again carries it): announce it now
    if (this.#data) this.#ep.send(undefined, 'engine_data', { data: this.#data });
    return this.id;
  }

  async #register(
    timeoutMs: number,
    resume?: ContentOf<'registration_request'>['resume'],
  ): Promise<Extract<ContentOf<'registration_reply'>, { status: 'ok' }>> {
    const job = process.env.SLURM_JOB_ID;
    const req = {
      ...(resume ? { resume } : {}),
      uuid: this.uuid,
      pid: process.pid,
      hostname: hostname(),
      cwd: process.cwd(),
      mpi: mpiPlace(),
      data: this.#data,
      ...(job ? { job } : {}),
    };
    let reply: Message<'registration_reply'>;
    try {
      reply = await this.#ep.request('registration_request', req, timeoutMs);
    } catch {
      throw new Error(
        `no registration reply from the controller at ${endpointOf(this.#o.info)} within ${timeoutMs} ms (engine connection file ${this.#o.file}). ` +
          'Is the controller running (`tscluster list`)? If it was restarted, the file is stale: start engines with `tscluster engines -n N`.',
      );
    }
    const r = reply.content;
    if (r.status !== 'ok') throw new Error(`the controller refused registration: ${r.evalue}`);
    this.id = r.id;
    return r;
  }

  /**
   * The controller declared this engine dead while it was away (paused, cut
   * off) and has failed its tasks over: drop the tasks that have not started
   * (the one running finishes; its reply is dropped as late) and register
   * again, under a new id.
   */
  #reregister(reason: string): void {
    if (this.#reregistering || this.#stopped) return;
    if (this.#retiring !== undefined) {
      // its tasks were failed over when it was declared dead: nothing is left for it to do
      this.#o.log.warn(`the controller does not know this engine (${reason}); it was retiring: exiting`);
      this.stop(0);
      return;
    }
    this.#reregistering = true;
    // the controller dropped the waits of the engine it declared dead: calls still waiting would wait forever
    this.#shared.failAll(`engine ${this.id} was declared dead while away (${reason}) and registers again`);
    const dropped = this.#runner.dropQueued();
    this.#o.log.warn(`the controller does not know this engine (${reason}); dropped ${dropped} queued task(s) and registering again`);
    this.#register(Math.max(10000, this.#controllerTimeoutMs)).then(
      (r) => {
        this.#reregistering = false;
        this.#o.log.info(`registered again as engine ${r.id}`);
      },
      (e: unknown) => {
        this.#o.log.error(`could not register again: ${e instanceof Error ? e.message : String(e)}; exiting`);
        this.stop(1);
      },
    );
  }

  /**
   * The controller was restarted (its supervisor brought it back on the same
   * ports): register again under this engine's id, saying which tasks it
   * holds and which it finished lately; the running and waiting ones carry
   * on, and the replies the new controller lacks are sent again. Nothing
   * runs twice. Shared-object calls waiting in the old controller are gone
   * with it: they fail.
   */
  #resume(reason: string): void {
    if (this.#reregistering || this.#stopped) return;
    this.#reregistering = true;
    this.#shared.failAll(`the controller was restarted while this call waited (${reason}); shared objects live in the controller and start empty`);
    const resume = { id: this.id, holds: this.#runner.holds(), finished: this.#sent.ids() };
    this.#o.log.warn(`${reason}: registering again as engine ${this.id}, holding ${resume.holds.length} task(s)`);
    this.#register(Math.max(10000, this.#controllerTimeoutMs), resume).then(
      (r) => {
        this.#reregistering = false;
        if (!r.resumed) {
          // the new controller did not expect this engine: its tasks were failed over
          const dropped = this.#runner.dropQueued();
          this.#o.log.warn(`registered again as a new engine ${r.id}; dropped ${dropped} queued task(s)`);
          return;
        }
        const want = r.want ?? [];
        for (const id of want) {
          const k = this.#sent.get(id);
          if (k) this.#ep.send(undefined, 'apply_reply', k.content, { parent: k.parent, metadata: k.metadata, buffers: k.buffers });
        }
        this.#o.log.info(`resumed as engine ${r.id}: sent ${want.length} reply(ies) again`);
        if (this.#data) this.#ep.send(undefined, 'engine_data', { data: this.#data });
      },
      (e: unknown) => {
        this.#o.log.error(`could not register again: ${e instanceof Error ? e.message : String(e)}; exiting`);
        this.stop(1);
      },
    );
  }

  /**
   * After `ms`, take no new tasks: tell the controller (which queues again the
   * tasks this engine has not started), finish the running one, then
   * unregister and exit 0. So a batch job's engines stop before its time limit
   * kills them mid-task.
   */
  retireAfter(ms: number, why: string): void {
    this.#lifetimeTimer?.clear();
    // a lifetime may be longer than one Node timer takes (2^31 - 1 ms)
    this.#lifetimeTimer = setLongTimeout(() => this.retire(why), ms);
  }

  /** Take no new tasks now (see retireAfter). */
  retire(reason: string): void {
    if (this.#retiring !== undefined || this.#stopped) return;
    this.#retiring = reason;
    this.#o.log.info(`retiring (${reason}): no new tasks; the running one finishes, the others go back to the controller`);
    const back = this.#runner.drain().map((t) => t.msgId);
    this.#ep.send(undefined, 'engine_retire', { reason, returned: back, exiting: false });
  }

  #handBack(msgIds: string[]): void {
    this.#ep.send(undefined, 'engine_retire', { reason: this.#retiring ?? 'retiring', returned: msgIds, exiting: false });
  }

  /** Retiring, and nothing is left to run: unregister and exit. */
  #retired(): void {
    if (this.#stopped) return;
    this.#o.log.info('retired: every task this engine took has finished; unregistering');
    this.#ep.send(undefined, 'engine_retire', { reason: this.#retiring ?? 'retiring', returned: [], exiting: true });
    this.stop(0);
  }

  stop(code = 0): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#memory?.stop();
    this.#lifetimeTimer?.clear();
    void this.#runner.stop();
    void this.#ep.flush(500).then(() => {
      // everything was flushed: nothing left for a linger to wait for at exit
      this.#sock.linger = 0;
      this.#ep.close();
      this.#channels.close();
      this.#o.log.info(`stopped (exit code ${code})`);
      this.#o.onExit(code);
    });
  }

  #beat(): void {
    const now = Date.now();
    // this engine was paused (the machine suspended, SIGSTOP): the silence was its own, not the controller's
    if (now - this.#lastBeat > 2 * this.#heartbeatMs) this.#lastController = now;
    const prevBeat = this.#lastBeat;
    this.#lastBeat = now;
    const silent = now - this.#lastController;
    if (silent > this.#controllerTimeoutMs && !(this.#supervised() && silent <= (this.#o.controllerGraceMs ?? 60_000))) {
      this.#o.log.error(`the controller has been silent for ${Math.round(silent / 1000)} s: it is gone; exiting`);
      this.stop(1);
      return;
    }
    this.#ep.send(undefined, 'heartbeat', this.#usage(now - prevBeat));
    // replies sent well before the controller last spoke have reached it
    this.#sent.prune(this.#lastController - 5000);
  }

  /** May a supervisor restart the controller? (Its file names one; on this machine, it must be alive.) */
  #supervised(): boolean {
    const { supervisor_pid: pid, supervisor_start: start, ip } = this.#o.info;
    if (pid === undefined) return false;
    return !isLocal(ip) || sameProcess({ pid, start: start ?? null, cmd: null });
  }

  /** CPU (percent of one core, over `wallMs`) and memory of this process, for the heartbeat. */
  #usage(wallMs: number): { cpu: number; rss: number } {
    const used = process.cpuUsage(this.#lastCpu);
    this.#lastCpu = process.cpuUsage();
    const cpu = wallMs > 0 ? ((used.user + used.system) / 1000 / wallMs) * 100 : 0;
    return { cpu: Math.round(cpu * 10) / 10, rss: process.memoryUsage.rss() };
  }

  #onMessage(m: Incoming): void {
    this.#lastController = Date.now();
    const msg = this.#ep.tryParse(m);
    if (msg instanceof Error) {
      this.#ep.drop(msg, m.frames);
      // a signed request that cannot be read is answered, so its task does not wait forever
      if (m.header.msg_type === 'apply_request') this.#refuse(m, msg);
      return;
    }
    switch (msg.type) {
      case 'apply_request': {
        // sent before the controller heard this engine retire: handed back unstarted
        if (this.#retiring !== undefined) this.#handBack([msg.header.msg_id]);
        else {
          const dataIn = dataInOf(msg.metadata);
          const outTo = msg.metadata.data_out_to;
          const channel = channelOf(msg.metadata);
          const early = channel ? this.#channels.taskArrived(msg.header.msg_id, channel.replyTo) : [];
          this.#runner.add({
            msgId: msg.header.msg_id,
            parent: msg.raw.header,
            content: msg.content,
            buffers: msg.buffers,
            ...(dataIn ? { dataIn } : {}),
            ...(typeof outTo === 'string' ? { dataOutTo: outTo } : {}),
            ...(channel ? { channel: { window: channel.window, early } } : {}),
          });
        }
        return;
      }
      case 'heartbeat':
        return;
      case 'steal_request':
        // tasks ready here and not started go back for an idle engine; the others run here
        this.#ep.send(undefined, 'steal_reply', { returned: this.#runner.steal(msg.content.msg_ids) });
        return;
      case 'shared_reply':
        // the answer to a call whose worker is gone (it was cancelled, or failed, here)
        return;
      case 'channel_data':
      case 'channel_ack':
      case 'channel_close':
        this.#channels.fromController(msg);
        return;
      case 'engine_unknown':
        if (msg.content.restarted === true && this.id >= 0) this.#resume(msg.content.reason);
        else this.#reregister(msg.content.reason);
        return;
      case 'abort_request': {
        const c = msg.content;
        this.#runner.abort(c.msg_ids ?? [], { ename: c.ename ?? 'TaskAborted', evalue: c.evalue ?? 'the task was aborted', traceback: [] });
        return;
      }
      case 'shutdown_request':
        this.#o.log.info('shutdown requested by the controller');
        {
          this.stop(0);
          return;
        }
      default:
        this.#o.log.warn(`ignored an unexpected ${msg.type}`);
    }
  }

  #refuse(m: Incoming, err: Error): void {
    const metadata: ApplyReplyMetadata = {
      engine_id: this.id,
      engine_uuid: this.uuid,
      status: 'error',
      started: null,
      completed: new Date().toISOString(),
    };
    const content: ErrorContent = {
      status: 'error',
      ename: 'ProtocolError',
      evalue: `the engine could not read the request: ${err.message}`,
      traceback: [],
    };
    this.#ep.send(undefined, 'apply_reply', content, { parent: m.raw.header, metadata });
  }

  #reply(task: RunnerTask, r: TaskResult): void {
    this.#output.flush(task.msgId);
    if (task.channel) this.#channels.taskEnded(task.msgId);
    const metadata: ApplyReplyMetadata = {
      engine_id: this.id,
      engine_uuid: this.uuid,
      status: r.ok ? 'ok' : 'error',
      started: r.started,
      completed: new Date().toISOString(),
    };
    let content: ContentOf<'apply_reply'>;
    let buffers: Buffer[] = [];
    if (r.ok) {
      if (r.dataOut) metadata.data_out = r.dataOut;
      buffers = r.frames.map((f) => Buffer.from(f.buffer, f.byteOffset, f.byteLength));
      content = { status: 'ok' };
    } else content = { status: 'error', ...r.error, engine_info: { engine_id: this.id, engine_uuid: this.uuid, method: task.content.kind } };
    this.#ep.send(undefined, 'apply_reply', content, { parent: task.parent, metadata, buffers });
    this.#sent.keep(task.msgId, { parent: task.parent, content, metadata, buffers });
  }
}

function dataEndpointOf(d: DataStatus | undefined, curve: { publicKey: string } | undefined, stream: string | undefined): DataEndpoint | null {
  if (d?.url === undefined) return null;
  return { url: d.url, curve_key: curve?.publicKey ?? null, ...(stream === undefined ? {} : { stream_url: stream }) };
}

/** The request's payload comes to the data endpoint (metadata.data_in, checked by the controller at its door). */
function dataInOf(metadata: Record<string, unknown>): { frames: number; bytes: number } | undefined {
  const d = metadata.data_in as { frames?: unknown; bytes?: unknown } | undefined;
  return d && typeof d.frames === 'number' && typeof d.bytes === 'number' ? { frames: d.frames, bytes: d.bytes } : undefined;
}

/** The request starts a channel (metadata.channel, checked by the controller at its door): its window, and its client's stream link. */
function channelOf(metadata: Record<string, unknown>): { window: ChannelWindow; replyTo: string | undefined } | undefined {
  const w = metadata.channel as { items?: unknown; bytes?: unknown; reply_to?: unknown } | undefined;
  if (!w || typeof w.items !== 'number' || typeof w.bytes !== 'number') return undefined;
  return { window: { items: w.items, bytes: w.bytes }, replyTo: typeof w.reply_to === 'string' ? w.reply_to : undefined };
}
