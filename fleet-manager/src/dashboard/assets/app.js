// Fleet dashboard: renders each page from /api/v1/dashboard and re-renders it when the
// server-sent event stream says the fleet changed. DOM is built with textContent only:
// nothing from the API is ever parsed as HTML.
'use strict';

const STATES = ['Ready', 'NotReady', 'WaitApplied', 'ErrApplied', 'OutOfSync', 'Pending', 'Modified'];
const KEY = { Ready: 'ready', NotReady: 'nonReady', WaitApplied: 'waitApplied', ErrApplied: 'errApplied', OutOfSync: 'outOfSync', Pending: 'pending', Modified: 'modified' };
// A symbol beside each state's name, so state never relies on colour alone.
const SYMBOL = { Ready: '✓', NotReady: '!', WaitApplied: '…', ErrApplied: '✗', OutOfSync: '≠', Pending: '○', Modified: 'Δ' };
const API = '/api/v1/dashboard';

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const enc = encodeURIComponent;
const link = (href, text, attrs) => h('a', Object.assign({ href }, attrs || {}), text);
const clusterHref = (ns, name) => `/ui/clusters/${enc(ns)}/${enc(name)}`;
const bundleHref = (ns, name) => `/ui/bundles/${enc(ns)}/${enc(name)}`;
const gitrepoHref = (ns, name) => `/ui/gitrepos/${enc(ns)}/${enc(name)}`;
const deploymentHref = (cns, c, bns, b) => `${clusterHref(cns, c)}/bundles/${enc(bns)}/${enc(b)}`;

class Unauthorized extends Error {}

async function api(path) {
  const resp = await fetch(API + path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (resp.status === 401) throw new Unauthorized('session expired');
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.message || `${resp.status} ${resp.statusText}`);
  return body;
}

function stateBadge(state) {
  return h('span', { class: `state s-${state}`, 'data-state': state },
    h('span', { class: 'sym', 'aria-hidden': 'true', text: SYMBOL[state] || '?' }), state);
}

function ago(unix) {
  if (!unix) return 'never';
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// A stacked bar of state counts with a text legend; the bar itself is one labelled
// image for screen readers, the legend repeats the numbers as text.
function stateBar(summary, what) {
  const total = summary.desiredReady || STATES.reduce((n, s) => n + (summary[KEY[s]] || 0), 0);
  const parts = STATES.filter((s) => summary[KEY[s]] > 0);
  const label = `${what}: ` + (parts.length ? parts.map((s) => `${s} ${summary[KEY[s]]}`).join(', ') : 'none') + ` of ${total}`;
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': label });
  for (const s of parts) {
    const seg = h('span', { class: `seg s-${s}`, title: `${s}: ${summary[KEY[s]]}` });
    seg.style.flexGrow = String(summary[KEY[s]]);
    bar.append(seg);
  }
  const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
    parts.map((s) => h('li', { 'data-state': s, 'data-count': summary[KEY[s]] },
      h('span', { class: `sw s-${s}` }), `${s} ${summary[KEY[s]]}`)));
  return h('div', { class: 'bar-wrap', 'data-total': total }, bar, legend);
}

function table(caption, headers, rows, attrs) {
  return h('table', attrs || {},
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col', text: x })))),
    h('tbody', {}, rows.length ? rows : [h('tr', {}, h('td', { colspan: headers.length, class: 'muted', text: 'None.' }))]));
}

function crumbs(items) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('ol', {}, items.map(([text, href], i) =>
      h('li', {}, href && i < items.length - 1 ? link(href, text) : h('span', { 'aria-current': 'page', text })))));
}

function labelsList(labels) {
  const entries = Object.entries(labels || {});
  if (!entries.length) return h('span', { class: 'muted', text: 'none' });
  return h('span', { class: 'labels' }, entries.map(([k, v]) => h('code', { text: `${k}=${v}` })));
}

function short(commit) { return commit ? commit.slice(0, 12) : '—'; }

function rollout(r) {
  if (!r) return h('span', { class: 'muted', text: '—' });
  return h('div', { class: 'rollout' },
    h('div', { text: `${r.promoted}/${r.targets} clusters on the new version${r.paused ? ' (paused)' : ''}` }),
    r.error ? h('div', { class: 'error', text: r.error }) : null,
    h('ul', { class: 'partitions' }, r.partitions.map((p) =>
      h('li', { text: `${p.name}: ${p.count} clusters, ${p.unavailable} unavailable (max ${p.maxUnavailable})` }))));
}

// ---- filters and pagination (shared by the cluster list and the bundle page) ----

