// An engine's page: its state, its recent tasks with their output tails, and the errors with their remote stacks.
import { bytes, duration, el, fill } from './util.js';

let timer;
let engineId;

export function show(state, arg) {
  engineId = arg === undefined || arg === '' ? undefined : Number(arg);
  list(state);
  clearInterval(timer);
  fill(document.getElementById('engine-info'));
  fill(document.getElementById('engine-tasks'));
  document.getElementById('engine-title').textContent = engineId === undefined ? 'Choose an engine' : `Engine ${engineId}`;
  if (engineId === undefined) return;
  void load();
  timer = setInterval(load, 2000);
}

export function hide() {
  clearInterval(timer);
}

export function update(state) {
  list(state);
}

function list(state) {
  const engines = state.snap?.engines ?? [];
  fill(
    document.getElementById('engine-list'),
    el('span', { class: 'hint' }, 'engines: '),
    engines.map((e) => el('a', { href: `#engine/${e.id}` }, `${e.id} (${e.host}, pid ${e.pid})`)),
  );
}

async function load() {
  const id = engineId;
  const r = await fetch(`/api/engine/${id}`);
  if (!r.ok || id !== engineId) return;
  const d = await r.json();
  const e = d.engine;
  fill(
    document.getElementById('engine-info'),
    e
      ? el('p', {}, `${e.host}, pid ${e.pid}, ${e.state}; ${e.done} tasks done, ${e.queued} queued; CPU ${e.cpu ?? '–'} %, RSS ${bytes(e.rss)}`)
      : el('p', { class: 'hint' }, 'not registered now (its tasks on record are below)'),
  );
  fill(document.getElementById('engine-tasks'), d.tasks.length ? d.tasks.map(task) : el('p', { class: 'hint' }, 'no tasks on record'));
}

function task(t) {
  const ran = t.started && t.completed ? duration((t.completed - t.started) / 1000) : t.started ? 'running' : '';
  return el(
    'div',
    { class: 'task', 'data-status': t.status },
    el(
      'div',
      { class: 'head' },
      el('b', {}, t.label || t.msgId.slice(0, 8)),
      el('span', { class: `status-${t.status}` }, t.status),
      el('span', {}, ran),
      el('span', { class: 'hint' }, new Date(t.submitted).toLocaleTimeString()),
      el('code', { class: 'hint' }, t.msgId),
    ),
    t.ename ? el('div', { class: 'error' }, `${t.ename}${t.evalue ? `: ${t.evalue}` : ''}`) : null,
    t.traceback.length ? el('pre', { class: 'stack' }, t.traceback.join('\n')) : null,
    t.stdout ? [el('div', { class: 'hint' }, 'stdout'), el('pre', {}, t.stdout)] : null,
    t.stderr ? [el('div', { class: 'hint' }, 'stderr'), el('pre', {}, t.stderr)] : null,
  );
}
