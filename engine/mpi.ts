/**
 * An engine's place in an MPI job, from the environment its mpiexec gives
 * it: Open MPI's OMPI_COMM_WORLD_RANK/_SIZE, else the PMI_RANK/PMI_SIZE of
 * MPICH's Hydra and other process managers. Reported at registration, so that
 * a client can map engines to ranks (`rc.engines[i].mpi`).
 */
import type { MpiPlace } from '../protocol/index.js';

const SOURCES = [
  ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
  ['PMI_RANK', 'PMI_SIZE'],
] as const;

function wholeNumber(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** This process's rank and job size, or null outside an MPI job. */
export function mpiPlace(env: NodeJS.ProcessEnv = process.env): MpiPlace | null {
  for (const [r, s] of SOURCES) {
    const rank = wholeNumber(env[r]);
    const size = wholeNumber(env[s]);
    if (rank !== undefined && size !== undefined && rank < size) return { rank, size };
  }
  return null;
}