function filterForm(params, onApply) {
  const field = (name, label, input) => h('label', { for: `f-${name}` }, label, input);
  const q = h('input', { id: 'f-q', name: 'q', type: 'search', value: params.get('q') || '', placeholder: 'part of a name' });
  const state = h('select', { id: 'f-state', name: 'state' }, h('option', { value: '', text: 'any state' }),
    STATES.map((s) => h('option', { value: s, text: s, selected: params.get('state') === s })));
  const label = h('input', { id: 'f-label', name: 'label', value: params.get('label') || '', placeholder: 'env=prod,region!=eu' });
  const group = h('input', { id: 'f-group', name: 'group', value: params.get('group') || '', placeholder: 'group name' });
  const offline = h('input', { id: 'f-offline', name: 'offline', type: 'checkbox', checked: params.get('offline') === 'true' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter clusters' },
    field('q', 'Name', q), field('state', 'State', state), field('label', 'Labels', label), field('group', 'Group', group),
    h('label', { for: 'f-offline', class: 'check' }, offline, 'Offline only'),
    h('button', { type: 'submit', text: 'Filter' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const el of [q, state, label, group]) if (el.value.trim()) next.set(el.name, el.value.trim());
    if (offline.checked) next.set('offline', 'true');
    // Keep the namespace a group link came with.
    if (params.get('namespace')) next.set('namespace', params.get('namespace'));
    onApply(next);
  });
  return form;
}

function pager(page, params, onGo) {
  const { offset, limit, total } = page;
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + limit, total);
  const go = (o) => { const p = new URLSearchParams(params); if (o) p.set('offset', o); else p.delete('offset'); onGo(p); };
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('span', { id: 'range', 'data-total': total, text: `${from}–${to} of ${total}` }),
    h('button', { type: 'button', disabled: offset <= 0, onclick: () => go(Math.max(0, offset - limit)), text: 'Previous' }),
    h('button', { type: 'button', disabled: to >= total, onclick: () => go(offset + limit), text: 'Next' }));
}

// ---- pages ----

const pages = [];
function page(pattern, load, render, opts) { pages.push({ pattern, load, render, opts: opts || {} }); }

page(/^\/$/, () => api('/overview'), (d) => [
  h('h1', { text: 'Fleet overview' }),
  h('section', { 'aria-labelledby': 'sum-h' },
    h('h2', { id: 'sum-h', text: 'All deployments' }),
    h('p', {}, `${d.clusters} clusters, `, link('/ui/clusters?offline=true', `${d.offline.count} offline`), '.'),
    stateBar(d.summary, 'All bundle deployments')),
  h('section', { 'aria-labelledby': 'gr-h' },
    h('h2', { id: 'gr-h', text: 'GitRepos' }),
    table('GitRepos', ['GitRepo', 'Repository', 'Commit', 'Sync', 'Bundles ready', 'Clusters', 'Error'],
      d.gitrepos.map((g) => h('tr', { 'data-gitrepo': g.name },
        h('td', {}, link(gitrepoHref(g.namespace, g.name), g.name), h('div', { class: 'muted', text: g.namespace })),
        h('td', {}, h('code', { text: g.repo }), g.branch ? h('div', { class: 'muted', text: g.branch }) : null),
        h('td', {}, h('code', { text: short(g.commit) })),
        h('td', { text: g.syncState }),
        h('td', { text: `${g.readyBundles}/${g.bundles}` }),
        h('td', {}, stateBar(g.summary, `${g.name} deployments`)),
        h('td', { class: 'error', text: g.error }))))),
  h('section', { 'aria-labelledby': 'b-h' },
    h('h2', { id: 'b-h', text: 'Bundles' }),
    table('Bundles', ['Bundle', 'State', 'Clusters', 'Rollout'],
      d.bundles.map((b) => h('tr', { 'data-bundle': b.name },
        h('td', {}, link(bundleHref(b.namespace, b.name), b.name), h('div', { class: 'muted', text: `${b.namespace} · ${b.gitrepo}` }),
          b.error ? h('div', { class: 'error', text: b.error }) : null),
        h('td', {}, stateBadge(b.displayState || b.state)),
        h('td', {}, stateBar(b.summary, `${b.name} clusters`)),
        h('td', {}, rollout(b.rollout)))))),
  h('section', { 'aria-labelledby': 'g-h' },
    h('h2', { id: 'g-h', text: 'Cluster groups' }),
    table('Cluster groups', ['Group', 'Clusters', 'Not ready', 'Cluster states', 'Deployments'],
      d.groups.map((g) => h('tr', { 'data-group': g.name },
        h('td', {}, link(`/ui/clusters?group=${enc(g.name)}&namespace=${enc(g.namespace)}`, g.name), h('div', { class: 'muted', text: g.namespace })),
        h('td', { text: g.clusters }),
        h('td', { text: g.nonReadyClusters }),
        h('td', { class: 'cluster-states' }, stateBar(g.clusterStates, `${g.name} clusters by worst state`)),
        h('td', { class: 'deployments' }, stateBar(g.summary, `${g.name} deployments`)))))),
  h('section', { 'aria-labelledby': 'offline' },
    h('h2', { id: 'offline', tabindex: '-1', text: `Offline agents (${d.offline.count})` }),
    table('Offline agents', ['Cluster', 'Last seen', 'Agent'],
      d.offline.items.map((c) => h('tr', {},
        h('td', {}, link(clusterHref(c.namespace, c.name), c.name)),
        h('td', { text: ago(c.lastSeen) }),
        h('td', { text: c.agentVersion })))),
    d.offline.count > d.offline.items.length
      ? h('p', {}, link('/ui/clusters?offline=true', `All ${d.offline.count} offline clusters`)) : null),
]);

