/**
 * The dashboard's cost (issue: 20,000 no-op applies lose at most 5% with the
 * dashboard watched): two viewers on its live event stream, as two open
 * browsers are, and a Prometheus-style scrape of /metrics every second.
 */
import { get } from 'node:http';
import type { ClientRequest } from 'node:http';

export interface Watchers {
  /** stop watching; how many event batches the viewers got and scrapes were answered */
  stop(): { events: number; scrapes: number };
}

/** Watch the dashboard at `url` (its address with `?token=`) with `viewers` event streams and a scrape a second. */
export function watchDashboard(url: string, viewers = 2): Watchers {
  const base = new URL(url);
  const token = base.searchParams.get('token') ?? '';
  const at = (path: string): URL => new URL(`${path}?token=${encodeURIComponent(token)}`, base);
  let events = 0;
  let scrapes = 0;
  const requests: ClientRequest[] = [];
  for (let i = 0; i < viewers; i++) {
    const req = get(at('/events'), (res) => {
      if (res.statusCode !== 200) throw new Error(`dashboard /events answered ${res.statusCode}`);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (events += chunk.split('\n\n').length - 1));
    });
    req.on('error', () => undefined); // ended by stop()
    requests.push(req);
  }
  const scrape = (): void => {
    const req = get(new URL('/metrics', base), { headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) scrapes++;
      });
    });
    req.on('error', () => undefined);
  };
  scrape();
  const timer = setInterval(scrape, 1000);
  return {
    stop: () => {
      clearInterval(timer);
      for (const r of requests) r.destroy();
      return { events, scrapes };
    },
  };
}
