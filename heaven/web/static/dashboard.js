// The dashboard: signs in, reads /api/v1/dashboard/stream (Server-Sent Events over fetch,
// so the token goes in the Authorization header): one whole view, then patches of what
// changed (heaven/control/dashboard_patch.py). A patch is applied to the page's copy of
// the view at once, and drawn at the next animation frame with whatever else arrived
// meanwhile: only the core cells and the parts it changed are touched, every cell keeps
// its element (and so its focus). Plain module, no build step, no CDN.

const $ = (id) => document.getElementById(id);
const TOKEN = 'heaven.token';
const history = [];  // [requested, allocated, used, lent] per view or patch, for the chart
const HISTORY = 300;
const JOB_LISTS = ['running', 'pending'];  // patched by id (set, order)
const WHOLE = ['organizations', 'nodes', 'pending_count', 'totals', 'activity'];  // replaced when changed
let cells = new Map();  // core index -> element
let position = new Map();  // core index -> its place in view.cores
let jobCells = new Map();  // job id -> the core indices its cells show (as drawn)
let lastView = null;  // the view as of the newest message (drawn at the next frame)
let dirty = nothingDirty();
let frame = 0;
let shown = null;  // the core whose description #detail shows
const received = {view: 0, patch: 0};

// Distinct colours: successive job ids land far apart on the hue circle (the golden angle),
// where a hash of the id gave two neighbours the same colour.
function colour(jobId) {
  return `hsl(${(jobId * 137.508) % 360}, 62%, 40%)`;
}

function token() { return sessionStorage.getItem(TOKEN); }

function showSignin(message) {
  $('board').hidden = true; $('signout').hidden = true; $('signin').hidden = false;
  $('who').textContent = ''; $('signin-error').textContent = message || '';
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData($('signin'));
  let secret = (form.get('token') || '').trim();
  if (!secret) {
    const answer = await fetch('/api/v1/auth/token', {method: 'POST',
      body: new URLSearchParams({username: form.get('username'), password: form.get('password')})});
    const body = await answer.json();
    if (!answer.ok) { $('signin-error').textContent = body.message; return; }
    secret = body.access_token;
  }
  sessionStorage.setItem(TOKEN, secret);
  start();
}

async function signOut() {
  const secret = token();
  sessionStorage.removeItem(TOKEN);
  if (secret && !secret.startsWith('hph_')) {  // an API token stays valid: only a login is revoked
    await fetch('/api/v1/auth/logout', {method: 'POST', headers: {Authorization: `Bearer ${secret}`}});
  }
  showSignin('Signed out.');
}

async function start() {
  const secret = token();
  if (!secret) { showSignin(); return; }
  const me = await fetch('/api/v1/auth/me', {headers: {Authorization: `Bearer ${secret}`}});
  if (!me.ok) { sessionStorage.removeItem(TOKEN); showSignin((await me.json()).message); return; }
  $('who').textContent = `Signed in as ${(await me.json()).username}`;
  $('signin').hidden = true; $('board').hidden = false; $('signout').hidden = false;
  stream(secret);
}

