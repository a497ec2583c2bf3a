// End-to-end test of the web UI in headless Chromium (playwright-core, no browser download).
//
//   scripts/test-ui                      (installs Debian's chromium if missing, builds the UI if needed)
//   node crates/server/ui/tests/e2e.mjs  (from the repo root)
//
// It starts `${TRACEHOUND_BIN:-target/release/tracehound} --data-dir TMP demo --serve --bind 127.0.0.1:0`
// and reads the port from its stderr (`serving … on http://127.0.0.1:PORT`). With TRACEHOUND_URL set
// it uses that running server instead (its store must hold the incident named by TRACEHOUND_INCIDENT,
// default cross-chain-heist). When the server does not serve the UI at / itself (before dist/ is
// embedded), the test serves dist/ from a loopback proxy of its own that forwards /api/ to it.
//
// The large graph: the test builds a synthetic trace result of 6,112 addresses and serves it to the
// page at /fixtures/big.json through Playwright's request interception (no route of the server is
// used); the app draws such a file at #/incident-file/fixtures/big.json (a same-origin relative path
// only). Load time = from navigation to the graph drawn (two animation frames after ready).
//
// Screenshots go to target/ui-screenshots/. Ends with the line "N passed, N failed".
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { createServer, request } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../../..');
const dist = resolve(here, '../dist');
const shots = join(root, 'target', 'ui-screenshots');
mkdirSync(shots, { recursive: true });
const INCIDENT = process.env.TRACEHOUND_INCIDENT || 'cross-chain-heist';

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) { passed++; console.log('ok   ' + name + (detail ? ' — ' + detail : '')); } else { failed++; console.log('FAIL ' + name + (detail ? ' — ' + detail : '')); }
  return ok;
}

// ------------------------------------------------------------------ the server

const cleanups = [];
async function cleanup() { while (cleanups.length) { try { await cleanups.pop()(); } catch { /* ignore */ } } }
let child = null;
// tracehound removes its demo data dir on Ctrl-C (SIGINT): stop it that way, and wait for it.
function stopChild() {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((ok) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); ok(); }, 10000);
    child.once('exit', () => { clearTimeout(t); ok(); });
    child.kill('SIGINT');
  });
}
process.on('exit', () => { if (child && child.exitCode === null) child.kill('SIGINT'); });
process.on('SIGINT', async () => { await cleanup(); process.exit(130); });

async function startTracehound() {
  if (process.env.TRACEHOUND_URL) return { url: process.env.TRACEHOUND_URL.replace(/\/$/, ''), dataDir: process.env.TRACEHOUND_DATA_DIR || null };
  const bin = resolve(root, process.env.TRACEHOUND_BIN || 'target/release/tracehound');
  const dataDir = mkdtempSync(join(tmpdir(), 'tracehound-e2e-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  child = spawn(bin, ['--data-dir', dataDir, 'demo', '--serve', '--bind', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(stopChild);
  let log = '';
  let served = dataDir;
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('no "serving … on http://…" line from tracehound within 300 s; stderr:\n' + log.slice(-3000))), 300000);
    child.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/serving (\S+) on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); served = m[1]; ok(m[2]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error('tracehound exited (' + code + ') before serving; stderr:\n' + log.slice(-3000))); });
  });
  return { url, dataDir: served, bin }; // the data dir it serves (the demo's store may sit below --data-dir)
}

