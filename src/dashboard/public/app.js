// Celeriac dashboard page: plain JavaScript, no build step, no external requests. One page, routed on the hash.
'use strict';
(function () {
  const PREFIX = document.body.dataset.prefix || '';
  const view = document.getElementById('view');
  const STATES = ['PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'RETRY', 'REVOKED', 'REJECTED'];
  let me = { readOnly: false };
  let current = null; // { refresh: () => Promise<void> } of the shown page

  // ------------------------------------------------------------------------------------------ helpers
  function esc(value) {
    return String(value ?? '').replace(
      /[&<>"']/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
    );
  }
  async function api(path, init) {
    const response = await fetch(PREFIX + path, init);
    const type = response.headers.get('content-type') || '';
    const body = type.includes('json') ? await response.json() : await response.text();
    if (!response.ok) throw new Error(typeof body === 'string' ? body : JSON.stringify(body));
    return body;
  }
  function post(path, body) {
    return api(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
    });
  }
  function toast(text, error) {
    const el = document.getElementById('toast');
    el.textContent = text;
    el.className = error ? 'error' : '';
    el.style.display = 'block';
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => (el.style.display = 'none'), 4000);
  }
  function time(seconds) {
    if (seconds === null || seconds === undefined) return '';
    const d = new Date(seconds * 1000);
    const clock =
      d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
    if (d.toDateString() === new Date().toDateString()) return clock;
    return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' + clock;
  }
  function ago(seconds) {
    if (!seconds) return '';
    const s = Math.max(0, Date.now() / 1000 - seconds);
    if (s < 60) return s.toFixed(0) + ' s ago';
    if (s < 3600) return (s / 60).toFixed(0) + ' min ago';
    return (s / 3600).toFixed(1) + ' h ago';
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return '';
    if (seconds < 1) return (seconds * 1000).toFixed(1) + ' ms';
    return seconds.toFixed(seconds < 10 ? 2 : 1) + ' s';
  }
  const badge = (state) => `<span class="badge ${esc(state)}">${esc(state)}</span>`;
  const taskLink = (id, label) =>
    id
      ? `<a class="mono" href="#/task/${encodeURIComponent(id)}">${esc(label || id)}</a>`
      : '<span class="muted">–</span>';
  const workerLink = (name) =>
    name ? `<a href="#/worker/${encodeURIComponent(name)}">${esc(name)}</a>` : '';
  function json(value) {
    return esc(JSON.stringify(value, null, 2));
  }
  function disabledIfReadOnly() {
    return me.readOnly ? 'disabled title="read-only user"' : '';
  }

  /** A line plot as inline SVG: series = [{ name, color, points: [[t, v], ...] }]. */
  function plot(series, options) {
    const width = 900;
    const height = (options && options.height) || 220;
    const pad = { l: 46, r: 12, t: 10, b: 24 };
    const all = series.flatMap((s) => s.points);
    if (all.length === 0) return '<p class="muted">No data yet.</p>';
    const t0 = Math.min(...all.map((p) => p[0]));
    const t1 = Math.max(...all.map((p) => p[0]), t0 + 1);
    const vmax = Math.max(1, ...all.map((p) => p[1]));
    const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
    const y = (v) => height - pad.b - (v / vmax) * (height - pad.t - pad.b);
    const grid = [0, 0.5, 1]
      .map(
        (f) =>
          `<line x1="${pad.l}" x2="${width - pad.r}" y1="${y(vmax * f)}" y2="${y(vmax * f)}" stroke="#eceef2"/><text x="${pad.l - 6}" y="${y(vmax * f) + 4}" text-anchor="end">${+(vmax * f).toFixed(2)}</text>`,
      )
      .join('');
    const labels = `<text x="${pad.l}" y="${height - 6}">${esc(new Date(t0 * 1000).toLocaleTimeString(undefined, { hour12: false }))}</text><text x="${width - pad.r}" y="${height - 6}" text-anchor="end">${esc(new Date(t1 * 1000).toLocaleTimeString(undefined, { hour12: false }))}</text>`;
    const lines = series
      .map(
        (s) =>
          `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map((p) => x(p[0]).toFixed(1) + ',' + y(p[1]).toFixed(1)).join(' ')}"/>`,
      )
      .join('');
    const legend = `<div class="legend">${series.map((s) => `<span><i style="background:${s.color}"></i>${esc(s.name)}</span>`).join('')}</div>`;
    return `<svg class="plot" viewBox="0 0 ${width} ${height}" role="img">${grid}${lines}${labels}</svg>${legend}`;
  }
  const COLORS = ['#2f8f4e', '#c0392b', '#2c6fbb', '#d68910', '#7d3c98', '#17a589', '#566573', '#b7950b'];

  // ------------------------------------------------------------------------------------------ pages
  const pages = {
    async workers() {
      view.innerHTML = `<h1>Workers <button id="inspect">Refresh (inspect)</button></h1><div class="table-wrap"><table><thead><tr><th>Worker</th><th>Status</th><th>Pool</th><th>Concurrency</th><th>Processed</th><th>Active</th><th>Load average</th><th>Queues</th><th>Software</th><th>Last heartbeat</th></tr></thead><tbody id="rows"></tbody></table></div>`;
      document.getElementById('inspect').onclick = async () => {
        try {
          await api('/api/workers?refresh=1');
          await refresh();
          toast('Workers inspected');
        } catch (error) {
          toast(error.message, true);
        }
      };
      async function refresh() {
        const workers = await api('/api/dashboard/workers');
        document.getElementById('rows').innerHTML =
          workers
            .map(
              (w) =>
                `<tr data-worker="${esc(w.hostname)}"><td>${workerLink(w.hostname)}</td><td>${badge(w.online ? 'online' : 'offline')}</td><td>${esc(w.pool || '')}</td><td>${esc(w.concurrency ?? '')}</td><td>${esc(w.processed ?? '')}</td><td>${esc(w.active ?? '')}</td><td class="mono">${esc((w.loadavg || []).join(', '))}</td><td>${esc(w.queues.join(', '))}</td><td>${esc(w.software || '')}</td><td>${esc(ago(w.lastHeartbeat))}</td></tr>`,
            )
            .join('') ||
          '<tr><td colspan="10" class="muted">No worker seen yet. Workers show up with their first heartbeat (every 2 s).</td></tr>';
      }
      await refresh();
      return { refresh };
    },

    async worker(name) {
      async function refresh(inspect) {
        const w = await api(
          `/api/dashboard/worker/${encodeURIComponent(name)}${inspect ? '?refresh=1' : ''}`,
        );
        const info = w.info || {};
        const list = (items, render) =>
          Array.isArray(items) && items.length
            ? `<ul>${items.map(render).join('')}</ul>`
            : '<p class="muted">None.</p>';
        const req = (r) =>
          `<li>${taskLink(r.id, r.name + ' ' + r.id)} <span class="mono muted">${esc(r.args)}</span></li>`;
        const queues = Array.isArray(info.active_queues) ? info.active_queues : [];
        view.innerHTML = `
          <h1>${esc(name)} ${badge(w.online ? 'online' : 'offline')} <button id="reinspect">Refresh (inspect)</button></h1>
          <div class="kv"><div><b>${esc(w.processed ?? '–')}</b><span>processed</span></div><div><b>${esc(w.active ?? '–')}</b><span>active</span></div><div><b>${esc(w.pool || '–')}</b><span>pool</span></div><div><b>${esc(w.concurrency ?? '–')}</b><span>concurrency</span></div><div><b>${esc((w.loadavg || []).join(' ') || '–')}</b><span>load average</span></div><div><b>${esc(w.pid ?? '–')}</b><span>pid</span></div></div>
          <div class="panel"><h2 style="margin-top:0">Actions</h2><div class="actions">
            <button class="danger" data-act="shutdown" ${disabledIfReadOnly()}>Shut down</button>
            <button data-act="pool/restart" ${disabledIfReadOnly()}>Restart pool</button>
            <label>n<input id="pool-n" type="number" value="1" min="1" style="width:70px"/></label>
            <button data-act="pool/grow" ${disabledIfReadOnly()}>Grow pool</button>
            <button data-act="pool/shrink" ${disabledIfReadOnly()}>Shrink pool</button>
            <label>min<input id="as-min" type="number" value="1" min="0" style="width:70px"/></label><label>max<input id="as-max" type="number" value="4" min="1" style="width:70px"/></label>
            <button data-act="pool/autoscale" ${disabledIfReadOnly()}>Autoscale</button>
            <label>queue<input id="queue-name" placeholder="queue name"/></label>
            <button data-act="queue/add-consumer" ${disabledIfReadOnly()}>Add consumer</button>
            <button data-act="queue/cancel-consumer" ${disabledIfReadOnly()}>Cancel consumer</button>
          </div><div class="actions" style="margin-top:10px">
            <label>task<input id="limit-task" placeholder="tasks.add"/></label>
            <label>rate limit<input id="rate" placeholder="10/m" style="width:90px"/></label><button data-limit="rate" ${disabledIfReadOnly()}>Set rate limit</button>
            <label>soft (s)<input id="soft" type="number" style="width:80px"/></label><label>hard (s)<input id="hard" type="number" style="width:80px"/></label><button data-limit="time" ${disabledIfReadOnly()}>Set time limits</button>
          </div></div>
          <div class="grid">
            <div class="panel"><h2 style="margin-top:0">Queues</h2>${list(queues, (q) => `<li>${esc(q.name)} <span class="muted">(exchange ${esc(q.exchange && q.exchange.name)}, key ${esc(q.routing_key)})</span></li>`)}</div>
            <div class="panel"><h2 style="margin-top:0">Registered tasks</h2>${list(info.registered, (t) => `<li class="mono">${esc(t)}</li>`)}</div>
            <div class="panel"><h2 style="margin-top:0">Active</h2>${list(info.active, req)}</div>
            <div class="panel"><h2 style="margin-top:0">Scheduled</h2>${list(info.scheduled, (s) => req(s.request || s))}</div>
            <div class="panel"><h2 style="margin-top:0">Reserved</h2>${list(info.reserved, req)}</div>
            <div class="panel"><h2 style="margin-top:0">Revoked</h2>${list(info.revoked, (id) => `<li>${taskLink(id)}</li>`)}</div>
          </div>
          <div class="grid"><div class="panel"><h2 style="margin-top:0">Pool and stats</h2><pre>${json(info.stats || {})}</pre></div><div class="panel"><h2 style="margin-top:0">Configuration</h2><pre>${json(info.conf || {})}</pre></div></div>`;
        document.getElementById('reinspect').onclick = () =>
          refresh(true).catch((e) => toast(e.message, true));
        view.querySelectorAll('[data-act]').forEach((button) => {
          button.onclick = async () => {
            const act = button.dataset.act;
            if (act === 'shutdown' && !confirm(`Shut down ${name}?`)) return;
            const params = new URLSearchParams();
            if (act.startsWith('pool/grow') || act.startsWith('pool/shrink'))
              params.set('n', document.getElementById('pool-n').value);
            if (act === 'pool/autoscale') {
              params.set('min', document.getElementById('as-min').value);
              params.set('max', document.getElementById('as-max').value);
            }
            if (act.startsWith('queue/')) params.set('queue', document.getElementById('queue-name').value);
            try {
              const reply = await api(`/api/worker/${act}/${encodeURIComponent(name)}?${params}`, {
                method: 'POST',
              });
              toast(reply.message || 'Done');
            } catch (error) {
              toast(error.message, true);
            }
          };
        });
        view.querySelectorAll('[data-limit]').forEach((button) => {
          button.onclick = async () => {
            const task = document.getElementById('limit-task').value.trim();
            const params = new URLSearchParams({ workername: name });
            let path;
            if (button.dataset.limit === 'rate') {
              params.set('ratelimit', document.getElementById('rate').value);
              path = `/api/task/rate-limit/${encodeURIComponent(task)}`;
            } else {
              for (const key of ['soft', 'hard'])
                if (document.getElementById(key).value) params.set(key, document.getElementById(key).value);
              path = `/api/task/timeout/${encodeURIComponent(task)}`;
            }
            try {
              toast((await api(`${path}?${params}`, { method: 'POST' })).message || 'Done');
            } catch (error) {
              toast(error.message, true);
            }
          };
        });
      }
      await refresh(false);
      return { refresh: () => Promise.resolve() };
    },

    async tasks(params) {
      const q = new URLSearchParams(params || '');
      const names = await api('/api/dashboard/task-names').catch(() => []);
      const workers = await api('/api/dashboard/workers').catch(() => []);
      const option = (value, selected, label) =>
        `<option value="${esc(value)}" ${value === selected ? 'selected' : ''}>${esc(label ?? value)}</option>`;
      const localInput = (seconds) =>
        seconds
          ? new Date(seconds * 1000 - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16)
          : '';
      view.innerHTML = `
        <h1>Tasks <span class="muted" id="total" style="font-size:14px;font-weight:400"></span></h1>
        <form class="filters" id="filters">
          <label>State<select name="state"><option value="">any</option>${STATES.map((s) => option(s, q.get('state'))).join('')}</select></label>
          <label>Name<select name="name"><option value="">any</option>${names.map((n) => option(n, q.get('name'))).join('')}</select></label>
          <label>Worker<select name="worker"><option value="">any</option>${workers.map((w) => option(w.hostname, q.get('worker'))).join('')}</select></label>
          <label>Received from<input type="datetime-local" name="since" value="${esc(localInput(Number(q.get('since'))))}"/></label>
          <label>to<input type="datetime-local" name="until" value="${esc(localInput(Number(q.get('until'))))}"/></label>
          <label>Search args, kwargs, result<input name="search" value="${esc(q.get('search') || '')}" placeholder="text"/></label>
          <label>Sort by<select name="sort">${['timestamp', 'received', 'started', 'succeeded', 'runtime', 'name', 'state', 'worker'].map((s) => option(s, q.get('sort') || 'received')).join('')}</select></label>
          <label>Order<select name="order">${option('desc', q.get('order') || 'desc', 'newest / largest first')}${option('asc', q.get('order'), 'oldest / smallest first')}</select></label>
          <button class="primary" type="submit">Filter</button> <button type="button" id="clear">Clear</button>
        </form>
        <div class="table-wrap"><table><thead><tr><th>Name</th><th>UUID</th><th>State</th><th>args</th><th>kwargs</th><th>Result</th><th>Received</th><th>Started</th><th>Runtime</th><th>Worker</th></tr></thead><tbody id="rows"></tbody></table></div>
        <div class="pager"><button id="prev">← Newer</button><button id="next">Older →</button><span class="muted" id="range"></span></div>`;
      const form = document.getElementById('filters');
      form.onsubmit = (event) => {
        event.preventDefault();
        const data = new URLSearchParams();
        for (const [key, value] of new FormData(form)) {
          if (!value) continue;
          if (key === 'since' || key === 'until') data.set(key, String(new Date(value).getTime() / 1000));
          else data.set(key, value);
        }
        if (data.has('since') || data.has('until')) data.set('timeField', 'received');
        location.hash = '#/tasks?' + data;
      };
      document.getElementById('clear').onclick = () => (location.hash = '#/tasks');
      const limit = 50;
      let offset = Number(q.get('offset') || 0);
      async function refresh() {
        const query = new URLSearchParams(q);
        if (!query.has('sort')) query.set('sort', 'received');
        query.set('offset', String(offset));
        query.set('limit', String(limit));
        const page = await api('/api/dashboard/tasks?' + query);
        document.getElementById('total').textContent = `${page.total} matching`;
        document.getElementById('range').textContent = page.total
          ? `${offset + 1}–${offset + page.tasks.length} of ${page.total}`
          : '';
        document.getElementById('prev').disabled = offset === 0;
        document.getElementById('next').disabled = offset + limit >= page.total;
        document.getElementById('rows').innerHTML =
          page.tasks
            .map(
              (t) =>
                `<tr data-task="${esc(t.uuid)}" data-state="${esc(t.state)}"><td>${esc(t.name || '')}</td><td>${taskLink(t.uuid, t.uuid.slice(0, 8) + '…')}</td><td>${badge(t.state)}</td><td class="mono clip" title="${esc(t.args)}">${esc(t.args)}</td><td class="mono clip" title="${esc(t.kwargs)}">${esc(t.kwargs)}</td><td class="mono clip" title="${esc(t.result || t.exception)}">${esc(t.result ?? t.exception ?? '')}</td><td class="time">${esc(time(t.received))}</td><td class="time">${esc(time(t.started))}</td><td>${esc(duration(t.runtime))}</td><td>${workerLink(t.worker)}</td></tr>`,
            )
            .join('') ||
          '<tr><td colspan="10" class="muted">No task matches. Tasks appear as workers send events (start workers with -E).</td></tr>';
      }
      document.getElementById('prev').onclick = () => {
        offset = Math.max(0, offset - limit);
        refresh();
      };
      document.getElementById('next').onclick = () => {
        offset += limit;
        refresh();
      };
      await refresh();
      return { refresh };
    },

    async task(id) {
      async function refresh() {
        let t;
        try {
          t = await api(`/api/dashboard/task/${encodeURIComponent(id)}`);
        } catch (error) {
          view.innerHTML = `<h1>Task ${esc(id)}</h1><p class="muted">${esc(error.message)}</p>`;
          return;
        }
        const row = (label, value) =>
          value === null || value === undefined || value === ''
            ? ''
            : `<dt>${esc(label)}</dt><dd>${value}</dd>`;
        const first = t.history.length ? t.history[0].timestamp : 0;
        view.innerHTML = `
          <h1>${esc(t.name || 'unknown task')} ${badge(t.state)}</h1>
          <div class="panel actions">
            <button class="danger" id="revoke" ${disabledIfReadOnly()} ${t.ready ? 'disabled' : ''}>Revoke</button>
            <button class="danger" id="terminate" ${disabledIfReadOnly()} ${t.ready ? 'disabled' : ''}>Terminate</button>
            <button id="again" ${disabledIfReadOnly()} ${t.name ? '' : 'disabled'}>Apply again…</button>
          </div>
          <div class="grid">
            <div class="panel"><dl class="fields">
              ${row('UUID', `<span class="mono">${esc(t.uuid)}</span>`)}${row('State', badge(t.state))}${row('Worker', workerLink(t.worker))}${row('Client', esc(t.client))}
              ${row('Queue', esc(t.queue))}${row('Exchange', esc(t.exchange))}${row('Routing key', esc(t.routing_key))}${row('Retries', esc(t.retries))}
              ${row('ETA', esc(t.eta))}${row('Expires', esc(t.expires))}${row('Runtime', esc(duration(t.runtime)))}
              ${row('args', `<span class="mono">${esc(t.args)}</span>`)}${row('kwargs', `<span class="mono">${esc(t.kwargs)}</span>`)}
              ${row('Result', t.result === null ? null : `<span class="mono" id="result">${esc(t.result)}</span>`)}${row('Exception', t.exception === null ? null : `<span class="mono">${esc(t.exception)}</span>`)}
              ${Object.entries(t.extra || {})
                .map(([k, v]) => row(k, `<span class="mono">${esc(JSON.stringify(v))}</span>`))
                .join('')}
            </dl></div>
            <div class="panel"><h2 style="margin-top:0">Canvas</h2><dl class="fields">
              <dt>Parent</dt><dd>${taskLink(t.parent_id, t.parent_id && `${t.parentName || ''} ${t.parent_id}`)}</dd>
              <dt>Root</dt><dd>${t.root_id === t.uuid ? '<span class="muted">this task</span>' : taskLink(t.root_id, t.root_id && `${t.rootName || ''} ${t.root_id}`)}</dd>
              <dt>Children</dt><dd>${t.children.length ? t.children.map((c, i) => taskLink(c, `${t.childNames[i] || ''} ${c}`)).join('<br/>') : '<span class="muted">none</span>'}</dd>
              ${t.root_id ? `<dt></dt><dd><a href="#/tasks?root=${encodeURIComponent(t.root_id)}&order=asc">All tasks of this canvas</a></dd>` : ''}
            </dl>
            <h2>Timeline</h2><table><thead><tr><th>Event</th><th>State</th><th>Time</th><th>+</th><th>From</th></tr></thead><tbody>
              ${t.history.map((h) => `<tr><td>${esc(h.type)}</td><td>${badge(h.state)}</td><td>${esc(time(h.timestamp))}</td><td>${esc(duration(h.timestamp - first))}</td><td>${esc(h.hostname)}</td></tr>`).join('')}
            </tbody></table></div>
          </div>
          ${t.traceback ? `<div class="panel"><h2 style="margin-top:0">Traceback</h2><pre>${esc(t.traceback)}</pre></div>` : ''}`;
        const revoke = (terminate) => async () => {
          if (!confirm(`${terminate ? 'Terminate' : 'Revoke'} ${t.uuid}?`)) return;
          try {
            toast(
              (
                await api(
                  `/api/task/revoke/${encodeURIComponent(t.uuid)}${terminate ? '?terminate=true' : ''}`,
                  { method: 'POST' },
                )
              ).message,
            );
          } catch (error) {
            toast(error.message, true);
          }
        };
        document.getElementById('revoke').onclick = revoke(false);
        document.getElementById('terminate').onclick = revoke(true);
        document.getElementById('again').onclick = () => {
          const data = new URLSearchParams({
            name: t.name,
            args: reprToJson(t.args, '[]'),
            kwargs: reprToJson(t.kwargs, '{}'),
          });
          if (t.queue) data.set('queue', t.queue);
          location.hash = '#/send?' + data;
        };
      }
      await refresh();
      return { refresh };
    },

    async queues() {
      view.innerHTML = `<h1>Queues</h1><div class="grid"><div class="panel"><table><thead><tr><th>Queue</th><th>Messages waiting</th></tr></thead><tbody id="rows"></tbody></table></div></div><div class="panel"><h2 style="margin-top:0">Depth over time</h2><div id="plot"></div></div>`;
      async function refresh() {
        const q = await api('/api/dashboard/queues');
        document.getElementById('rows').innerHTML =
          Object.entries(q.latest)
            .map(([name, n]) => `<tr data-queue="${esc(name)}"><td>${esc(name)}</td><td>${esc(n)}</td></tr>`)
            .join('') || '<tr><td colspan="2" class="muted">No sample yet.</td></tr>';
        const names = q.names;
        document.getElementById('plot').innerHTML = plot(
          names.map((name, i) => ({
            name,
            color: COLORS[i % COLORS.length],
            points: q.points.filter((p) => name in p.lengths).map((p) => [p.t, p.lengths[name]]),
          })),
        );
      }
      await refresh();
      const timer = setInterval(
        () => current && current.timer === timer && refresh().catch(() => undefined),
        2000,
      );
      return { refresh, timer };
    },

    async plots() {
      view.innerHTML = `<h1>Throughput and runtimes</h1><div class="panel"><h2 style="margin-top:0">Tasks finished per second (last 5 minutes)</h2><div id="rates"></div></div><div class="panel"><h2 style="margin-top:0">Runtime percentiles by task (last 500 runs each)</h2><div id="runtimes"></div></div>`;
      async function refresh() {
        const p = await api('/api/dashboard/plots');
        document.getElementById('rates').innerHTML = plot([
          { name: 'succeeded', color: '#2f8f4e', points: p.rates.map((r) => [r.t, r.succeeded]) },
          { name: 'failed', color: '#c0392b', points: p.rates.map((r) => [r.t, r.failed]) },
        ]);
        const max = Math.max(0.000001, ...p.runtimes.map((r) => r.p99));
        document.getElementById('runtimes').innerHTML = p.runtimes.length
          ? `<table><thead><tr><th>Task</th><th>Runs</th><th>p50</th><th>p90</th><th>p99</th><th>Max</th><th style="width:30%">p50 … p99</th></tr></thead><tbody>${p.runtimes
              .map(
                (r) =>
                  `<tr><td>${esc(r.name)}</td><td>${r.count}</td><td>${duration(r.p50)}</td><td>${duration(r.p90)}</td><td>${duration(r.p99)}</td><td>${duration(r.max)}</td><td><div class="bar" style="margin-left:${(r.p50 / max) * 100}%;width:${Math.max(1, ((r.p99 - r.p50) / max) * 100)}%"></div></td></tr>`,
              )
              .join('')}</tbody></table>`
          : '<p class="muted">No task has succeeded yet.</p>';
      }
      await refresh();
      return { refresh };
    },

    async send(params) {
      const q = new URLSearchParams(params || '');
      const names = await api('/api/dashboard/task-names').catch(() => []);
      view.innerHTML = `
        <h1>Send a task</h1>
        <form class="panel" id="send-form" style="max-width:820px">
          <div class="actions"><label style="flex:1">Task name<input name="name" list="task-names" required value="${esc(q.get('name') || '')}" placeholder="tasks.add"/></label>
          <label>Queue<input name="queue" value="${esc(q.get('queue') || '')}" placeholder="default"/></label>
          <label>Countdown (s)<input name="countdown" type="number" min="0" step="any" style="width:110px"/></label></div>
          <datalist id="task-names">${names.map((n) => `<option value="${esc(n)}">`).join('')}</datalist>
          <label style="margin-top:10px">args (JSON array)<textarea name="args">${esc(q.get('args') || '[]')}</textarea></label>
          <label style="margin-top:10px">kwargs (JSON object)<textarea name="kwargs">${esc(q.get('kwargs') || '{}')}</textarea></label>
          <div class="actions" style="margin-top:12px"><button class="primary" type="submit" ${disabledIfReadOnly()}>Send</button></div>
          <div id="outcome" class="result-box"></div>
        </form>`;
      const form = document.getElementById('send-form');
      form.onsubmit = async (event) => {
        event.preventDefault();
        const data = new FormData(form);
        const outcome = document.getElementById('outcome');
        let args, kwargs;
        try {
          args = JSON.parse(data.get('args') || '[]');
          kwargs = JSON.parse(data.get('kwargs') || '{}');
        } catch (error) {
          outcome.innerHTML = `<p class="badge FAILURE">Not JSON: ${esc(error.message)}</p>`;
          return;
        }
        const options = {};
        if (data.get('queue')) options.queue = data.get('queue');
        if (data.get('countdown')) options.countdown = Number(data.get('countdown'));
        try {
          const sent = await post(`/api/task/send-task/${encodeURIComponent(data.get('name'))}`, {
            args,
            kwargs,
            options,
          });
          const id = sent['task-id'];
          outcome.innerHTML = `<p>Sent ${taskLink(id)} <span id="send-state">${badge(sent.state || 'PENDING')}</span></p><div id="send-result"></div>`;
          await waitResult(id);
        } catch (error) {
          outcome.innerHTML = `<p class="badge FAILURE">${esc(error.message)}</p>`;
        }
      };
      return { refresh: () => Promise.resolve() };
    },
  };

  /** Polls /api/task/result until the task is ready (or a minute passed) and shows it under the form. */
  async function waitResult(id) {
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline && location.hash.startsWith('#/send')) {
      let r;
      try {
        r = await api(`/api/task/result/${encodeURIComponent(id)}?timeout=2`);
      } catch (error) {
        document.getElementById('send-result').innerHTML = `<p class="muted">${esc(error.message)}</p>`;
        return;
      }
      const state = document.getElementById('send-state');
      if (state) state.innerHTML = badge(r.state);
      if ('result' in r) {
        document.getElementById('send-result').innerHTML =
          `<dl class="fields"><dt>Result</dt><dd class="mono" id="send-value">${esc(JSON.stringify(r.result))}</dd>${r.traceback ? `<dt>Traceback</dt><dd><pre>${esc(r.traceback)}</pre></dd>` : ''}</dl>`;
        return;
      }
    }
  }

  /** Python reprs of simple values (what task events carry) as JSON, for "apply again"; the text unchanged otherwise. */
  function reprToJson(repr, fallback) {
    if (!repr) return fallback;
    let text = repr.trim();
    if (text.startsWith('(') && text.endsWith(')')) text = '[' + text.slice(1, -1).replace(/,\s*$/, '') + ']';
    const converted = text
      .replace(/'((?:[^'\\]|\\.)*)'/g, (_, s) => JSON.stringify(s.replace(/\\'/g, "'")))
      .replace(/\bTrue\b/g, 'true')
      .replace(/\bFalse\b/g, 'false')
      .replace(/\bNone\b/g, 'null');
    try {
      return JSON.stringify(JSON.parse(converted));
    } catch {
      return text;
    }
  }

  // ------------------------------------------------------------------------------------------ routing and live updates
  async function route() {
    const hash = location.hash || '#/workers';
    const [path, query] = hash.slice(2).split('?');
    const [page, ...rest] = path.split('/');
    const arg = rest.length ? decodeURIComponent(rest.join('/')) : query;
    document
      .querySelectorAll('nav a')
      .forEach((a) =>
        a.classList.toggle(
          'active',
          a.dataset.nav === page ||
            (page === 'task' && a.dataset.nav === 'tasks') ||
            (page === 'worker' && a.dataset.nav === 'workers'),
        ),
      );
    const render = pages[page] || pages.workers;
    if (current && current.timer) clearInterval(current.timer);
    current = null;
    try {
      current = await render(arg, query);
    } catch (error) {
      view.innerHTML = `<p class="badge FAILURE">${esc(error.message)}</p>`;
    }
  }

  let refreshing = false;
  let again = false;
  async function live() {
    if (!current || !current.refresh) return;
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      await current.refresh();
    } catch {
      // The next change tries again.
    } finally {
      refreshing = false;
      if (again) {
        again = false;
        live();
      }
    }
  }

  function connect() {
    const dot = document.getElementById('live');
    const source = new EventSource(PREFIX + '/api/dashboard/stream');
    source.addEventListener('open', () => dot.classList.add('on'));
    source.addEventListener('error', () => dot.classList.remove('on'));
    source.addEventListener('changed', (event) => {
      const s = JSON.parse(event.data);
      document.getElementById('summary').textContent =
        `${s.online}/${s.workers} workers online · ${s.tasks} tasks`;
      live();
    });
  }

  window.addEventListener('hashchange', route);
  api('/api/dashboard/summary')
    .then((s) => (me = s))
    .catch(() => undefined)
    .finally(() => {
      route();
      connect();
    });
})();
