/** `tscluster controller` and `tscluster engine`: one part of a cluster, in the foreground. */
import { helpRows } from '../config/resolve.js';
import { CONTROLLER_OPTIONS, runController } from '../controller/main.js';
import { ENGINE_OPTIONS, runEngine } from '../engine/main.js';
import { PROFILE_ROWS, asUsage, parse } from './args.js';
import type { Command } from './args.js';
import type { Options } from '../config/part-args.js';

const controllerHelp = (): string => `Usage: tscluster controller [options]

Run a controller alone in the foreground; engines join with 'tscluster engine'.

Options:
${PROFILE_ROWS}
${helpRows('controller')}
  -h, --help             this help

Example:
  tscluster controller --ip 0.0.0.0 --engine-port 5555 --curve`;

const engineHelp = (): string => `Usage: tscluster engine [--file F | --profile P --cluster-id ID] [--timeout S]

Run one engine in the foreground. It reads the engine connection file (copy it
from the controller's machine to run engines elsewhere), waits up to --timeout
seconds for it and for registration, and exits when the controller goes away.

Options:
  --file F               engine connection file (default: the profile's)
${PROFILE_ROWS}
${helpRows('engine')}
  -h, --help             this help

Example:
  tscluster engine --file ./tscluster-engine.json`;

/** A command that runs one part in the foreground (it keeps running: exit code -1). */
function partCommand(summary: string, help: () => string, options: Options, run: (argv: string[]) => Promise<unknown>): Command {
  return {
    summary,
    help,
    async run(argv) {
      const { values } = parse(argv, options, help);
      if (values.help) return (console.log(help()), 0);
      await asUsage(() => run(argv));
      return -1;
    },
  };
}

export const controller = partCommand('run a controller alone, in the foreground', controllerHelp, CONTROLLER_OPTIONS, runController);
export const engine = partCommand('run one engine alone, in the foreground (e.g. on another machine)', engineHelp, ENGINE_OPTIONS, runEngine);
