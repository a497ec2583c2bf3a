/* tracehound web UI: a single page, hash-routed, no framework.
 *
 * Safety rule of this file: text that comes from the API (labels, addresses,
 * error messages…) is only ever put into the page through textContent / text
 * nodes (see h()); innerHTML is never used. Cytoscape draws labels on a canvas.
 *
 * Amounts are strings (or, on some routes, JSON numbers) of integer base units:
 * they are handled with BigInt only, never as floats.
 */
'use strict';

(function () {
  // ---------------------------------------------------------------- DOM helpers

  /** h('tag.class', {props}, ...children): children are nodes or text (never HTML). */
  function h(tag, props, ...children) {
    const bits = tag.split(/(?=[.#])/);
    const name = bits[0] && !/^[.#]/.test(bits[0]) ? bits.shift() : 'div';
    const node = document.createElement(name);
    const classes = bits.filter((b) => b[0] === '.').map((b) => b.slice(1));
    const id = bits.find((b) => b[0] === '#');
    if (id) node.id = id.slice(1);
    if (classes.length) node.className = classes.join(' ');
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else if (k === 'className') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k in node && typeof v !== 'string') node[k] = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    append(node, children);
    return node;
  }
  function append(node, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(node, c);
      else if (c instanceof Node) node.appendChild(c);
      else node.appendChild(document.createTextNode(String(c)));
    }
  }
  /** Replaces a node's children (arrays flattened, text as text nodes). */
  function fill(node, ...children) {
    node.textContent = '';
    append(node, children);
    return node;
  }
  const $ = (sel, root = document) => root.querySelector(sel);
  const enc = encodeURIComponent;

  function link(href, text, props) {
    return h('a', Object.assign({ href }, props || {}), text);
  }
  function short(s, head = 8, tail = 6) {
    s = String(s);
    return s.length > head + tail + 1 ? s.slice(0, head) + '…' + s.slice(-tail) : s;
  }
  function fmtTime(t) {
    if (t === null || t === undefined || t === '') return '';
    const n = Number(t);
    if (!Number.isFinite(n)) return String(t);
    return new Date(n * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  }

  // ---------------------------------------------------------------- amounts (BigInt only)

  function toBig(v) {
    if (typeof v === 'bigint') return v;
    if (typeof v === 'number') return BigInt(Math.trunc(v));
    if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
    return null;
  }
  function isEvmChain(chain) { return /^(evm|eth|ethereum|polygon|bsc|arbitrum|optimism|base)\b/i.test(chain || ''); }
  function nativeDecimals(chain) {
    if (isEvmChain(chain)) return 18;
    if (/^(bitcoin|litecoin|btc|ltc|dogecoin|doge|bch|bitcoin-cash)/i.test(chain || '')) return 8;
    return null;
  }
  function nativeSymbol(chain) {
    if (isEvmChain(chain)) return 'ETH';
    if (/^(litecoin|ltc)/i.test(chain)) return 'LTC';
    if (/^(dogecoin|doge)/i.test(chain)) return 'DOGE';
    if (/^(bitcoin|btc)/i.test(chain)) return 'BTC';
    return 'native';
  }
  /** Token symbol and decimals learnt from the API (address balances); key chain|asset. */
  const tokenMeta = new Map();
  function learnToken(chain, asset, symbol, decimals) {
    if (!asset || asset === 'native' || decimals === undefined || decimals === null) return;
    tokenMeta.set(chain + '|' + asset.toLowerCase(), { symbol: symbol || short(asset, 6, 4), decimals: Number(decimals) });
  }
  function assetInfo(chain, asset) {
    if (!asset || asset === 'native') return { symbol: nativeSymbol(chain), decimals: nativeDecimals(chain) };
    const m = tokenMeta.get(chain + '|' + String(asset).toLowerCase());
    return m ? m : { symbol: null, decimals: null };
  }
  /** Base units → decimal string with exactly `decimals` digits after the point (as the CLI prints). */
  function formatUnits(raw, decimals) {
    const v = toBig(raw);
    if (v === null) return String(raw);
    if (!decimals) return v.toString();
    const neg = v < 0n;
    const a = neg ? -v : v;
    const base = 10n ** BigInt(decimals);
    const int = a / base;
    const frac = (a % base).toString().padStart(decimals, '0');
    return (neg ? '-' : '') + int.toString() + '.' + frac;
  }
  function fmtAmount(raw, chain, asset) {
    const info = assetInfo(chain, asset);
    if (info.decimals === null || info.decimals === undefined) {
      return String(toBig(raw) ?? raw) + ' base units' + (asset && asset !== 'native' ? ' of ' + asset : '');
    }
    return formatUnits(raw, info.decimals) + ' ' + info.symbol;
  }
  function assetName(chain, asset) {
    const info = assetInfo(chain, asset);
    return info.symbol || (asset === 'native' ? 'native' : short(asset, 8, 4));
  }
  function amountEl(raw, chain, asset, tag = 'span') {
    const big = toBig(raw);
    return h(tag, {
      className: 'amount',
      title: (big === null ? String(raw) : big.toString()) + ' base units · ' + chain + ' ' + (asset || ''),
      dataset: { raw: big === null ? String(raw) : big.toString() },
    }, fmtAmount(raw, chain, asset));
  }
  /** Display amount ("1.5") → base units for an asset; null when decimals are unknown. */
  function parseUnits(text, decimals) {
    text = String(text || '').trim();
    if (!text) return 0n;
    if (!/^\d*(\.\d*)?$/.test(text)) return null;
    let [i, f = ''] = text.split('.');
    if (decimals === null || decimals === undefined) return BigInt(i || '0');
    f = f.slice(0, decimals).padEnd(decimals, '0');
    return BigInt(i || '0') * 10n ** BigInt(decimals) + BigInt(f || '0');
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status; this.code = code; this.field = field;
    }
  }
  /** JSON.parse that keeps integers beyond 2^53 exact (as BigInt) where the browser gives the source text. */
  function parseJsonExact(text) {
    return JSON.parse(text, function (key, value, ctx) {
      if (typeof value === 'number' && !Number.isSafeInteger(value) && ctx && typeof ctx.source === 'string' && /^-?\d+$/.test(ctx.source)) {
        return BigInt(ctx.source);
      }
      return value;
    });
  }
  async function api(path, opts = {}) {
    const init = { method: opts.method || 'GET', headers: { Accept: 'application/json' } };
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers['Content-Type'] = 'application/json';
    }
    if (opts.token) init.headers.Authorization = 'Bearer ' + opts.token;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'the tracehound server did not answer (' + e.message + ')');
    }
    const text = await res.text();
    let body = null;
    if (text) {
      try { body = opts.plain ? JSON.parse(text) : parseJsonExact(text); } catch (_) { body = null; }
    }
    if (!res.ok) {
      const err = body && body.error;
      if (err && typeof err === 'object') throw new ApiError(res.status, err.code, err.message || ('HTTP ' + res.status), err.field);
      throw new ApiError(res.status, 'http', 'HTTP ' + res.status + ' ' + res.statusText + ' for ' + path);
    }
    if (body === null && text) throw new ApiError(res.status, 'json', 'the answer of ' + path + ' is not JSON');
    return body;
  }
  function errorBox(e) {
    const msg = e instanceof ApiError || e instanceof Error ? e.message : String(e);
    return h('div.error', { role: 'alert' },
      h('strong', null, 'Error: '), msg,
      e && e.field ? h('span.muted', null, ' (field: ' + e.field + ')') : null);
  }
  let statusCache = null;
  async function chains() {
    if (!statusCache) {
      try { statusCache = await api('/api/v1/status'); } catch (_) { statusCache = { chains: [] }; }
    }
    return (statusCache.chains || []).map((c) => c.chain);
  }

  // ---------------------------------------------------------------- generic renderers

  function isAmountKey(k) { return /^(amount|value|received|sent|balance|tainted|fee|input_value|output_value|amount_in|amount_out|taint_in|taint_out)$/.test(k); }
  function renderValue(v, ctx) {
    if (v === null || v === undefined) return h('span.muted', null, '—');
    if (typeof v === 'bigint') return String(v);
    if (Array.isArray(v)) {
      if (!v.length) return h('span.muted', null, 'none');
      if (v.every((x) => x && typeof x === 'object' && !Array.isArray(x))) return renderTable(v, ctx);
      return v.map((x) => renderValue(x, ctx)).reduce((acc, x, i) => (i ? acc.concat([', ', x]) : [x]), []);
    }
    if (typeof v === 'object') return renderKv(v, ctx);
    return String(v);
  }
  function cellFor(row, k, ctx) {
    const v = row[k];
    if (v instanceof Node) return v;
    const chain = row.chain || (ctx && ctx.chain);
    if ((k === 'txid' || k === 'tx' || k === 'hash' || k === 'first_tx_in' || k === 'first_tx_out' || k === 'tx_in' || k === 'prev_txid') && typeof v === 'string') return link('#/tx/' + enc(v), short(v, 10, 6), { title: v, className: 'mono' });
    if ((k === 'address' || k === 'from' || k === 'to') && typeof v === 'string' && chain && /^(0x[0-9a-fA-F]{40}|[a-zA-Z0-9]{25,90})$/.test(v)) return link('#/address/' + enc(chain) + '/' + enc(v), short(v, 10, 6), { title: v, className: 'mono' });
    if (k === 'time' || k === 'added') return fmtTime(v);
    if (isAmountKey(k) && toBig(v) !== null && chain) return amountEl(v, chain, row.asset || 'native');
    return renderValue(v, ctx);
  }
  function renderTable(rows, ctx, cols) {
    const keys = cols || [...new Set(rows.flatMap((r) => Object.keys(r)))];
    return h('table', null,
      h('thead', null, h('tr', null, keys.map((k) => h('th', { className: isAmountKey(k) ? 'num' : '' }, k)))),
      h('tbody', null, rows.map((r) => h('tr', null, keys.map((k) => h('td', { className: isAmountKey(k) ? 'num' : '' }, cellFor(r, k, ctx)))))));
  }
  function renderKv(obj, ctx) {
    return h('dl.kv', null, Object.entries(obj).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, cellFor(obj, k, ctx))]));
  }

  // ---------------------------------------------------------------- categories and styles

  const CATEGORY_COLORS = {
    incident: '#7a0019', hacker: '#b3261e', theft: '#b3261e', scam: '#c2185b', ransomware: '#c2185b',
    exchange: '#1b7f3b', deposit_address: '#1b7f3b', hot_wallet: '#2e9d50', custodian: '#12876f', issuer: '#0f7c8c',
    mixer: '#e53935', privacy: '#7b1fa2', bridge: '#1e63d6', dex: '#f08c00', defi: '#f5a623',
    sanctioned: '#111111', blacklisted: '#333333', darknet_market: '#4a148c', terrorism: '#000000',
    gambling: '#8d6e63', miner: '#6d8b00', payment: '#00838f', other: '#8e99a8', fee: '#c4c9d0',
    unlabeled: '#b7c3d3', small: '#dde2e8',
  };
  const LINK_COLORS = { swap: '#f08c00', bridge: '#1e63d6', chain_swap: '#8e24aa', mixer: '#e53935', link: '#00897b' };
  function categoryColor(cat) { return CATEGORY_COLORS[cat] || CATEGORY_COLORS.other; }

  // ---------------------------------------------------------------- trace graph model

  /**
   * Prepares a trace result (GET /api/v1/incidents/{name}/result) for drawing.
   * Nodes are chain:address; a link hop (swap, bridge, chain swap, mixer) goes from
   * its input address on edge.chain_in to its output on the hop's chain; fee hops go
   * to one "fees" node per chain (hidden unless "fees" is ticked).
   */
  function prepareTrace(result) {
    const endpoints = new Map();
    // A proof path names its hops by their place in the trace graph (result.edges).
    const hopsOf = (path) => (path || [])
      .map((x) => (typeof x === 'number' ? (result.edges || [])[x] : x))
      .filter(Boolean);
    for (const ep of result.endpoints || []) {
      ep.path = hopsOf(ep.path);
      const key = ep.chain + ':' + ep.address;
      if (!endpoints.has(key)) endpoints.set(key, []);
      endpoints.get(key).push(ep);
    }
    const refs = new Map(); // chain|asset → largest tainted hop: the scale of "small"
    const edges = (result.edges || []).map((e, i) => {
      const ek = (e.edge && e.edge.kind) || 'transfer';
      const isLink = ek === 'link';
      const isFee = ek === 'fee';
      const fromChain = isLink && e.edge.chain_in ? e.edge.chain_in : e.chain;
      const tainted = toBig(e.tainted) ?? 0n;
      const ak = e.chain + '|' + e.asset;
      if (!refs.has(ak) || refs.get(ak) < tainted) refs.set(ak, tainted);
      return {
        i, hop: e, kind: ek, link: isLink ? (e.edge.link || 'link') : null, fee: isFee,
        from: e.from === 'incident' ? 'incident' : fromChain + ':' + e.from,
        to: isFee ? 'fees:' + e.chain : e.chain + ':' + e.to,
        tainted, time: Number(e.time) || 0, asset: e.asset, chain: e.chain,
        incident: typeof e.rule === 'string' && e.rule.startsWith('incident'),
      };
    });
    const times = edges.map((e) => e.time).filter((t) => t > 0);
    const assets = [...new Set(edges.map((e) => e.chain + '|' + e.asset))].sort();
    return {
      result, endpoints, edges, refs, assets,
      tmin: times.length ? Math.min(...times) : 0,
      tmax: times.length ? Math.max(...times) : 0,
    };
  }
  function endpointImportant(eps) {
    return !!(eps && eps.some((ep) => ep.freezable_by || ep.label || ep.category));
  }

  /**
   * The drawn graph under the filters. Rule of aggregation (documented in tests/e2e.mjs too):
   * a node's weight is the largest share, over its incoming hops, of the hop's tainted value
   * against the largest tainted hop of the same chain+asset; a node is "small" when that
   * weight is below opts.small (a fraction, default 0.001), it is not a root, not an
   * endpoint with a label, category or freezer, and its BFS parent is not expanded. Small nodes
   * fold into one "N small branches" node per visible parent (a small node under a folded
   * one joins its parent's fold); a fold of a single address is drawn as that address.
   * Depth is the hop count from the incident (BFS).
   */
  function buildGraph(T, opts) {
    const expanded = opts.expanded || new Set();
    const minFor = new Map();
    function minBase(e) {
      const k = e.chain + '|' + e.asset;
      if (!minFor.has(k)) {
        const info = assetInfo(e.chain, e.asset);
        minFor.set(k, opts.minAmount ? parseUnits(opts.minAmount, info.decimals) : 0n);
      }
      return minFor.get(k);
    }
    // 1. hop filters
    const kept = [];
    for (const e of T.edges) {
      if (e.fee && !opts.showFees) continue;
      if (opts.asset && e.chain + '|' + e.asset !== opts.asset) continue;
      const near = expanded.has(e.from) || expanded.has(e.to);
      if (!e.incident && !near) {
        const m = minBase(e);
        if (m !== null && m > 0n && e.tainted < m) continue;
      }
      kept.push(e);
    }
    // 2. roots and depth (BFS in hop order)
    const out = new Map();
    const inc = new Map();
    for (const e of kept) {
      if (!out.has(e.from)) out.set(e.from, []);
      out.get(e.from).push(e);
      if (!inc.has(e.to)) inc.set(e.to, []);
      inc.get(e.to).push(e);
    }
    let roots = [...new Set(kept.filter((e) => e.incident).map((e) => e.from))];
    if (!roots.length) roots = [...new Set(kept.map((e) => e.from))].filter((n) => !inc.has(n));
    const depth = new Map();
    const parent = new Map();
    const order = [];
    for (const r of roots) { depth.set(r, 0); order.push(r); }
    for (let qi = 0; qi < order.length; qi++) {
      const n = order[qi];
      for (const e of out.get(n) || []) {
        if (!depth.has(e.to)) { depth.set(e.to, depth.get(n) + 1); parent.set(e.to, n); order.push(e.to); }
      }
    }
    const maxDepth = order.reduce((m, n) => Math.max(m, depth.get(n)), 0);
    const maxHops = opts.maxHops === undefined || opts.maxHops === null || opts.maxHops === '' ? Infinity : Number(opts.maxHops);
    const visible = new Set(order.filter((n) => depth.get(n) <= maxHops));
    for (const n of expanded) {
      if (!visible.has(n)) continue;
      for (const e of out.get(n) || []) if (depth.has(e.to)) visible.add(e.to);
      for (const e of inc.get(n) || []) if (depth.has(e.from)) visible.add(e.from);
    }
    // 3. weights and folding
    const weight = new Map();
    for (const n of order) {
      let w = 0;
      for (const e of inc.get(n) || []) {
        const ref = T.refs.get(e.chain + '|' + e.asset) || 0n;
        const share = ref > 0n ? Number((e.tainted * 1000000n) / ref) / 1e6 : 1;
        if (share > w) w = share;
      }
      weight.set(n, w);
    }
    const small = opts.small === undefined ? 0.001 : Number(opts.small);
    const rootSet = new Set(roots);
    const fold = new Map(); // node → fold id
    const folds = new Map(); // fold id → {parent, members[]}
    for (const n of order) {
      if (!visible.has(n) || rootSet.has(n)) continue;
      if (n.startsWith('fees:')) continue;
      const p = parent.get(n);
      if (!(small > 0) || weight.get(n) >= small || endpointImportant(T.endpoints.get(n)) || expanded.has(p) || expanded.has(n)) continue;
      const id = fold.has(p) ? fold.get(p) : 'small:' + p;
      fold.set(n, id);
      if (!folds.has(id)) folds.set(id, { parent: p, members: [] });
      folds.get(id).members.push(n);
    }
    for (const [id, f] of folds) { // a fold of one address is that address
      if (f.members.length < 2) { fold.delete(f.members[0]); folds.delete(id); }
    }
    // 4. elements
    const rep = (n) => fold.get(n) || n;
    const nodes = [];
    for (const n of order) {
      if (!visible.has(n) || fold.has(n)) continue;
      nodes.push({ id: n, depth: depth.get(n), parent: parent.get(n), weight: weight.get(n) });
    }
    for (const [id, f] of folds) {
      const d = Math.min(...f.members.map((m) => depth.get(m)));
      nodes.push({ id, fold: f, depth: d, parent: rep(f.parent), weight: 0 });
    }
    const edges = [];
    const merged = new Map();
    for (const e of kept) {
      if (!visible.has(e.from) || !visible.has(e.to)) continue;
      const a = rep(e.from);
      const b = rep(e.to);
      if (a === b && (fold.has(e.from) || fold.has(e.to))) continue; // inside a fold
      if (fold.has(e.from) || fold.has(e.to)) {
        const k = a + '>' + b + '|' + e.chain + '|' + e.asset;
        if (!merged.has(k)) {
          const m = { id: 'm' + merged.size, source: a, target: b, hops: [], tainted: 0n, time: e.time, chain: e.chain, asset: e.asset, kind: e.kind, link: e.link, fee: e.fee };
          merged.set(k, m);
          edges.push(m);
        }
        const m = merged.get(k);
        m.hops.push(e);
        m.tainted += e.tainted;
        if (e.time < m.time) m.time = e.time;
      } else {
        edges.push({ id: 'e' + e.i, source: a, target: b, hops: [e], tainted: e.tainted, time: e.time, chain: e.chain, asset: e.asset, kind: e.kind, link: e.link, fee: e.fee });
      }
    }
    return { nodes, edges, depth, parent, weight, roots, maxDepth, folds, inc, out };
  }

  /** Preset layout by hop depth: one column per depth (wrapped into sub-columns when tall); O(n log n). */
  function layoutByDepth(g) {
    const cols = new Map();
    for (const n of g.nodes) {
      if (!cols.has(n.depth)) cols.set(n.depth, []);
      cols.get(n.depth).push(n);
    }
    const pos = new Map();
    const GAP = 230; // between depths
    const SUBW = 120; // between sub-columns of one depth
    const ROW = 42;
    const PER = g.nodes.length > 1000 ? 150 : 30; // rows before a column wraps
    let x = 0;
    for (const d of [...cols.keys()].sort((a, b) => a - b)) {
      const list = cols.get(d);
      list.sort((a, b) => {
        const pa = pos.get(a.parent);
        const pb = pos.get(b.parent);
        const ya = pa ? pa.y : 0;
        const yb = pb ? pb.y : 0;
        if (ya !== yb) return ya - yb;
        if (!!a.fold !== !!b.fold) return a.fold ? 1 : -1;
        return b.weight - a.weight;
      });
      const sub = Math.ceil(list.length / PER);
      const rows = Math.ceil(list.length / sub);
      list.forEach((n, i) => {
        const r = Math.floor(i / sub);
        const c = i % sub;
        pos.set(n.id, { x: x + c * SUBW, y: (r - (rows - 1) / 2) * ROW + (c % 2 ? ROW / 2 : 0) });
      });
      x += (sub - 1) * SUBW + GAP;
    }
    return pos;
  }

  // ---------------------------------------------------------------- router

  const main = () => $('#main');
  let currentCleanup = null;
  function setView(title, ...children) {
    if (currentCleanup) { try { currentCleanup(); } catch (_) { /* ignore */ } currentCleanup = null; }
    document.title = title ? title + ' — tracehound' : 'tracehound';
    const m = main();
    fill(m, ...children.flat().filter(Boolean));
    return m;
  }
  function parseHash() {
    let raw = location.hash.replace(/^#\/?/, '');
    let query = new URLSearchParams();
    const q = raw.indexOf('?');
    if (q >= 0) { query = new URLSearchParams(raw.slice(q + 1)); raw = raw.slice(0, q); }
    const parts = raw.split('/').map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
    return { parts, query, raw };
  }
  async function route() {
    const { parts, query, raw } = parseHash();
    const [view, ...rest] = parts;
    for (const a of document.querySelectorAll('header nav a')) {
      const target = a.getAttribute('href').replace(/^#\/?/, '');
      a.classList.toggle('active', target === (view || ''));
    }
    try {
      switch (view || '') {
        case '': return await viewIncidents();
        case 'incident': return await viewIncident(rest.join('/'), query);
        case 'incident-file': return await viewIncidentFile(raw.slice('incident-file/'.length), query);
        case 'address': return await viewAddress(rest[0], rest.slice(1).join('/'), query);
        case 'tx': return await viewTx(rest.join('/'), query);
        case 'screen': return await viewScreen(rest[0], rest.slice(1).join('/'));
        case 'alerts': return await viewAlerts(query);
        case 'search': return await viewSearch(rest.join('/'));
        default: return setView('Not found', h('h1', null, 'Not found'), h('p', null, 'No page here: ', link('#/', 'incidents')));
      }
    } catch (e) {
      setView('Error', errorBox(e));
    }
  }

  // ---------------------------------------------------------------- incidents list

  async function viewIncidents() {
    setView('Incidents', h('h1', null, 'Incidents'), h('div.loading', null, 'Loading…'));
    let list;
    try { list = await api('/api/v1/incidents'); } catch (e) { return setView('Incidents', h('h1', null, 'Incidents'), errorBox(e)); }
    const rows = Array.isArray(list) ? list : (list && list.incidents) || [];
    const status = await api('/api/v1/status').catch(() => null);
    setView('Incidents',
      h('h1', null, 'Incidents'),
      rows.length
        ? h('table#incidents', null,
          h('thead', null, h('tr', null, h('th', null, 'name'), h('th', null, 'stolen txs'), h('th', null, 'sources'), h('th', null, ''))),
          h('tbody', null, rows.map((r) => h('tr', null,
            h('td', null, link('#/incident/' + enc(r.name), r.name, { className: 'incident-link' })),
            h('td', null, String(r.stolen ?? '')),
            h('td', null, String(r.sources ?? '')),
            h('td', null, link('#/incident/' + enc(r.name), 'open trace →'))))))
        : h('div.notice', null, 'No incidents saved yet. Create one with `tracehound incident create` or POST /api/v1/incidents.'),
      status ? h('div.card', null, h('h2', null, 'Store'),
        renderTable((status.chains || []).map((c) => ({ chain: c.chain, height: c.tip ? c.tip.height : null, tip_time: c.tip ? fmtTime(c.tip.time) : null, txs: c.txs, addresses: c.addresses })), null),
        h('p.muted', null, 'tracehound ' + (status.version || ''))) : null);
  }

  // ---------------------------------------------------------------- incident page

  async function viewIncident(name, query) {
    setView('Incident ' + name, h('h1', null, 'Incident ', name), h('div.loading', null, 'Loading the saved trace…'));
    let result;
    try {
      result = await api('/api/v1/incidents/' + enc(name) + '/result', { plain: true });
    } catch (e) {
      return setView('Incident ' + name, h('h1', null, 'Incident ', name), errorBox(e), retraceBox(name));
    }
    renderIncident(name, result, query, true);
  }
  /** Test / offline use: #/incident-file/fixtures/big.json draws a result JSON fetched from this same origin. */
  async function viewIncidentFile(path, query) {
    if (!/^[A-Za-z0-9._\-/]+$/.test(path) || path.includes('..') || path.startsWith('/')) {
      return setView('Incident file', errorBox(new Error('a trace file is a relative path on this server (letters, digits, . _ - /)')));
    }
    setView('Incident file', h('h1', null, 'Trace file ', path), h('div.loading', null, 'Loading…'));
    const result = await api('/' + path, { plain: true });
    renderIncident(path, result, query, false);
  }

  function retraceBox(name, onDone) {
    const tokenIn = h('input', { type: 'password', placeholder: 'th_… (analyst token; kept in this tab only)', value: sessionStorage.getItem('th_token') || '', 'aria-label': 'API token' });
    const policy = h('select', { 'aria-label': 'policy' }, ['haircut', 'poison', 'fifo', 'lifo', 'tiho'].map((p) => h('option', { value: p }, p)));
    const msg = h('span.muted');
    const btn = h('button.primary', {
      type: 'submit',
    }, 'Re-trace');
    const form = h('form.card.no-print', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        const token = tokenIn.value.trim();
        if (token) sessionStorage.setItem('th_token', token); else sessionStorage.removeItem('th_token');
        btn.disabled = true;
        msg.textContent = 'tracing…';
        try {
          await api('/api/v1/incidents/' + enc(name) + '/trace', { method: 'POST', body: { policy: policy.value }, token, plain: true });
          msg.textContent = 'done';
          if (onDone) onDone(); else route();
        } catch (e) {
          fill(msg, errorBox(e));
        } finally { btn.disabled = false; }
      },
    }, h('h3', null, 'Re-trace this incident'), h('div.form-row', null, tokenIn, policy, btn), msg);
    return form;
  }

  /** One hop of a trace (a proof path step): tx link, from → to, tainted of value, rule, link details. */
  function hopView(e, i) {
    const hp = e.hop || e;
    const ek = hp.edge || {};
    return h('div', { className: 'path-hop' + (ek.kind === 'link' ? ' link' : ''), dataset: { tx: hp.tx } },
      h('div', null, h('strong', null, (i !== undefined ? '#' + (i + 1) + ' ' : '')), link('#/tx/' + enc(hp.tx), short(hp.tx, 12, 8), { className: 'mono tx-link', title: hp.tx }),
        ' ', h('span.muted', null, fmtTime(hp.time), hp.at ? ' · at ' + hp.at : '')),
      h('div.mono', null, short(hp.from, 8, 6), ' → ', short(hp.to, 8, 6), h('span.muted', null, ' (' + hp.chain + ')')),
      h('div', null, 'tainted ', amountEl(hp.tainted, hp.chain, hp.asset), h('span.muted', null, ' of '), amountEl(hp.value, hp.chain, hp.asset)),
      h('div.rule', null, 'rule: ', String(hp.rule || ''), ek.kind && ek.kind !== 'link' ? ' · ' + ek.kind : ''),
      ek.kind === 'link' ? h('div.rule', null, ek.link + ' via ' + (ek.service || '?') + ', confidence ' + (ek.confidence ?? '?') + ': ',
        amountEl(ek.amount_in, ek.chain_in, ek.asset_in), ' on ' + ek.chain_in + ' → ', amountEl(ek.amount_out, ek.chain_out, ek.asset_out), ' on ' + ek.chain_out,
        ek.evidence ? h('div', null, 'evidence: ' + ek.evidence) : null) : null);
  }
  function renderIncident(name, result, query, live) {
    const T = prepareTrace(result);
    // Learn token decimals in the background (address balances name symbol and decimals).
    const tokenAssets = T.assets.map((k) => k.split('|')).filter(([, a]) => a !== 'native');
    const opts = {
      showFees: query.get('fees') === '1',
      asset: query.get('asset') || '',
      minAmount: query.get('min') || '',
      maxHops: query.get('hops') || '',
      small: query.has('small') ? Number(query.get('small')) : 0.001,
      expanded: new Set(),
      timeMax: null,
    };
    const t0 = performance.now();
    const nodeCount = h('span#node-count', null, '0');
    const edgeCount = h('span#edge-count', null, '0');
    const hopsIn = h('input', { type: 'number', min: '0', step: '1', value: opts.maxHops, placeholder: 'all', id: 'f-hops', 'aria-label': 'max hops' });
    const assetSel = h('select', { id: 'f-asset', 'aria-label': 'asset' }, h('option', { value: '' }, 'all assets'),
      T.assets.map((k) => { const [c, a] = k.split('|'); return h('option', { value: k }, assetName(c, a) + ' on ' + c); }));
    assetSel.value = opts.asset;
    const minIn = h('input', { type: 'text', value: opts.minAmount, placeholder: '0', id: 'f-min', 'aria-label': 'minimum amount' });
    const smallIn = h('input', { type: 'number', min: '0', step: '0.1', value: String(opts.small * 100), id: 'f-small', 'aria-label': 'fold threshold percent' });
    const feesIn = h('input', { type: 'checkbox', id: 'f-fees', checked: opts.showFees });
    const timeIn = h('input', { type: 'range', min: '0', max: '1000', value: '1000', id: 'f-time', 'aria-label': 'time' });
    const timeLabel = h('span.nowrap', { id: 'time-label' }, fmtTime(T.tmax));
    const cyDiv = h('div#cy');
    const side = h('aside.side', { id: 'side' }, h('h2', null, 'Details'), h('p.muted', null, 'Click an address (node) or a hop (edge). Big nodes with a gold ring are points of intervention.'));
    const legend = h('div.legend', null,
      ['incident', 'exchange', 'issuer', 'mixer', 'privacy', 'bridge', 'dex', 'sanctioned', 'hacker', 'other', 'unlabeled', 'small'].map((c) =>
        h('span', null, h('span.sw', { style: 'background:' + categoryColor(c) }), c === 'small' ? 'folded small branches' : c)),
      h('span', null, h('span.ln', { style: 'border-top-color:#8a96a8' }), 'transfer / utxo tx'),
      Object.entries(LINK_COLORS).filter(([k]) => k !== 'link').map(([k, c]) => h('span', null, h('span.ln.dashed', { style: 'border-top-color:' + c }), k.replace('_', ' '))),
      h('span', null, h('span.ln.dotted', { style: 'border-top-color:#aab2bd' }), 'fee'),
      h('span', null, h('span.sw', { style: 'background:#fff;border:3px solid #d4a000' }), 'point of intervention'));

    const summary = h('section#summary', null, renderSummary(result, T));
    const header = h('div', null,
      h('h1', null, 'Incident ', h('span#incident-name', null, result.incident || name)),
      h('p.muted', null, 'policy ', h('strong', null, String(result.policy || (result.summary && result.summary.policy) || '?')),
        ' · ', String((result.endpoints || []).length), ' endpoints · ', String((result.edges || []).length), ' hops',
        T.tmin ? ' · ' + fmtTime(T.tmin) + ' → ' + fmtTime(T.tmax) : ''),
      (result.notes && result.notes.length) ? h('div.notice', null, result.notes.map((n) => h('div', null, typeof n === 'string' ? n : JSON.stringify(n)))) : null);

    setView('Incident ' + name,
      header,
      h('div.incident-layout', null,
        h('div.graph-wrap', null,
          h('div.toolbar', null,
            h('label', null, 'max hops', hopsIn),
            h('label', null, assetSel),
            h('label', null, 'min amount', minIn),
            h('label', { title: 'fold addresses whose tainted inflow is below this % of the largest hop of their asset' }, 'fold below %', smallIn),
            h('label', null, feesIn, 'fees'),
            h('button', { type: 'button', id: 'btn-fit', onclick: () => cy && cy.fit(undefined, 30) }, 'Fit'),
            h('button', { type: 'button', id: 'btn-reset', onclick: () => { opts.expanded.clear(); rebuild(true); } }, 'Collapse all'),
            h('span.count', null, nodeCount, ' nodes · ', edgeCount, ' edges')),
          cyDiv,
          h('div.timebar', null, h('span', null, 'up to'), timeIn, timeLabel),
          legend),
        side),
      h('h2', null, 'Summary'),
      summary,
      live ? retraceBox(name) : null);

    if (typeof window.cytoscape !== 'function') {
      fill(side, errorBox(new Error('cytoscape.min.js did not load')));
      return;
    }
    let cy = null;
    let graph = null;
    function elementsOf(g) {
      const pos = layoutByDepth(g);
      const big = g.nodes.length > 1500;
      const els = [];
      for (const n of g.nodes) {
        let data;
        if (n.fold) {
          const cnt = n.fold.members.length;
          data = { id: n.id, label: cnt + ' small branch' + (cnt === 1 ? '' : 'es'), color: categoryColor('small'), size: 22, kind: 'fold' };
        } else if (n.id === 'incident') {
          data = { id: n.id, label: 'incident', color: categoryColor('incident'), size: 34, kind: 'root' };
        } else if (n.id.startsWith('fees:')) {
          data = { id: n.id, label: 'fees (' + n.id.slice(5) + ')', color: categoryColor('fee'), size: 18, kind: 'fees' };
        } else {
          const eps = T.endpoints.get(n.id);
          const ep = eps && (eps.find((x) => x.freezable_by) || eps.find((x) => x.label || x.category) || eps[0]);
          const addr = n.id.slice(n.id.indexOf(':') + 1);
          const root = g.roots.includes(n.id);
          const cat = root ? 'incident' : (ep && ep.category) || (ep && ep.stop === 'fee' ? 'fee' : 'unlabeled');
          const lbl = ep && ep.label ? ep.label : '';
          data = {
            id: n.id, label: short(addr, 6, 4) + (lbl && !big ? '\n' + (lbl.length > 34 ? lbl.slice(0, 33) + '…' : lbl) : ''),
            color: categoryColor(cat), size: ep && ep.freezable_by ? 30 : (eps ? 22 : 16), kind: 'address',
            important: eps && eps.some((x) => x.freezable_by) ? 1 : 0, endpoint: eps ? 1 : 0,
          };
        }
        els.push({ group: 'nodes', data, position: pos.get(n.id) || { x: 0, y: 0 }, classes: data.important ? 'poi' : '' });
      }
      const withLabels = g.edges.length <= 1500;
      for (const e of g.edges) {
        const amt = fmtAmount(e.tainted, e.chain, e.asset);
        const label = withLabels ? (e.hops.length > 1 ? e.hops.length + '× ' : '') + compactAmount(e.tainted, e.chain, e.asset) + (e.link ? ' · ' + e.link.replace('_', ' ') : '') : '';
        const ref = T.refs.get(e.chain + '|' + e.asset) || 0n;
        const share = ref > 0n ? Number((e.tainted * 10000n) / ref) / 10000 : 0;
        const w = Math.round((1 + 6 * Math.sqrt(Math.min(1, share))) * 10) / 10;
        els.push({
          group: 'edges',
          data: { id: e.id, source: e.source, target: e.target, label, title: amt, w, time: e.time },
          classes: e.link ? 'link link-' + e.link : (e.fee ? 'fee' : ''),
        });
      }
      return els;
    }
    function compactAmount(raw, chain, asset) {
      const info = assetInfo(chain, asset);
      if (info.decimals === null || info.decimals === undefined) return String(raw) + ' ' + short(asset, 6, 4);
      const s = formatUnits(raw, info.decimals);
      const [i, f = ''] = s.split('.');
      const keep = i.length >= 4 ? 0 : Math.max(2, 6 - i.length);
      const fr = f.slice(0, keep).replace(/0+$/, '');
      return i + (fr ? '.' + fr : '') + ' ' + info.symbol;
    }
    const style = [
      { selector: 'node', style: { 'background-color': 'data(color)', label: 'data(label)', width: 'data(size)', height: 'data(size)', 'font-size': 9, 'text-valign': 'bottom', 'text-halign': 'center', 'text-margin-y': 3, 'text-wrap': 'wrap', 'text-max-width': 160, color: '#26303d', 'min-zoomed-font-size': 7, 'border-width': 1, 'border-color': '#5b6675' } },
      { selector: 'node.poi', style: { 'border-width': 4, 'border-color': '#d4a000' } },
      { selector: 'node[kind = "fold"]', style: { shape: 'round-rectangle', width: 26, height: 16, 'border-style': 'dashed', color: '#5f6b7a' } },
      { selector: 'node[kind = "root"]', style: { shape: 'diamond', color: '#7a0019', 'font-weight': 'bold' } },
      { selector: 'node:selected', style: { 'border-width': 5, 'border-color': '#1f5fbf' } },
      { selector: 'edge', style: { width: 'data(w)', 'line-color': '#8a96a8', 'target-arrow-color': '#8a96a8', 'target-arrow-shape': 'triangle', 'arrow-scale': 0.8, 'curve-style': 'bezier', label: 'data(label)', 'font-size': 7, color: '#4a5563', 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.8, 'text-background-padding': 1, 'min-zoomed-font-size': 7 } },
      { selector: 'edge.fee', style: { 'line-style': 'dotted', 'line-color': '#aab2bd', 'target-arrow-color': '#aab2bd' } },
      { selector: 'edge.link', style: { 'line-style': 'dashed', 'line-color': LINK_COLORS.link, 'target-arrow-color': LINK_COLORS.link } },
      ...Object.entries(LINK_COLORS).map(([k, c]) => ({ selector: 'edge.link-' + k, style: { 'line-color': c, 'target-arrow-color': c, color: c } })),
      { selector: 'edge:loop', style: { 'loop-direction': '-45deg', 'loop-sweep': '-60deg', 'control-point-step-size': 50 } },
      { selector: 'edge:selected', style: { 'line-color': '#1f5fbf', 'target-arrow-color': '#1f5fbf', width: 4 } },
      { selector: '.hidden', style: { display: 'none' } },
    ];
    // Thousands of elements: straight edges without arrows or labels (haystack), the cheapest to draw.
    const bigStyle = [
      { selector: 'edge', style: { 'curve-style': 'haystack', 'haystack-radius': 0, 'target-arrow-shape': 'none', label: '', 'text-background-opacity': 0 } },
      { selector: 'node', style: { label: '', 'border-width': 0 } },
      { selector: 'node.poi, node[kind = "root"], node[kind = "fold"]', style: { label: 'data(label)' } },
      { selector: 'node.poi', style: { 'border-width': 4 } },
    ];
    function rebuild(fit) {
      const tb = performance.now();
      graph = buildGraph(T, opts);
      const tm = performance.now();
      const els = elementsOf(graph);
      const te = performance.now();
      const big = graph.nodes.length > 1000;
      if (!cy) {
        cy = window.cytoscape({
          container: cyDiv, elements: els, style: big ? style.concat(bigStyle) : style, layout: { name: 'preset' },
          minZoom: 0.02, maxZoom: 3, wheelSensitivity: 0.3,
          textureOnViewport: big, hideEdgesOnViewport: big, motionBlur: false, pixelRatio: big ? 1 : 'auto',
        });
        cy.on('tap', 'node', (ev) => showNode(ev.target.id()));
        cy.on('tap', 'edge', (ev) => showEdge(ev.target.id()));
        window.__tracehound = { cy, opts, graph: () => graph, rebuild };
      } else {
        cy.batch(() => { cy.elements().remove(); cy.add(els); });
        anyHidden = false;
      }
      if (!hopsIn.placeholder || hopsIn.placeholder === 'all') hopsIn.placeholder = 'all (' + graph.maxDepth + ')';
      const tc = performance.now();
      applyTime();
      if (fit) cy.fit(undefined, 30);
      window.__timings = { model: tm - tb, elements: te - tm, cytoscape: tc - te, rest: performance.now() - tc };
    }
    let anyHidden = false;
    function applyTime() {
      const frac = Number(timeIn.value) / 1000;
      const tcut = frac >= 1 ? Infinity : T.tmin + Math.floor((T.tmax - T.tmin) * frac);
      timeLabel.textContent = fmtTime(tcut === Infinity ? T.tmax : tcut);
      if (tcut === Infinity && !anyHidden) { // nothing to hide: skip touching every element
        nodeCount.textContent = String(cy.nodes().length);
        edgeCount.textContent = String(cy.edges().length);
        return;
      }
      anyHidden = tcut !== Infinity;
      let shown = 0;
      let shownEdges = 0;
      cy.batch(() => {
        const seen = new Set(graph.roots);
        cy.edges().forEach((ed) => {
          const on = ed.data('time') <= tcut;
          if (on) { seen.add(ed.data('source')); seen.add(ed.data('target')); shownEdges++; }
          ed.toggleClass('hidden', !on);
        });
        cy.nodes().forEach((n) => {
          const on = tcut === Infinity || seen.has(n.id());
          if (on) shown++;
          n.toggleClass('hidden', !on);
        });
      });
      nodeCount.textContent = String(shown);
      edgeCount.textContent = String(shownEdges);
    }
    let timer = null;
    function later(fn) { clearTimeout(timer); timer = setTimeout(fn, 150); }
    hopsIn.addEventListener('input', () => { opts.maxHops = hopsIn.value; later(() => rebuild(false)); });
    assetSel.addEventListener('change', () => { opts.asset = assetSel.value; rebuild(true); });
    minIn.addEventListener('input', () => { opts.minAmount = minIn.value; later(() => rebuild(false)); });
    smallIn.addEventListener('input', () => { opts.small = (Number(smallIn.value) || 0) / 100; later(() => rebuild(false)); });
    feesIn.addEventListener('change', () => { opts.showFees = feesIn.checked; rebuild(false); });
    timeIn.addEventListener('input', () => later(applyTime));

    function expandToggle(id) {
      if (opts.expanded.has(id)) opts.expanded.delete(id); else opts.expanded.add(id);
      rebuild(false);
      const n = cy.getElementById(id);
      if (n && n.length) { n.select(); }
      showNode(id);
    }
    function showEdge(id) {
      const e = graph.edges.find((x) => x.id === id);
      if (!e) return;
      fill(side, 
        h('h2', null, e.hops.length > 1 ? e.hops.length + ' hops (folded)' : 'Hop'),
        h('p', null, 'total tainted ', amountEl(e.tainted, e.chain, e.asset)),
        e.hops.slice(0, 200).map((x) => hopView(x)),
        e.hops.length > 200 ? h('p.muted', null, '… and ' + (e.hops.length - 200) + ' more') : null);
    }
    async function showNode(id) {
      const node = graph.nodes.find((n) => n.id === id);
      if (!node) return;
      if (node.fold) {
        const members = node.fold.members;
        fill(side, 
          h('h2', null, members.length + ' small branches'),
          h('p.muted', null, 'Addresses whose tainted inflow is below ' + (opts.small * 100) + ' % of the largest hop of their asset, folded under ', h('span.mono', null, short(node.fold.parent, 14, 6)), '.'),
          h('button.primary', { type: 'button', id: 'btn-expand', onclick: () => expandToggle(node.fold.parent) }, 'Expand (show them)'),
          h('table', null, h('tbody', null, members.slice(0, 300).map((m) => {
            const [c, ...a] = m.split(':');
            return h('tr', null, h('td', null, link('#/address/' + enc(c) + '/' + enc(a.join(':')), short(a.join(':'), 10, 6), { className: 'mono' })),
              h('td.num', null, ((graph.weight.get(m) || 0) * 100).toFixed(4) + ' %'));
          }))),
          members.length > 300 ? h('p.muted', null, '… and ' + (members.length - 300) + ' more') : null);
        return;
      }
      const colon = id.indexOf(':');
      const chain = id.slice(0, colon);
      const addr = id.slice(colon + 1);
      const eps = T.endpoints.get(id) || [];
      const ins = (graph.inc.get(id) || []);
      const outs = (graph.out.get(id) || []);
      const inflow = new Map();
      for (const e of ins) inflow.set(e.chain + '|' + e.asset, (inflow.get(e.chain + '|' + e.asset) || 0n) + e.tainted);
      const outflow = new Map();
      for (const e of outs) outflow.set(e.chain + '|' + e.asset, (outflow.get(e.chain + '|' + e.asset) || 0n) + e.tainted);
      const flowList = (m) => m.size ? [...m].map(([k, v]) => { const [c, a] = k.split('|'); return h('div', null, amountEl(v, c, a)); }) : h('span.muted', null, 'none');
      const labelsBox = h('div', { id: 'node-labels' }, h('span.muted', null, id === 'incident' || id.startsWith('fees:') ? '' : 'loading labels…'));
      const hasHidden = outs.length + ins.length > 0;
      fill(side, 
        h('h2', null, id === 'incident' ? 'The incident' : (eps[0] && eps[0].label) || 'Address'),
        h('dl.kv', null,
          h('dt', null, 'chain'), h('dd', null, chain === 'incident' ? '—' : chain),
          h('dt', null, 'address'), h('dd.mono', null, id === 'incident' ? 'stolen outputs' : (id.startsWith('fees:') ? 'fees paid' : link('#/address/' + enc(chain) + '/' + enc(addr), addr))),
          h('dt', null, 'hops from incident'), h('dd', null, String(node.depth)),
          h('dt', null, 'tainted in'), h('dd', null, flowList(inflow)),
          h('dt', null, 'tainted out'), h('dd', null, flowList(outflow))),
        h('div.form-row.no-print', null,
          hasHidden ? h('button', { type: 'button', id: 'btn-expand', onclick: () => expandToggle(id) }, opts.expanded.has(id) ? 'Collapse neighbours' : 'Expand neighbours') : null,
          id.includes(':') && !id.startsWith('fees:') ? link('#/screen/' + enc(chain) + '/' + enc(addr), 'screen') : null),
        eps.map((ep) => h('div.card.endpoint', { dataset: { asset: ep.asset } },
          h('h3', null, 'Endpoint: ', amountEl(ep.amount, ep.chain, ep.asset), ' (', String(ep.stop || ''), ')'),
          h('dl.kv', null,
            h('dt', null, 'label'), h('dd', { className: 'ep-label' }, ep.label ? String(ep.label) : h('span.muted', null, 'unlabeled')),
            h('dt', null, 'category'), h('dd', null, ep.category ? String(ep.category) : '—'),
            h('dt', null, 'freezable by'), h('dd', null, ep.freezable_by ? h('strong', null, String(ep.freezable_by)) : '—'),
            h('dt', null, 'entity'), h('dd', null, ep.entity ? renderValue(ep.entity) : '—'),
            h('dt', null, 'patterns'), h('dd', null, (ep.patterns && ep.patterns.length) ? ep.patterns.map((p) => h('span.pill', null, String(p))) : '—'),
            h('dt', null, 'hops'), h('dd', null, String(ep.hops ?? '')),
            h('dt', null, 'inflows'), h('dd', null, String(ep.inflows ?? '')),
            ep.fiat ? [h('dt', null, 'fiat'), h('dd', null, renderValue(ep.fiat))] : null),
          h('h3', null, 'Proof path (' + (ep.path || []).length + ' hops)'),
          h('div.proof-path', null, (ep.path || []).map((hp, i) => hopView(hp, i))))),
        !eps.length && ins.length ? h('div', null, h('h3', null, 'Incoming hops'), ins.slice(0, 50).map((e) => hopView(e))) : null,
        labelsBox);
      if (id !== 'incident' && !id.startsWith('fees:') && live !== 'never') {
        try {
          const a = await api('/api/v1/addresses/' + enc(chain) + '/' + enc(addr) + '?limit=1');
          if (a.account && a.account.balances) for (const b of a.account.balances) learnToken(chain, b.asset, b.symbol, b.decimals);
          fill(labelsBox, h('h3', null, 'Labels'), a.labels && a.labels.length
            ? renderTable(a.labels.map((l) => ({ label: l.label, category: l.category, source: l.source, confidence: l.confidence, entity: l.entity })), { chain })
            : h('span.muted', null, 'no labels'));
        } catch (e) {
          fill(labelsBox, h('span.muted', null, 'labels: ' + e.message));
        }
      }
    }
    rebuild(true);
    const took = performance.now() - t0;
    document.body.dataset.graphMs = String(Math.round(took));
    document.body.dataset.graphReady = '1';
    // Token decimals: ask the API for one holder of each token (intervention point or endpoint), then redraw labels.
    if (live && tokenAssets.length) {
      (async () => {
        let learnt = false;
        for (const [c, a] of tokenAssets) {
          if (tokenMeta.has(c + '|' + a.toLowerCase())) continue;
          const ep = (result.endpoints || []).find((x) => x.chain === c && x.asset === a);
          if (!ep) continue;
          try {
            const r = await api('/api/v1/addresses/' + enc(c) + '/' + enc(ep.address) + '?limit=1');
            for (const b of (r.account && r.account.balances) || []) learnToken(c, b.asset, b.symbol, b.decimals);
            learnt = true;
          } catch (_) { /* decimals stay unknown: base units are shown */ }
        }
        if (learnt && document.contains(summary)) {
          fill(summary, renderSummary(result, T));
          for (const o of assetSel.options) { if (o.value) { const [c, a] = o.value.split('|'); o.textContent = assetName(c, a) + ' on ' + c; } }
          rebuild(false);
        }
      })();
    }
    currentCleanup = () => { clearTimeout(timer); if (cy) cy.destroy(); delete window.__tracehound; delete document.body.dataset.graphReady; };
  }

  function renderSummary(result, T) {
    const s = result.summary || {};
    const FIG = [
      ['stolen', 'stolen'], ['intervention', 'at points of intervention'], ['still_moving', 'still moving / held'],
      ['dark', 'dark'], ['dust', 'dust'], ['fees', 'fees'], ['unresolved', 'unresolved'],
      ['linked_in', 'arrived through links'], ['linked_out', 'left through links'],
    ];
    const cards = (s.assets || []).map((a) => h('div.card.asset-summary', { dataset: { chain: a.chain, asset: a.asset } },
      h('h3', null, assetName(a.chain, a.asset), ' on ', a.chain, a.asset !== 'native' ? h('span.muted.mono', null, ' ' + a.asset) : null),
      h('table.figures', null, h('tbody', null, FIG.filter(([k]) => a[k] !== undefined).map(([k, label]) =>
        h('tr', { dataset: { key: k } }, h('td', null, label), amountEl(a[k], a.chain, a.asset, 'td'))))),
      (a.intervention_points && a.intervention_points.length) ? [
        h('h3', null, 'Points of intervention (ranked)'),
        h('table.ipoints', null,
          h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'address'), h('th', null, 'label'), h('th', null, 'freezable by'), h('th.num', null, 'amount'))),
          h('tbody', null, a.intervention_points.map((p, i) => h('tr', { dataset: { address: p.address } },
            h('td', null, String(i + 1)),
            h('td', null, link('#/address/' + enc(a.chain) + '/' + enc(p.address), short(p.address, 10, 6), { className: 'mono', title: p.address })),
            h('td', null, p.label ? String(p.label) : h('span.muted', null, 'unlabeled')),
            h('td', null, String(p.freezable_by || '—')),
            amountEl(p.amount, a.chain, a.asset, 'td'))))),
      ] : null,
      (a.by_freezer && a.by_freezer.length) ? [
        h('h3', null, 'By who can freeze'),
        h('table.freezers', null, h('tbody', null, a.by_freezer.map((f) => h('tr', null, h('td', null, String(f.freezable_by)), amountEl(f.amount, a.chain, a.asset, 'td'))))),
      ] : null));
    const links = (s.links || []);
    return h('div', null,
      h('div.summary-grid', null, cards.length ? cards : h('p.muted', null, 'no summary in this result')),
      links.length ? h('div.card', null, h('h3', null, 'Links crossed'),
        h('table.links', null,
          h('thead', null, h('tr', null, ['kind', 'service', 'in', 'out', 'count', 'min confidence', 'first txs'].map((k) => h('th', null, k)))),
          h('tbody', null, links.map((l) => h('tr', null,
            h('td', null, String(l.kind)), h('td', null, String(l.service || '')),
            h('td', null, amountEl(l.taint_in, l.chain_in, l.asset_in), h('div.muted', null, l.chain_in)),
            h('td', null, amountEl(l.taint_out, l.chain_out, l.asset_out), h('div.muted', null, l.chain_out)),
            h('td', null, String(l.count ?? '')), h('td', null, String(l.min_confidence ?? '')),
            h('td', null, l.first_tx_in ? link('#/tx/' + enc(l.first_tx_in), short(l.first_tx_in, 8, 4), { className: 'mono' }) : '', ' → ',
              l.first_tx_out ? link('#/tx/' + enc(l.first_tx_out), short(l.first_tx_out, 8, 4), { className: 'mono' }) : '')))))) : null);
  }

  // ---------------------------------------------------------------- address page

  async function viewAddress(chain, address, query) {
    const limit = Math.max(1, Math.min(1000, Number(query.get('limit')) || 50));
    const offset = Math.max(0, Number(query.get('offset')) || 0);
    setView('Address', h('h1', null, 'Address'), h('div.loading', null, 'Loading…'));
    let a;
    try {
      a = await api('/api/v1/addresses/' + enc(chain) + '/' + enc(address) + '?offset=' + offset + '&limit=' + limit);
    } catch (e) {
      return setView('Address', h('h1', null, 'Address ', h('span.mono', null, address)), errorBox(e));
    }
    if (a.account && a.account.balances) for (const b of a.account.balances) learnToken(chain, b.asset, b.symbol, b.decimals);
    const page = (o) => '#/address/' + enc(chain) + '/' + enc(address) + '?offset=' + o + '&limit=' + limit;
    const rows = (a.txs || []).length + (a.transfers || []).length;
    const pager = h('div.pager.no-print', null,
      offset > 0 ? link(page(Math.max(0, offset - limit)), '← newer / previous') : h('span.muted', null, '← previous'),
      h('span', null, 'rows ' + (offset + 1) + '–' + (offset + rows)),
      ((a.txs || []).length >= limit || (a.transfers || []).length >= limit) ? link(page(offset + limit), 'next →', { id: 'next-page' }) : h('span.muted', null, 'next →'));
    setView('Address ' + address,
      h('h1', null, 'Address ', h('span.mono#address-id', null, address)),
      h('p.muted', null, chain, ' · ', link('#/screen/' + enc(chain) + '/' + enc(address), 'screen this address')),
      h('div.card', null, h('h2', null, 'Labels'),
        (a.labels && a.labels.length) ? renderTable(a.labels.map((l) => ({ label: l.label, category: l.category, source: l.source, confidence: l.confidence, reference: l.reference, entity: l.entity })), { chain }) : h('span.muted', null, 'no labels')),
      a.utxo ? h('div.card', null, h('h2', null, 'Balance'), h('dl.kv', null,
        ['balance', 'received', 'sent'].flatMap((k) => [h('dt', null, k), h('dd', null, amountEl(a.utxo[k], chain, 'native'))]),
        h('dt', null, 'txs'), h('dd', null, String(a.utxo.tx_count ?? '')))) : null,
      a.account ? h('div.card', null, h('h2', null, 'Balances'),
        renderTable((a.account.balances || []).map((b) => ({ asset: b.asset === 'native' ? 'native' : b.asset, symbol: b.symbol, balance: h('span', null, amountEl(b.balance, chain, b.asset)), received: h('span', null, amountEl(b.received, chain, b.asset)), sent: h('span', null, amountEl(b.sent, chain, b.asset)), transfers: b.transfers })), { chain })) : null,
      !a.utxo && !a.account ? h('div.notice', null, 'This address has no history in the store.') : null,
      a.entity != null ? entityCard(chain, address) : null,
      pager,
      (a.txs && a.txs.length) ? h('div.card', null, h('h2', null, 'Transactions'),
        renderTable(a.txs.map((t) => ({ height: t.height, time: t.time, txid: t.txid, received: t.received, sent: t.sent })), { chain })) : null,
      (a.transfers && a.transfers.length) ? h('div.card', null, h('h2', null, 'Transfers'),
        renderTable(a.transfers.map((t) => ({ height: t.height, time: t.time, txid: t.txid, kind: t.kind, asset: t.asset === 'native' ? 'native' : assetName(chain, t.asset), from: t.from, to: t.to, received: h('span', null, amountEl(t.received, chain, t.asset)), sent: h('span', null, amountEl(t.sent, chain, t.asset)), source: t.source })), { chain })) : null);
  }

  // The address's entity (`tracehound cluster`): size, members with labels, and the evidence
  // path that joined this address to it; filled in when the API answers.
  function entityCard(chain, address) {
    const card = h('div.card#entity', null, h('h2', null, 'Entity'), h('div.loading', null, 'Loading…'));
    api('/api/v1/entities/' + enc(chain) + '/' + enc(address) + '?limit=20').then((e) => {
      fill(card,
        h('h2', null, 'Entity ' + e.entity),
        h('p', null, String(e.size) + ' address' + (e.size === 1 ? '' : 'es') + ' · named by ', link('#/address/' + enc(chain) + '/' + enc(e.entity_address), short(e.entity_address, 10, 6), { className: 'mono', title: e.entity_address })),
        (e.labels && e.labels.length) ? renderTable(e.labels, { chain }) : h('p.muted', null, 'no member is labeled'),
        (e.evidence && e.evidence.length) ? h('div', null, h('h3', null, 'Evidence joining this address'), renderTable(e.evidence, { chain })) : null,
        (e.members && e.members.length) ? h('details', null, h('summary', null, 'members shown: ' + e.members.length), renderTable(e.members, { chain })) : null);
    }).catch((err) => fill(card, h("h2", null, "Entity"), errorBox(err)));
    return card;
  }

  // ---------------------------------------------------------------- tx page

  async function viewTx(txid, query) {
    setView('Tx', h('h1', null, 'Transaction'), h('div.loading', null, 'Loading…'));
    let t;
    try {
      t = await api('/api/v1/txs/' + enc(txid) + (query.get('chain') ? '?chain=' + enc(query.get('chain')) : ''));
    } catch (e) {
      return setView('Tx', h('h1', null, 'Transaction ', h('span.mono', null, txid)), errorBox(e));
    }
    const parts = [];
    for (const u of t.utxo || []) {
      const c = u.chain;
      parts.push(h('div.card.tx-utxo', null,
        h('h2', null, c, ' tx'),
        h('dl.kv', null,
          h('dt', null, 'txid'), h('dd.mono', null, u.txid),
          h('dt', null, 'block'), h('dd', null, String(u.height), ' · ', fmtTime(u.time)),
          h('dt', null, 'in / out'), h('dd', null, amountEl(u.input_value, c, 'native'), ' → ', amountEl(u.output_value, c, 'native')),
          h('dt', null, 'fee'), h('dd', null, amountEl(u.fee, c, 'native')),
          h('dt', null, 'size'), h('dd', null, String(u.size ?? ''), ' bytes, ', String(u.vsize ?? ''), ' vbytes', u.coinbase ? ' · coinbase' : '')),
        h('h3', null, 'Inputs'),
        renderTable((u.inputs || []).map((i) => ({ prev_txid: i.prev_txid, vout: i.prev_vout, address: i.address, value: i.value })), { chain: c }),
        h('h3', null, 'Outputs'),
        renderTable((u.outputs || []).map((o) => ({ vout: o.vout, address: o.address, kind: o.kind, value: o.value, spent_by: o.spent_by ? h('span', null, link('#/tx/' + enc(o.spent_by[0]), short(o.spent_by[0], 10, 6), { className: 'mono' }), ':' + o.spent_by[1]) : 'unspent', data: o.data })), { chain: c })));
    }
    for (const x of t.account || []) {
      const c = x.chain;
      parts.push(h('div.card.tx-account', null,
        h('h2', null, c, ' tx'),
        h('dl.kv', null,
          h('dt', null, 'hash'), h('dd.mono', null, x.hash),
          h('dt', null, 'block'), h('dd', null, String(x.height), ' · ', fmtTime(x.time)),
          h('dt', null, 'from'), h('dd', null, cellFor(x, 'from', { chain: c })),
          h('dt', null, 'to'), h('dd', null, x.to ? cellFor(x, 'to', { chain: c }) : (x.created ? 'creates ' + x.created : '—')),
          h('dt', null, 'value'), h('dd', null, amountEl(x.value, c, 'native')),
          h('dt', null, 'status'), h('dd', null, x.success ? 'success' : 'failed'),
          h('dt', null, 'gas'), h('dd', null, String(x.gas_used ?? ''), ' at ', String(x.gas_price ?? ''), ' wei')),
        h('h3', null, 'Transfers'),
        renderTable((x.transfers || []).map((tr) => ({ kind: tr.kind, asset: tr.asset === 'native' ? 'native' : assetName(c, tr.asset), from: tr.from, to: tr.to, amount: h('span', null, amountEl(tr.amount, c, tr.asset)), source: tr.source })), { chain: c })));
    }
    setView('Tx ' + txid, h('h1', null, 'Transaction ', h('span.mono#tx-id', null, txid)),
      parts.length ? parts : h('div.notice', null, 'No transaction with this id in the store.'));
  }

  // ---------------------------------------------------------------- screening

  async function viewScreen(chain, address) {
    const list = await chains();
    const sel = h('select', { id: 'screen-chain', 'aria-label': 'chain' }, list.map((c) => h('option', { value: c }, c)));
    if (chain) {
      if (!list.includes(chain)) sel.appendChild(h('option', { value: chain }, chain));
      sel.value = chain;
    }
    const input = h('input', { type: 'text', id: 'screen-address', placeholder: 'address', value: address || '', 'aria-label': 'address' });
    const out = h('div#screen-result');
    const form = h('form.card', {
      onsubmit: (ev) => {
        ev.preventDefault();
        const target = '#/screen/' + enc(sel.value) + '/' + enc(input.value.trim());
        if (location.hash === target) route(); else location.hash = target;
      },
    }, h('div.form-row', null, sel, input, h('button.primary', { type: 'submit', id: 'screen-go' }, 'Screen')));
    setView('Screen', h('h1', null, 'Screen an address'),
      h('p.muted', null, 'Exposure to stolen (saved incidents), sanctioned and mixer funds, in and out, with a risk level and its reasons.'),
      form, out);
    if (!chain || !address) return;
    fill(out, h('div.loading', null, 'Screening…'));
    try {
      const r = await api('/api/v1/screen/' + enc(chain) + '/' + enc(address));
      const reasons = r.reasons || [];
      const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !['chain', 'address', 'level', 'reasons'].includes(k)));
      fill(out, h('div.card', null,
        h('h2', null, 'Risk level ', h('span', { className: 'pill level-' + String(r.level || 'none').toLowerCase(), id: 'screen-level' }, String(r.level ?? 'none'))),
        h('p.mono', null, link('#/address/' + enc(chain) + '/' + enc(address), address), h('span.muted', null, ' on ' + chain)),
        h('h3', null, 'Reasons'),
        reasons.length ? h('ul#screen-reasons', null, reasons.map((x) => h('li', null,
          h('span', { className: 'pill level-' + String(x.level || '').toLowerCase() }, String(x.level || '')), ' ', String(x.text || ''),
          x.exposure ? h('div.muted', null, x.exposure.origin + ' · ' + x.exposure.direction + ' · ' + (x.exposure.source || '') + ' · ',
            amountEl(x.exposure.amount, x.exposure.chain || chain, x.exposure.asset || 'native'),
            x.exposure.share_bps !== undefined ? ' · ' + (Number(x.exposure.share_bps) / 100).toFixed(2) + ' %' : '',
            x.exposure.hops !== undefined ? ' · ' + x.exposure.hops + ' hop(s)' : '') : null,
          x.exposure && x.exposure.path && x.exposure.path.length ? h('details', null, h('summary', null, 'path (' + x.exposure.path.length + ' hops)'),
            renderTable(x.exposure.path, { chain: x.exposure.chain || chain })) : null))) : h('p.muted', null, 'no reasons: nothing found'),
        Object.keys(rest).length ? [h('h3', null, 'Details'), renderKv(rest, { chain })] : null));
    } catch (e) {
      if (/exposure index/i.test(e.message)) {
        fill(out, h('div.notice#screen-noindex', null, h('strong', null, 'No exposure index yet. '),
          'Screening reads an index built from the saved incidents and labels: run ', h('code', null, 'tracehound screen index'),
          ' on the server\'s data dir, then try again. (', e.message, ')'));
      } else fill(out, errorBox(e));
    }
  }

  // ---------------------------------------------------------------- alerts

  const ALERT_KINDS = ['taint_moved', 'reached_service', 'exposure', 'sanctioned', 'pattern', 'retraction', 'final'];
  const ALERTS_STEP = 500; // rows drawn at a time ("show more" adds as many again)
  const ALERTS_PAGES = 200; // pages of the API read at most on opening (200 × 1000 alerts)
  const WATCH_EVERY_MS = 5000; // the watching panel's refresh

  /**
   * The alerts page's model, without the DOM: rows ({seq, alert, deliveries}) in any order,
   * duplicates allowed → { list: newest first (by seq), retractedBy: Map(alert id → the row of
   * the retraction that withdraws it), finalisedBy: Map(alert id → the row of the final that
   * marks it final) }. Exposed on window.tracehoundUI for tests.
   */
  function alertsModel(rows) {
    const bySeq = new Map();
    for (const r of rows) if (r && r.alert && Number.isFinite(Number(r.seq))) bySeq.set(Number(r.seq), r);
    const list = [...bySeq.values()].sort((a, b) => Number(b.seq) - Number(a.seq));
    const retractedBy = new Map();
    const finalisedBy = new Map();
    for (let i = list.length - 1; i >= 0; i--) { // the first retraction (final) of an alert names it
      const a = list[i].alert;
      if (a.kind === 'retraction' && a.retracts && !retractedBy.has(a.retracts)) retractedBy.set(a.retracts, list[i]);
      if (a.kind === 'final' && a.finalises && !finalisedBy.has(a.finalises)) finalisedBy.set(a.finalises, list[i]);
    }
    return { list, retractedBy, finalisedBy };
  }
  /** Deliveries → "2 delivered, 1 dead" (states in this order: delivered, pending, dead, others). */
  function deliverySummary(deliveries) {
    const counts = new Map();
    for (const d of deliveries || []) counts.set(String(d.state), (counts.get(String(d.state)) || 0) + 1);
    const order = ['delivered', 'pending', 'dead', ...[...counts.keys()].filter((k) => !['delivered', 'pending', 'dead'].includes(k)).sort()];
    return order.filter((k) => counts.get(k)).map((k) => counts.get(k) + ' ' + k).join(', ');
  }
  /** Whether a row passes the page's filters: kind ('' any), incident ('' any, NO_INCIDENT none). */
  const NO_INCIDENT = '\u0000none';
  function alertMatches(r, f) {
    const a = r.alert;
    if (f.kind && a.kind !== f.kind) return false;
    if (f.incident === NO_INCIDENT ? !!a.incident : (f.incident && a.incident !== f.incident)) return false;
    return true;
  }
  function kindClass(kind) { return ALERT_KINDS.includes(kind) ? 'kind-' + kind : 'kind-other'; }
  function kindBadge(kind) { return h('span', { className: 'pill kind ' + kindClass(kind), title: String(kind) }, String(kind || '?').replace(/_/g, ' ')); }
  function ago(unixSeconds) {
    const s = Math.max(0, Math.round(Date.now() / 1000 - Number(unixSeconds)));
    if (!Number.isFinite(s)) return '';
    if (s < 90) return s + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  }
  function jsonText(v) { return JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() : x), 2); }

  /** The expanded view of an alert: its evidence (proof path, pattern, hop…), block and deliveries. */
  function alertDetail(r, model) {
    const a = r.alert;
    const ev = a.evidence && typeof a.evidence === 'object' ? a.evidence : {};
    const chain = a.chain;
    const addrLink = (x) => link('#/address/' + enc(chain) + '/' + enc(x), x, { className: 'mono' });
    const txLink = (x) => link('#/tx/' + enc(x) + '?chain=' + enc(chain), x, { className: 'mono tx-link', dataset: { tx: x } });
    let body = null;
    if (a.kind === 'reached_service') {
      const path = Array.isArray(ev.path) ? ev.path : [];
      body = [
        h('dl.kv', null,
          h('dt', null, 'service'), h('dd', null, ev.label ? String(ev.label) : h('span.muted', null, 'unlabeled')),
          h('dt', null, 'category'), h('dd', null, ev.category ? String(ev.category) : '—'),
          h('dt', null, 'freezable by'), h('dd', null, ev.freezable_by ? h('strong', null, String(ev.freezable_by)) : '—'),
          h('dt', null, 'hops'), h('dd', null, String(ev.hops ?? path.length))),
        h('h3', null, 'Proof path (' + path.length + ' hop' + (path.length === 1 ? '' : 's') + ')'),
        h('div.proof-path', null, path.map((hp, i) => hopView(hp, i))),
      ];
    } else if (a.kind === 'taint_moved') {
      body = ev.hop ? [h('h3', null, 'Hop'), h('div.proof-path', null, hopView(ev.hop))] : null;
    } else if (a.kind === 'pattern') {
      const txs = Array.isArray(ev.txs) ? ev.txs : [];
      const addrs = Array.isArray(ev.addresses) ? ev.addresses : [];
      body = [
        h('dl.kv', null,
          h('dt', null, 'pattern'), h('dd', null, String(ev.pattern ?? a.rule ?? '')),
          h('dt', null, 'score'), h('dd', null, String(ev.score ?? '')),
          h('dt', null, 'explanation'), h('dd.pattern-explanation', null, String(ev.explanation ?? ''))),
        h('div.alert-lists', null,
          h('div', null, h('h3', null, 'Transactions (' + txs.length + ')'), h('ol.pattern-txs', null, txs.slice(0, 300).map((t) => h('li', null, txLink(String(t))))),
            txs.length > 300 ? h('p.muted', null, '… and ' + (txs.length - 300) + ' more') : null),
          h('div', null, h('h3', null, 'Addresses (' + addrs.length + ')'), h('ol.pattern-addresses', null, addrs.slice(0, 300).map((x) => h('li', null, addrLink(String(x))))),
            addrs.length > 300 ? h('p.muted', null, '… and ' + (addrs.length - 300) + ' more') : null)),
      ];
    } else if (a.kind === 'retraction') {
      const of = model.list.find((x) => x.alert.id === a.retracts);
      body = h('dl.kv', null,
        h('dt', null, 'reason'), h('dd', null, String(ev.reason ?? '')),
        h('dt', null, 'withdraws'), h('dd', null, of ? '#' + of.seq + ' ' : '', kindBadge(ev.retracted_kind || (of && of.alert.kind)), ' ', String(ev.retracted_summary ?? (of ? of.alert.summary : ''))),
        h('dt', null, 'its id'), h('dd.mono', null, String(a.retracts ?? '')));
    } else if (a.kind === 'final') {
      const of = model.list.find((x) => x.alert.id === a.finalises);
      body = h('dl.kv', null,
        h('dt', null, 'confirmations'), h('dd', null, String(ev.confirmations ?? ''), ' (needed ' + String(a.confirmations_needed ?? '') + ')'),
        h('dt', null, 'makes final'), h('dd', null, of ? '#' + of.seq + ' ' : '', kindBadge(ev.final_kind || (of && of.alert.kind)), ' ', String(ev.final_summary ?? (of ? of.alert.summary : ''))),
        h('dt', null, 'its id'), h('dd.mono', null, String(a.finalises ?? '')));
    } else if (Object.keys(ev).length) {
      body = renderKv(ev, { chain });
    }
    const retraction = model.retractedBy.get(a.id);
    const finality = model.finalisedBy.get(a.id);
    const deliveries = r.deliveries || [];
    return h('div.alert-detail-body', null,
      retraction ? h('div.notice.retracted-note', null, h('strong', null, 'Retracted'), ' by #' + retraction.seq + ': ', String((retraction.alert.evidence && retraction.alert.evidence.reason) || retraction.alert.summary || '')) : null,
      finality && !retraction ? h('div.notice.final-note', null, h('strong', null, 'Final'), ' by #' + finality.seq + ': its block reached ' + String((finality.alert.evidence && finality.alert.evidence.confirmations) ?? a.confirmations_needed) + ' confirmations') : null,
      h('p.alert-summary-full', null, String(a.summary || '')),
      body,
      h('h3', null, 'Alert'),
      h('dl.kv', null,
        h('dt', null, 'id'), h('dd.mono', null, String(a.id)),
        h('dt', null, 'block'), h('dd', null, chain + ' ' + a.height + ' ', h('span.mono.muted', null, String(a.block_hash || ''))),
        a.tx ? [h('dt', null, 'tx'), h('dd', null, txLink(a.tx))] : null,
        a.address ? [h('dt', null, 'address'), h('dd', null, /^[A-Za-z0-9]+$/.test(a.address) ? addrLink(a.address) : h('span.mono', null, a.address))] : null,
        a.amount != null ? [h('dt', null, 'amount'), h('dd', null, amountEl(a.amount, chain, a.asset || 'native'), a.asset && a.asset !== 'native' ? h('span.muted.mono', null, ' ' + a.asset) : null)] : null,
        a.rule ? [h('dt', null, 'rule'), h('dd', null, String(a.rule))] : null,
        h('dt', null, 'raised'), h('dd', null, fmtTime(a.raised_at)),
        h('dt', null, 'confirmations needed'), h('dd', null, String(a.confirmations_needed ?? ''))),
      h('h3', null, 'Deliveries'),
      deliveries.length ? renderTable(deliveries.map((d) => ({
        subscription: d.subscription, state: d.state, attempts: d.attempts, last_status: d.last_status, last_error: d.last_error,
        next_attempt: d.next_attempt_ms ? fmtTime(Number(d.next_attempt_ms) / 1000) : null,
        delivered: d.delivered_at_ms ? fmtTime(Number(d.delivered_at_ms) / 1000) : null,
      })), null) : h('p.muted', null, 'No webhook subscription received it.'),
      h('details.raw', null, h('summary', null, 'evidence as JSON'), h('pre.mono', null, jsonText(a.evidence))));
  }

  /** The watching panel: the chains this server follows live (GET /api/v1/status). */
  function renderWatching(status) {
    const w = (status && status.watching) || [];
    if (!w.length) {
      return h('p.muted#watching-none', null, 'This server follows no chain live, so no new alerts will arrive here. Start it with ',
        h('code', null, 'tracehound serve --watch FILE'), ' (FILE: the watch config, as for ', h('code', null, 'tracehound watch --config FILE'), ').');
    }
    return h('table#watching-table', null,
      h('thead', null, h('tr', null, ['chain', 'node', 'tip', 'last cycle', 'blocks', 'unwound', 'alerts', 'retracted'].map((k) => h('th', null, k)))),
      h('tbody', null, w.map((c) => h('tr', { dataset: { chain: c.chain } },
        h('td', null, String(c.chain)),
        h('td', null, h('span', { className: 'pill ' + (c.node_reachable ? 'level-low' : 'level-high') }, c.node_reachable ? 'reachable' : 'unreachable'), ' ', h('span.mono.muted', null, String(c.node || '')),
          c.heads_subscribed == null ? null : h('span.muted.heads', { title: 'new blocks wake the watch at once (an EVM node\'s websocket newHeads, a Core node\'s ZMQ hashblock); it polls as well' }, c.heads_subscribed ? ' · woken by new blocks' : ' · polling (wake-up feed down)'),
          c.error ? h('div.error-text', null, String(c.error)) : null),
        h('td', null, c.tip == null ? '—' : String(c.tip)),
        h('td', null, c.last_cycle_at ? ago(c.last_cycle_at) : 'none yet', c.last_cycle_ms != null ? h('span.muted', null, ' (' + c.last_cycle_ms + ' ms, ' + (c.cycles ?? 0) + ' cycles)') : null),
        h('td', null, String(c.blocks ?? 0)),
        h('td', null, String(c.unwound ?? 0)),
        h('td', null, String(c.alerts ?? 0)),
        h('td', null, String(c.retracted ?? 0))))));
  }

  async function viewAlerts(query) {
    query = query || new URLSearchParams();
    let closed = false;
    let es = null;
    let retryTimer = null;
    let retryMs = 1000;
    let watchTimer = null;
    let flushTimer = null;
    let deliveryTimer = null;
    let rows = []; // every alert read, as {seq, alert, deliveries}
    let model = alertsModel([]);
    let lastSeq = 0;
    let shownLimit = ALERTS_STEP;
    const expanded = new Set(); // seqs
    const fresh = new Map(); // seq → until (ms): highlighted as new
    const filters = { kind: query.get('kind') || '', incident: query.get('incident') || '' };

    const liveEl = h('span#alerts-live', { className: 'live', dataset: { state: 'connecting' } }, 'connecting…');
    const watchBox = h('div#watching-body', null, h('div.loading', null, 'Loading…'));
    const kindSel = h('select#alerts-kind', { 'aria-label': 'kind' });
    const incSel = h('select#alerts-incident', { 'aria-label': 'incident' });
    const countEl = h('span#alerts-count.count');
    const tbody = h('tbody');
    const table = h('table#alerts-table', null,
      h('thead', null, h('tr', null, ['#', 'raised', 'kind', 'chain', 'height', 'incident', 'summary', 'amount', 'tx', 'address', 'deliveries'].map((k) => h('th', { className: k === 'amount' ? 'num' : '' }, k)))),
      tbody);
    const more = h('button#alerts-more', { type: 'button', hidden: true, onclick: () => { shownLimit += ALERTS_STEP; renderRows(); } }, 'Show more');
    const emptyBox = h('div');
    const body = h('div#alerts-body', null, h('div.loading', null, 'Loading alerts…'));
    setView('Alerts',
      h('div.title-row', null, h('h1', null, 'Alerts'), liveEl),
      h('div.card#watching', null, h('h2', null, 'Watching'), watchBox),
      body);
    currentCleanup = () => {
      closed = true;
      if (es) { es.close(); es = null; }
      clearTimeout(retryTimer); clearInterval(watchTimer); clearTimeout(flushTimer); clearTimeout(deliveryTimer);
      delete document.body.dataset.alertsReady;
    };
    function setLive(state, text) {
      liveEl.dataset.state = state;
      liveEl.textContent = text;
    }

    // Watching panel, refreshed while the page is open.
    async function refreshWatching() {
      try {
        const s = await api('/api/v1/status');
        if (!closed) fill(watchBox, renderWatching(s));
        return s;
      } catch (e) {
        if (!closed) fill(watchBox, h('p.muted', null, 'status: ' + e.message));
        return null;
      }
    }
    const status = await refreshWatching();
    if (closed) return;
    watchTimer = setInterval(refreshWatching, WATCH_EVERY_MS);
    if (status && status.alerts === false) return notServed();

    // Every alert, oldest first, a page at a time.
    let limit = 1000;
    try {
      for (let page = 0; page < ALERTS_PAGES; page++) {
        let r;
        try {
          r = await api('/api/v1/alerts?after=' + lastSeq + '&limit=' + limit);
        } catch (e) {
          if (e instanceof ApiError && e.field === 'limit' && limit > 100) { limit = 100; page--; continue; }
          throw e;
        }
        if (closed) return;
        const got = Array.isArray(r) ? r : [];
        rows = rows.concat(got);
        for (const x of got) lastSeq = Math.max(lastSeq, Number(x.seq));
        if (got.length) fill(body, h('div.loading', null, 'Loading alerts… ' + rows.length));
        if (got.length < limit) break;
      }
    } catch (e) {
      if (closed) return;
      if (e instanceof ApiError && e.status === 503) return notServed(e.message);
      fill(body, errorBox(e));
      setLive('off', 'not live');
      return;
    }
    model = alertsModel(rows);
    fill(body,
      h('div.toolbar.alerts-toolbar', null, h('label', null, 'kind ', kindSel), h('label', null, 'incident ', incSel), countEl),
      emptyBox, h('div#alerts-scroll', null, table), h('div.pager', null, more));
    kindSel.addEventListener('change', () => { filters.kind = kindSel.value; filterChanged(); });
    incSel.addEventListener('change', () => { filters.incident = incSel.value; filterChanged(); });
    tbody.addEventListener('click', (ev) => {
      if (ev.target.closest('a, button, summary, input, select, .alert-detail')) return;
      const tr = ev.target.closest('tr.alert-row');
      if (tr) toggle(tr);
    });
    tbody.addEventListener('keydown', (ev) => {
      const tr = ev.target.closest && ev.target.closest('tr.alert-row');
      if (tr && ev.target === tr && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); toggle(tr); }
    });
    fillSelects();
    renderRows();
    document.body.dataset.alertsReady = '1';
    learnTokens();
    connect();

    function notServed(why) {
      setLive('off', 'not live');
      fill(body, h('div.notice#alerts-off', null, h('strong', null, 'Alerts are not served by this server. '),
        'Its data dir\'s alert outbox is held by a separate ', h('code', null, 'tracehound watch'), ' process: read them there with ',
        h('code', null, 'tracehound alerts list'), ', or run the watch inside the server with ', h('code', null, 'tracehound serve --watch FILE'), '.',
        why ? h('div.muted', null, String(why)) : null));
      document.body.dataset.alertsReady = '1';
    }
    function filterChanged() {
      shownLimit = ALERTS_STEP;
      const q = new URLSearchParams();
      if (filters.kind) q.set('kind', filters.kind);
      if (filters.incident) q.set('incident', filters.incident);
      const qs = q.toString();
      history.replaceState(null, '', '#/alerts' + (qs ? '?' + qs : ''));
      renderRows();
    }
    function fillSelects() {
      const kinds = new Map();
      const incs = new Map();
      for (const r of model.list) {
        kinds.set(r.alert.kind, (kinds.get(r.alert.kind) || 0) + 1);
        const k = r.alert.incident ? String(r.alert.incident) : NO_INCIDENT;
        incs.set(k, (incs.get(k) || 0) + 1);
      }
      const kindList = ALERT_KINDS.concat([...kinds.keys()].filter((k) => !ALERT_KINDS.includes(k)).sort());
      if (filters.kind && !kindList.includes(filters.kind)) kindList.push(filters.kind);
      fill(kindSel, h('option', { value: '' }, 'all (' + model.list.length + ')'),
        kindList.map((k) => h('option', { value: k }, k.replace(/_/g, ' ') + ' (' + (kinds.get(k) || 0) + ')')));
      kindSel.value = filters.kind;
      const incList = [...incs.keys()].filter((k) => k !== NO_INCIDENT).sort();
      if (filters.incident && filters.incident !== NO_INCIDENT && !incList.includes(filters.incident)) incList.push(filters.incident);
      fill(incSel, h('option', { value: '' }, 'all'),
        incList.map((k) => h('option', { value: k }, k + ' (' + (incs.get(k) || 0) + ')')),
        incs.has(NO_INCIDENT) || filters.incident === NO_INCIDENT ? h('option', { value: NO_INCIDENT }, 'no incident (' + (incs.get(NO_INCIDENT) || 0) + ')') : null);
      incSel.value = filters.incident;
    }
    function rowFor(r) {
      const a = r.alert;
      const chain = String(a.chain || '');
      const retracted = model.retractedBy.get(a.id);
      const final = model.finalisedBy.get(a.id);
      const seq = String(r.seq);
      const isFresh = (fresh.get(Number(r.seq)) || 0) > Date.now();
      return h('tr', {
        className: 'alert-row' + (retracted ? ' retracted' : '') + (isFresh ? ' fresh' : '') + (expanded.has(Number(r.seq)) ? ' open' : ''),
        dataset: { seq, kind: String(a.kind), id: String(a.id) }, tabindex: '0', 'aria-expanded': expanded.has(Number(r.seq)) ? 'true' : 'false',
        title: 'click for the evidence',
      },
      h('td.seq', null, seq),
      h('td.nowrap', { title: fmtTime(a.raised_at) }, fmtTime(a.raised_at).slice(5, 16)),
      h('td.kind-cell', null, kindBadge(a.kind), retracted ? h('span.pill.retracted-badge', { title: 'withdrawn by #' + retracted.seq }, 'retracted')
        : final ? h('span.pill.final-badge', { title: 'final by #' + final.seq }, 'final') : null),
      h('td', null, chain),
      h('td', null, String(a.height ?? '')),
      h('td.incident', { title: a.incident ? String(a.incident) : null }, a.incident ? link('#/incident/' + enc(a.incident), String(a.incident)) : h('span.muted', null, '—')),
      h('td.summary', { title: String(a.summary || '') }, h('div.clamp', null, String(a.summary || ''))),
      h('td.num', null, a.amount != null ? amountEl(a.amount, chain, a.asset || 'native') : h('span.muted', null, '—')),
      h('td', null, a.tx ? link('#/tx/' + enc(a.tx) + '?chain=' + enc(chain), short(a.tx, 8, 6), { className: 'mono', title: a.tx }) : h('span.muted', null, '—')),
      h('td', null, !a.address ? h('span.muted', null, '—') : /^[A-Za-z0-9]+$/.test(a.address) ? link('#/address/' + enc(chain) + '/' + enc(a.address), short(a.address, 8, 6), { className: 'mono', title: a.address }) : h('span.mono', { title: a.address }, short(a.address, 8, 6))),
      deliveryCell(r));
    }
    function deliveryCell(r) {
      const d = r.deliveries || [];
      const text = deliverySummary(d);
      const dead = d.filter((x) => x.state === 'dead' && x.last_error).map((x) => x.subscription + ': ' + x.last_error);
      return h('td.deliveries', { className: 'deliveries' + (d.some((x) => x.state === 'dead') ? ' has-dead' : ''), title: dead.join('\n') || null }, text || h('span.muted', null, '—'));
    }
    function detailRow(r) {
      return h('tr.alert-detail', { dataset: { seq: String(r.seq) } }, h('td', { colSpan: 11 }, alertDetail(r, model)));
    }
    function renderRows() {
      const matching = model.list.filter((r) => alertMatches(r, filters));
      const shown = matching.slice(0, shownLimit);
      const frag = document.createDocumentFragment();
      for (const r of shown) {
        frag.appendChild(rowFor(r));
        if (expanded.has(Number(r.seq))) frag.appendChild(detailRow(r));
      }
      fill(tbody, frag);
      countEl.dataset.total = String(model.list.length);
      countEl.dataset.matching = String(matching.length);
      countEl.dataset.shown = String(shown.length);
      countEl.textContent = (matching.length === model.list.length ? model.list.length + ' alerts' : matching.length + ' of ' + model.list.length + ' alerts') +
        (shown.length < matching.length ? ' · showing the newest ' + shown.length : '');
      more.hidden = shown.length >= matching.length;
      more.textContent = 'Show ' + Math.min(ALERTS_STEP, matching.length - shown.length) + ' more (' + (matching.length - shown.length) + ' not shown)';
      table.hidden = !shown.length;
      fill(emptyBox, !model.list.length
        ? h('div.notice#alerts-empty', null, 'No alerts yet. New ones appear here as the watched chains raise them.')
        : (!shown.length ? h('p.muted#alerts-none', null, 'No alert matches these filters.') : null));
    }
    function toggle(tr) {
      const seq = Number(tr.dataset.seq);
      const r = model.list.find((x) => Number(x.seq) === seq);
      if (!r) return;
      if (expanded.has(seq)) {
        expanded.delete(seq);
        const next = tr.nextElementSibling;
        if (next && next.classList.contains('alert-detail')) next.remove();
        tr.classList.remove('open');
        tr.setAttribute('aria-expanded', 'false');
      } else {
        expanded.add(seq);
        tr.after(detailRow(r));
        tr.classList.add('open');
        tr.setAttribute('aria-expanded', 'true');
      }
    }
    // Token decimals: the address balances of one alert's address per token (at most 20 tokens).
    async function learnTokens() {
      const want = new Map();
      for (const r of model.list) {
        const a = r.alert;
        if (!a.asset || a.asset === 'native' || !a.address || a.amount == null) continue;
        const k = a.chain + '|' + String(a.asset).toLowerCase();
        if (!tokenMeta.has(k) && !want.has(k) && want.size < 20) want.set(k, a);
      }
      let learnt = false;
      for (const a of want.values()) {
        try {
          const r = await api('/api/v1/addresses/' + enc(a.chain) + '/' + enc(a.address) + '?limit=1');
          for (const b of (r.account && r.account.balances) || []) { learnToken(a.chain, b.asset, b.symbol, b.decimals); learnt = true; }
        } catch (_) { /* base units are shown */ }
        if (closed) return;
      }
      if (learnt) renderRows();
    }

    // Live: one EventSource at a time from the last seq seen; when it ends (the server's time
    // cap) or fails, a new one starts from the new last seq (Last-Event-ID is not relied on).
    // It starts one before the last seq seen: that alert (already shown, so dropped) comes at
    // once and proves the stream open — the browser reports "open" only on the first bytes,
    // and an idle stream sends none before its keep-alive (15 s).
    function connect() {
      if (closed) return;
      let opened = false;
      const src = new EventSource('/api/v1/alerts/stream?after=' + Math.max(0, lastSeq - 1));
      es = src;
      src.onopen = () => { if (es !== src) return; opened = true; retryMs = 1000; setLive('connected', '● live'); };
      src.addEventListener('alert', (ev) => { if (es === src) onAlert(ev); });
      src.onerror = () => {
        if (es !== src) return;
        src.close();
        es = null;
        if (closed) return;
        if (opened) {
          retryTimer = setTimeout(connect, 300); // the stream reached its end: a new one
        } else {
          setLive('reconnecting', 'reconnecting…');
          retryTimer = setTimeout(connect, retryMs);
          retryMs = Math.min(30000, retryMs * 2);
        }
      };
    }
    const incoming = [];
    function onAlert(ev) {
      const seq = Number(ev.lastEventId);
      if (!Number.isSafeInteger(seq) || seq <= 0) return;
      let alert;
      try { alert = parseJsonExact(ev.data); } catch (_) { return; }
      if (!alert || typeof alert !== 'object') return;
      if (seq > lastSeq) lastSeq = seq;
      incoming.push({ seq, alert, deliveries: [] });
      if (!flushTimer) flushTimer = setTimeout(flush, 100);
    }
    function flush() {
      flushTimer = null;
      if (closed || !incoming.length) return;
      const known = new Set(model.list.map((r) => Number(r.seq)));
      const batch = incoming.splice(0).filter((r) => !known.has(r.seq));
      if (!batch.length) return;
      const until = Date.now() + 4000;
      for (const r of batch) fresh.set(r.seq, until);
      setTimeout(() => { for (const [s, t] of fresh) if (t <= Date.now()) fresh.delete(s); }, 4100);
      model = alertsModel(batch.concat(model.list));
      fillSelects();
      renderRows();
      scheduleDeliveries(batch);
    }
    // Deliveries of streamed alerts: read once a little later (the stream carries the alert only).
    const needDeliveries = new Set();
    function scheduleDeliveries(batch) {
      for (const r of batch) needDeliveries.add(r.seq);
      clearTimeout(deliveryTimer);
      deliveryTimer = setTimeout(async () => {
        if (closed || !needDeliveries.size) return;
        const seqs = [...needDeliveries].sort((x, y) => x - y);
        needDeliveries.clear();
        const from = seqs[0] - 1;
        const n = Math.min(1000, seqs[seqs.length - 1] - from);
        try {
          const got = await api('/api/v1/alerts?after=' + from + '&limit=' + n);
          if (closed) return;
          for (const g of Array.isArray(got) ? got : []) {
            const r = model.list.find((x) => Number(x.seq) === Number(g.seq));
            if (!r) continue;
            r.deliveries = g.deliveries || [];
            const cell = tbody.querySelector('tr.alert-row[data-seq="' + Number(g.seq) + '"] td.deliveries');
            if (cell) cell.replaceWith(deliveryCell(r));
          }
        } catch (_) { /* the summary stays empty until the page is opened again */ }
      }, 2000);
    }
  }

  // ---------------------------------------------------------------- search

  const TX_RE = /^(0x)?[0-9a-fA-F]{64}$/;
  const EVM_ADDR_RE = /^0x[0-9a-fA-F]{40}$/;
  const BTC_ADDR_RE = /^([13mn2][1-9A-HJ-NP-Za-km-z]{25,39}|[LM3Q][1-9A-HJ-NP-Za-km-z]{25,39}|(bc|tb|bcrt|ltc|tltc|rltc)1[02-9ac-hj-np-z]{6,87})$/i;
  function classify(q) {
    if (TX_RE.test(q)) return 'tx';
    if (EVM_ADDR_RE.test(q) || BTC_ADDR_RE.test(q)) return 'address';
    return 'label';
  }
  async function viewSearch(q) {
    q = (q || '').trim();
    const input = $('#search-input');
    if (input && input.value !== q) input.value = q;
    setView('Search', h('h1', null, 'Search'), h('div.loading', null, 'Searching…'));
    if (!q) return setView('Search', h('h1', null, 'Search'), h('p.muted', null, 'Type a tx id, an address or a label in the box above.'));
    // The server's own search, when it has one: [{kind: tx|address|label|incident…, chain, id, title}].
    try {
      const r = await api('/api/v1/search?q=' + enc(q));
      const hits = Array.isArray(r) ? r : (r && (r.results || r.hits || r.items)) || [];
      const target = (x) => {
        const id = x.id || x.txid || x.address || x.name;
        if (!id) return null;
        if (x.kind === 'tx') return '#/tx/' + enc(id) + (x.chain ? '?chain=' + enc(x.chain) : '');
        if (x.kind === 'incident') return '#/incident/' + enc(id);
        if (x.chain && (x.kind === 'address' || x.kind === 'label' || x.kind === 'entity' || x.address)) return '#/address/' + enc(x.chain) + '/' + enc(x.address || id);
        return null;
      };
      if (hits.length === 1 && (hits[0].kind === 'tx' || hits[0].kind === 'address') && target(hits[0])) {
        location.replace(target(hits[0]));
        return;
      }
      return setView('Search ' + q, h('h1', null, 'Search: ', h('q', null, q)),
        hits.length
          ? h('table#search-results', null,
            h('thead', null, h('tr', null, h('th', null, 'kind'), h('th', null, 'chain'), h('th', null, 'id'), h('th', null, 'what'))),
            h('tbody', null, hits.map((x) => {
              const t = target(x);
              const id = String(x.id || x.txid || x.address || x.name || '');
              return h('tr', null, h('td', null, String(x.kind || '')), h('td', null, String(x.chain || '')),
                h('td', null, t ? link(t, short(id, 12, 8), { className: 'mono', title: id }) : h('span.mono', null, id)),
                h('td', null, String(x.title || x.label || '')));
            })))
          : h('p.muted#search-none', null, 'Nothing found.'));
    } catch (e) {
      // no search route (404) in this server: classify here; another error from it: show it
      if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405 && e.status !== 501)) {
        return setView('Search ' + q, h('h1', null, 'Search: ', q), errorBox(e));
      }
    }
    const kind = classify(q);
    if (kind === 'tx') { location.replace('#/tx/' + enc(q)); return; }
    if (kind === 'address') {
      const all = await chains();
      const cands = all.filter((c) => (EVM_ADDR_RE.test(q) ? isEvmChain(c) : !isEvmChain(c)));
      const found = [];
      await Promise.all(cands.map(async (c) => {
        try { await api('/api/v1/addresses/' + enc(c) + '/' + enc(q) + '?limit=1'); found.push(c); } catch (_) { /* not on this chain */ }
      }));
      if (found.length === 1) { location.replace('#/address/' + enc(found[0]) + '/' + enc(q)); return; }
      return setView('Search ' + q, h('h1', null, 'Address ', h('span.mono', null, q)),
        found.length ? h('ul', null, found.sort().map((c) => h('li', null, link('#/address/' + enc(c) + '/' + enc(q), c))))
          : h('div.notice', null, 'This address is not valid on any chain of the store (' + (all.join(', ') || 'none') + ').'));
    }
    // label search: the labels route, filtered here by the text
    let labels = [];
    try {
      const r = await api('/api/v1/labels?q=' + enc(q) + '&limit=1000');
      labels = Array.isArray(r) ? r : (r && (r.labels || r.items)) || [];
    } catch (e) {
      return setView('Search ' + q, h('h1', null, 'Search: ', q), errorBox(e));
    }
    const needle = q.toLowerCase();
    const hits = labels.filter((l) => [l.label, l.address, l.category, l.source, l.reference, l.entity].some((v) => v && String(v).toLowerCase().includes(needle)));
    setView('Search ' + q, h('h1', null, 'Labels matching ', h('q', null, q)),
      hits.length ? h('div#label-results', null, renderTable(hits.map((l) => ({ chain: l.chain, address: l.address, label: l.label, category: l.category, source: l.source, confidence: l.confidence })), null))
        : h('p.muted#search-none', null, 'No label matches.'));
  }

  // ---------------------------------------------------------------- start

  function start() {
    $('#search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const q = $('#search-input').value.trim();
      if (!q) return;
      const target = '#/search/' + enc(q);
      if (location.hash === target) route(); else location.hash = target;
    });
    window.addEventListener('hashchange', route);
    route();
  }
  // exposed for tests and the console; no data flows in through it
  window.tracehoundUI = { formatUnits, fmtAmount, classify, buildGraph, prepareTrace, alertsModel, deliverySummary, alertMatches };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
