/**
 * Rows of tscluster and ipyparallel side by side, and the table they print as.
 * ratio = how many times better tscluster is (ipyparallel / tscluster for
 * times and sizes, tscluster / ipyparallel for rates).
 */

export interface Row {
  workload: string;
  unit: string;
  tscluster: number | null;
  ipyparallel: number | null;
  ratio: number | null;
  note?: string;
}

/** What one system measured in one run. */
export interface Measured {
  /** workload -> value */
  results: Record<string, number>;
  /** workload -> why it has no value */
  errors: Record<string, string>;
  /** what went wrong with the run as a whole (an exit, a timeout, processes left running) */
  problems: string[];
}

export interface Workload {
  unit: string;
  better: 'lower' | 'higher';
}

/** Workload -> value of each system (a workload missing on one side gets null there). */
export function compare(workloads: Record<string, Workload>, ts: Record<string, number>, ipp: Record<string, number> | undefined): Row[] {
  return Object.entries(workloads).map(([workload, w]) => {
    const a = ts[workload] ?? null;
    const b = ipp?.[workload] ?? null;
    const ratio = a === null || b === null || a === 0 || b === 0 ? null : w.better === 'lower' ? b / a : a / b;
    return { workload, unit: w.unit, tscluster: a, ipyparallel: b, ratio };
  });
}

function fmt(x: number | null): string {
  if (x === null) return '-';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(3);
}

export function table(rs: Row[]): string {
  const lines = [
    ['workload', 'unit', 'tscluster', 'ipyparallel', 'ratio'],
    ...rs.map((r) => [r.workload, r.unit, fmt(r.tscluster), fmt(r.ipyparallel), r.ratio === null ? '-' : `${r.ratio.toFixed(1)}x`]),
  ];
  const w = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')).join('\n');
}

/** The rows' notes, one a line (`workload: note`), to print under the table. */
export function notes(rs: Row[]): string[] {
  return rs.flatMap((r) => (r.note ? [`${r.workload}: ${r.note}`] : []));
}
