/** `tscluster controller` and `tscluster engine`: one part of a cluster, in the foreground. */
import { helpRows } from '../config/resolve.js';
import { CONTROLLER_OPTIONS, runController } from '../controller/main.js';
import { ENGINE_OPTIONS, runEngine } from '../engine/main.js';
import { PROFILE_ROWS, asUsage, parse } from './args.js';
import type { Command } from './args.js';

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

export const controller: Command = {
  summary: 'run a controller alone, in the foreground',
  help: controllerHelp,
  async run(argv) {
    const { values } = parse(argv, CONTROLLER_OPTIONS, controllerHelp);
    if (values.help) return (console.log(controllerHelp()), 0);
    await asUsage(() => runController(argv));
    return -1;
  },
};

export const engine: Command = {
  summary: 'run one engine alone, in the foreground (e.g. on another machine)',
  help: engineHelp,
  async run(argv) {
    const { values } = parse(argv, ENGINE_OPTIONS, engineHelp);
    if (values.help) return (console.log(engineHelp()), 0);
    await asUsage(() => runEngine(argv));
    return -1;
  },
};
