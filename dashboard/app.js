// The dashboard app: one page at a time (by the address's #hash), all fed by one Server-Sent Events stream of snapshots.
import * as engine from './engine.js';
import * as logs from './logs.js';
import * as progress from './progress.js';
import * as status from './status.js';
import * as stream from './stream.js';

const pages = { status, stream, progress, engine, logs };

/** What the pages read: the latest snapshot, and the task spans gathered from every snapshot (bounded). */
const state = { snap: null, spans: [], nextSeq: 0 };
const MAX_SPANS = 20000;

// the token came in the address; the cookie the server set carries it from now on, so it leaves the address bar
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname + location.hash);

let current;

function route() {
  const [name, arg] = (location.hash.slice(1) || 'status').split('/');
  const page = pages[name] ? name : 'status';
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `page-${page}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page);
  if (current && current !== pages[page]) current.hide?.();
  current = pages[page];
  current.show(state, arg);
}

function onSnapshot(snap) {
  // after a reconnection the server sends recent spans again: keep those not yet seen
  const fresh = snap.spans.filter((s) => s.seq >= state.nextSeq);
  state.nextSeq = Math.max(state.nextSeq, snap.nextSeq);
  if (fresh.length > 0) {
    state.spans.push(...fresh);
    if (state.spans.length > MAX_SPANS) state.spans.splice(0, state.spans.length - MAX_SPANS);
  }
  state.snap = snap;
  const c = snap.cluster;
  document.getElementById('cluster-name').textContent = `profile ${c.profile}${c.clusterId ? ` / ${c.clusterId}` : ''} · ${c.scheme}, hwm ${c.hwm}`;
  current?.update(state);
}

function connect() {
  const conn = document.getElementById('connection');
  const es = new EventSource('/events');
  es.addEventListener('snapshot', (ev) => {
    conn.textContent = 'live';
    conn.className = 'conn live';
    onSnapshot(JSON.parse(ev.data));
  });
  es.addEventListener('error', () => {
    conn.textContent = 'disconnected: retrying';
    conn.className = 'conn lost';
  });
}

window.addEventListener('hashchange', route);
route();
connect();
