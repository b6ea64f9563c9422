#!/usr/bin/env node
/**
 * The engine process: `node engine/main.js [--file F | --profile P --cluster-id ID]`
 * (or `tscluster engine`). Waits for the engine connection file, registers,
 * serves until the controller says stop or goes silent.
 */
import { existsSync } from 'node:fs';
import { parsePartArgs, partOptions } from '../config/part-args.js';
import type { Options } from '../config/part-args.js';
import { slurmLifetimeS } from '../launcher/slurm.js';
import { connectionFilePath, readConnectionFile } from '../profiles/index.js';
import { createLogger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { sleep } from '../util/sleep.js';
import { Engine } from './engine.js';

/** The engine's command-line options: which connection file, and its settings. */
export const ENGINE_OPTIONS: Options = partOptions('engine', { file: { type: 'string' } });

export async function runEngine(argv: string[]): Promise<Engine> {
  const { values, profile, clusterId, settings: s } = parsePartArgs(argv, 'engine', ENGINE_OPTIONS);
  const file = typeof values.file === 'string' ? values.file : connectionFilePath(profile, clusterId, 'engine');
  // an engine may start before its controller: wait for the file
  const deadline = Date.now() + s.timeoutS * 1000;
  while (!existsSync(file) && Date.now() < deadline) await sleep(100);
  const { info } = readConnectionFile('engine', { profile, clusterId, connectionFile: file });
  const log = createLogger(`engine pid ${process.pid}`);
  const engine = new Engine({
    info,
    file,
    log,
    registrationTimeoutMs: Math.max(1000, deadline - Date.now()),
    controllerGraceMs: s.controllerGraceS * 1000,
    ...(s.maxMemoryMb !== undefined ? { maxMemoryMb: s.maxMemoryMb } : {}),
    onExit: (code) => process.exit(code),
  });
  const id = await engine.start();
  log.info(`registered as engine ${id} with the controller of ${file}`);
  if (s.lifetimeS !== undefined) {
    engine.retireAfter(s.lifetimeS * 1000, `its lifetime of ${s.lifetimeS} s ended`);
    log.info(`retires in ${s.lifetimeS} s (--lifetime)`);
  } else {
    // in a Slurm job: stop taking tasks before the job's time limit
    void slurmLifetimeS().then((l) => {
      if (l === undefined) return;
      const secs = Math.round(l.s);
      engine.retireAfter(l.s * 1000, `its Slurm job's time limit is near (${secs} s after it asked)`);
      log.info(`retires in ${secs} s (the Slurm job's time left, ${l.left} s, less a minute)`);
    });
  }
  const stop = (): void => engine.stop(0);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return engine;
}

if (isMainModule(import.meta.url)) {
  runEngine(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`tscluster engine: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
