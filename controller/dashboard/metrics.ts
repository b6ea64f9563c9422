/**
 * The controller's Prometheus metrics (prom-client, a registry of its own).
 * Counters and histograms are updated in place as tasks move; gauges and the
 * counters the hub already keeps (dropped messages) are read at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the gauges read when scraped. */
export interface GaugeSource {
  /** registered engines and their load (tasks sent to them and not finished) */
  engines(): Iterable<{ id: number; load: number }>;
  /** load-balanced tasks waiting in the scheduler */
  queued(): number;
  /** dropped messages by `<peer>.<reason>` */
  dropped(): Readonly<Record<string, number>>;
}

/** Seconds: from 1 ms to 10 minutes. */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

export class HubMetrics {
  readonly registry = new Registry();
  readonly submitted: Counter;
  readonly completed: Counter;
  readonly failed: Counter;
  readonly retried: Counter;
  readonly joined: Counter;
  readonly left: Counter;
  readonly duration: Histogram;
  readonly queueWait: Histogram;

  constructor(src: GaugeSource) {
    const registers = [this.registry];
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
    this.submitted = counter('tscluster_tasks_submitted_total', 'Tasks submitted to the controller');
    this.completed = counter('tscluster_tasks_completed_total', 'Tasks that finished successfully');
    this.failed = counter('tscluster_tasks_failed_total', 'Tasks that finished with an error (raised, timed out, aborted, engine lost)');
    this.retried = counter('tscluster_tasks_retried_total', 'Runs of tasks put back in the queue (a retry after a failure or an engine death)');
    this.joined = counter('tscluster_engines_joined_total', 'Engines that registered');
    this.left = counter('tscluster_engines_left_total', 'Engines that unregistered (stopped, died, retired)');
    this.duration = new Histogram({
      name: 'tscluster_task_duration_seconds',
      help: 'Run time of finished tasks on their engine (from sent to the engine to its reply)',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.queueWait = new Histogram({
      name: 'tscluster_task_queue_wait_seconds',
      help: 'Time from submission to being sent to an engine',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    gauges(registers, src);
    // the controller's own process: memory, CPU, event loop lag (the standard process_* and nodejs_* names)
    collectDefaultMetrics({ register: this.registry });
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The metrics read at scrape time. */
function gauges(registers: Registry[], src: GaugeSource): void {
  new Counter({
    name: 'tscluster_messages_dropped_total',
    help: 'Messages the controller dropped (bad signature, replay, schema, late replies...), by peer and reason',
    labelNames: ['peer', 'reason'] as const,
    registers,
    collect(this: Counter<'peer' | 'reason'>) {
      this.reset();
      for (const [key, n] of Object.entries(src.dropped())) {
        const dot = key.indexOf('.');
        this.inc({ peer: dot < 0 ? '' : key.slice(0, dot), reason: dot < 0 ? key : key.slice(dot + 1) }, n);
      }
    },
  });
  new Gauge({
    name: 'tscluster_engines',
    help: 'Registered engines',
    registers,
    collect(this: Gauge) {
      let n = 0;
      for (const _ of src.engines()) n++;
      this.set(n);
    },
  });
  new Gauge({
    name: 'tscluster_tasks_queued',
    help: 'Load-balanced tasks waiting in the scheduler for an engine',
    registers,
    collect(this: Gauge) {
      this.set(src.queued());
    },
  });
  new Gauge({
    name: 'tscluster_engine_load',
    help: 'Tasks sent to an engine and not finished (running and queued there)',
    labelNames: ['engine'] as const,
    registers,
    collect(this: Gauge<'engine'>) {
      this.reset();
      for (const e of src.engines()) this.set({ engine: String(e.id) }, e.load);
    },
  });
}
