/**
 * What the examples share: connecting to a running cluster like any client
 * (TSCLUSTER_DIR, then `--profile P` and `--cluster-id ID` on the command
 * line, defaults `default` and none), and ending a run that found a mistake.
 */
import { parseArgs } from 'node:util';
import { Client } from '../index.js';

/** A client of the cluster named on the command line (`--profile`, `--cluster-id`). */
export async function connect(): Promise<Client> {
  // not strict: an example's own flags sit beside these
  const { values } = parseArgs({
    strict: false,
    options: { profile: { type: 'string', default: 'default' }, 'cluster-id': { type: 'string', default: '' } },
  });
  const text = (v: unknown, flag: string): string => (typeof v === 'string' ? v : fail(`${flag} takes a value`));
  return Client.connect({ profile: text(values.profile, '--profile'), clusterId: text(values['cluster-id'], '--cluster-id') });
}

/** Print what went wrong and exit 1 (a script run by hand or by a test reads the exit code). */
export function fail(msg: string): never {
  console.error(`FAILED: ${msg}`);
  process.exit(1);
}

/** A number with thousands separators, as the examples print counts. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
