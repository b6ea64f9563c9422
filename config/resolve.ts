/**
 * One resolver of settings: options given in code, over command-line flags,
 * over the profile's `tscluster.json`, over the defaults. Every value is
 * checked against its schema (config/settings.ts), with an error that names
 * where it came from, the setting, the accepted values and what was given.
 */
import type { ParseArgsConfig } from 'node:util';
import * as z from 'zod';
import { SETTING_DOCS, SettingsSchema, keysOf } from './settings.js';
import type { Scope, SettingKey, Settings } from './settings.js';

/** A setting given a value it does not accept; the message names the setting, what it accepts and what it got. */
export class SettingError extends RangeError {
  override name = 'SettingError';
  constructor(
    message: string,
    readonly setting: SettingKey,
  ) {
    super(message);
  }
}

export interface SettingSources {
  /** values from the command line, by flag name, as node:util parseArgs gives them */
  flags?: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** values given in code (e.g. Cluster.start's options) */
  options?: { [K in SettingKey]?: unknown };
  /** values from the profile's tscluster.json, and the file's path for messages */
  profile?: { values: { [K in SettingKey]?: unknown }; path: string };
}

type AnySchema = z.ZodType;

/** A setting's schema without its default: what a given value must be. */
export function inner(key: SettingKey): AnySchema {
  let s: AnySchema = SettingsSchema.shape[key];
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) s = s.def.innerType as AnySchema;
  return s;
}

/** What a setting accepts, in words: "a whole number from 0 to 65535", "one of lru, leastload". */
export function expected(key: SettingKey): string {
  const s = inner(key);
  if (s instanceof z.ZodNumber) {
    const { minValue: min, maxValue: max } = s;
    const isInt = s.format === 'safeint' || s.format === 'int32';
    const what = isInt ? 'a whole number' : 'a number';
    if (min !== null && max !== null && max < Number.MAX_SAFE_INTEGER) return `${what} from ${min} to ${max}`;
    return min !== null ? `${what} >= ${min}` : what;
  }
  if (s instanceof z.ZodEnum) return `one of ${(s.options as string[]).join(', ')}`;
  if (s instanceof z.ZodBoolean) return 'true or false';
  if (s instanceof z.ZodArray) return 'a list of strings';
  if (key === 'ip' || key === 'location') return 'an IP address or a host name';
  if (key === 'hosts') return 'a list like h1:4,user@h2:2';
  if (key === 'adapt') return 'MIN:MAX (engines), MIN <= MAX';
  if (key === 'dashboard') return "'on', 'off', or [ADDR:]PORT (a port from 0 to 65535, 0: a free one)";
  if (key === 'metrics') return '[ADDR:]PORT (a port from 0 to 65535, 0: a free one)';
  return 'a string';
}

function isNumeric(key: SettingKey): boolean {
  return inner(key) instanceof z.ZodNumber;
}

function show(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/** Check one value; throws a SettingError naming `source`. */
export function checkSetting<K extends SettingKey>(key: K, value: unknown, source: string): Settings[K] {
  const r = SettingsSchema.shape[key].safeParse(value);
  if (!r.success) throw new SettingError(`${source} must be ${expected(key)}, got ${show(value)}`, key);
  return r.data as Settings[K];
}

function fromFlag(key: SettingKey, v: string | boolean | (string | boolean)[]): unknown {
  if (typeof v === 'boolean') return SETTING_DOCS[key].negated ? !v : v;
  if (Array.isArray(v) || !isNumeric(key)) return v;
  const n = v.trim() === '' ? NaN : Number(v);
  return Number.isNaN(n) ? v : n;
}

/** Resolve every setting of `scope`: code options > flags > the profile's file > defaults. */
export function resolveSettings(scope: Scope, src: SettingSources = {}): Settings {
  const out: Record<string, unknown> = {};
  for (const key of keysOf(scope)) {
    const doc = SETTING_DOCS[key];
    const opt = src.options?.[key];
    const given = src.flags?.[doc.flag];
    // a flag given twice: the last one counts (a list flag keeps them all)
    const flag = Array.isArray(given) && !doc.multiple ? given.at(-1) : given;
    const file = doc.profile === false ? undefined : src.profile?.values[key];
    if (opt !== undefined) out[key] = checkSetting(key, opt, key);
    else if (flag !== undefined) out[key] = checkSetting(key, fromFlag(key, flag), `--${doc.flag}`);
    else if (file !== undefined) out[key] = checkSetting(key, file, `${key} in ${src.profile?.path ?? 'the profile config'}`);
    else out[key] = checkSetting(key, undefined, key);
  }
  const s = SettingsSchema.parse(out);
  if (s.curve === true && s.noCurve === true) throw new SettingError('--curve and --no-curve contradict each other: give one', 'curve');
  if (keysOf(scope).includes('deadAfterMs') && s.deadAfterMs <= s.heartbeatMs) {
    throw new SettingError(
      `deadAfterMs (${s.deadAfterMs}) must be longer than heartbeatMs (${s.heartbeatMs}): engines would be declared dead between heartbeats`,
      'deadAfterMs',
    );
  }
  return s;
}

/** The node:util parseArgs options of a scope's settings. */
export function argOptions(scope: Scope): NonNullable<ParseArgsConfig['options']> {
  const out: NonNullable<ParseArgsConfig['options']> = {};
  for (const key of keysOf(scope)) {
    const d = SETTING_DOCS[key];
    out[d.flag] = {
      type: d.arg === undefined ? 'boolean' : 'string',
      ...(d.short ? { short: d.short } : {}),
      ...(d.multiple ? { multiple: true } : {}),
    };
  }
  return out;
}

/** The `--help` rows of a scope's settings, generated from the table. */
export function helpRows(scope: Scope): string {
  return keysOf(scope)
    .map((key) => {
      const d = SETTING_DOCS[key];
      const name = `${d.short ? `-${d.short}, ` : ''}--${d.flag}${d.arg ? ` ${d.arg}` : ''}`;
      // a flag that turns a setting off is off by default
      const dflt = d.shownDefault ?? (d.negated ? undefined : defaultOf(key));
      return `  ${name.padEnd(22)} ${d.help}${dflt === undefined ? '' : ` (default ${dflt})`}`;
    })
    .join('\n');
}

function defaultOf(key: SettingKey): string | undefined {
  const s = SettingsSchema.shape[key];
  if (!(s instanceof z.ZodDefault)) return undefined;
  const v: unknown = s.def.defaultValue;
  return typeof v === 'boolean' ? (v ? 'on' : undefined) : String(v);
}

/**
 * Command-line flags that pass settings resolved for `from` on to a command of
 * `to` (e.g. Cluster.start's to its controller): the settings both take.
 */
export function toFlags(s: Partial<Settings>, from: Scope, to: Scope): string[] {
  const out: string[] = [];
  const passed = keysOf(from);
  for (const key of keysOf(to).filter((k) => passed.includes(k))) {
    const v = s[key];
    const d = SETTING_DOCS[key];
    if (d.negated) {
      if (v === false) out.push(`--${d.flag}`);
      continue;
    }
    if (v === undefined || v === false) continue;
    for (const one of Array.isArray(v) ? v : [v]) {
      const text = String(one);
      // a value that starts with a dash must be joined to its flag (--sbatch=--qos=long), or it would read as a flag
      if (d.arg !== undefined && text.startsWith('-')) out.push(`--${d.flag}=${text}`);
      else out.push(`--${d.flag}`, ...(d.arg !== undefined ? [text] : []));
    }
  }
  return out;
}
