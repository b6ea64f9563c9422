#!/usr/bin/env node
/**
 * The engine process: `node engine/main.js [--file F | --profile P --cluster-id ID]`
 * (or `tscluster engine`). Waits for the engine connection file, registers,
 * serves until the controller says stop or goes silent.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../util/log.js';
import { isMainModule } from '../util/main-module.js';
import { DEFAULT_PROFILE, connectionFilePath, readConnectionFile } from '../profiles/index.js';
import { Engine } from './engine.js';

export const ENGINE_OPTIONS = {
  file: { type: 'string' },
  profile: { type: 'string' },
  'cluster-id': { type: 'string' },
  timeout: { type: 'string' },
  /** heap limit of the execution worker, MB */
  'max-memory-mb': { type: 'string' },
} as const;

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} takes a positive number, got '${v}'`);
  return n;
}

export async function runEngine(argv: string[]): Promise<Engine> {
  const { values } = parseArgs({ args: argv, options: ENGINE_OPTIONS, strict: true, allowPositionals: false });
  const profile = values.profile ?? DEFAULT_PROFILE;
  const clusterId = values['cluster-id'] ?? '';
  const timeoutMs = values.timeout === undefined ? 30000 : Number(values.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error(`--timeout takes seconds, got '${values.timeout}'`);
  const file = values.file ?? connectionFilePath(profile, clusterId, 'engine');
  // an engine may start before its controller: wait for the file
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const { info } = readConnectionFile('engine', { profile, clusterId, connectionFile: file });
  const log = createLogger(`engine pid ${process.pid}`);
  const engine = new Engine({
    info,
    file,
    log,
    registrationTimeoutMs: Math.max(1000, deadline - Date.now()),
    ...(values['max-memory-mb'] !== undefined ? { maxMemoryMb: positive('max-memory-mb', values['max-memory-mb']) } : {}),
    onExit: (code) => process.exit(code),
  });
  const id = await engine.start();
  log.info(`registered as engine ${id} with the controller of ${file}`);
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
