/** `tscluster profile`: create, list or locate profiles. */
import { existsSync } from 'node:fs';
import { DEFAULT_PROFILE, createProfile, listProfiles, profilePaths } from '../profiles/index.js';
import { UsageError, parse } from './args.js';
import type { Command } from './args.js';

const help = (): string => `Usage: tscluster profile create|list|locate [NAME]

  create [NAME]          create a profile with a default config (tscluster.json)
  list                   list the profiles
  locate [NAME]          print a profile's directory (exit 1 if there is no such profile)

Example:
  tscluster profile create big && tscluster start -n 8 --profile big`;

function run(argv: string[]): Promise<number> {
  return Promise.resolve(runSync(argv));
}

function runSync(argv: string[]): number {
  const { values, positionals } = parse(argv, {}, help);
  if (values.help || positionals.length === 0) return (console.log(help()), 0);
  const [sub, name = DEFAULT_PROFILE] = positionals;
  switch (sub) {
    case 'create': {
      const r = createProfile(name);
      console.log(r.created ? `created profile '${name}' at ${r.dir}` : `profile '${name}' exists at ${r.dir}`);
      return 0;
    }
    case 'list':
      for (const p of listProfiles()) console.log(p);
      return 0;
    case 'locate': {
      const dir = profilePaths(name).dir;
      if (!existsSync(dir)) {
        console.error(`no profile '${name}' (it would be at ${dir}); create it with 'tscluster profile create ${name}'`);
        return 1;
      }
      console.log(dir);
      return 0;
    }
    default:
      throw new UsageError(`unknown profile command '${sub}'\n\n${help()}`);
  }
}

export const profile: Command = { summary: 'create, list or locate profiles', help, run };
