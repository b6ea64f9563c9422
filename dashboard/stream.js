// The task stream: one lane per engine, a bar per recent task from its start to its end, coloured by its label
// (or batch); failures in red; tasks still running drawn pale up to now. Hovering a bar shows what it was.
import { colour, duration, taskName } from './util.js';

const LANE = 22;
const TOP = 20;
const LEFT = 70;
/** the bars drawn last, for hovering: [x0, x1, y0, y1, span] */
let hits = [];
let last;

export function show(state) {
  const canvas = document.getElementById('stream-canvas');
  if (!canvas.dataset.wired) {
    canvas.dataset.wired = '1';
    canvas.addEventListener('mousemove', hover);
    canvas.addEventListener('mouseleave', () => (document.getElementById('stream-tip').hidden = true));
    document.getElementById('stream-window').addEventListener('change', () => last && update(last));
  }
  update(state);
}

export function hide() {}

export function update(state) {
  last = state;
  const snap = state.snap;
  if (!snap || document.getElementById('page-stream').hidden) return;
  const windowS = Number(document.getElementById('stream-window').value);
  const now = snap.time;
  const t0 = now - windowS * 1000;
  const engines = [...new Set([...snap.engines.map((e) => e.id), ...state.spans.filter((s) => s.end >= t0).map((s) => s.engine)])].sort(
    (a, b) => a - b,
  );
  const canvas = document.getElementById('stream-canvas');
  const width = canvas.parentElement.clientWidth;
  const height = TOP + Math.max(1, engines.length) * LANE + 24;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  const x = (t) => LEFT + ((t - t0) / (windowS * 1000)) * (width - LEFT - 10);
  axes(g, engines, width, height, x, t0, windowS);
  hits = [];
  let shown = 0;
  const laneOf = new Map(engines.map((id, i) => [id, i]));
  for (const s of state.spans) {
    if (s.end < t0) continue;
    bar(g, x, laneOf.get(s.engine), s, s.ok ? colour(taskName(s)) : '#dc2626', !s.ok);
    shown++;
  }
  for (const e of snap.engines) {
    if (!e.task) continue;
    const s = { ...e.task, engine: e.id, start: e.task.started, end: now, ok: true, running: true, batch: null, ename: null };
    bar(g, x, laneOf.get(e.id), s, colour(taskName(s), 0.35), false);
  }
  document.getElementById('stream-count').textContent = String(shown);
  canvas.dataset.spans = String(shown);
}

function axes(g, engines, width, height, x, t0, windowS) {
  g.font = '12px system-ui, sans-serif';
  g.fillStyle = '#6b7280';
  g.strokeStyle = '#e3e6ec';
  engines.forEach((id, i) => {
    const y = TOP + i * LANE;
    g.fillText(`engine ${id}`, 6, y + LANE / 2 + 4);
    g.beginPath();
    g.moveTo(LEFT, y + LANE);
    g.lineTo(width - 10, y + LANE);
    g.stroke();
  });
  const step = windowS <= 60 ? 10 : 60;
  for (let s = 0; s <= windowS; s += step) {
    const t = t0 + s * 1000;
    g.fillText(s === windowS ? 'now' : `-${windowS - s}s`, x(t) - 10, height - 6);
  }
}

function bar(g, x, lane, s, fillStyle, failed) {
  if (lane === undefined) return;
  const x0 = Math.max(LEFT, x(s.start));
  const x1 = Math.max(x0 + 2, x(s.end));
  const y0 = TOP + lane * LANE + 3;
  const h = LANE - 6;
  g.fillStyle = fillStyle;
  g.fillRect(x0, y0, x1 - x0, h);
  if (failed) {
    g.strokeStyle = '#7f1d1d';
    g.strokeRect(x0, y0, x1 - x0, h);
  }
  hits.push([x0, x1, y0, y0 + h, s]);
}

function hover(ev) {
  const tip = document.getElementById('stream-tip');
  const r = ev.target.getBoundingClientRect();
  const px = ev.clientX - r.left;
  const py = ev.clientY - r.top;
  const hit = hits.findLast(([x0, x1, y0, y1]) => px >= x0 - 1 && px <= x1 + 1 && py >= y0 && py <= y1);
  if (!hit) {
    tip.hidden = true;
    return;
  }
  const s = hit[4];
  const status = s.running ? 'running' : s.ok ? 'done' : `failed${s.ename ? ` (${s.ename})` : ''}`;
  tip.textContent = `${taskName(s)}\nengine ${s.engine} · ${duration((s.end - s.start) / 1000)} · ${status}\n${s.msgId}`;
  tip.style.left = `${Math.min(px + 12, r.width - 260)}px`;
  tip.style.top = `${py + 12}px`;
  tip.hidden = false;
}
