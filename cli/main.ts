#!/usr/bin/env node
/** The `tscluster` command line: one file per command in cli/. */
import { createRequire } from 'node:module';
import { rootDir } from '../profiles/index.js';
import { UsageError } from './args.js';
import type { Command } from './args.js';
import { dashboard } from './dashboard.js';
import { engines } from './engines.js';
import { list } from './list.js';
import { nbrun } from './nbrun.js';
import { controller, engine } from './parts.js';
import { profile } from './profile.js';
import { repl } from './repl.js';
import { start } from './start.js';
import { stop } from './stop.js';
import { tasks } from './tasks.js';

const COMMANDS: Record<string, Command> = { start, stop, list, dashboard, engines, tasks, controller, engine, profile, repl, nbrun };

function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `tscluster: a parallel computing cluster for TypeScript and JavaScript

Usage: tscluster <command> [options]

Commands:
${rows.join('\n')}

Run 'tscluster <command> --help' for a command's options.
Profiles live in $TSCLUSTER_DIR (default ~/.tscluster; now ${rootDir()}).

Examples:
  tscluster start -n 4
  tscluster start -n 8 --profile big --cluster-id a --daemon
  tscluster list
  tscluster dashboard --open
  tscluster stop --all
  tscluster nbrun notebooks/*.ipynb --out /tmp/executed`;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    console.log(mainHelp());
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    console.log((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) throw new UsageError(`unknown command '${cmd}'\n\n${mainHelp()}`);
  return c.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    // -1: a long-running part (controller, engine) keeps the process alive
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    process.stderr.write(`tscluster: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  },
);