page(/^\/ui\/gitrepos\/([^/]+)\/([^/]+)$/, (m) => api(`/gitrepos/${m[1]}/${m[2]}`), (d) => {
  const g = d.gitrepo;
  return [
    crumbs([['Overview', '/'], [`GitRepo ${g.name}`]]),
    h('h1', { text: `GitRepo ${g.name}` }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Repository' }), h('dd', {}, h('code', { text: g.repo })),
      h('dt', { text: 'Branch' }), h('dd', { text: g.branch || 'default' }),
      h('dt', { text: 'Commit' }), h('dd', {}, h('code', { text: g.commit || '—' })),
      h('dt', { text: 'Sync' }), h('dd', { text: g.syncState }),
      h('dt', { text: 'State' }), h('dd', {}, stateBadge(g.state)),
      g.error ? [h('dt', { text: 'Error' }), h('dd', { class: 'error', text: g.error })] : null),
    stateBar(g.summary, `${g.name} deployments`),
    h('h2', { text: 'Bundles' }),
    table('Bundles', ['Bundle', 'State', 'Clusters', 'Rollout'], d.bundles.map((b) => h('tr', { 'data-bundle': b.name },
      h('td', {}, link(bundleHref(b.namespace, b.name), b.name), b.error ? h('div', { class: 'error', text: b.error }) : null),
      h('td', {}, stateBadge(b.displayState || b.state)),
      h('td', {}, stateBar(b.summary, `${b.name} clusters`)),
      h('td', {}, rollout(b.rollout))))),
  ];
});

page(/^\/ui\/bundles\/([^/]+)\/([^/]+)$/, (m, params) => api(`/bundles/${m[1]}/${m[2]}?${params}`), (d, params, nav) => {
  const b = d.bundle;
  return [
    crumbs([['Overview', '/'], [`GitRepo ${b.gitrepo}`, gitrepoHref(b.namespace, b.gitrepo)], [`Bundle ${b.name}`]]),
    h('h1', { text: `Bundle ${b.name}` }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'State' }), h('dd', {}, stateBadge(b.displayState || b.state)),
      h('dt', { text: 'Commit' }), h('dd', {}, h('code', { text: b.commit || '—' })),
      b.error ? [h('dt', { text: 'Error' }), h('dd', { class: 'error', text: b.error })] : null,
      h('dt', { text: 'Rollout' }), h('dd', {}, rollout(b.rollout))),
    stateBar(b.summary, `${b.name} clusters`),
    h('h2', { text: 'Clusters' }),
    filterForm(params, nav),
    table('Clusters of this bundle', ['Cluster', 'State', 'Message', 'Resources', 'Last report'],
      d.clusters.items.map((r) => h('tr', { 'data-cluster': r.cluster },
        h('td', {}, link(clusterHref(r.clusterNamespace, r.cluster), r.cluster), r.offline ? h('div', { class: 'muted', text: 'offline' }) : null),
        h('td', {}, stateBadge(r.state)),
        h('td', { text: r.message }),
        h('td', {}, link(deploymentHref(r.clusterNamespace, r.cluster, r.bundleNamespace, r.bundle),
          r.resources ? `${r.resources} not ready or modified` : 'details')),
        h('td', { text: ago(r.updatedAt) }))), { id: 'results' }),
    pager(d.clusters, params, nav),
  ];
}, { filters: true });

