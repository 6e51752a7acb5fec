// Browser test of the fleet-manager dashboard, run by `cargo test -p e2e --test dashboard`
// against a real manager populated with simulated clusters (see e2e/tests/dashboard.rs).
//
// Drives Debian's Chromium (headless) with playwright-core: login, counts on the page
// against the admin API, drill-down to a drifted resource's field paths, live updates
// without reload (also across a manager restart, which it asks the Rust side for by
// printing `@@restart`), keyboard and ARIA checks, screenshots, and the page load and
// filter times at scale (printed, never asserted).
import assert from 'node:assert/strict';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} is not set: run this through cargo test -p e2e --test dashboard`);
  return v;
};
const BASE = env('FLEET_URL');
const TOKEN = env('FLEET_TOKEN');
const CLUSTERS = Number(env('FLEET_CLUSTERS'));
const LIVE = env('FLEET_LIVE_CLUSTER');
const LIVE_CREDENTIAL = env('FLEET_LIVE_CREDENTIAL');
const ARTIFACTS = env('FLEET_ARTIFACTS');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const NS = 'fleet-default';
const STATES = ['Ready', 'NotReady', 'WaitApplied', 'ErrApplied', 'OutOfSync', 'Pending', 'Modified'];
const KEY = { Ready: 'ready', NotReady: 'nonReady', WaitApplied: 'waitApplied', ErrApplied: 'errApplied', OutOfSync: 'outOfSync', Pending: 'pending', Modified: 'modified' };

const log = (msg) => console.log(`dashboard: ${msg}`);
const stdin = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function admin(p) {
  const r = await fetch(BASE + p, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.ok(r.ok, `${p}: ${r.status}`);
  return r.json();
}

let sequence = Date.now();
// Posts a status report for the live cluster through the agent API, as its agent would.
async function reportLive(webState, webModified = []) {
  const d = await fetch(`${BASE}/agent/v1/desired`, { headers: { authorization: `Bearer ${LIVE_CREDENTIAL}` } });
  assert.ok(d.ok, `desired: ${d.status}`);
  const desired = await d.json();
  const bundles = desired.deployments.map((x) => ({
    bundle: x.bundle,
    namespace: x.namespace,
    deploymentID: x.deploymentID,
    appliedDeploymentID: x.deploymentID,
    state: x.bundle === 'apps-web' ? webState : 'Ready',
    message: x.bundle === 'apps-web' && webState !== 'Ready' ? `web is ${webState}` : '',
    nonReady: [],
    modified: x.bundle === 'apps-web' ? webModified : [],
    sequence: ++sequence,
  }));
  const r = await fetch(`${BASE}/agent/v1/status`, {
    method: 'POST',
    headers: { authorization: `Bearer ${LIVE_CREDENTIAL}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agentVersion: 'sim-1.0', bundles }),
  });
  assert.ok(r.ok, `status: ${r.status}`);
}

// The counts a stacked bar's legend shows, by state (absent states are 0).
async function legendCounts(page, rowSelector) {
  const pairs = await page.$$eval(`${rowSelector} .legend li`, (els) => els.map((e) => [e.dataset.state, Number(e.dataset.count)]));
  const out = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const [s, n] of pairs) out[s] = n;
  return out;
}

const fromSummary = (summary) => Object.fromEntries(STATES.map((s) => [s, summary[KEY[s]] || 0]));

