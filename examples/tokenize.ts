/**
 * A MultiChannel over every engine: each engine runs a tokenizer that reads
 * sentences from its channel and sends back their tokens; this client deals
 * the sentences out round-robin while it reads the tokens from
 * `receiveQueue()` as they arrive (from whichever engine is ready), checks
 * them against tokenizing here, closes the channels and prints counts.
 *
 *   node dist/examples/tokenize.js [--sentences 3000] [--profile P] [--cluster-id ID]
 */
import { parseArgs } from 'node:util';
import type { Channel } from '../index.js';
import { connect, count, fail } from './connect.js';

interface Tokens {
  id: number;
  tokens: string[];
}

const WORDS = ['the', 'cluster', 'engine', 'runs', 'a', 'task', "client's", 'queue', 'of', 'values', 'Sends', 'Results', 'fast', 'and'];

/** Sentence `i`: 5 to 15 words picked by a small PRNG seeded with `i`, with commas and a full stop or question mark. */
function sentence(i: number): string {
  let x = i + 1;
  const next = (): number => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0);
  const words = Array.from({ length: 5 + (next() % 11) }, () => WORDS[next() % WORDS.length]!);
  return `${words.join(i % 4 === 0 ? ', ' : ' ')}${i % 3 === 0 ? '?' : '.'}`;
}

/** The tokenizer, here and on the engines: lower-case words (apostrophes kept). */
function tokenize(s: string): string[] {
  return s.toLowerCase().match(/[a-z']+/g) ?? [];
}

/**
 * Runs on each engine: tokenize every sentence that arrives, until the client
 * closes the channel; returns how many it did. Functions travel as source
 * text, so the tokenizer is written out inside.
 */
async function tokenizer(ch: Channel): Promise<number> {
  let done = 0;
  for await (const x of ch) {
    const { id, text } = x as { id: number; text: string };
    await ch.send({ id, tokens: text.toLowerCase().match(/[a-z']+/g) ?? [] });
    done++;
  }
  return done;
}

function sentenceCount(): number {
  const { values } = parseArgs({ strict: false, options: { sentences: { type: 'string', default: '3000' } } });
  const n = Number(values.sentences);
  if (!Number.isInteger(n) || n < 1) fail(`--sentences takes a whole number >= 1, got ${String(values.sentences)}`);
  return n;
}

/** Tokens per word, most frequent first. */
function frequencies(all: Tokens[]): [string, number][] {
  const freq = new Map<string, number>();
  for (const r of all) for (const t of r.tokens) freq.set(t, (freq.get(t) ?? 0) + 1);
  return [...freq].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

async function main(): Promise<void> {
  const n = sentenceCount();
  const rc = await connect();
  if (rc.ids.length === 0) fail('no engine is registered: start some with `tscluster start -n 4`');
  const mc = rc.directView().channel(tokenizer);
  const sending = (async () => {
    for (let i = 0; i < n; i++) await mc.channels[i % mc.channels.length]!.send({ id: i, text: sentence(i) });
  })();
  const got: Tokens[] = [];
  for await (const { value } of mc.receiveQueue()) {
    got.push(value as Tokens);
    if (got.length === n) break;
  }
  await sending;
  mc.close(); // each tokenizer's loop ends: it returns its count
  const perEngine = await mc.waitClose();
  const wrong = got.filter((r) => tokenize(sentence(r.id)).join(' ') !== r.tokens.join(' '));
  if (new Set(got.map((r) => r.id)).size !== n) fail(`${n} sentences sent, ${new Set(got.map((r) => r.id)).size} distinct ones came back`);
  if (wrong.length > 0) fail(`${wrong.length} sentences came back tokenized differently, e.g. ${JSON.stringify(wrong[0])}`);
  const freq = frequencies(got);
  const tokens = freq.reduce((a, [, k]) => a + k, 0);
  const split = mc.channels.map((c, i) => `engine ${c.engineId}: ${perEngine[i]}`).join(', ');
  console.log(`tokenized ${count(n)} sentences on ${mc.channels.length} engines (${split}), all as tokenizing here gives`);
  console.log(
    `${count(tokens)} tokens, ${freq.length} distinct words; most frequent: ${freq
      .slice(0, 3)
      .map(([w, k]) => `${w} (${count(k)})`)
      .join(', ')}`,
  );
  await rc.close();
}

await main();
