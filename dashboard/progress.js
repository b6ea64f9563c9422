// The progress page: maps and parallel calls (by the batch id their client sent), other tasks by label.
import { duration, el, fill, rate } from './util.js';

export function show(state) {
  update(state);
}

export function hide() {}

export function update(state) {
  const snap = state.snap;
  if (!snap || document.getElementById('page-progress').hidden) return;
  const groups = snap.progress;
  document.getElementById('progress-empty').hidden = groups.length > 0;
  fill(
    document.querySelector('#progress tbody'),
    groups.map((g) => row(g, snap.time)),
  );
}

function row(g, now) {
  const finished = g.done + g.failed;
  const name = g.kind === 'batch' ? `${g.label ? `${g.label} · ` : ''}batch ${g.key.slice(0, 8)}` : `label ${g.key}`;
  const pct = (n) => `${g.total ? (100 * n) / g.total : 0}%`;
  const end = finished === g.total && g.last ? g.last : now;
  return el(
    'tr',
    { 'data-key': g.key },
    el('td', {}, name),
    el('td', { class: 'done' }, `${finished} / ${g.total}`),
    el(
      'td',
      {},
      el(
        'div',
        { class: 'bar' },
        el('div', { class: 'ok', style: `width:${pct(g.done)}` }),
        el('div', { class: 'bad', style: `width:${pct(g.failed)}` }),
      ),
    ),
    el('td', { class: g.failed ? 'status-failed' : '' }, g.failed),
    el('td', {}, rate(g.rate)),
    el('td', {}, finished === g.total ? 'done' : duration(g.eta)),
    el('td', {}, duration((end - g.first) / 1000)),
  );
}