page(/^\/ui\/clusters$/, (m, params) => api(`/clusters?${params}`), (d, params, nav) => [
  crumbs([['Overview', '/'], ['Clusters']]),
  h('h1', { text: 'Clusters' }),
  filterForm(params, nav),
  table('Clusters', ['Cluster', 'State', 'Bundles', 'Labels', 'Groups', 'Agent', 'Last seen'],
    d.items.map((c) => h('tr', { 'data-cluster': c.name },
      h('td', {}, link(clusterHref(c.namespace, c.name), c.name), h('div', { class: 'muted', text: c.namespace })),
      h('td', {}, stateBadge(c.state)),
      h('td', {}, stateBar(c.summary, `${c.name} bundles`)),
      h('td', {}, labelsList(c.labels)),
      h('td', { text: c.groups.join(', ') }),
      h('td', { text: c.agentVersion }),
      h('td', { text: c.offline ? `offline, ${ago(c.lastSeen)}` : ago(c.lastSeen) }))), { id: 'results' }),
  pager(d, params, nav),
], { filters: true });

page(/^\/ui\/clusters\/([^/]+)\/([^/]+)$/, (m) => api(`/clusters/${m[1]}/${m[2]}`), (d) => {
  const c = d.cluster;
  return [
    crumbs([['Overview', '/'], ['Clusters', '/ui/clusters'], [`Cluster ${c.name}`]]),
    h('h1', { text: `Cluster ${c.name}` }),
    h('dl', { class: 'facts' },
      h('dt', { text: 'Workspace' }), h('dd', { text: c.namespace }),
      h('dt', { text: 'State' }), h('dd', {}, stateBadge(c.state)),
      h('dt', { text: 'Labels' }), h('dd', {}, labelsList(c.labels)),
      h('dt', { text: 'Groups' }), h('dd', { text: c.groups.join(', ') || 'none' }),
      h('dt', { text: 'Agent version' }), h('dd', { text: c.agentVersion || 'unknown' }),
      h('dt', { text: 'Last seen' }), h('dd', { text: (c.offline ? 'offline, ' : '') + ago(c.lastSeen) })),
    stateBar(c.summary, `${c.name} bundles`),
    h('h2', { text: 'Bundles on this cluster' }),
    table('Bundles on this cluster', ['Bundle', 'GitRepo', 'State', 'Message', 'Resources'],
      d.bundles.map((r) => h('tr', { 'data-bundle': r.bundle },
        h('td', {}, link(bundleHref(r.bundleNamespace, r.bundle), r.bundle)),
        h('td', {}, link(gitrepoHref(r.bundleNamespace, r.gitrepo), r.gitrepo)),
        h('td', {}, stateBadge(r.state)),
        h('td', { text: r.message }),
        h('td', {}, link(deploymentHref(r.clusterNamespace, r.cluster, r.bundleNamespace, r.bundle),
          r.resources ? `${r.resources} not ready or modified` : 'details'))))),
  ];
});

page(/^\/ui\/clusters\/([^/]+)\/([^/]+)\/bundles\/([^/]+)\/([^/]+)$/, (m) => api(`/clusters/${m[1]}/${m[2]}/bundles/${m[3]}/${m[4]}`), (d) => [
  crumbs([['Overview', '/'], [`GitRepo ${d.gitrepo}`, gitrepoHref(d.bundleNamespace, d.gitrepo)],
    [`Bundle ${d.bundle}`, bundleHref(d.bundleNamespace, d.bundle)],
    [`Cluster ${d.cluster}`, clusterHref(d.clusterNamespace, d.cluster)], ['Resources']]),
  h('h1', { text: `${d.bundle} on ${d.cluster}` }),
  h('dl', { class: 'facts' },
    h('dt', { text: 'State' }), h('dd', {}, stateBadge(d.state)),
    h('dt', { text: 'Message' }), h('dd', { text: d.message || '—' }),
    h('dt', { text: 'Deployment' }), h('dd', {}, h('code', { text: d.deploymentID })),
    h('dt', { text: 'Applied' }), h('dd', {}, h('code', { text: d.appliedDeploymentID || '—' })),
    h('dt', { text: 'Last report' }), h('dd', { text: ago(d.updatedAt) })),
  h('h2', { text: 'Modified resources' }),
  table('Modified resources', ['Kind', 'Resource', 'Change', 'Field paths'],
    d.modified.map((r) => h('tr', { 'data-resource': `${r.kind}/${r.name}` },
      h('td', { text: `${r.kind} (${r.apiVersion})` }),
      h('td', { text: r.namespace ? `${r.namespace}/${r.name}` : r.name }),
      h('td', { text: r.missing ? 'missing from the cluster' : r.delete ? 'extra, should be deleted' : 'drifted' }),
      h('td', {}, r.paths.length ? h('ul', { class: 'paths' }, r.paths.map((p) => h('li', {}, h('code', { class: 'field-path', text: p })))) : '—'))),
    { id: 'modified' }),
  h('h2', { text: 'Resources not ready' }),
  table('Resources not ready', ['Kind', 'Resource', 'Why'],
    d.nonReady.map((r) => h('tr', { 'data-resource': `${r.kind}/${r.name}` },
      h('td', { text: `${r.kind} (${r.apiVersion})` }),
      h('td', { text: r.namespace ? `${r.namespace}/${r.name}` : r.name }),
      h('td', { text: r.message }))), { id: 'non-ready' }),
]);

