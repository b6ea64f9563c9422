// Small helpers of the dashboard's pages: building elements (text is always set as text, never as HTML) and formatting.

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  return e;
}

/** Seconds (or ms with `ms`) as a short duration: 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Bytes as KiB, MiB, GiB. */
export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A rate: 0.25/s, 12/s, 1.2k/s. */
export function rate(r) {
  if (!Number.isFinite(r)) return '–';
  if (r >= 1000) return `${(r / 1000).toFixed(1)}k/s`;
  return `${r >= 10 ? Math.round(r) : r.toFixed(2)}/s`;
}

/** A stable colour for a name (a label or a batch). */
export function colour(name, alpha = 1) {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return `hsla(${h % 360}, 60%, 55%, ${alpha})`;
}

/** What a task is called on the pages: its label, else its batch (short), else its msg id (short). */
export function taskName(t) {
  if (t.label) return t.label;
  if (t.batch) return `batch ${t.batch.slice(0, 8)}`;
  return `task ${t.msgId.slice(0, 8)}`;
}

/** Replace an element's children. */
export function fill(parent, ...children) {
  parent.replaceChildren(...children.flat());
}