// Reads the event stream; reconnects after a second when it breaks, signs out on a 401.
async function stream(secret) {
  while (token() === secret) {
    try {
      const answer = await fetch('/api/v1/dashboard/stream', {headers: {Authorization: `Bearer ${secret}`}});
      if (answer.status === 401) { sessionStorage.removeItem(TOKEN); showSignin((await answer.json()).message); return; }
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done || token() !== secret) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end); buffer = buffer.slice(end + 2);
          const lines = message.split('\n');
          const kind = (lines.find((l) => l.startsWith('event: ')) || 'event: view').slice(7);
          const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) receive(kind, JSON.parse(data));
        }
      }
    } catch (error) {
      console.warn('dashboard stream broke, reconnecting', error);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function nothingDirty() { return {grid: false, cells: new Set(), parts: new Set()}; }

function receive(kind, body) {
  if (kind === 'view') {
    lastView = body;
    position = new Map(body.cores.map((core, i) => [core.index, i]));
    dirty.grid = true;
    [...JOB_LISTS, ...WHOLE].forEach((part) => dirty.parts.add(part));
  } else if (kind === 'patch' && lastView) {
    applyPatch(lastView, body);
  } else {
    return;
  }
  received[kind] += 1;
  const t = lastView.totals;
  history.push([t.requested, t.allocated, t.used, t.lent]);
  if (history.length > HISTORY) history.shift();
  if (!frame) frame = requestAnimationFrame(draw);
}

function applyPatch(view, patch) {
  view.now = patch.now;
  for (const core of patch.cores || []) {
    view.cores[position.get(core.index)] = core;
    dirty.cells.add(core.index);
  }
  const touched = new Set();  // jobs added, changed or gone: their cells' descriptions change
  for (const name of JOB_LISTS) {
    const change = patch[name];
    if (!change) continue;
    const byId = new Map(view[name].map((j) => [j.id, j]));
    for (const job of change.set || []) { byId.set(job.id, job); touched.add(job.id); }
    if (change.order) {
      const kept = new Set(change.order);
      view[name].forEach((j) => { if (!kept.has(j.id)) touched.add(j.id); });
      view[name] = change.order.map((id) => byId.get(id));
    } else {
      view[name] = view[name].map((j) => byId.get(j.id));
    }
    dirty.parts.add(name);
  }
  for (const id of touched) (jobCells.get(id) || []).forEach((index) => dirty.cells.add(index));
  for (const name of WHOLE) {
    if (name in patch) { view[name] = patch[name]; dirty.parts.add(name); }
  }
}

// One animation frame draws everything that changed since the last one.
function draw() {
  frame = 0;
  const view = lastView, changed = dirty;
  dirty = nothingDirty();
  const jobs = new Map([...view.running, ...view.pending].map((j) => [j.id, j]));
  if (changed.grid) drawGrid(view, jobs);
  else changed.cells.forEach((index) => paint(cells.get(index), view.cores[position.get(index)], jobs));
  drawTotals(view);
  const parts = changed.parts;
  if (parts.has('pending') || parts.has('pending_count')) {
    drawRows($('queue'), view.pending, (j) => [j.queue_position ?? '–', `${j.id} ${j.name}`, j.owner ?? '–',
      j.requested, j.reason || '']);
    $('queue-count').textContent = `(${view.pending_count} waiting)`;
  }
  if (parts.has('running')) {
    drawRows($('running'), view.running, (j) => [`${j.id} ${j.name}`, j.owner ?? '–', j.node ?? '–',
      `${j.requested} / ${j.held}${j.state === 'assigned' ? ' (starting)' : ''}`, pct(j.cpu_percent),
      j.rss_mb == null ? '–' : `${j.rss_mb.toFixed(0)} MB`, j.pids.join(' '), spark(j)]);
  }
  if (parts.has('nodes')) {
    drawRows($('nodes'), view.nodes, (n) => [n.name, n.cluster, n.state, `${n.allocated} / ${n.cores}`,
      n.used.toFixed(2), `${n.memory_allocated_mb} / ${n.memory_mb} MB`, pct(n.cpu_percent)]);
  }
  if (parts.has('activity')) {
    drawRows($('activity'), view.activity, (e) => [`${new Date(e.ts * 1000).toLocaleTimeString()} ${e.action}` +
      `${e.job ? ' job ' + e.job : ''}${e.node ? ' on ' + e.node : ''} ${e.detail}`], 'li');
  }
}

function pct(value) { return value == null ? '–' : `${value.toFixed(0)}%`; }

function drawTotals(view) {
  const t = view.totals;
  $('totals').textContent = `${t.requested} requested, ${t.allocated} allocated, ${t.used.toFixed(2)} used, ` +
    `${t.lent} lent by stealing, ${view.pending_count} jobs waiting`;
  const top = Math.max(1, ...history.map((h) => Math.max(...h)));
  const span = Math.max(1, history.length - 1);
  const line = (k) => history.map((h, i) => `${(i / span) * 600},${140 - (h[k] / top) * 130}`).join(' ');
  $('chart').innerHTML = ['requested', 'allocated', 'used', 'lent']
    .map((name, k) => `<polyline class="${name}" points="${line(k)}"></polyline>`).join('');
}

// A whole view: the grid is rebuilt only if its cores are not the ones drawn, then every
// cell is painted (a cell whose description did not change is left alone).
function drawGrid(view, jobs) {
  const grid = $('grid');
  if (cells.size !== view.cores.length || view.cores.some((c) => !cells.has(c.index))) {
    grid.replaceChildren(); cells = new Map(); jobCells = new Map();
    for (const core of view.cores) {
      const cell = document.createElement('div');
      cell.className = 'core'; cell.tabIndex = 0; cell.setAttribute('role', 'listitem');
      cell.dataset.index = core.index;
      cell.addEventListener('mouseenter', () => explain(core.index));
      cell.addEventListener('focus', () => explain(core.index));
      grid.appendChild(cell); cells.set(core.index, cell);
    }
  }
  for (const core of view.cores) paint(cells.get(core.index), core, jobs);
}

function paint(cell, core, jobs) {
  const job = core.job == null ? null : jobs.get(core.job);
  const label = describe(core, job);
  if (cell.getAttribute('aria-label') === label) return;  // unchanged: no style work for the browser
  const before = cell.dataset.job ? Number(cell.dataset.job) : null;
  if (before !== core.job) {
    if (before != null) jobCells.get(before)?.delete(core.index);
    if (core.job != null) {
      if (!jobCells.has(core.job)) jobCells.set(core.job, new Set());
      jobCells.get(core.job).add(core.index);
    }
  }
  cell.style.background = core.job == null ? '' : colour(core.job);
  cell.classList.toggle('reserved', core.reserved);
  cell.classList.toggle('lent', core.lent_by != null);
  cell.textContent = core.job == null ? '' : String(core.job);
  cell.dataset.job = core.job ?? '';
  cell.setAttribute('aria-label', label);
  if (shown === core.index) explain(core.index);
}

function describe(core, job) {
  const where = `core ${core.index} (CPU ${core.local} of ${core.node})`;
  if (core.reserved) return `${where}: reserved for the system`;
  if (core.job == null) return `${where}: free`;
  const lent = core.lent_by != null ? `, lent by job ${core.lent_by}` : '';
  if (!job) return `${where}: job ${core.job}${lent}`;
  return `${where}: job ${job.id} ${job.name} of ${job.owner ?? 'the original protocol'} (${job.org}), ` +
    `${job.requested} cores requested, ${job.held} held, CPU ${pct(job.cpu_percent)}${lent}`;
}

function explain(index) {
  shown = index;
  const cell = cells.get(index);
  if (cell) $('detail').textContent = cell.getAttribute('aria-label');
}

// Rows are replaced only where their item changed (the list of a large queue stays cheap).
function drawRows(body, items, columns, tag = 'tr') {
  while (body.children.length > items.length) body.lastChild.remove();
  items.forEach((item, i) => {
    const key = JSON.stringify(item);
    let row = body.children[i];
    if (!row) { row = document.createElement(tag); body.appendChild(row); }
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.replaceChildren(...columns(item).map((v) => {
      if (tag === 'li') return document.createTextNode(String(v));
      const cell = document.createElement('td');
      if (v instanceof Node) cell.appendChild(v); else cell.textContent = String(v);
      return cell;
    }));
  });
}

// Measured CPU (cores) over the job's recent samples, against the cores it requested.
function spark(job) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('class', 'spark'); svg.setAttribute('width', '90'); svg.setAttribute('height', '22');
  svg.setAttribute('role', 'img');
  const used = job.usage.map((u) => u / 100);
  const top = Math.max(job.requested, ...used, 1);
  const y = (v) => 21 - (v / top) * 20;
  svg.setAttribute('aria-label', `requested ${job.requested} cores, used ${used.length ? used.at(-1).toFixed(2) : 'unknown'}`);
  const wanted = document.createElementNS(svg.namespaceURI, 'line');
  Object.entries({x1: 0, x2: 90, y1: y(job.requested), y2: y(job.requested)}).forEach(([k, v]) => wanted.setAttribute(k, v));
  const line = document.createElementNS(svg.namespaceURI, 'polyline');
  line.setAttribute('points', used.map((u, i) => `${(i / Math.max(1, used.length - 1)) * 90},${y(u)}`).join(' '));
  svg.append(wanted, line);
  return svg;
}

$('signin').addEventListener('submit', signIn);
$('signout').addEventListener('click', signOut);
// For the browser tests and the page benchmark: the view, and how many views and patches arrived.
window.heavenDashboard = {view: () => lastView, received: () => ({...received})};
start();
