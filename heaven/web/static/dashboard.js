// The dashboard: signs in, reads /api/v1/dashboard/stream (Server-Sent Events over fetch,
// so the token goes in the Authorization header), and draws each view it is sent.
// Plain module, no build step, no CDN. Cells and rows are updated in place, so that a
// view of thousands of cores costs a few milliseconds.

const $ = (id) => document.getElementById(id);
const TOKEN = 'heaven.token';
const history = [];  // [requested, allocated, used, lent] per view, for the chart
const HISTORY = 300;
let cells = new Map();  // core index -> element
let lastView = null;

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
          const data = message.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) draw(JSON.parse(data));
        }
      }
    } catch (error) {
      console.warn('dashboard stream broke, reconnecting', error);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function draw(view) {
  lastView = view;
  const jobs = new Map([...view.running, ...view.pending].map((j) => [j.id, j]));
  drawTotals(view);
  drawGrid(view, jobs);
  drawRows($('queue'), view.pending, (j) => [j.queue_position ?? '–', `${j.id} ${j.name}`, j.owner ?? '–',
    j.requested, j.reason || '']);
  $('queue-count').textContent = `(${view.pending_count} waiting)`;
  drawRows($('running'), view.running, (j) => [`${j.id} ${j.name}`, j.owner ?? '–', j.node ?? '–',
    `${j.requested} / ${j.held}${j.state === 'assigned' ? ' (starting)' : ''}`, pct(j.cpu_percent),
    j.rss_mb == null ? '–' : `${j.rss_mb.toFixed(0)} MB`, j.pids.join(' '), spark(j)]);
  drawRows($('nodes'), view.nodes, (n) => [n.name, n.cluster, n.state, `${n.allocated} / ${n.cores}`,
    n.used.toFixed(2), `${n.memory_allocated_mb} / ${n.memory_mb} MB`, pct(n.cpu_percent)]);
  drawRows($('activity'), view.activity, (e) => [`${new Date(e.ts * 1000).toLocaleTimeString()} ${e.action}` +
    `${e.job ? ' job ' + e.job : ''}${e.node ? ' on ' + e.node : ''} ${e.detail}`], 'li');
}

function pct(value) { return value == null ? '–' : `${value.toFixed(0)}%`; }

function drawTotals(view) {
  const t = view.totals;
  $('totals').textContent = `${t.requested} requested, ${t.allocated} allocated, ${t.used.toFixed(2)} used, ` +
    `${t.lent} lent by stealing, ${view.pending_count} jobs waiting`;
  history.push([t.requested, t.allocated, t.used, t.lent]);
  if (history.length > HISTORY) history.shift();
  const top = Math.max(1, ...history.map((h) => Math.max(...h)));
  const span = Math.max(1, history.length - 1);
  const line = (k) => history.map((h, i) => `${(i / span) * 600},${140 - (h[k] / top) * 130}`).join(' ');
  $('chart').innerHTML = ['requested', 'allocated', 'used', 'lent']
    .map((name, k) => `<polyline class="${name}" points="${line(k)}"></polyline>`).join('');
}

function drawGrid(view, jobs) {
  const grid = $('grid');
  if (cells.size !== view.cores.length || view.cores.some((c) => !cells.has(c.index))) {
    grid.replaceChildren(); cells = new Map();
    for (const core of view.cores) {
      const cell = document.createElement('div');
      cell.className = 'core'; cell.tabIndex = 0; cell.setAttribute('role', 'listitem');
      cell.dataset.index = core.index;
      cell.addEventListener('mouseenter', () => explain(core.index));
      cell.addEventListener('focus', () => explain(core.index));
      grid.appendChild(cell); cells.set(core.index, cell);
    }
  }
  for (const core of view.cores) {
    const cell = cells.get(core.index), job = core.job == null ? null : jobs.get(core.job);
    const label = describe(core, job);
    if (cell.getAttribute('aria-label') === label) continue;  // unchanged: no style work for the browser
    cell.style.background = core.job == null ? '' : colour(core.job);
    cell.classList.toggle('reserved', core.reserved);
    cell.classList.toggle('lent', core.lent_by != null);
    cell.textContent = core.job == null ? '' : String(core.job);
    cell.dataset.job = core.job ?? '';
    cell.setAttribute('aria-label', label);
  }
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
  const cell = cells.get(index);
  if (cell) $('detail').textContent = cell.getAttribute('aria-label');
}

// Rows are replaced only where their text changed (the list of a large queue stays cheap).
function drawRows(body, items, columns, tag = 'tr') {
  while (body.children.length > items.length) body.lastChild.remove();
  items.forEach((item, i) => {
    const values = columns(item);
    const key = JSON.stringify(values.map((v) => (v instanceof Node ? v.outerHTML : v)));
    let row = body.children[i];
    if (!row) { row = document.createElement(tag); body.appendChild(row); }
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.replaceChildren(...values.map((v) => {
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
window.heavenDashboard = {view: () => lastView};  // for the browser tests and the page benchmark
start();
