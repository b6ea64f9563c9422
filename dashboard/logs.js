// The logs page: the end of the controller's log file, read again every two seconds while the page is open.
let timer;

export function show() {
  clearInterval(timer);
  void load();
  timer = setInterval(load, 2000);
}

export function hide() {
  clearInterval(timer);
}

export function update() {}

async function load() {
  const r = await fetch('/api/logs?lines=400');
  if (!r.ok) return;
  const d = await r.json();
  document.getElementById('log-path').textContent = d.path ?? '(none)';
  const pre = document.getElementById('log-text');
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = d.text;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}