async function rangeTotal(page) {
  return Number(await page.getAttribute('#range', 'data-total'));
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource|EventSource/.test(m.text())) errors.push(m.text()); });

  // ---- login ----
  await page.goto(`${BASE}/`);
  assert.match(page.url(), /\/login\?next=%2F|\/login\?next=\//, 'an anonymous visit goes to the login page');
  const wrong = 'fleet-admin-not-the-right-token-4711';
  await page.fill('#token', wrong);
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error');
  assert.ok(!(await page.content()).includes(wrong), 'a refused token is not echoed');
  assert.equal(await page.inputValue('#token'), '', 'the token field comes back empty');
  await page.fill('#token', TOKEN);
  await Promise.all([page.waitForURL(`${BASE}/`), page.click('button[type=submit]')]);
  await page.waitForSelector('body[data-version]');
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'fleet_session');
  assert.ok(session, 'a session cookie is set');
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'the session cookie is SameSite=Strict');
  assert.ok(!session.value.includes(TOKEN), 'the cookie does not carry the token');
  assert.ok(!(await page.content()).includes(TOKEN), 'the token is not rendered');
  log('login ok (wrong token refused and not echoed; HttpOnly SameSite=Strict cookie)');

  // ---- overview counts against the admin API ----
  const bundles = (await admin('/api/v1/bundles?limit=1000')).items;
  assert.equal(bundles.length, 3);
  for (const b of bundles) {
    const shown = await legendCounts(page, `tr[data-bundle="${b.name}"]`);
    assert.deepEqual(shown, fromSummary(b.summary), `bundle ${b.name}: the bar's counts equal the API's`);
    const total = Number(await page.getAttribute(`tr[data-bundle="${b.name}"] .bar-wrap`, 'data-total'));
    assert.equal(total, b.summary.desiredReady, `bundle ${b.name}: total clusters`);
  }
  // Groups: members and their deployments' states, summed from the admin API's cluster
  // listing page by page (an independent derivation of each cluster's states).
  const status = await admin('/api/v1/status');
  assert.equal(status.clusterGroups.items.length, 2);
  for (const g of status.clusterGroups.items) {
    const row = `tr[data-group="${g.name}"]`;
    const sum = Object.fromEntries(STATES.map((s) => [s, 0]));
    const worst = Object.fromEntries(STATES.map((s) => [s, 0]));
    let members = 0;
    for (let offset = 0; ; offset += 1000) {
      const p = await admin(`/api/v1/clusters?namespace=${NS}&group=${g.name}&limit=1000&offset=${offset}`);
      for (const c of p.items) {
        for (const s of STATES) sum[s] += c.summary[KEY[s]] || 0;
        worst[c.state] += 1;
      }
      members += p.items.length;
      if (p.items.length === 0 || members >= p.total) break;
    }
    assert.equal(Number(await page.textContent(`${row} td:nth-child(2)`)), members, `group ${g.name}: members`);
    assert.equal(members, g.clusterCount, `group ${g.name}: members as the status API counts them`);
    assert.deepEqual(await legendCounts(page, `${row} td.deployments`), sum, `group ${g.name}: the deployments bar equals the API's`);
    assert.deepEqual(await legendCounts(page, `${row} td.cluster-states`), worst, `group ${g.name}: the clusters bar equals the API's`);
  }
  const overview = await admin('/api/v1/dashboard/overview');
  assert.equal(overview.clusters, CLUSTERS);
  assert.match(await page.textContent('#main'), new RegExp(`${CLUSTERS} clusters`));
  const gitrepo = await page.textContent('tr[data-gitrepo="apps"]');
  assert.match(gitrepo, /Synced/, 'the GitRepo is shown synced');
  const labels = await page.$$eval('.bar[role=img]', (els) => els.map((e) => e.getAttribute('aria-label')));
  assert.ok(labels.length >= 6 && labels.every((l) => /of \d+/.test(l)), 'every bar has a text alternative');
  log(`overview counts match the API for ${bundles.length} bundles and ${status.clusterGroups.items.length} groups`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'overview.png'), fullPage: true });

  // ---- keyboard: skip link first, then real links reachable and followed with Enter ----
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.focus('tr[data-bundle="apps-web"] a');
  await Promise.all([page.waitForURL(/\/ui\/bundles\/fleet-default\/apps-web$/), page.keyboard.press('Enter')]);
  await page.waitForSelector('#range');
  log('keyboard navigation ok');

  // ---- drill-down: GitRepo → bundle → filtered clusters → the drifted resource ----
  await page.goto(`${BASE}/`);
  await page.waitForSelector('body[data-version]');
  await Promise.all([page.waitForURL(/\/ui\/gitrepos\/fleet-default\/apps$/), page.click('tr[data-gitrepo="apps"] a')]);
  await page.waitForSelector('tr[data-bundle="apps-web"]');
  await Promise.all([page.waitForURL(/\/ui\/bundles\/fleet-default\/apps-web$/), page.click('tr[data-bundle="apps-web"] a')]);
  await page.waitForSelector('#range');
  await page.selectOption('#f-state', 'Modified');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#range')?.dataset.total === '1');
  assert.match(page.url(), /state=Modified/, 'the filter is in the URL');
  await page.waitForSelector('tr[data-cluster="cluster-00002"] [data-state="Modified"]');
  await Promise.all([
    page.waitForURL(/\/ui\/clusters\/fleet-default\/cluster-00002\/bundles\/fleet-default\/apps-web$/),
    page.click('tr[data-cluster="cluster-00002"] td:nth-child(4) a'),
  ]);
  await page.waitForSelector('#modified code.field-path');
  const paths = await page.$$eval('#modified code.field-path', (els) => els.map((e) => e.textContent));
  assert.deepEqual(paths, ['data.color', 'metadata.labels.team']);
  assert.match(await page.textContent('#modified'), /ConfigMap[\s\S]*web\/web-config[\s\S]*drifted/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'drilldown.png'), fullPage: true });
  log(`drill-down reached ConfigMap web/web-config with field paths ${paths.join(', ')}`);
  // The failed apply, with its message, from the bundle page.
  await page.goto(`${BASE}/ui/bundles/fleet-default/apps-web?state=ErrApplied`);
  await page.waitForSelector('tr[data-cluster="cluster-00001"]');
  assert.match(await page.textContent('tr[data-cluster="cluster-00001"]'), /ErrApplied[\s\S]*admission webhook/);
  // The cluster page: labels, groups, agent version, every bundle.
  await page.click('tr[data-cluster="cluster-00001"] td:first-child a');
  await page.waitForSelector('tr[data-bundle="apps-monitoring"]');
  const facts = await page.textContent('dl.facts');
  assert.match(facts, /env=dev/);
  assert.match(facts, /sim-1\.0/);
  assert.equal(await page.locator('tbody tr[data-bundle]').count(), 3);
  log('cluster page shows labels, groups, agent version and every bundle');

  // ---- live: a new report changes the page without a reload ----
  await page.goto(`${BASE}/ui/clusters/${NS}/${LIVE}`);
  await page.waitForSelector('tr[data-bundle="apps-web"] [data-state="Ready"]');
  await page.waitForSelector('#conn.live');
  await page.evaluate(() => { window.__sameDocument = true; });
  let t0 = Date.now();
  await reportLive('NotReady');
  await page.waitForSelector('tr[data-bundle="apps-web"] [data-state="NotReady"]', { timeout: 10000 });
  log(`live update shown ${Date.now() - t0} ms after the report`);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload happened');

  // ---- through a manager restart ----
  console.log('@@restart');
  const answer = await stdin.next();
  assert.equal(answer.value, 'restarted');
  t0 = Date.now();
  await reportLive('Modified', [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'web', name: 'web-config', paths: ['data.color'] }]);
  await page.waitForSelector('tr[data-bundle="apps-web"] [data-state="Modified"]', { timeout: 20000 });
  log(`after a manager restart, live update shown ${Date.now() - t0} ms after the report`);
  assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload across the restart');
  await page.waitForSelector('#conn.live');

  // ---- a live re-render keeps what is being typed into a filter, and its focus ----
  await page.goto(`${BASE}/ui/clusters`);
  await page.waitForSelector('#range');
  const before = await page.evaluate(() => document.body.dataset.version);
  await page.focus('#f-q');
  await page.keyboard.type('cluster-00');
  await reportLive('Ready');
  await page.waitForFunction((v) => document.body.dataset.version !== v, before, { timeout: 20000 });
  assert.equal(await page.inputValue('#f-q'), 'cluster-00', 'typed filter text survives a live update');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-q', 'focus stays in the filter');
  await page.check('#f-offline');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => /offline=true/.test(location.search) && document.querySelector('#range')?.dataset.total === '0');
  log('live re-render keeps typed filter text and focus; offline filter ok');

  // ---- at scale: load and filter times (printed, not asserted) ----
  t0 = Date.now();
  await page.goto(`${BASE}/`);
  await page.waitForSelector('body[data-version]');
  log(`overview with ${CLUSTERS} clusters loaded in ${Date.now() - t0} ms`);
  t0 = Date.now();
  await page.goto(`${BASE}/ui/clusters`);
  await page.waitForSelector('#range');
  log(`cluster list (${CLUSTERS} clusters, first page) loaded in ${Date.now() - t0} ms`);
  assert.equal(await rangeTotal(page), CLUSTERS);
  const expected = await admin('/api/v1/dashboard/clusters?label=env%3Dprod&state=ErrApplied&limit=1');
  const theirs = await admin('/api/v1/clusters?labels=env%3Dprod&state=ErrApplied&limit=1');
  assert.equal(expected.total, theirs.total, 'the dashboard filter agrees with the admin API');
  await page.fill('#f-label', 'env=prod');
  await page.selectOption('#f-state', 'ErrApplied');
  t0 = Date.now();
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction((n) => document.querySelector('#range')?.dataset.total === String(n), expected.total);
  log(`filter env=prod + ErrApplied over ${CLUSTERS} clusters: ${expected.total} found in ${Date.now() - t0} ms`);
  const rows = await page.$$eval('tbody tr[data-cluster]', (els) => els.map((e) => e.dataset.cluster));
  assert.equal(rows.length, Math.min(expected.total, 50), 'one page of the matches is listed');
  assert.ok(rows.every((n) => Number(n.slice(-5)) % 2 === 0), 'only env=prod clusters are listed');
  await page.fill('#f-label', '');
  await page.selectOption('#f-state', '');
  await page.fill('#f-q', 'cluster-0000');
  t0 = Date.now();
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#range')?.dataset.total === '10');
  log(`name filter over ${CLUSTERS} clusters in ${Date.now() - t0} ms`);
  await page.fill('#f-q', '');
  await page.click('form.filters button[type=submit]');
  await page.waitForFunction((n) => document.querySelector('#range')?.dataset.total === String(n), CLUSTERS);
  await page.click('nav.pager button:has-text("Next")');
  await page.waitForFunction(() => /^51–100 of/.test(document.querySelector('#range')?.textContent || ''));
  log('server-side pagination ok');

  // ---- logout ----
  await Promise.all([page.waitForURL(/\/login$/), page.click('form.logout button')]);
  const after = await page.evaluate(async () => (await fetch('/api/v1/dashboard/overview')).status);
  assert.equal(after, 401, 'after logout the API refuses the browser');
  assert.deepEqual(errors, [], 'no script errors');
  log('all browser checks passed');
} finally {
  await browser.close();
}
process.exit(0);