// ---- the page loop ----

const main = () => document.getElementById('main');
let current = null;
let shownVersion = null;
let loading = null;
let again = false;

function announce(text) { const a = document.getElementById('announce'); if (a) a.textContent = text; }

function route() {
  const path = location.pathname.replace(/\/+$/, '') || '/';
  for (const p of pages) {
    const m = path.match(p.pattern);
    if (m) return { page: p, match: m };
  }
  return null;
}

// Fetches the current page's data and renders it. Keeps keyboard focus where it was
// (by element id) across live re-renders; concurrent calls coalesce.
async function refresh(reason) {
  if (loading) { again = true; return loading; }
  const el = main();
  el.setAttribute('aria-busy', 'true');
  const started = performance.now();
  loading = (async () => {
    try {
      const params = new URLSearchParams(location.search);
      const data = await current.page.load(current.match, params);
      const focused = document.activeElement;
      const focusedId = focused && focused.id;
      const caret = focused && typeof focused.selectionStart === 'number' ? [focused.selectionStart, focused.selectionEnd] : null;
      // A live re-render must not eat what the user is typing into a filter.
      const typed = reason === 'live'
        ? [...el.querySelectorAll('form.filters input, form.filters select')].map((i) => [i.id, i.type === 'checkbox' ? i.checked : i.value])
        : [];
      const nodes = current.page.render(data, params, navigate);
      el.replaceChildren(...nodes.flat().filter(Boolean));
      for (const [id, v] of typed) {
        const i = document.getElementById(id);
        if (!i) continue;
        if (i.type === 'checkbox') i.checked = v; else i.value = v;
      }
      const refocus = focusedId && document.getElementById(focusedId);
      if (refocus) {
        refocus.focus();
        if (caret && typeof refocus.setSelectionRange === 'function') refocus.setSelectionRange(caret[0], caret[1]);
      }
      shownVersion = data.version;
      document.body.dataset.version = String(data.version);
      document.body.dataset.renderMs = String(Math.round(performance.now() - started));
      if (reason === 'live') announce('Updated');
    } catch (e) {
      if (e instanceof Unauthorized) {
        location.assign('/login?next=' + enc(location.pathname + location.search));
        return;
      }
      el.replaceChildren(h('p', { class: 'error', role: 'alert', text: `Cannot load this page: ${e.message}` }));
    } finally {
      el.setAttribute('aria-busy', 'false');
      loading = null;
    }
  })();
  await loading;
  if (again) { again = false; return refresh(reason); }
}

// In-page navigation for filters and pages: the URL changes (shareable, back button
// works) without a reload.
function navigate(params) {
  const qs = params.toString();
  history.pushState(null, '', location.pathname + (qs ? `?${qs}` : ''));
  return refresh('navigate');
}

function setConn(text, cls) {
  const c = document.getElementById('conn');
  if (c) { c.textContent = text; c.className = `conn ${cls}`; }
}

// The event stream: each `change` carries the server's version; a different one than
// shown means re-fetch. EventSource reconnects by itself after network errors (a manager
// restart); if it gives up (CLOSED), reconnect with backoff.
function live() {
  let backoff = 1000;
  const connect = () => {
    const es = new EventSource(`${API}/events`);
    es.addEventListener('change', (e) => {
      backoff = 1000;
      setConn('Live', 'live');
      if (Number(e.data) !== shownVersion) refresh('live');
    });
    es.onerror = () => {
      setConn('Reconnecting…', 'down');
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 10000);
      }
    };
  };
  connect();
}

document.addEventListener('DOMContentLoaded', () => {
  current = route();
  if (!current) {
    main().replaceChildren(h('h1', { text: 'Not found' }), h('p', {}, link('/', 'Back to the overview')));
    main().setAttribute('aria-busy', 'false');
    return;
  }
  window.addEventListener('popstate', () => refresh('navigate'));
  refresh('load').then(live);
});
