// The status page: counts, tasks/s over the last minutes (uPlot), and one row per engine.
import { bytes, duration, el, fill, rate } from './util.js';

let chart;

export function show(state) {
  update(state);
}

export function hide() {}

export function update(state) {
  const snap = state.snap;
  if (!snap || document.getElementById('page-status').hidden) return;
  const c = snap.counts;
  const set = (id, v) => (document.getElementById(id).textContent = String(v));
  set('engine-count', snap.engines.length);
  set('count-queued', c.submitted + c.waiting + c.queued + c.retrying);
  set('count-running', c.running);
  set('count-done', c.done);
  set('count-failed', c.failed);
  set('rate-now', rate(snap.rate.now));
  drawChart(snap.rate);
  fill(
    document.querySelector('#engines tbody'),
    snap.engines.map((e) => row(e, snap.time)),
  );
}

function row(e, now) {
  const task = e.task;
  return el(
    'tr',
    { class: 'link', 'data-engine': e.id, onclick: () => (location.hash = `#engine/${e.id}`) },
    el('td', {}, e.id),
    el('td', {}, e.host),
    el('td', {}, e.pid),
    el('td', { class: `state-${e.state}` }, e.state),
    el('td', {}, task ? task.label || task.msgId.slice(0, 8) : ''),
    el('td', {}, task ? duration((now - task.started) / 1000) : ''),
    el('td', {}, e.done),
    el('td', {}, e.queued),
    el('td', {}, e.cpu === null ? '–' : e.cpu.toFixed(0)),
    el('td', {}, bytes(e.rss)),
  );
}

function drawChart(r) {
  const box = document.getElementById('rate-chart');
  const data = [r.t, r.done, r.failed];
  const width = Math.max(300, box.clientWidth - 10);
  if (!chart) {
    chart = new window.uPlot(
      {
        width,
        height: 200,
        series: [
          {},
          { label: 'done/s', stroke: '#16a34a', width: 1.5, points: { show: false } },
          { label: 'failed/s', stroke: '#dc2626', width: 1.5, points: { show: false } },
        ],
        axes: [{}, { label: 'tasks/s' }],
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      },
      data,
      box,
    );
    return;
  }
  if (Math.abs(chart.width - width) > 20) chart.setSize({ width, height: 200 });
  chart.setData(data);
}
