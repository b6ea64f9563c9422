/**
 * The controller's Prometheus metrics, exposed by prom-client (a registry of
 * its own). The hot path counts in place: plain numbers and typed-array
 * histogram buckets, no allocation per task (prom-client's own `inc` and
 * `observe` allocate a little on every call); prom-client reads them when
 * scraped, with the gauges and the counters the hub already keeps (dropped
 * messages).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricType } from 'prom-client';

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

type Exported = Awaited<ReturnType<Histogram['get']>>;

/** A prom-client histogram whose observations are counted in place (`add`), read when scraped. */
export class InPlaceHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #bounds: readonly number[];
  /** observations per bucket (not cumulative); the last: above every bound */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, bounds: readonly number[], registers: Registry[]) {
    super({ name, help, buckets: [...bounds], registers });
    this.#name = name;
    this.#help = help;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** One observation. */
  add(v: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.#counts[i]!++;
    this.#sum += v;
    this.#count++;
  }

  override get(): Promise<Exported> {
    let cumulative = 0;
    const values: Exported['values'] = [];
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ metricName: `${this.#name}_bucket`, labels: { le: i < this.#bounds.length ? this.#bounds[i]! : '+Inf' }, value: cumulative });
    }
    values.push({ metricName: `${this.#name}_sum`, labels: {}, value: this.#sum });
    values.push({ metricName: `${this.#name}_count`, labels: {}, value: this.#count });
    // prom-client's types call the type an enum; its registry writes (and Prometheus reads) the word
    const type = 'histogram' as unknown as MetricType;
    return Promise.resolve({ name: this.#name, help: this.#help, type, aggregator: 'sum', collect: () => undefined, values });
  }

  /** What prom-client's registry reads when it writes the text format (it prefers this to `get`). */
  getForPromString(): Promise<Exported> {
    return this.get();
  }
}

/** The counters the monitor increments in place. */
export interface HubCounts {
  submitted: number;
  completed: number;
  failed: number;
  retried: number;
  joined: number;
  left: number;
}

export class HubMetrics {
  readonly registry = new Registry();
  readonly counts: HubCounts = { submitted: 0, completed: 0, failed: 0, retried: 0, joined: 0, left: 0 };
  readonly duration: InPlaceHistogram;
  readonly queueWait: InPlaceHistogram;

  constructor(src: GaugeSource) {
    const registers = [this.registry];
    const counts = this.counts;
    const counter = (key: keyof HubCounts, name: string, help: string): void => {
      new Counter({
        name,
        help,
        registers,
        collect(this: Counter) {
          this.reset();
          this.inc(counts[key]);
        },
      });
    };
    counter('submitted', 'tscluster_tasks_submitted_total', 'Tasks submitted to the controller');
    counter('completed', 'tscluster_tasks_completed_total', 'Tasks that finished successfully');
    counter('failed', 'tscluster_tasks_failed_total', 'Tasks that finished with an error (raised, timed out, aborted, engine lost)');
    counter('retried', 'tscluster_tasks_retried_total', 'Runs of tasks put back in the queue (a retry after a failure or an engine death)');
    counter('joined', 'tscluster_engines_joined_total', 'Engines that registered');
    counter('left', 'tscluster_engines_left_total', 'Engines that unregistered (stopped, died, retired)');
    this.duration = new InPlaceHistogram(
      'tscluster_task_duration_seconds',
      'Run time of finished tasks on their engine (from sent to the engine to its reply)',
      SECONDS_BUCKETS,
      registers,
    );
    this.queueWait = new InPlaceHistogram(
      'tscluster_task_queue_wait_seconds',
      'Time from submission to being sent to an engine',
      SECONDS_BUCKETS,
      registers,
    );
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
