/**
 * The shared code of the test suites, one concern a module:
 * - env: paths of the built project, a private TSCLUSTER_DIR per test file, waiting with deadlines
 * - processes: pids checked gone, the CLI and other node children, their output
 * - cluster: the shared cluster fixture, stopping clusters, their state and connection files
 * - tasks: functions that run on engines, the gate files that hold them, waiting on tasks
 * - rng: the seeded PRNG, a run's seed, stub random sources
 * - wire: protocol messages built by hand, a raw socket's inbox, drop counters
 * - gates: suites that need an outside component (skipped locally when it is missing, failed in CI)
 * - fuzz: the fuzz-case generator
 * - notebooks: notebooks and `tscluster nbrun` runs
 * - records: the controller's task records, made up for unit suites
 * - hosts: test hosts (network namespaces on a bridge), sshd on them, TCP probes and relays, their gate
 * - slurm: a single-node Slurm (munged, slurmctld, slurmd with a private configuration), its gate
 *
 * Files in test/support/ hold no tests; the test command's glob
 * (dist/test/*.test.js, dist/test/unit/*.test.js) does not load them.
 */
export * from './env.js';
export * from './processes.js';
export * from './cluster.js';
export * from './tasks.js';
export * from './rng.js';
export * from './wire.js';
export * from './gates.js';
export * from './fuzz.js';
export * from './notebooks.js';
export * from './records.js';
export * from './hosts.js';
export * from './slurm.js';