/** The UI's origin: the server itself when it serves dist/ at /, else a loopback proxy of ours. */
async function uiOrigin(apiUrl) {
  const page = await fetch(apiUrl + '/').then((r) => (r.ok ? r.text() : '')).catch(() => '');
  if (page.includes('app.js') && page.includes('cytoscape.min.js')) {
    const served = await fetch(apiUrl + '/app.js').then((r) => r.text()).catch(() => '');
    if (served === readFileSync(join(dist, 'app.js'), 'utf8')) return { url: apiUrl, embedded: true };
    console.log('note: the binary embeds an older dist/ than this tree (rebuild it after scripts/build-ui); testing dist/ through a proxy');
  }
  const api = new URL(apiUrl);
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.txt': 'text/plain' };
  const srv = createServer((req, res) => {
    if (req.url.startsWith('/api/')) {
      const up = request({ host: api.hostname, port: api.port, path: req.url, method: req.method, headers: req.headers }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
      up.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(up);
      return;
    }
    const name = new URL(req.url, 'http://x').pathname.replace(/^\/+/, '') || 'index.html';
    if (!/^[A-Za-z0-9._-]+$/.test(name)) { res.writeHead(404); res.end(); return; }
    try { const body = readFileSync(join(dist, name)); res.writeHead(200, { 'content-type': types[extname(name)] || 'application/octet-stream' }); res.end(body); } catch { res.writeHead(404); res.end(); }
  });
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  cleanups.push(() => new Promise((ok) => srv.close(ok)));
  return { url: 'http://127.0.0.1:' + srv.address().port, embedded: false };
}

async function getJson(url, init) {
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** Every alert the API lists, a page of 1000 at a time (after = the last seq of a page). */
async function allAlerts(api) {
  const rows = [];
  let after = 0;
  for (;;) {
    const r = await getJson(`${api}/api/v1/alerts?after=${after}&limit=1000`);
    if (r.status !== 200) return { status: r.status, rows };
    rows.push(...r.body);
    if (r.body.length < 1000) return { status: 200, rows };
    after = r.body[r.body.length - 1].seq;
  }
}
function short(s) { s = String(s); return s.length > 16 ? s.slice(0, 10) + '…' + s.slice(-4) : s; }

// ------------------------------------------------------------------ the aggregation rule, written again here

/**
 * Node count the incident page must show with its default filters (fees hidden, all assets, no
 * minimum, all hops, fold below 0.1 %, nothing expanded). Independent of app.js on purpose:
 * - nodes are chain:address (a link hop starts on edge.chain_in), the incident's stolen outputs are one
 *   node "incident"; fee hops are not drawn;
 * - roots are the senders of the hops whose rule starts with "incident"; depth is BFS over hops in order;
 * - a node's weight = max over its incoming (drawn) hops of tainted / the largest tainted hop of that
 *   chain+asset (over all hops, fees included), truncated to millionths;
 * - a non-root node with weight < 0.001 and no endpoint carrying a label, category or freezer folds into
 *   its BFS parent's fold (or a new fold "small:parent" when the parent is not folded); a fold of
 *   a single address is drawn as that address.
 */
function expectedNodeCount(result, small = 0.001) {
  const eps = new Map();
  for (const ep of result.endpoints) {
    const k = ep.chain + ':' + ep.address;
    eps.set(k, (eps.get(k) || false) || !!(ep.freezable_by || ep.label || ep.category));
  }
  const refs = new Map();
  for (const e of result.edges) {
    const k = e.chain + '|' + e.asset;
    const t = BigInt(e.tainted);
    if (!refs.has(k) || refs.get(k) < t) refs.set(k, t);
  }
  const hops = result.edges.filter((e) => e.edge.kind !== 'fee').map((e) => ({
    from: e.from === 'incident' ? 'incident' : (e.edge.kind === 'link' && e.edge.chain_in ? e.edge.chain_in : e.chain) + ':' + e.from,
    to: e.chain + ':' + e.to,
    share: Number((BigInt(e.tainted) * 1000000n) / refs.get(e.chain + '|' + e.asset)) / 1e6,
    incident: e.rule.startsWith('incident'),
  }));
  const roots = [...new Set(hops.filter((e) => e.incident).map((e) => e.from))];
  const parent = new Map();
  const seen = new Set(roots);
  const order = [...roots];
  for (let i = 0; i < order.length; i++) {
    for (const e of hops) {
      if (e.from === order[i] && !seen.has(e.to)) { seen.add(e.to); parent.set(e.to, order[i]); order.push(e.to); }
    }
  }
  const weight = new Map();
  for (const e of hops) weight.set(e.to, Math.max(weight.get(e.to) || 0, e.share));
  const fold = new Map();
  for (const n of order) {
    if (roots.includes(n) || (weight.get(n) || 0) >= small || eps.get(n)) continue;
    const p = parent.get(n);
    fold.set(n, fold.get(p) || 'small:' + p);
  }
  const sizes = new Map();
  for (const id of fold.values()) sizes.set(id, (sizes.get(id) || 0) + 1);
  const real = [...sizes.values()].filter((k) => k >= 2); // a fold of one address is that address
  return order.length - real.reduce((a, b) => a + b, 0) + real.length;
}

function formatUnits(raw, decimals) {
  const v = BigInt(raw);
  const base = 10n ** BigInt(decimals);
  return (v / base).toString() + '.' + (v % base).toString().padStart(decimals, '0');
}

// ------------------------------------------------------------------ the big synthetic result

function bigResult() {
  const chain = 'bitcoin';
  const addr = (i) => 'bc1qsynthetic' + i.toString(36).padStart(8, '0') + 'x'.repeat(20);
  const edges = [];
  const endpoints = [];
  let next = 1;
  let t = 1700000000;
  const theft = addr(0);
  edges.push({ chain, tx: 'ff'.repeat(32), at: '1:1', time: t, from: 'incident', to: theft, asset: 'native', value: '500000000000', tainted: '500000000000', rule: 'incident: stolen output', edge: { kind: 'utxo_tx' } });
  let level = [[theft, 500000000000n]];
  for (const fan of [10, 10, 10, 5]) {
    const nextLevel = [];
    for (const [a, v] of level) {
      for (let k = 0; k < fan; k++) {
        const b = addr(next++);
        const part = v / BigInt(fan);
        t += 7;
        const tx = next.toString(16).padStart(64, '0');
        edges.push({ chain, tx, at: next + ':1', time: t, from: a, to: b, asset: 'native', value: part.toString(), tainted: part.toString(), rule: 'haircut: output ' + k, edge: { kind: 'utxo_tx' } });
        nextLevel.push([b, part]);
      }
    }
    level = nextLevel;
  }
  for (const [i, [a, v]] of level.entries()) {
    if (i % 500 === 0) endpoints.push({ chain, address: a, asset: 'native', amount: v.toString(), label: 'Exchange deposit ' + i, category: 'exchange', freezable_by: 'exchange', stop: 'service', hops: 5, path: [], inflows: 1, fiat: null });
  }
  return {
    incident: 'synthetic fan-out of 6,112 addresses', policy: 'haircut', endpoints, edges, notes: [],
    summary: { policy: 'haircut', exposure: false, assets: [{ chain, asset: 'native', stolen: '500000000000', intervention: '0', intervention_points: [], by_freezer: [], still_moving: '500000000000', dark: '0', dust: '0', fees: '0', unresolved: '0', linked_out: '0', linked_in: '0' }], links: [] },
  };
}

// ------------------------------------------------------------------ the run

async function main() {
  const th = await startTracehound();
  const API = th.url;
  const ui = await uiOrigin(API);
  console.log(`tracehound at ${API}; UI from ${ui.embedded ? 'the binary (embedded dist/)' : 'dist/ through the test\'s proxy at ' + ui.url}`);

  const res = await getJson(`${API}/api/v1/incidents/${encodeURIComponent(INCIDENT)}/result`);
  if (!check('the API has the traced incident ' + INCIDENT, res.status === 200, 'HTTP ' + res.status)) return;
  const result = res.body;

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--disable-background-networking', '--no-sandbox'] });
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const external = [];
  page.on('request', (r) => { const u = new URL(r.url()); if (u.hostname !== '127.0.0.1' && u.protocol !== 'data:') external.push(r.url()); });

  // --- incident page: graph
  await page.goto(`${ui.url}/#/incident/${encodeURIComponent(INCIDENT)}`);
  await page.waitForSelector('body[data-graph-ready="1"]', { timeout: 30000 });
  const shown = Number(await page.textContent('#node-count'));
  const expected = expectedNodeCount(result);
  check('graph renders nodes', shown > 0, `#node-count = ${shown}`);
  check('node count = what the API result implies after folding', shown === expected, `shown ${shown}, expected ${expected} (${result.edges.length} hops, ${result.endpoints.length} endpoints)`);
  await page.waitForTimeout(600); // token decimals learnt from the API, then a redraw
  await page.screenshot({ path: join(shots, 'incident.png') });

  // --- summary figures
  let figuresOk = true;
  let figures = 0;
  for (const a of result.summary.assets) {
    const card = `.asset-summary[data-chain="${a.chain}"][data-asset="${a.asset}"]`;
    for (const k of ['stolen', 'intervention', 'still_moving', 'dark', 'dust', 'fees', 'unresolved', 'linked_in', 'linked_out']) {
      if (a[k] === undefined) continue;
      const cell = page.locator(`${card} tr[data-key="${k}"] td[data-raw]`);
      const raw = await cell.getAttribute('data-raw');
      const text = await cell.textContent();
      const dec = a.asset === 'native' ? (a.chain.startsWith('evm') ? 18 : 8) : null;
      const ok = raw === a[k] && (dec === null || text.startsWith(formatUnits(a[k], dec) + ' '));
      if (!ok) console.log(`  mismatch ${a.chain} ${a.asset} ${k}: page ${raw} "${text}", API ${a[k]}`);
      figuresOk = figuresOk && ok;
      figures++;
    }
    const rows = await page.locator(`${card} table.ipoints tbody tr`).evaluateAll((trs) => trs.map((tr) => [tr.dataset.address, tr.querySelector('td[data-raw]').dataset.raw]));
    const want = a.intervention_points.map((p) => [p.address, p.amount]);
    if (JSON.stringify(rows) !== JSON.stringify(want)) { figuresOk = false; console.log('  intervention points differ', a.chain, a.asset, rows, want); }
  }
  check('summary figures match the API (BigInt-formatted)', figuresOk && figures > 0, `${figures} figures over ${result.summary.assets.length} assets`);
  const linkRows = await page.locator('table.links tbody tr').count();
  check('links crossed listed', linkRows === result.summary.links.length, `${linkRows} rows`);
  await page.locator('#summary').screenshot({ path: join(shots, 'summary.png') });

  // --- click an endpoint at a point of intervention: the proof path
  const poiAsset = result.summary.assets.find((a) => a.intervention_points.length);
  const poi = poiAsset.intervention_points[0];
  const ep = result.endpoints.find((e) => e.chain === poiAsset.chain && e.address === poi.address && e.asset === poiAsset.asset);
  // The API gives a proof path as positions in the trace graph's edges.
  const epPath = ep.path.map((i) => result.edges[i]);
  const nodeId = poiAsset.chain + ':' + poi.address;
  const pos = await page.evaluate((id) => {
    const cy = window.__tracehound.cy;
    const n = cy.getElementById(id);
    if (!n.length) return null;
    cy.container().scrollIntoView({ block: 'center' });
    cy.zoom(1.2);
    cy.center(n);
    const p = n.renderedPosition();
    const box = cy.container().getBoundingClientRect();
    return { x: box.left + p.x, y: box.top + p.y };
  }, nodeId);
  if (check('the intervention point is a node', !!pos, nodeId)) {
    await page.waitForTimeout(200);
    await page.mouse.click(pos.x, pos.y);
    await page.waitForSelector('#side .proof-path', { timeout: 5000 }).catch(() => null);
    const txs = await page.locator('#side .proof-path [data-tx]').evaluateAll((els) => els.map((e) => e.dataset.tx));
    const want = epPath.map((p) => p.tx);
    check('clicking it shows its proof path (its txs in the panel)', want.length > 0 && JSON.stringify(txs.slice(0, want.length)) === JSON.stringify(want), `${txs.length} hops shown, ${want.length} in the API`);
    const sideText = await page.textContent('#side');
    check('panel shows label and freezer', (!ep.label || sideText.includes(ep.label)) && sideText.includes(String(ep.freezable_by)), `${ep.label} / ${ep.freezable_by}`);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(shots, 'incident-proof-path.png') });
  }

  // --- expand a fold ("N small branches"): its addresses are drawn one by one
  const foldId = await page.evaluate(() => { const f = window.__tracehound.cy.nodes('[kind = "fold"]'); return f.length ? f[0].id() : null; });
  if (foldId) {
    await page.evaluate((id) => window.__tracehound.cy.getElementById(id).emit('tap'), foldId);
    await page.click('#btn-expand');
    await page.waitForTimeout(300);
    const expandedCount = Number(await page.textContent('#node-count'));
    check('expanding a fold of small branches draws them', expandedCount > shown, `${shown} → ${expandedCount} nodes`);
    await page.click('#btn-reset');
    await page.waitForTimeout(300);
  }

  // --- filters: max hops 2 shrinks the graph, time slider at start shows only the roots' first hops
  await page.fill('#f-hops', '2');
  await page.waitForTimeout(400);
  const at2 = Number(await page.textContent('#node-count'));
  check('max hops filter shrinks the graph', at2 > 0 && at2 < shown, `${at2} nodes at ≤ 2 hops`);
  await page.fill('#f-hops', '');
  await page.waitForTimeout(400);
  await page.locator('#f-time').evaluate((el) => { el.value = '0'; el.dispatchEvent(new Event('input')); });
  await page.waitForTimeout(400);
  const atStart = Number(await page.textContent('#node-count'));
  check('time slider at the start shows fewer nodes', atStart > 0 && atStart < shown, `${atStart} nodes`);

  // --- screening form
  await page.goto(`${ui.url}/#/screen`);
  await page.waitForSelector('#screen-chain option', { state: 'attached' });
  await page.selectOption('#screen-chain', poiAsset.chain);
  await page.fill('#screen-address', poi.address);
  await page.click('#screen-go');
  await page.waitForSelector('#screen-level, #screen-noindex, #screen-result .error', { timeout: 15000 });
  const apiScreen = await getJson(`${API}/api/v1/screen/${poiAsset.chain}/${poi.address}`);
  if (apiScreen.status === 200) {
    const level = await page.textContent('#screen-level');
    check('screening form answers with the API\'s level', level === String(apiScreen.body.level), `level ${level}`);
  } else {
    const shownNoIndex = await page.locator('#screen-noindex').count();
    check('screening form explains the missing exposure index', shownNoIndex === 1 || (await page.locator('#screen-result .error').count()) === 1, apiScreen.body && apiScreen.body.error && apiScreen.body.error.message);
  }
  await page.screenshot({ path: join(shots, 'screen.png') });

  // --- search a tx from the header
  const tx = epPath[epPath.length - 1].tx;
  await page.fill('#search-input', tx);
  await page.press('#search-input', 'Enter');
  await page.waitForSelector('#tx-id', { timeout: 15000 }).catch(() => null);
  const txShown = await page.textContent('#tx-id').catch(() => null);
  const txParts = await page.locator('.tx-utxo, .tx-account').count();
  check('searching a tx opens its page', txShown === tx && txParts > 0 && page.url().includes('#/tx/'), `${page.url().split('#')[1]}`);
  await page.screenshot({ path: join(shots, 'tx.png'), fullPage: true });

  // --- address page
  await page.goto(`${ui.url}/#/address/${poiAsset.chain}/${poi.address}`);
  await page.waitForSelector('#address-id');
  check('address page shows the address', (await page.textContent('#address-id')) === poi.address);
  {
    // Its entity (the demo's chains are clustered), as the API answers it.
    const ent = await getJson(`${API}/api/v1/entities/${poiAsset.chain}/${poi.address}?limit=20`);
    await page.waitForSelector('#entity h2:not(:empty)');
    await page.waitForFunction(() => !document.querySelector('#entity .loading'));
    const title = await page.textContent('#entity h2');
    check('address page shows its entity', ent.status === 200 && title === 'Entity ' + ent.body.entity, `${title} (API: ${ent.status} ${ent.body && ent.body.entity})`);
  }
  await page.screenshot({ path: join(shots, 'address.png'), fullPage: true });
  await page.goto(`${ui.url}/#/address/${poiAsset.chain}/${poi.address}?limit=2`);
  await page.waitForSelector('#address-id');
  if (await page.locator('#next-page').count()) {
    const firstRows = await page.locator('#main table tbody tr').allTextContents();
    await page.click('#next-page');
    await page.waitForFunction(() => location.hash.includes('offset=2'));
    await page.waitForSelector('#address-id');
    const nextRows = await page.locator('#main table tbody tr').allTextContents();
    check('address paging: next page shows other rows', page.url().includes('offset=2') && JSON.stringify(nextRows) !== JSON.stringify(firstRows));
  }

  // --- a label with markup is shown as text (added through the API with an analyst token)
  const evil = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script><b>bold</b> e2e';
  let token = null;
  if (th.bin && th.dataDir) {
    try {
      const out = execFileSync(th.bin, ['--data-dir', th.dataDir, 'token', 'create', '--name', 'e2e', '--role', 'analyst'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      token = (out.match(/th_[A-Za-z0-9_]+/) || [null])[0];
    } catch (e) { console.log('  (no token: ' + e.message.split('\n')[0] + ')'); }
  } else token = process.env.TRACEHOUND_TOKEN || null;
  if (token) {
    const add = await getJson(`${API}/api/v1/labels`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ chain: poiAsset.chain, address: poi.address, label: evil, category: 'exchange', confidence: 90, analyst: 'e2e' }) });
    check('label with markup added through the API', add.status === 200 || add.status === 201, 'HTTP ' + add.status);
    await page.goto(`${ui.url}/#/address/${poiAsset.chain}/${poi.address}?x=1`);
    await page.waitForSelector('#address-id');
    const txt = await page.textContent('#main');
    const injected = await page.evaluate(() => ({ xss: window.__xss === 1, img: document.querySelectorAll('#main img').length, b: [...document.querySelectorAll('#main b')].length }));
    check('a label with markup is shown as text on the address page', txt.includes(evil) && !injected.xss && injected.img === 0 && injected.b === 0, JSON.stringify(injected));
    await page.fill('#search-input', 'onerror');
    await page.press('#search-input', 'Enter');
    await page.waitForSelector('#search-results, #label-results, #search-none, #main .error', { timeout: 10000 });
    const stxt = await page.textContent('#main');
    check('label search finds it and shows it as text', stxt.includes(evil) && (await page.evaluate(() => window.__xss !== 1)));
    await page.screenshot({ path: join(shots, 'label-search.png') });
    // re-trace from the UI with the token: the new result carries the label into the summary
    await page.goto(`${ui.url}/#/incident/${encodeURIComponent(INCIDENT)}`);
    await page.waitForSelector('body[data-graph-ready="1"]');
    await page.fill('form.card input[type=password]', token);
    await page.click('form.card button.primary');
    await page.waitForFunction(() => document.body.dataset.graphReady === '1' && document.querySelector('#summary'), null, { timeout: 60000 });
    await page.waitForTimeout(500);
    const ipText = await page.locator('table.ipoints').allTextContents();
    const xssAfter = await page.evaluate(() => window.__xss === 1 || document.querySelectorAll('#main img').length > 0);
    check('re-trace from the UI; the markup label shows as text in the summary', ipText.join(' ').includes(evil) && !xssAfter);
  } else {
    // no token: the test puts the markup into the API's answer on its way to the page instead
    await page.route('**/api/v1/incidents/*/result', async (route) => {
      const r = await route.fetch();
      const body = await r.json();
      for (const e of body.endpoints) if (e.address === poi.address) e.label = evil;
      for (const a of body.summary.assets) for (const p of a.intervention_points) if (p.address === poi.address) p.label = evil;
      await route.fulfill({ response: r, json: body });
    });
    await page.goto(`${ui.url}/#/incident/${encodeURIComponent(INCIDENT)}?x=1`);
    await page.waitForSelector('body[data-graph-ready="1"]');
    const ipText = await page.locator('table.ipoints').allTextContents();
    const xss = await page.evaluate(() => window.__xss === 1 || document.querySelectorAll('#main img').length > 0);
    check('a label with markup is shown as text (injected into the result)', ipText.join(' ').includes(evil) && !xss);
    await page.unroute('**/api/v1/incidents/*/result');
  }

  // --- alerts: the page against GET /api/v1/alerts (all pages), its filters, evidence, stream
  {
    const all = await allAlerts(API);
    const CAP = 500; // the page draws the newest 500, "show more" adds 500
    if (check('the API lists alerts', all.status === 200, `HTTP ${all.status}, ${all.rows.length} alerts`)) {
      const newest = [...all.rows].sort((a, b) => b.seq - a.seq);
      const byKind = new Map();
      for (const r of all.rows) byKind.set(r.alert.kind, (byKind.get(r.alert.kind) || 0) + 1);
      await page.goto(`${ui.url}/#/alerts`);
      await page.waitForSelector('body[data-alerts-ready="1"]', { timeout: 30000 });
      const shownRows = await page.locator('#alerts-table tr.alert-row').evaluateAll((trs) => trs.map((tr) => [Number(tr.dataset.seq), tr.dataset.kind, tr.querySelector('.pill.kind').textContent]));
      const want = newest.slice(0, CAP);
      check('alerts page lists the API\'s alerts, newest first (up to the render cap)', shownRows.length === want.length && shownRows.every((r, i) => r[0] === want[i].seq) && (await page.getAttribute('#alerts-count', 'data-total')) === String(all.rows.length),
        `${shownRows.length} rows shown, ${all.rows.length} in the API (${[...byKind].map(([k, n]) => n + ' ' + k).join(', ')})`);
      check('alert kinds match the API\'s (row and badge)', shownRows.every((r, i) => r[1] === want[i].alert.kind && r[2] === want[i].alert.kind.replace(/_/g, ' ')));
      const live = await page.waitForSelector('#alerts-live[data-state="connected"]', { timeout: 10000 }).then(() => true).catch(() => false);
      check('the live stream connects (indicator says connected)', live, await page.textContent('#alerts-live'));
      const watching = await page.textContent('#watching');
      const status = (await getJson(`${API}/api/v1/status`)).body;
      check('the watching panel matches /status', status.watching.length ? (await page.locator('#watching-table tbody tr').count()) === status.watching.length : watching.includes('tracehound serve --watch FILE'), watching.trim().slice(0, 90));
      const streamed = await page.evaluate(async () => {
        const r = await fetch('/api/v1/alerts/stream?after=0&seconds=1');
        const text = await r.text();
        return { type: r.headers.get('content-type'), events: (text.match(/^event: alert$/gm) || []).length, ids: (text.match(/^id: \d+$/gm) || []).length };
      });
      check('the stream (after=0&seconds=1) delivers every alert', streamed.events === all.rows.length && streamed.ids === all.rows.length && /text\/event-stream/.test(streamed.type), `${streamed.events} "event: alert" lines, ${all.rows.length} alerts`);
      await page.screenshot({ path: join(shots, 'alerts.png') });

      // a reached_service alert: click → its proof path (txs of evidence.path, first hop first)
      const rs = newest.find((r) => r.alert.kind === 'reached_service');
      if (rs) {
        await page.click(`#alerts-table tr.alert-row[data-seq="${rs.seq}"] td.summary`);
        await page.waitForSelector(`#alerts-table tr.alert-detail[data-seq="${rs.seq}"] .proof-path [data-tx]`, { timeout: 5000 }).catch(() => null);
        const txs = await page.locator(`#alerts-table tr.alert-detail[data-seq="${rs.seq}"] .proof-path [data-tx]`).evaluateAll((els) => els.map((e) => e.dataset.tx));
        const path = rs.alert.evidence.path.map((p) => p.tx);
        const firstShown = await page.locator(`#alerts-table tr.alert-detail[data-seq="${rs.seq}"] .proof-path .tx-link`).first().getAttribute('title').catch(() => null);
        check('clicking a reached_service alert shows its proof path with the first hop\'s tx', path.length > 0 && JSON.stringify(txs) === JSON.stringify(path) && firstShown === path[0], `${txs.length} hops shown, ${path.length} in the alert; first ${short(path[0])}`);
        await page.locator(`#alerts-table tr.alert-detail[data-seq="${rs.seq}"]`).screenshot({ path: join(shots, 'alerts-expanded.png') });
      } else console.log('  (no reached_service alert in the demo: proof path check skipped)');
      const pt = newest.find((r) => r.alert.kind === 'pattern');
      if (pt) {
        await page.click(`#alerts-table tr.alert-row[data-seq="${pt.seq}"] td.summary`);
        const det = page.locator(`#alerts-table tr.alert-detail[data-seq="${pt.seq}"]`);
        await det.waitFor({ timeout: 5000 }).catch(() => null);
        const txs = await det.locator('.pattern-txs a').count();
        const addrs = await det.locator('.pattern-addresses a').count();
        const expl = await det.locator('.pattern-explanation').textContent().catch(() => null);
        check('clicking a pattern alert shows its explanation, txs and addresses', expl === pt.alert.evidence.explanation && txs === Math.min(300, pt.alert.evidence.txs.length) && addrs === Math.min(300, pt.alert.evidence.addresses.length), `${txs} txs, ${addrs} addresses`);
        await det.screenshot({ path: join(shots, 'alerts-pattern.png') });
      }

      // filters: by kind, by incident (as many rows as the API has of it, up to the cap)
      const kind = byKind.has('reached_service') ? 'reached_service' : [...byKind.keys()][0];
      await page.selectOption('#alerts-kind', kind);
      const kindRows = await page.locator('#alerts-table tr.alert-row').evaluateAll((trs) => trs.map((tr) => tr.dataset.kind));
      check(`the kind filter (${kind}) shows the API's count of that kind`, kindRows.length === Math.min(CAP, byKind.get(kind)) && kindRows.every((k) => k === kind) && page.url().includes('kind=' + kind), `${kindRows.length} rows, ${byKind.get(kind)} in the API`);
      await page.selectOption('#alerts-kind', '');
      const inc = all.rows.find((r) => r.alert.incident) && all.rows.find((r) => r.alert.incident).alert.incident;
      if (inc) {
        await page.selectOption('#alerts-incident', inc);
        const n = await page.locator('#alerts-table tr.alert-row').count();
        const wantN = all.rows.filter((r) => r.alert.incident === inc).length;
        check('the incident filter shows the API\'s count of that incident', n === Math.min(CAP, wantN), `${n} rows, ${wantN} in the API`);
        await page.selectOption('#alerts-incident', '');
      }

      // a retraction, and deliveries: the API's answer gets one more row on its way to the page (the
      // demo has no retraction and no subscription, and there is no API to push alerts)
      const target = newest.slice(0, CAP - 1).find((r) => r.alert.kind === 'reached_service') || newest[0];
      const lastSeq = newest[0].seq;
      const retraction = {
        seq: lastSeq + 1,
        alert: { ...target.alert, id: 'e2e'.padEnd(64, '0'), kind: 'retraction', retracts: target.alert.id, summary: 'retracted (block replaced by e2e): ' + target.alert.summary, evidence: { reason: 'block replaced by e2e', retracted_kind: target.alert.kind, retracted_summary: target.alert.summary }, confirmations_needed: 0 },
        deliveries: [
          { subscription: 'a', alert_seq: lastSeq + 1, alert_id: 'x', state: 'delivered', attempts: 1, last_status: 200, last_error: null, next_attempt_ms: null, delivered_at_ms: Date.now() },
          { subscription: 'b', alert_seq: lastSeq + 1, alert_id: 'x', state: 'dead', attempts: 8, last_status: 500, last_error: 'HTTP 500', next_attempt_ms: null, delivered_at_ms: null },
          { subscription: 'c', alert_seq: lastSeq + 1, alert_id: 'x', state: 'delivered', attempts: 2, last_status: 200, last_error: null, next_attempt_ms: null, delivered_at_ms: Date.now() },
        ],
      };
      const isList = (u) => new URL(u).pathname === '/api/v1/alerts';
      await page.route(isList, async (route) => {
        const r = await route.fetch();
        const body = await r.json();
        const lim = Number(new URL(route.request().url()).searchParams.get('limit') || 100);
        if (body.length < lim) body.push(retraction);
        await route.fulfill({ response: r, json: body });
      });
      await page.evaluate(() => { delete document.body.dataset.alertsReady; });
      await page.goto(`${ui.url}/#/alerts?e2e=retraction`);
      await page.waitForSelector('body[data-alerts-ready="1"]', { timeout: 30000 });
      const marked = await page.evaluate(({ seq, rseq }) => {
        const tr = document.querySelector(`#alerts-table tr.alert-row[data-seq="${seq}"]`);
        const rt = document.querySelector(`#alerts-table tr.alert-row[data-seq="${rseq}"]`);
        if (!tr || !rt) return null;
        return {
          cls: tr.classList.contains('retracted'),
          badge: !!tr.querySelector('.retracted-badge'),
          strike: getComputedStyle(tr.querySelector('td.summary')).textDecorationLine,
          rkind: rt.dataset.kind,
          deliveries: rt.querySelector('td.deliveries').textContent,
          first: document.querySelector('#alerts-table tr.alert-row').dataset.seq,
        };
      }, { seq: target.seq, rseq: retraction.seq });
      check('a retraction is listed and marks its alert (class, badge, strike-through)', !!marked && marked.cls && marked.badge && marked.strike.includes('line-through') && marked.rkind === 'retraction' && marked.first === String(retraction.seq), JSON.stringify(marked));
      check('delivery states are summed up ("2 delivered, 1 dead")', !!marked && marked.deliveries === '2 delivered, 1 dead', marked && marked.deliveries);
      await page.click(`#alerts-table tr.alert-row[data-seq="${retraction.seq}"] td.summary`);
      const withdraws = await page.locator(`#alerts-table tr.alert-detail[data-seq="${retraction.seq}"]`).textContent().catch(() => '');
      check('a retraction\'s evidence names the alert it withdraws', withdraws.includes('#' + target.seq) && withdraws.includes('block replaced by e2e'), withdraws.slice(0, 80));
      await page.locator(`#alerts-table tr.alert-detail[data-seq="${retraction.seq}"]`).screenshot({ path: join(shots, 'alerts-retraction.png') });
      await page.locator(`#alerts-table tr.alert-row[data-seq="${target.seq}"]`).scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'alerts-retracted.png') });
      await page.unroute(isList);
      // the model as a pure function (window.tracehoundUI): order, retraction and final maps, delivery text
      const pure = await page.evaluate(() => {
        const ui = window.tracehoundUI;
        const m = ui.alertsModel([
          { seq: 2, alert: { id: 'b', kind: 'retraction', retracts: 'a' }, deliveries: [] },
          { seq: 1, alert: { id: 'a', kind: 'taint_moved' }, deliveries: [] },
          { seq: 3, alert: { id: 'c', kind: 'pattern' }, deliveries: [] },
          { seq: 1, alert: { id: 'a', kind: 'taint_moved' }, deliveries: [] },
          { seq: 4, alert: { id: 'd', kind: 'final', finalises: 'c' }, deliveries: [] },
        ]);
        return { order: m.list.map((r) => r.seq).join(','), retracted: [...m.retractedBy].map(([k, v]) => k + '←' + v.seq).join(','), finalised: [...m.finalisedBy].map(([k, v]) => k + '←' + v.seq).join(','), text: ui.deliverySummary([{ state: 'dead' }, { state: 'delivered' }, { state: 'pending' }, { state: 'delivered' }]), none: ui.deliverySummary([]) };
      });
      check('alertsModel / deliverySummary (pure)', pure.order === '4,3,2,1' && pure.retracted === 'a←2' && pure.finalised === 'c←4' && pure.text === '2 delivered, 1 pending, 1 dead' && pure.none === '', JSON.stringify(pure));

      // live: an alert arriving on the stream is put on top, highlighted, without a reload (the
      // demo has no watcher raising alerts: the first stream request is answered by the test)
      {
        const isStream = (u) => new URL(u).pathname === '/api/v1/alerts/stream';
        const pushedSeq = lastSeq + 1;
        const pushed = { ...newest[0].alert, id: 'f'.repeat(64), kind: 'taint_moved', summary: 'e2e: an alert raised while the page is open' };
        let served = 0;
        const streamUrls = [];
        await page.route(isStream, async (route) => {
          streamUrls.push(route.request().url());
          if (served++) return route.continue();
          await route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body: `event: alert\nid: ${pushedSeq}\ndata: ${JSON.stringify(pushed)}\n\n` });
        });
        await page.evaluate(() => { delete document.body.dataset.alertsReady; });
        await page.goto(`${ui.url}/#/alerts?e2e=live`);
        await page.waitForSelector('body[data-alerts-ready="1"]', { timeout: 30000 });
        const row = await page.waitForSelector(`#alerts-table tr.alert-row[data-seq="${pushedSeq}"]`, { timeout: 10000 }).then(() => true).catch(() => false);
        const top = await page.evaluate(() => { const tr = document.querySelector('#alerts-table tr.alert-row'); return tr && { seq: tr.dataset.seq, fresh: tr.classList.contains('fresh'), text: tr.querySelector('td.summary').textContent }; });
        const total = await page.getAttribute('#alerts-count', 'data-total');
        check('a streamed alert is put on top, highlighted, without a reload', row && top && top.seq === String(pushedSeq) && top.fresh && top.text === pushed.summary && total === String(all.rows.length + 1) && served >= 1, JSON.stringify({ top, total }));
        await page.screenshot({ path: join(shots, 'alerts-live.png') });
        // the stream ended (the test's answer was one event): a new one starts from the new last seq
        await new Promise((ok) => setTimeout(ok, 1500));
        const again = streamUrls[1] ? new URL(streamUrls[1]).searchParams.get('after') : null;
        check('when the stream ends a new one starts from the last seq seen', again === String(pushedSeq - 1), `${served} stream requests; the second from after=${again} (the page asks from one before the last seq it has, which it drops)`);
        await page.unroute(isStream);
      }

      // thousands of alerts: the page draws 500, "show more" adds 500 (a synthetic listing of 3,000)
      const BIG = 3000;
      const synth = Array.from({ length: BIG }, (_, i) => { const r = all.rows[i % all.rows.length]; return { seq: i + 1, alert: { ...r.alert, id: String(i + 1).padStart(64, '0') }, deliveries: [] }; });
      await page.route(isList, async (route) => {
        const u = new URL(route.request().url());
        const after = Number(u.searchParams.get('after') || 0);
        const lim = Number(u.searchParams.get('limit') || 100);
        await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(synth.filter((r) => r.seq > after).slice(0, lim)) });
      });
      const t0 = Date.now();
      await page.evaluate(() => { delete document.body.dataset.alertsReady; });
      await page.goto(`${ui.url}/#/alerts?e2e=big`);
      await page.waitForSelector('body[data-alerts-ready="1"]', { timeout: 30000 });
      const ms = Date.now() - t0;
      const first = await page.locator('#alerts-table tr.alert-row').count();
      await page.click('#alerts-more');
      const second = await page.locator('#alerts-table tr.alert-row').count();
      check(`${BIG} alerts: ${first} rows drawn in ${ms} ms, "show more" → ${second}`, first === CAP && second === 2 * CAP && (await page.getAttribute('#alerts-count', 'data-total')) === String(BIG) && ms < 5000, 'goal < 5000 ms');
      await page.unroute(isList);

      // a server whose outbox is another process's: the page says so instead of failing
      const isStatus = (u) => new URL(u).pathname === '/api/v1/status';
      // (and /status names a watched chain: the watching panel lists it, and is read again every 5 s)
      let statusReads = 0;
      const watched = { chain: 'bitcoin-regtest', node: 'http://127.0.0.1:18443/', tip: 321, node_reachable: true, cycles: 7, blocks: 12, unwound: 1, alerts: 5, retracted: 1, last_cycle_at: Math.floor(Date.now() / 1000) - 3, last_cycle_ms: 42, error: null };
      await page.route(isStatus, async (route) => { statusReads++; const r = await route.fetch(); const body = await r.json(); body.alerts = false; body.watching = [watched]; await route.fulfill({ response: r, json: body }); });
      await page.evaluate(() => { delete document.body.dataset.alertsReady; });
      await page.goto(`${ui.url}/#/alerts?e2e=off`);
      await page.waitForSelector('body[data-alerts-ready="1"]', { timeout: 30000 });
      check('alerts not served here (status.alerts false): the page says so', (await page.locator('#alerts-off').count()) === 1 && (await page.locator('#main .error').count()) === 0 && (await page.getAttribute('#alerts-live', 'data-state')) === 'off');
      const reads0 = statusReads;
      await page.waitForTimeout(5600);
      const wrow = await page.locator('#watching-table tbody tr[data-chain="bitcoin-regtest"]').textContent().catch(() => '');
      check('the watching panel lists the watched chains and refreshes', wrow.includes('321') && wrow.includes('reachable') && statusReads > reads0, `${wrow.replace(/\s+/g, ' ').slice(0, 90)}; /status read ${statusReads}×`);
      await page.screenshot({ path: join(shots, 'alerts-watching.png') });
      await page.unroute(isStatus);
    }
  }

  // --- incidents list
  await page.goto(`${ui.url}/#/`);
  await page.waitForSelector('#incidents a.incident-link, #main .notice, #main .error');
  check('incidents list links the incident', (await page.locator(`#incidents a.incident-link:text-is("${INCIDENT}")`).count()) === 1);
  await page.screenshot({ path: join(shots, 'incidents.png') });

  // --- large graph: load time
  const big = bigResult();
  const bigJson = JSON.stringify(big);
  const addresses = new Set(big.edges.map((e) => e.to)).size + 1;
  await page.route('**/fixtures/big.json', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: bigJson }));
  for (const [label, hash, want] of [
    ['all nodes', '#/incident-file/fixtures/big.json?small=0', addresses],
    ['default folding', '#/incident-file/fixtures/big.json', expectedNodeCount(big)],
  ]) {
    await page.goto(`${ui.url}/#/`);
    await page.waitForSelector('#main h1');
    const t0 = Date.now();
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForSelector('body[data-graph-ready="1"]', { timeout: 60000 });
    await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
    const ms = Date.now() - t0;
    const n = Number(await page.textContent('#node-count'));
    // The page as it opens (default folding) must load in < 2 s; with folding off (every one of the
    // 6,112 addresses drawn) the time is reported, and only its node count is checked (a 2-core
    // machine that compiles at the same time can push it past 2 s).
    const timed = label === 'default folding';
    check(`large graph (${label}): ${n} nodes drawn in ${ms} ms`, n === want && (!timed || ms < 2000), `want ${want} nodes${timed ? ', goal < 2000 ms' : ' (time reported only)'}; ${(bigJson.length / 1e6).toFixed(1)} MB JSON of ${addresses} addresses`);
    if (label === 'all nodes') {
      // a full page load too (fresh document, scripts parsed)
      await page.goto('about:blank');
      const t1 = Date.now();
      await page.goto(`${ui.url}/${hash}`);
      await page.waitForSelector('body[data-graph-ready="1"]', { timeout: 60000 });
      await page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
      console.log(`     full page load with ${n} nodes: ${Date.now() - t1} ms`);
    }
    await page.screenshot({ path: join(shots, label === 'all nodes' ? 'big-graph.png' : 'big-graph-folded.png') });
    if (label === 'default folding') {
      const fid = await page.evaluate(() => { const f = window.__tracehound.cy.nodes('[kind = "fold"]'); return f.length ? f[0].id() : null; });
      if (check('the big graph has folds of small branches', !!fid)) {
        const members = await page.evaluate((id) => { const n = window.__tracehound.graph().nodes.find((x) => x.id === id); return n.fold.members.length; }, fid);
        await page.evaluate((id) => window.__tracehound.cy.getElementById(id).emit('tap'), fid);
        await page.click('#btn-expand');
        await page.waitForTimeout(400);
        const after = Number(await page.textContent('#node-count'));
        check('expanding a fold draws its addresses', after === n - 1 + members, `${n} → ${after} nodes (fold of ${members})`);
      }
    }
  }

  check('no script errors in the page', pageErrors.length === 0, pageErrors.slice(0, 3).join(' | '));
  check('no request left this machine', external.length === 0, external.slice(0, 3).join(' '));
}

try {
  await main();
} catch (e) {
  check('run', false, e.stack || String(e));
} finally {
  await cleanup();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
