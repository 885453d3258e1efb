// ompscope report: the page that reads the report's data (encode.go) and
// draws it. No request leaves the page: the data is in it, the plots are
// uPlot's (embedded), everything else is drawn here.
//
// The tables at an instant are rebuilt from every row version with the
// rules of `ompscope analyze --at` (analyze/snapshot.go, bestpath.go);
// the browser tests compare the two, sample by sample.
(function () {
  'use strict';

  // ---------- small helpers

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const k in attrs) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === 'text') e.textContent = v;
        else if (k === 'class') e.className = v;
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v === true ? '' : v);
      }
    }
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return e;
  }
  const SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    for (const k of kids.flat()) if (k) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }
  function fmtInt(n) { return Number(n).toLocaleString('en-US'); }

  async function blob(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error('report data: no ' + id + ' (the file is cut short?)');
    let u8;
    if (Uint8Array.fromBase64) {
      u8 = Uint8Array.fromBase64(node.textContent, { lastChunkHandling: 'strict' });
    } else {
      const bin = atob(node.textContent.replace(/\s+/g, ''));
      u8 = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
    }
    if (node.dataset.bytes !== undefined && Number(node.dataset.bytes) !== u8.length) {
      throw new Error('report data: ' + id + ' holds ' + u8.length + ' bytes, not ' + node.dataset.bytes + ' (the file is damaged)');
    }
    const s = new Blob([u8]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(s).arrayBuffer());
  }

  // ---------- time: nanoseconds from the capture start

  let startSecs = 0, startFrac = 0; // the start, whole seconds and ns
  function parseTS(s) { // RFC 3339 with up to 9 fraction digits -> ns from start
    if (!s) return null;
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(s);
    if (!m) return null;
    const secs = Date.parse(m[1] + m[3]) / 1000;
    if (isNaN(secs)) return null;
    const frac = m[2] ? Number((m[2] + '000000000').slice(0, 9)) : 0;
    return (secs - startSecs) * 1e9 + (frac - startFrac);
  }
  function absParts(rel) {
    let frac = startFrac + rel;
    let secs = startSecs + Math.floor(frac / 1e9);
    frac = frac - Math.floor(frac / 1e9) * 1e9;
    return [secs, Math.round(frac)];
  }
  function fmtTS(rel) { // RFC 3339, ns, as ompscope writes it
    let [secs, frac] = absParts(rel);
    if (frac >= 1e9) { secs += 1; frac -= 1e9; }
    const d = new Date(secs * 1000).toISOString().slice(0, 19);
    return d + '.' + String(frac).padStart(9, '0') + 'Z';
  }
  function fmtClock(rel) { // 10:57:31.131800
    const t = fmtTS(rel);
    return t.slice(11, 26);
  }
  function fmtDur(ns) {
    const s = ns / 1e9;
    if (s < 1) return (ns / 1e6).toFixed(1) + ' ms';
    if (s < 120) return s.toFixed(3).replace(/\.?0+$/, '') + ' s';
    const r = Math.round(s), m = Math.floor(r / 60);
    if (m < 120) return m + ' min ' + (r - m * 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function parseInstant(s, end) { // what --at takes: RFC 3339, seconds from start, start, end
    s = s.trim();
    if (s === 'end' || s === '') return end;
    if (s === 'start') return 0;
    const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(s);
    if (m && (m[2] !== '' || (m[3] || '') !== '')) {
      const v = Number(m[2] || '0') * 1e9 + Number(((m[3] || '') + '000000000').slice(0, 9));
      return m[1] === '-' ? -v : v;
    }
    return parseTS(s);
  }

  // ---------- the data

  function decodeHist(u8, meta) {
    let p = 0;
    const magic = String.fromCharCode(...u8.subarray(0, 5));
    if (magic !== 'OMPH1') throw new Error('report data: not an ompscope history (' + magic + ')');
    p = 5;
    function uv() {
      let x = 0, m = 1, b;
      do { b = u8[p++]; x += (b & 0x7f) * m; m *= 128; } while (b & 0x80);
      return x;
    }
    function sv() { const u = uv(); return u % 2 ? -(u + 1) / 2 : u / 2; }
    const ng = uv();
    const gKind = new Uint8Array(ng), gVPN = new Float64Array(ng), gPos = new Int32Array(ng), gA = new Int32Array(ng), gB = new Int32Array(ng);
    for (let i = 0; i < ng; i++) {
      const k = u8[p++];
      gKind[i] = k;
      if (k === 0) {
        gVPN[i] = uv();
        const ver = u8[p++], bits = u8[p++];
        gA[i] = ver; gB[i] = bits; gPos[i] = p;
        p += ver === 4 ? 4 : 16;
      } else if (k === 1) {
        gA[i] = uv();
      } else {
        gVPN[i] = uv();
        gA[i] = uv();
        gPos[i] = p;
        p += 4;
      }
    }
    const nr = uv();
    const rTab = new Int32Array(nr), rGrp = new Int32Array(nr), rFam = new Uint8Array(nr), rPath = new Float64Array(nr);
    let pt = 0, pg = 0;
    for (let i = 0; i < nr; i++) {
      pt += sv(); pg += sv();
      rTab[i] = pt; rGrp[i] = pg; rFam[i] = u8[p++]; rPath[i] = uv();
    }
    const nv = uv();
    const vT = new Float64Array(nv), vRow = new Int32Array(nv), vAttr = new Int32Array(nv), vGR = new Int32Array(nv), vRef = new Uint8Array(nv);
    let t = 0, r = 0, a = 0;
    // the hot loop: one-byte varints inline, longer ones through uv
    for (let i = 0; i < nv; i++) {
      let b = u8[p];
      if (b < 128) { p++; t += b; } else t += uv();
      b = u8[p];
      if (b < 128) { p++; r += b & 1 ? -(b + 1) / 2 : b / 2; } else r += sv();
      b = u8[p];
      if (b < 128) { p++; a += b & 1 ? -(b + 1) / 2 : b / 2; } else a += sv();
      b = u8[p];
      let g;
      if (b < 128) { p++; g = b; } else g = uv();
      vT[i] = t; vRow[i] = r; vAttr[i] = a; vGR[i] = Math.floor(g / 2); vRef[i] = g & 1;
    }
    if (p !== u8.length) throw new Error('report data: ' + (u8.length - p) + ' bytes left over');
    return { u8, gKind, gVPN, gPos, gA, gB, rTab, rGrp, rFam, rPath, vT, vRow, vAttr, vGR, vRef, nr, nv, ng };
  }

  function ip4(u8, p) { return u8[p] + '.' + u8[p + 1] + '.' + u8[p + 2] + '.' + u8[p + 3]; }
  function ip6(u8, p) { // RFC 5952, as Go's netip writes it
    const w = [];
    for (let i = 0; i < 8; i++) w.push((u8[p + 2 * i] << 8) | u8[p + 2 * i + 1]);
    if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
      return '::ffff:' + ip4(u8, p + 12);
    }
    let bs = -1, bl = 0;
    for (let i = 0; i < 8;) {
      if (w[i] !== 0) { i++; continue; }
      let j = i;
      while (j < 8 && w[j] === 0) j++;
      if (j - i > bl && j - i >= 2) { bs = i; bl = j - i; }
      i = j;
    }
    const hx = (x) => x.toString(16);
    if (bs < 0) return w.map(hx).join(':');
    return w.slice(0, bs).map(hx).join(':') + '::' + w.slice(bs + bl).map(hx).join(':');
  }

  const M = {}; // the model

  function groupText(g) {
    const H = M.h;
    if (M.gText[g] !== undefined) return M.gText[g];
    let s;
    switch (H.gKind[g]) {
      case 0: s = (H.gA[g] === 4 ? ip4(H.u8, H.gPos[g]) : ip6(H.u8, H.gPos[g])) + '/' + H.gB[g]; break;
      case 1: s = M.meta.tlocs[H.gA[g]][0]; break;
      default: s = serviceName(H.gA[g]); break;
    }
    M.gText[g] = s;
    return s;
  }
  function serviceName(n) { return M.meta.services[n] ?? String(n); }
  const KINDS = ['route', 'tloc', 'service'];

  // ---------- the tables at an instant (analyze/snapshot.go, bestpath.go)
  //
  // Rows come in snapshot order (encode.go sorts them: tables as snapshots
  // list them, then group, family, path-id), so a table's rows are one run
  // and a group's rows, listed by row number, are in the order the best
  // path meets them. The state at an instant is one pass over the versions
  // (carried forward when the instant moves forward); statuses are
  // computed only for the rows shown, one receiver's paths of one prefix at
  // a time.

  function buildIndex() {
    const H = M.h, meta = M.meta, nt = meta.tables.length;
    M.tabStart = new Int32Array(nt);
    M.tabEnd = new Int32Array(nt);
    for (let r = 0; r < H.nr; r++) {
      const t = H.rTab[r];
      if (r === 0 || H.rTab[r - 1] !== t) M.tabStart[t] = r;
      M.tabEnd[t] = r + 1;
    }
    M.tabOrder = meta.tables.map((_, i) => i).sort((a, b) => meta.tables[a].order - meta.tables[b].order);
    // receivers and senders by number
    const names = new Map();
    const num = (s) => { if (!names.has(s)) names.set(s, names.size); return names.get(s); };
    M.tabTo = Int32Array.from(meta.tables, (t) => num(t.to));
    M.tabFrom = Int32Array.from(meta.tables, (t) => num(t.from));
    M.nNames = names.size;
    // group -> rows
    const gs = new Int32Array(H.ng + 1);
    for (let r = 0; r < H.nr; r++) gs[H.rGrp[r] + 1]++;
    for (let g = 0; g < H.ng; g++) gs[g + 1] += gs[g];
    const fill = gs.slice(0, H.ng), gr = new Int32Array(H.nr);
    for (let r = 0; r < H.nr; r++) gr[fill[H.rGrp[r]]++] = r;
    M.gStart = gs; M.gRows = gr;
    const tl = [];
    for (let r = 0; r < H.nr; r++) if (H.gKind[H.rGrp[r]] === 1) tl.push(r);
    M.tlocRows = Int32Array.from(tl);
    M.first = new Float64Array(H.nr).fill(-1);
    for (let i = 0; i < H.nv; i++) if (M.first[H.vRow[i]] < 0) M.first[H.vRow[i]] = H.vT[i];
    let maxOrig = 0;
    for (const a of meta.attrs) maxOrig = Math.max(maxOrig, a.orig_rank + 2);
    M.nOrig = maxOrig;
  }

  function lastIndexAt(T) { // the last version at or before T
    const vT = M.h.vT;
    let lo = 0, hi = vT.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (vT[mid] <= T) lo = mid + 1; else hi = mid; }
    return lo - 1;
  }

  // ownerAt is the session that owned table t at T (a graceful restart's
  // new session takes the table over).
  function ownerAt(t, T) {
    let s = t.owners.length ? t.owners[0][1] : t.session;
    for (const o of t.owners) if (o[0] <= T) s = o[1];
    return s;
  }
  function ompAt(sess, T) {
    const h = M.meta.omp[sess];
    if (!h) return 'none';
    for (let i = h.states.length - 1; i >= 0; i--) if (h.states[i][0] <= T) return h.states[i][1];
    if (h.states.length > 0 && h.full) return 'none';
    return h.now;
  }
  function grSpanAt(t, T) {
    for (let i = t.gr.length - 1; i >= 0; i--) {
      const s = t.gr[i];
      if (s[0] <= T && (s[1] === null || T < s[1])) return s;
    }
    return null;
  }

  // stateAt returns the state of every row at T: cur (its version, -1:
  // none yet), lc (its last non-refresh version), the live rows per table
  // and kind, the TLOCs each receiver holds, the tables a snapshot lists.
  function stateAt(T) {
    const H = M.h, meta = M.meta, nt = meta.tables.length;
    if (M.st && M.st.T === T) return M.st;
    const last = lastIndexAt(T);
    let st = M.st;
    let from = 0;
    if (st && T > st.T && last >= st.last) {
      from = st.last + 1;
    } else {
      st = { cur: new Int32Array(H.nr).fill(-1), lc: new Int32Array(H.nr).fill(-1), live: new Int32Array(nt * 3) };
    }
    const { cur, lc, live } = st;
    for (let i = from; i <= last; i++) {
      const r = H.vRow[i];
      const was = cur[r] >= 0 && H.vAttr[cur[r]] !== 0, now = H.vAttr[i] !== 0;
      cur[r] = i;
      if (!H.vRef[i]) lc[r] = i;
      if (was !== now) live[H.rTab[r] * 3 + H.gKind[H.rGrp[r]]] += now ? 1 : -1;
    }
    st.T = T; st.last = last;
    // the TLOCs each receiver holds at T
    const held = new Map();
    for (const r of M.tlocRows) {
      const i = cur[r];
      if (i < 0 || H.vAttr[i] === 0) continue;
      const a = meta.attrs[H.vAttr[i] - 1], to = M.tabTo[H.rTab[r]];
      let m = held.get(to);
      if (!m) { m = new Map(); held.set(to, m); }
      const id = H.gA[H.rGrp[r]], old = m.get(id);
      if (!old || a.pref > old.pref) m.set(id, { pref: a.pref, priv: a.priv_rank });
    }
    st.held = held;
    // the tables listed, in snapshot order
    st.tables = [];
    st.present = new Uint8Array(nt);
    st.recv = new Map(); // receiver -> the first listed table's limit and edge
    for (const ti of M.tabOrder) {
      const t = meta.tables[ti];
      if (t.created > T) continue;
      const n = live[ti * 3] + live[ti * 3 + 1] + live[ti * 3 + 2];
      if (n === 0 && !(t.dead === null || t.dead > T)) continue;
      st.tables.push(ti);
      st.present[ti] = 1;
      if (!st.recv.has(M.tabTo[ti])) st.recv.set(M.tabTo[ti], { limit: t.limit, edge: t.edge });
    }
    st.rows = new Map(); // row -> its view (statuses computed on demand)
    st.advOrig = null;
    M.st = st;
    return st;
  }

  function liveAt(st, r) { const i = st.cur[r]; return i >= 0 && M.h.vAttr[i] !== 0 && st.present[M.h.rTab[r]] === 1; }

  // baseView is a row at T before the best path: R, U, Inv, S.
  function baseView(st, r) {
    const H = M.h, meta = M.meta;
    const i = st.cur[r], a = meta.attrs[H.vAttr[i] - 1], t = meta.tables[H.rTab[r]], k = H.gKind[H.rGrp[r]];
    let s;
    if (k === 1) s = (a.has & 8) ? 'R' : 'Inv';
    else if (!(a.has & 1) || (k === 0 && !(a.has & 2))) s = 'Inv';
    else {
      const m = st.held.get(M.tabTo[H.rTab[r]]);
      s = m && m.has(a.tloc) ? 'R' : 'U';
    }
    const sp = grSpanAt(t, st.T);
    if (sp && H.vGR[i] < sp[2]) s = 'S,' + s;
    return { row: r, ver: i, attr: a, t, base: s, status: s, loss: '', lostTo: '', lostToPath: null,
      last: st.lc[r] >= 0 ? H.vT[st.lc[r]] : H.vT[i], chosen: false, installed: false, rejected: false, looped: false };
  }

  // rowAt is a row at T with its status, running the best path over its
  // receiver's paths of its prefix when it is a route.
  function rowAt(st, r) {
    let v = st.rows.get(r);
    if (v) return v;
    const H = M.h;
    if (H.gKind[H.rGrp[r]] !== 0) {
      v = baseView(st, r);
      v.status = composeStatus(v);
      st.rows.set(r, v);
      return v;
    }
    const g = H.rGrp[r], to = M.tabTo[H.rTab[r]];
    const paths = [];
    for (let j = M.gStart[g]; j < M.gStart[g + 1]; j++) {
      const x = M.gRows[j];
      if (M.tabTo[H.rTab[x]] !== to || !liveAt(st, x)) continue;
      paths.push(bpPath(st, baseView(st, x)));
    }
    const rc = st.recv.get(to);
    choose(paths, rc.limit, rc.edge);
    for (const p of paths) {
      inferRejected(st, p.row);
      p.row.status = composeStatus(p.row);
      st.rows.set(p.row.row, p.row);
    }
    return st.rows.get(r);
  }

  function bpPath(st, v) {
    const a = v.attr, t = v.t;
    const p = { row: v, from: t.from, fromRank: t.from_rank, notOrig: !(t.from_sys !== '' && t.from_sys === a.orig),
      stale: hasStatus(v.base, 'S'), eligible: !hasStatus(v.base, 'Inv') && !hasStatus(v.base, 'U'),
      pref: a.pref, tpref: 0, priv: -1, origin: a.orank, metric: a.metric, orig: a.orig_rank,
      tsys: a.tsys, tcolor: a.tcolor, tencap: a.tencap };
    const m = st.held.get(M.tabTo[M.h.rTab[v.row]]);
    const h = m && (a.has & 1) ? m.get(a.tloc) : undefined;
    if (h) { p.tpref = h.pref; p.priv = h.priv; }
    if (t.to_sys !== '' && a.orig !== '' && a.orig === t.to_sys) { v.looped = true; p.eligible = false; }
    return p;
  }

  function hasStatus(s, c) { return s.split(',').includes(c); }
  const b2i = (b) => (b ? 1 : 0);
  const cmpN = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  const CRITERIA = [
    ['stale-entry', (x, y) => b2i(x.stale) - b2i(y.stale)],
    ['personality', (x, y) => b2i(x.notOrig) - b2i(y.notOrig)],
    ['preference', (x, y) => cmpN(y.pref, x.pref)],
    ['tloc-preference', (x, y) => cmpN(y.tpref, x.tpref)],
    ['origin-protocol', (x, y) => x.origin - y.origin],
    ['origin-metric', (x, y) => cmpN(x.metric, y.metric)],
  ];
  function cmpTie(x, y) {
    return cmpN(x.orig, y.orig) || cmpN(x.priv, y.priv) || cmpN(x.tsys, y.tsys) || cmpN(x.tcolor, y.tcolor) ||
      (x.tencap - y.tencap) || cmpN(x.fromRank, y.fromRank);
  }

  function choose(ps, limit, edge) {
    let cand = [];
    for (const p of ps) {
      if (p.eligible) cand.push(p); else p.row.loss = 'invalid';
    }
    if (cand.length === 0) return;
    for (const [reason, better] of CRITERIA) {
      let best = cand[0];
      for (const p of cand.slice(1)) if (better(p, best) < 0) best = p;
      const keep = [];
      for (const p of cand) {
        if (better(p, best) > 0) {
          p.row.loss = reason; p.row.lostTo = best.from; p.row.lostToPath = M.h.rPath[best.row.row];
        } else keep.push(p);
      }
      cand = keep;
    }
    cand.sort(cmpTie); // stable
    let kept = 0, last = null;
    for (let i = 0; i < cand.length; i++) {
      const p = cand[i];
      const newID = i === 0 || p.orig !== cand[i - 1].orig || p.tsys !== cand[i - 1].tsys ||
        p.tcolor !== cand[i - 1].tcolor || p.tencap !== cand[i - 1].tencap;
      if (newID && kept >= limit) {
        for (const q of cand.slice(i)) {
          q.row.loss = q.orig !== last.orig ? 'peer-id' : 'tloc-id';
          q.row.lostTo = last.from; q.row.lostToPath = M.h.rPath[last.row.row];
        }
        return;
      }
      p.row.chosen = true;
      if (newID) { kept++; last = p; p.row.installed = edge; }
    }
  }

  // advertises reports whether vSmart `from` (a name number) advertises,
  // at the instant, a route of originator rank o (one pass over the
  // vSmarts' tables, on first need).
  function advertisesOrig(st, from, o) {
    if (!st.advOrig) {
      const H = M.h, meta = M.meta;
      st.advOrig = new Map();
      for (const ti of st.tables) {
        const t = meta.tables[ti];
        if (t.from_type !== 'vSmart') continue;
        let bm = st.advOrig.get(M.tabFrom[ti]);
        if (!bm) { bm = new Uint8Array(M.nOrig + 1); st.advOrig.set(M.tabFrom[ti], bm); }
        for (let r = M.tabStart[ti]; r < M.tabEnd[ti]; r++) {
          const i = st.cur[r];
          if (i < 0 || H.vAttr[i] === 0 || H.gKind[H.rGrp[r]] !== 0) continue;
          bm[meta.attrs[H.vAttr[i] - 1].orig_rank + 1] = 1;
        }
      }
    }
    const bm = st.advOrig.get(from);
    return !!bm && bm[o + 1] === 1;
  }

  // inferRejected: Rej, a path a vSmart learned from its originator and
  // does not advertise although it advertises that originator's others
  // (bestpath.go inferRejected).
  function inferRejected(st, v) {
    const H = M.h, t = v.t, a = v.attr;
    if (t.to_type !== 'vSmart' || a.orig === '' || t.from_sys !== a.orig ||
      M.first[v.row] > st.T - M.meta.distribution_window_ns) return;
    const me = M.tabTo[H.rTab[v.row]];
    if (!advertisesOrig(st, me, a.orig_rank)) return;
    const g = H.rGrp[v.row];
    for (let j = M.gStart[g]; j < M.gStart[g + 1]; j++) {
      const x = M.gRows[j];
      if (M.tabFrom[H.rTab[x]] !== me || M.meta.tables[H.rTab[x]].from_type !== 'vSmart' || !liveAt(st, x)) continue;
      const b = M.meta.attrs[H.vAttr[st.cur[x]] - 1];
      if (b.orig === a.orig && b.tsys === a.tsys && b.tcolor === a.tcolor && b.tencap === a.tencap) return;
    }
    v.rejected = true; v.chosen = false; v.installed = false;
    if (v.loss === '') v.loss = 'invalid';
  }

  function composeStatus(r) {
    const parts = [];
    if (r.chosen) parts.push('C');
    if (r.installed) parts.push('I');
    if (r.rejected) parts.push('Rej');
    if (r.looped) parts.push('L');
    const have = r.base.split(',');
    for (const c of ['R', 'S', 'Inv', 'U']) if (have.includes(c)) parts.push(c);
    return parts.join(',');
  }

  // rowJSON gives a row as `analyze --at -T json` does (without attrs).
  function rowJSON(r) {
    const H = M.h, a = r.attr, k = H.gKind[H.rGrp[r.row]], g = H.rGrp[r.row];
    const j = {};
    if (k !== 1) j.vpn = H.gVPN[g];
    if (k === 0) j.prefix = groupText(g);
    if (k === 2) j.service = groupText(g);
    j.path_id = H.rPath[r.row];
    j.originator = originatorOf(r);
    if (k === 1) j.tloc = groupText(g);
    else if (a.has & 1) j.tloc = M.meta.tlocs[a.tloc][0];
    if (k === 1) {
      const v6 = H.rFam[r.row] === M.famTLOCv6;
      const priv = v6 ? a.priv6 : a.priv4, pub = v6 ? a.pub6 : a.pub4;
      if (priv) j.private = priv;
      if (pub) j.public = pub;
    }
    if (a.pref) j.preference = a.pref;
    if (k === 1 && a.weight) j.weight = a.weight;
    if (k !== 2) j.site_id = a.site;
    if (k === 0 && (a.has & 4)) j.origin = a.origin;
    if (k !== 1 && a.label) j.label = a.label;
    j.status = r.status;
    if (r.loss) j.loss_reason = r.loss;
    if (r.lostTo) { j.lost_to_peer = r.lostTo; j.lost_to_path_id = r.lostToPath; }
    j.first_seen = fmtTS(M.first[r.row]);
    j.last_change = fmtTS(r.last);
    return j;
  }
  function originatorOf(r) {
    const H = M.h, a = r.attr, g = H.rGrp[r.row], k = H.gKind[g];
    if (k === 2) return ip4(H.u8, H.gPos[g]);
    if (a.has & 2) return a.orig;
    return k === 1 ? M.meta.tlocs[H.gA[g]][0].split('/')[0] : '';
  }

  // snapshotJSON is the snapshot as `analyze --at T -T json` gives it
  // (tables and rows; the browser tests compare the two).
  function snapshotJSON(T) {
    const st = stateAt(T), H = M.h;
    return {
      at: fmtTS(T),
      tables: st.tables.map((ti) => {
        const t = M.meta.tables[ti], session = ownerAt(t, T);
        const rows = [[], [], []];
        for (let r = M.tabStart[ti]; r < M.tabEnd[ti]; r++) {
          if (st.cur[r] < 0 || H.vAttr[st.cur[r]] === 0) continue;
          rows[H.gKind[H.rGrp[r]]].push(rowJSON(rowAt(st, r)));
        }
        return { id: t.id, from: t.from, to: t.to, from_type: t.from_type, to_type: t.to_type, session, omp_state: ompAt(session, T),
          graceful_restart: grSpanAt(t, T) !== null, complete: t.complete, routes: rows[0], tlocs: rows[1], services: rows[2] };
      }),
    };
  }

  // ---------- series: table sizes over time

  const MAXPOINTS = 1500;

  // series counts the live rows of the tables mask selects, per kind,
  // over time: exact points when the sizes change at no more than
  // MAXPOINTS instants, else the largest and the smallest size in each of
  // MAXPOINTS equal slices of the span (said on the plot), as encode.go's
  // fabricSeries does for the whole fabric.
  function series(mask) {
    const H = M.h, meta = M.meta;
    const alive = new Uint8Array(H.nr);
    const n = [0, 0, 0];
    const end = meta.end;
    const span = Math.max(end, 1);
    const times = [], vals = [[], [], []], mins = [[], [], []];
    let exact = true;
    // first pass: how many instants change the sizes
    let changes = 0, lastT = -1;
    for (let i = 0; i < H.nv; i++) {
      const r = H.vRow[i];
      if (!mask[H.rTab[r]]) continue;
      const now = H.vAttr[i] !== 0 ? 1 : 0;
      if (now !== alive[r]) { alive[r] = now; if (H.vT[i] !== lastT) { changes++; lastT = H.vT[i]; } }
    }
    alive.fill(0);
    if (changes > MAXPOINTS) exact = false;
    const push = (t) => { times.push(t); for (let k = 0; k < 3; k++) vals[k].push(n[k]); };
    push(0);
    if (exact) {
      let i = 0;
      while (i < H.nv) {
        const t = H.vT[i];
        let moved = false;
        for (; i < H.nv && H.vT[i] === t; i++) {
          const r = H.vRow[i];
          if (!mask[H.rTab[r]]) continue;
          const now = H.vAttr[i] !== 0 ? 1 : 0;
          if (now !== alive[r]) { alive[r] = now; n[H.gKind[H.rGrp[r]]] += now ? 1 : -1; moved = true; }
        }
        if (moved) push(t);
      }
    } else {
      const w = span / MAXPOINTS;
      let b = 0;
      const mx = [0, 0, 0], mn = [0, 0, 0];
      for (let k = 0; k < 3; k++) mins[k].push(0);
      const flush = (upTo) => {
        for (; b < upTo; b++) {
          times.push((b + 1) * w);
          for (let k = 0; k < 3; k++) {
            vals[k].push(Math.max(mx[k], n[k])); mins[k].push(Math.min(mn[k], n[k]));
            mx[k] = n[k]; mn[k] = n[k];
          }
        }
      };
      for (let i = 0; i < H.nv; i++) {
        const r = H.vRow[i];
        if (!mask[H.rTab[r]]) continue;
        flush(Math.min(MAXPOINTS - 1, Math.floor(H.vT[i] / w)));
        const now = H.vAttr[i] !== 0 ? 1 : 0;
        if (now !== alive[r]) {
          alive[r] = now;
          const k = H.gKind[H.rGrp[r]];
          n[k] += now ? 1 : -1;
          mx[k] = Math.max(mx[k], n[k]); mn[k] = Math.min(mn[k], n[k]);
        }
      }
      flush(MAXPOINTS);
    }
    if (times[times.length - 1] < end) { push(end); if (!exact) for (let k = 0; k < 3; k++) mins[k].push(n[k]); }
    return { times, vals, mins, exact, changes };
  }

  // ---------- page sections

  function section(id, title, ...kids) {
    return el('section', { id }, el('h2', { text: title }), ...kids);
  }

  function cmdLine(args) {
    const files = M.meta.capture.files || [];
    const r = files.map((f) => '-r ' + shq(f)).join(' ');
    return 'ompscope ' + args[0] + ' ' + r + (M.meta.capture.key_args ? ' ' + M.meta.capture.key_args : '') + (args[1] ? ' ' + args[1] : '');
  }
  function shq(s) { return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : "'" + s.replace(/'/g, "'\\''") + "'"; }

  function renderSummary() {
    const meta = M.meta, sum = meta.summary;
    const facts = [
      ['Capture', (meta.capture.files || []).join(', ') || '(standard input)'],
      ['From', meta.start_ns === '0' ? '— (no control-plane input was read)' : fmtTS(0)],
      ['To', meta.start_ns === '0' ? '—' : fmtTS(meta.end) + ' (' + fmtDur(meta.end) + ')'],
      ['Control sessions', fmtInt(sum.sessions.total) + ' (' + fmtInt(sum.sessions.from_start) + ' seen from their start, ' + fmtInt(sum.sessions.mid_way) + ' mid-way)'],
      ['Anomalies', fmtInt((sum.anomalies || []).length)],
      ['Rows recorded', fmtInt(meta.rows) + ' rows, ' + fmtInt(meta.versions) + ' versions'],
    ];
    for (const f of meta.capture.facts || []) facts.push([f.label, f.value]);
    const dl = el('dl', { class: 'facts' });
    for (const [k, v] of facts) dl.append(el('dt', { text: k }), el('dd', { text: v }));
    const kids = [dl];
    const und = meta.capture.undecrypted || [];
    const unread = sum.sessions.partly_unreadable + sum.sessions.never_readable;
    if (und.length || unread) {
      const ul = el('ul', { class: 'undecrypted' });
      for (const f of und) ul.append(el('li', { text: f.value + ' record(s): ' + f.label }));
      kids.push(el('div', { class: 'warn', id: 'undecrypted' },
        el('strong', { text: 'Not decrypted: ' }),
        fmtInt(sum.sessions.never_readable) + ' session(s) never readable, ' + fmtInt(sum.sessions.partly_unreadable) +
        ' partly, ' + fmtInt(sum.sessions.gap_records) + ' record(s) in all.', ul));
    }
    if (meta.dropped_versions > 0) {
      kids.push(el('div', { class: 'warn', text: 'The report keeps at most its cap of row versions: ' + fmtInt(meta.dropped_versions) +
        ' later versions, from ' + fmtTS(meta.dropped_from) + ' on, are not in it; the tables after that instant are incomplete (use ' +
        cmdLine(['analyze', '--at TIME']) + ').' }));
    }
    return section('summary', 'Capture', ...kids);
  }

  function anomalyMarks() {
    const out = [];
    for (const a of M.meta.summary.anomalies || []) {
      const s = parseTS(a.start), e = a.end ? parseTS(a.end) : null;
      out.push({ a, s, e });
    }
    return out;
  }
  const SEVCOLOR = { info: '#6c8ebf', warning: '#d79b00', error: '#c0392b', critical: '#7b1fa2' };

  function renderPlot() {
    const meta = M.meta;
    const sel = el('select', { id: 'plot-peer', 'aria-label': 'peer' }, el('option', { value: '', text: 'the whole fabric' }));
    M.addPeers = () => {
      const peers = [...new Set(meta.tables.map((t) => t.to))].sort(cmpNameJS);
      sel.append(...peers.map((p) => el('option', { value: p, text: p + ' (received)' })));
    };
    const note = el('p', { class: 'note', id: 'plot-note' });
    const box = el('div', { id: 'plot' });
    const wrap = section('timeline', 'Table sizes over time',
      el('div', { class: 'controls' }, el('label', {}, 'Show ', sel), el('span', { class: 'hint', text: 'Drag to zoom, double-click to zoom out, click to see the tables at that instant.' })),
      box, note);
    const marks = anomalyMarks();
    let u = null;
    function draw() {
      const who = sel.value;
      let s;
      if (who === '') {
        const f = meta.series;
        s = { times: f.times, vals: f.sizes, mins: f.mins, exact: f.exact, changes: f.changes };
      } else {
        const mask = Uint8Array.from(meta.tables, (t) => (t.to === who ? 1 : 0));
        s = series(mask);
      }
      const xs = s.times.map((t) => { const [sec, fr] = absParts(t); return sec + fr / 1e9; });
      note.textContent = (s.exact ? 'Exact: every change of the table sizes (' + fmtInt(s.changes) + ' instants).'
        : 'Downsampled: the sizes change at ' + fmtInt(s.changes) + ' instants; each point is one of ' + fmtInt(MAXPOINTS) +
          ' equal slices of the capture, the solid line its largest size, the dotted line its smallest.') +
        ' Marks: anomalies (' + marks.length + '), coloured by severity' + (M.meta.dropped_from !== undefined ? '; hatched: after the report’s cap of row versions, the sizes are incomplete' : '') + '.';
      const data = [xs, s.vals[0], s.vals[1], s.vals[2]];
      const colors = ['#1f77b4', '#2ca02c', '#9467bd'], names = ['routes', 'TLOCs', 'services'];
      const ser = [{ label: 'time (UTC)' }];
      for (let k = 0; k < 3; k++) ser.push({ label: names[k], stroke: colors[k], width: 1.5, paths: uPlot.paths.stepped({ align: 1 }) });
      if (!s.exact) {
        for (let k = 0; k < 3; k++) {
          data.push(s.mins[k]);
          ser.push({ label: names[k] + ' (smallest)', stroke: colors[k], width: 1, dash: [2, 3], paths: uPlot.paths.stepped({ align: 1 }) });
        }
      }
      const opts = {
        width: Math.max(600, box.clientWidth || 1000), height: 320, tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
        scales: { x: { time: true } },
        series: ser,
        axes: [{}, { size: 70 }],
        cursor: { drag: { x: true, y: false } },
        plugins: [anomalyPlugin(marks)],
      };
      if (u) u.destroy();
      box.textContent = '';
      u = new uPlot(opts, data, box);
      M.plot = u;
      // a click picks the instant; a double click (zoom out) does not: the
      // pick waits out the double-click time
      let pending = null;
      u.over.addEventListener('click', (e) => {
        if (u.select.width > 0) return; // a zoom
        if (pending) { clearTimeout(pending); pending = null; }
        if (e.detail > 1) return;
        const x = u.posToVal(e.clientX - u.over.getBoundingClientRect().left, 'x');
        if (x == null || isNaN(x)) return;
        const rel = Math.round((x - startSecs) * 1e9) - startFrac;
        pending = setTimeout(() => { pending = null; showInstant(Math.min(Math.max(rel, 0), meta.end)); }, 250);
      });
    }
    sel.addEventListener('change', draw);
    sel.disabled = true; // until the history is read
    M.peerSelect = sel;
    M.drawPlot = draw;
    return wrap;
  }

  // anomalyPlugin draws the anomalies on the plot: a mark at each start,
  // and, per severity, the union of their windows as one light band (so
  // that overlapping windows do not pile up into an opaque block); the
  // part after the report's cap of row versions, hatched; the instant
  // whose tables are shown, dashed.
  function anomalyPlugin(marks) {
    const bands = {};
    for (const m of marks) {
      const sev = m.a.severity;
      (bands[sev] = bands[sev] || []).push([m.s, m.e === null ? M.meta.end : m.e]);
    }
    for (const sev in bands) {
      const iv = bands[sev].sort((x, y) => x[0] - y[0]), out = [];
      for (const v of iv) {
        if (out.length && v[0] <= out[out.length - 1][1]) out[out.length - 1][1] = Math.max(out[out.length - 1][1], v[1]);
        else out.push([v[0], v[1]]);
      }
      bands[sev] = out;
    }
    const X = (u, rel) => { const [s, f] = absParts(rel); return u.valToPos(s + f / 1e9, 'x', true); };
    return {
      hooks: {
        draw: [(u) => {
          const ctx = u.ctx;
          ctx.save();
          const top = u.bbox.top, h = u.bbox.height;
          for (const sev in bands) {
            ctx.fillStyle = (SEVCOLOR[sev] || '#888888') + '1a';
            for (const [s, e] of bands[sev]) {
              const x0 = X(u, s), x1 = X(u, e);
              if (x1 > x0 + 1) ctx.fillRect(x0, top, x1 - x0, h);
            }
          }
          for (const m of marks) {
            const x0 = X(u, m.s), col = SEVCOLOR[m.a.severity] || '#888';
            ctx.strokeStyle = col; ctx.lineWidth = 1.5;
            ctx.beginPath(); ctx.moveTo(x0, top); ctx.lineTo(x0, top + h); ctx.stroke();
            ctx.fillStyle = col;
            ctx.beginPath(); ctx.moveTo(x0 - 5, top); ctx.lineTo(x0 + 5, top); ctx.lineTo(x0, top + 8); ctx.fill();
          }
          if (M.meta.dropped_from !== undefined) {
            const x0 = X(u, M.meta.dropped_from), x1 = u.bbox.left + u.bbox.width;
            ctx.strokeStyle = '#99999988'; ctx.lineWidth = 1;
            for (let x = x0; x < x1 + h; x += 8) { ctx.beginPath(); ctx.moveTo(Math.max(x0, x - h), top + Math.max(0, h - (x - x0))); ctx.lineTo(Math.min(x, x1), top + h - Math.max(0, x - x1)); ctx.stroke(); }
          }
          if (M.instant !== undefined) {
            const x = X(u, M.instant);
            ctx.strokeStyle = '#000'; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
            ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
          }
          ctx.restore();
        }],
      },
    };
  }

  // the session chart: one row per control connection
  const STATECOLOR = { connect: '#bbb', challenge: '#f0c36d', 'challenge-resp': '#f0c36d', 'challenge-ack': '#f0c36d',
    up: '#4caf50', down: '#e57373', closed: '#cfd3d8', none: '#eee', handshake: '#9ccc65', 'down-in-gr': '#ff9800', 'init-in-gr': '#ffcc80' };
  const SESSPAGE = 150;

  function renderSessions() {
    const meta = M.meta, sum = meta.summary;
    const byID = new Map();
    meta.sessions.forEach((s, i) => byID.set(s, i));
    const states = new Map(); // session -> {control: [[t, state, reason, frame]], omp: [...]}
    for (const st of meta.states) {
      const id = meta.sessions[st[2]];
      let s = states.get(id);
      if (!s) { s = { control: [], omp: [] }; states.set(id, s); }
      (st[3] === 'omp' ? s.omp : s.control).push(st);
    }
    const peers = (sum.peers || []).slice();
    for (const p of peers) p._start = parseTS(p.start);
    peers.sort((x, y) => (x._start - y._start) || (x.session < y.session ? -1 : 1));
    const filter = el('input', { id: 'sess-filter', type: 'search', placeholder: 'system-ip, address or session', 'aria-label': 'filter sessions' });
    const pager = el('span', { class: 'pager' });
    const holder = el('div', { id: 'sessions-chart' });
    let page = 0;
    function who(p, k) {
      const s = p[k] || {};
      return (s.system_ip || '?' + (s.addr || '')) + (s.device_type ? ' ' + s.device_type : '');
    }
    function draw() {
      const q = filter.value.trim();
      const list = peers.filter((p) => !q || p.session.includes(q) || who(p, 'client').includes(q) || who(p, 'server').includes(q));
      const pages = Math.max(1, Math.ceil(list.length / SESSPAGE));
      page = Math.min(page, pages - 1);
      const shown = list.slice(page * SESSPAGE, (page + 1) * SESSPAGE);
      pager.textContent = '';
      pager.append(el('button', { type: 'button', disabled: page === 0, onclick: () => { page--; draw(); } }, '‹'),
        ' sessions ' + (list.length ? page * SESSPAGE + 1 : 0) + '–' + (page * SESSPAGE + shown.length) + ' of ' + fmtInt(list.length) + ' ',
        el('button', { type: 'button', disabled: page >= pages - 1, onclick: () => { page++; draw(); } }, '›'));
      const W = Math.max(900, holder.clientWidth || 1100), L = 380, R = 10, RH = 22;
      const end = Math.max(meta.end, 1);
      const x = (t) => L + (W - L - R) * Math.min(Math.max(t, 0), end) / end;
      const g = svg('svg', { width: W, height: shown.length * RH + 30, class: 'sessions', role: 'img', 'aria-label': 'control connections over time' },
        svg('defs', {}, svg('pattern', { id: 'unreadable', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
          svg('rect', { width: 6, height: 6, fill: '#eceff3' }), svg('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#9aa3ad', 'stroke-width': 2 }))));
      // time axis
      for (let i = 0; i <= 5; i++) {
        const t = end * i / 5;
        g.append(svg('line', { x1: x(t), x2: x(t), y1: 0, y2: shown.length * RH + 4, class: 'grid' }),
          svg('text', { x: x(t), y: shown.length * RH + 20, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle' }, fmtClock(t)));
      }
      shown.forEach((p, i) => {
        const y = i * RH + 2;
        const label = who(p, 'client') + ' → ' + who(p, 'server');
        const tip = label + '\n' + p.session + (p.suite ? '\n' + p.version + ' ' + p.suite : '') + (p.down_reason ? '\ndown: ' + p.down_reason : '') +
          (p.gap_records ? '\n' + p.gap_records + ' record(s) not decrypted' : '');
        g.append(svg('text', { x: 4, y: y + 14, class: 'label' }, svg('title', {}, tip), label.length > 58 ? label.slice(0, 57) + '…' : label));
        const st = states.get(p.session) || { control: [], omp: [] };
        if (st.control.length === 0 && st.omp.length === 0) {
          // no state change read: a session whose records could not be read
          const t0 = p._start, t1 = p.down ? parseTS(p.down) : end;
          g.append(svg('rect', { x: x(t0), y: y + 1, width: Math.max(1, x(t1) - x(t0)), height: 17, class: 'seg seg-unreadable', fill: 'url(#unreadable)' },
            svg('title', {}, 'no state change could be read' + (p.gap_records ? ': ' + p.gap_records + ' record(s) not decrypted' : ''))));
        }
        const lanes = [[st.control, y + 1, 11], [st.omp, y + 13, 6]];
        for (const [ev, yy, hh] of lanes) {
          for (let k = 0; k < ev.length; k++) {
            const t0 = ev[k][0], t1 = k + 1 < ev.length ? ev[k + 1][0] : end;
            const s = ev[k][5];
            // a close in good order (NOERR, a vBond's DISCVBD, the connection
            // closed) is not a failure: grey, not red
            const orderly = s === 'down' && /NOERR|DISCVBD|close_notify|FIN|closed/.test(ev[k][6] || '');
            const r = svg('rect', { x: x(t0), y: yy, width: Math.max(1, x(t1) - x(t0)), height: hh, fill: orderly ? STATECOLOR.closed : (STATECOLOR[s] || '#ccc'), class: 'seg seg-' + (orderly ? 'closed' : s) },
              svg('title', {}, ev[k][3] + ' ' + s + ' from ' + fmtClock(t0) + (ev[k][6] ? ': ' + ev[k][6] : '') + (ev[k][1] ? ' (frame ' + ev[k][1] + ')' : '')));
            g.append(r);
            const reason = ev[k][6] || '';
            let mark = null;
            if (/TEAR_DOWN/.test(reason)) mark = [/NOERR|DISCVBD/.test(reason) ? '#616161' : '#b71c1c', 'teardown'];
            else if (/hold/i.test(reason) && (s === 'down' || s === 'down-in-gr')) mark = ['#6a1b9a', 'hold expiry'];
            else if (s === 'down-in-gr' || s === 'init-in-gr') mark = ['#e65100', 'graceful restart'];
            else if (s === 'down') mark = ['#c62828', 'down'];
            if (mark) {
              const cx = x(t0);
              g.append(svg('path', { d: `M${cx - 4},${y} L${cx + 4},${y} L${cx},${y + 7} Z`, fill: mark[0], class: 'mark mark-' + mark[1].replace(/ /g, '-') },
                svg('title', {}, mark[1] + ' at ' + fmtTS(t0) + ': ' + reason)));
            }
          }
        }
      });
      holder.textContent = '';
      holder.append(g);
    }
    filter.addEventListener('input', () => { page = 0; draw(); });
    draw();
    const legend = el('p', { class: 'legend' }, Object.entries({ up: 'up', challenge: 'challenge', connect: 'connect', down: 'down (lost)', closed: 'closed in good order', 'down-in-gr': 'down, graceful restart', 'init-in-gr': 'back, tables from GR', handshake: 'OMP handshake' })
      .map(([k, v]) => el('span', {}, el('i', { style: 'background:' + STATECOLOR[k] }), v)), el('span', {}, el('i', { class: 'hatch' }), 'unreadable'),
      ' Thick: control connection; thin: OMP. ▼ marks a tear-down, hold expiry, graceful restart or loss (hover for the reason; a label for the session).');
    const warn = meta.dropped_states > 0 ? el('div', { class: 'warn', text: fmtInt(meta.dropped_states) + ' session state changes past the report’s cap are not drawn: the chart is incomplete (raise --report-max-versions).' }) : null;
    return section('sessions', 'Control connections', el('div', { class: 'controls' }, filter, pager), legend, warn, holder);
  }

  const SEVORDER = { critical: 0, error: 1, warning: 2, info: 3 };
  function renderAnomalies() {
    const meta = M.meta, list = (meta.summary.anomalies || []).slice();
    const groups = new Map();
    for (const a of list) {
      const k = a.kind;
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push(a);
    }
    const kinds = [...groups.keys()].sort((x, y) => {
      const sx = Math.min(...groups.get(x).map((a) => SEVORDER[a.severity] ?? 9));
      const sy = Math.min(...groups.get(y).map((a) => SEVORDER[a.severity] ?? 9));
      return sx - sy || (x < y ? -1 : 1);
    });
    const kids = [];
    if (meta.dropped_anomalies > 0) {
      kids.push(el('div', { class: 'warn', text: fmtInt(meta.dropped_anomalies) + ' older anomalies were dropped: the analysis keeps at most ' +
        fmtInt(meta.max_anomalies) + ' (the oldest closed ones go first); analyze --timeline lists every one as it happened.' }));
    }
    if (!list.length) kids.push(el('p', { text: 'No anomaly was found.' }));
    for (const k of kinds) {
      const as = groups.get(k).sort((x, y) => (SEVORDER[x.severity] - SEVORDER[y.severity]) || (parseTS(x.start) - parseTS(y.start)) || (x.id - y.id));
      const item = (a) => {
        const s = parseTS(a.start), e = a.end ? parseTS(a.end) : null;
        const ev = el('ul', { class: 'evidence' });
        for (const f of a.evidence || []) {
          ev.append(el('li', {}, el('code', { text: cmdLine(['dissect', '-Y frame==' + f]) })));
        }
        return el('li', { class: 'anomaly sev-' + a.severity, 'data-id': a.id, 'data-kind': a.kind },
          el('span', { class: 'sev', text: a.severity }), ' ', el('strong', { text: a.subject }),
          el('div', { class: 'when' }, fmtTS(s) + ' → ' + (e !== null ? fmtTS(e) + ' (' + fmtDur(e - s) + ')' : 'still active at the end'),
            ' ', el('button', { type: 'button', class: 'at', onclick: () => { showInstant(s); location.hash = '#tables'; } }, 'tables at its start')),
          el('p', { class: 'expl', text: a.explanation }),
          el('details', {}, el('summary', { text: 'Evidence: ' + fmtInt(a.evidence_count) + ' frame(s)' + (a.evidence_count > (a.evidence || []).length ? ', the first ' + (a.evidence || []).length + ' shown' : '') }), ev));
      };
      // 50 at first, the rest on demand (a kind can have thousands)
      const FIRST = 50;
      const list = el('ul', { class: 'anomalies' }, as.slice(0, FIRST).map(item));
      const more = as.length > FIRST ? el('button', { type: 'button', class: 'more', onclick: () => { list.append(...as.slice(FIRST).map(item)); more.remove(); } },
        'show the other ' + fmtInt(as.length - FIRST)) : null;
      kids.push(el('div', { class: 'kind' },
        el('h3', {}, k, ' ', el('span', { class: 'count', text: '(' + as.length + ')' })),
        meta.explain[k] ? el('details', { class: 'explain' }, el('summary', { text: 'What it means, why it matters, what to check' }), el('pre', { text: meta.explain[k] })) : null,
        list, more));
    }
    return section('anomalies', 'Anomalies', ...kids);
  }

  // the tables at an instant
  const PAGE = 100;
  const COLS = {
    route: [['from', 'From'], ['to', 'To'], ['vpn', 'VPN'], ['prefix', 'Prefix'], ['path_id', 'Path'], ['originator', 'Originator'], ['tloc', 'TLOC'], ['preference', 'Pref'], ['origin', 'Origin'], ['status', 'Status'], ['loss_reason', 'Loss reason'], ['lost_to', 'Lost to'], ['last_change', 'Last change']],
    tloc: [['from', 'From'], ['to', 'To'], ['tloc', 'TLOC'], ['path_id', 'Path'], ['originator', 'Originator'], ['private', 'Private'], ['public', 'Public'], ['preference', 'Pref'], ['weight', 'Weight'], ['status', 'Status'], ['last_change', 'Last change']],
    service: [['from', 'From'], ['to', 'To'], ['vpn', 'VPN'], ['service', 'Service'], ['path_id', 'Path'], ['originator', 'Originator'], ['tloc', 'TLOC'], ['status', 'Status'], ['last_change', 'Last change']],
  };
  const TS = { kind: 'route', sort: null, desc: false, page: 0, vpn: '', prefix: '', peer: '', color: '' };

  function renderTables() {
    const meta = M.meta;
    const at = el('input', { id: 'at', type: 'text', value: 'end', size: 34, 'aria-label': 'instant' });
    const go = el('button', { type: 'button', id: 'at-go' }, 'Show');
    const err = el('span', { class: 'error', id: 'at-error' });
    const peers = [...new Set(meta.tables.flatMap((t) => [t.from, t.to]))].sort(cmpNameJS);
    const colors = [...new Set(Object.values(meta.colors))].sort();
    const f = {
      vpn: el('input', { id: 'f-vpn', type: 'text', size: 6, placeholder: 'any', 'aria-label': 'VPN' }),
      prefix: el('input', { id: 'f-prefix', type: 'text', size: 18, placeholder: 'any', 'aria-label': 'prefix' }),
      peer: el('select', { id: 'f-peer', 'aria-label': 'peer' }, el('option', { value: '', text: 'any' }), peers.map((p) => el('option', { value: p, text: p }))),
      color: el('select', { id: 'f-color', 'aria-label': 'color' }, el('option', { value: '', text: 'any' }), colors.map((c) => el('option', { value: c, text: c }))),
    };
    const tabs = el('div', { class: 'tabs', role: 'tablist' }, KINDS.map((k) =>
      el('button', { type: 'button', role: 'tab', 'data-kind': k, id: 'tab-' + k, onclick: () => { TS.kind = k; TS.sort = null; TS.page = 0; M.filtered = null; drawTable(); } }, k === 'tloc' ? 'TLOCs' : k + 's')));
    const info = el('p', { class: 'note', id: 'tables-info' });
    const holder = el('div', { id: 'tables-holder' });
    for (const k in f) f[k].addEventListener(k === 'peer' || k === 'color' ? 'change' : 'input', () => { TS[k] = f[k].value.trim(); TS.page = 0; M.filtered = null; drawTable(); });
    const apply = () => {
      const T = parseInstant(at.value, meta.end);
      if (T === null || isNaN(T)) { err.textContent = 'not a time: give RFC 3339, seconds from the start, start or end'; return; }
      err.textContent = '';
      showInstant(T);
    };
    go.addEventListener('click', apply);
    at.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
    M.atInput = at;
    M.tablesInfo = info; M.tablesHolder = holder; M.tabs = tabs;
    return section('tables', 'Tables',
      el('div', { class: 'controls' }, el('label', {}, 'At ', at), go, err),
      el('div', { class: 'controls filters' }, el('label', {}, 'VPN ', f.vpn), el('label', {}, 'prefix ', f.prefix), el('label', {}, 'peer ', f.peer), el('label', {}, 'color ', f.color)),
      tabs, info, holder,
      el('p', { class: 'legend', text: 'Status codes (Cisco’s, as `show omp routes` prints them): C chosen, I installed, Rej rejected, L looped, R resolved, S stale, Inv invalid, U TLOC unresolved; C, I and Rej are inferred.' }));
  }

  function showInstant(T) {
    if (!M.h) { M.pending = T; return; }
    M.instant = T;
    M.snap = stateAt(T);
    M.filtered = null;
    if (M.atInput) M.atInput.value = T >= M.meta.end ? 'end' : fmtTS(T);
    TS.page = 0;
    drawTable();
    if (M.plot) M.plot.redraw(false);
  }

  // filteredRows lists the rows of the kind shown that the filters keep,
  // in snapshot order (a typed array of row numbers).
  function filteredRows() {
    const H = M.h, st = M.snap, meta = M.meta;
    const kind = KINDS.indexOf(TS.kind);
    let vpn = null, pfx = null;
    if (TS.vpn !== '') vpn = /^\d+$/.test(TS.vpn) ? Number(TS.vpn) : -1;
    if (TS.prefix !== '') pfx = parsePrefix(TS.prefix);
    let out = new Int32Array(1024), n = 0;
    for (const ti of st.tables) {
      const t = meta.tables[ti];
      if (TS.peer && t.from !== TS.peer && t.to !== TS.peer) continue;
      for (let r = M.tabStart[ti]; r < M.tabEnd[ti]; r++) {
        const g = H.rGrp[r];
        if (H.gKind[g] !== kind) continue;
        const i = st.cur[r];
        if (i < 0 || H.vAttr[i] === 0) continue;
        if (vpn !== null && (kind === 1 || H.gVPN[g] !== vpn)) continue;
        if (pfx && (kind !== 0 || !inPrefix(g, pfx))) continue;
        if (TS.color) {
          const a = meta.attrs[H.vAttr[i] - 1];
          const c = kind === 1 ? meta.colors[meta.tlocs[H.gA[g]][1]] : ((a.has & 1) ? a.color : null);
          if (c !== TS.color) continue;
        }
        if (n === out.length) { const o = new Int32Array(n * 2); o.set(out); out = o; }
        out[n++] = r;
      }
    }
    return out.subarray(0, n);
  }
  function parsePrefix(s) {
    const [a, b] = s.split('/');
    let bytes;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(a)) bytes = a.split('.').map(Number);
    else if (a.includes(':')) bytes = parse6(a);
    if (!bytes || bytes.some((x) => isNaN(x) || x < 0 || x > 255)) return { bad: true };
    const bits = b === undefined ? bytes.length * 8 : Number(b);
    if (isNaN(bits) || bits > bytes.length * 8) return { bad: true };
    return { bytes, bits };
  }
  function parse6(s) {
    const halves = s.split('::');
    if (halves.length > 2) return null;
    const part = (x) => (x === '' ? [] : x.split(':').map((h) => (/^[0-9a-fA-F]{1,4}$/.test(h) ? parseInt(h, 16) : NaN)));
    const hd = part(halves[0]), tl = halves.length === 2 ? part(halves[1]) : [];
    const fill = 8 - hd.length - tl.length;
    if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
    const w = [...hd, ...new Array(fill).fill(0), ...tl];
    if (w.some((x) => isNaN(x))) return null;
    return w.flatMap((x) => [x >> 8, x & 255]);
  }
  function inPrefix(g, f) {
    const H = M.h;
    if (f.bad) return false;
    const ver = H.gA[g], n = ver === 4 ? 4 : 16;
    if (n !== f.bytes.length || H.gB[g] < f.bits) return false;
    for (let i = 0; i < f.bits; i++) {
      const bit = (x) => (x >> (7 - (i % 8))) & 1;
      if (bit(H.u8[H.gPos[g] + (i >> 3)]) !== bit(f.bytes[i >> 3])) return false;
    }
    return true;
  }

  // cell is what column col shows of row r (a number where it sorts as one).
  function cell(r, col) {
    const H = M.h, st = M.snap, g = H.rGrp[r], k = H.gKind[g], t = M.meta.tables[H.rTab[r]];
    switch (col) {
      case 'from': return t.from;
      case 'to': return t.to;
      case 'vpn': return H.gVPN[g];
      case 'prefix': case 'service': return groupText(g);
      case 'path_id': return H.rPath[r];
    }
    const a = M.meta.attrs[H.vAttr[st.cur[r]] - 1];
    switch (col) {
      case 'originator': return originatorOf({ row: r, attr: a });
      case 'tloc': return k === 1 ? groupText(g) : (a.has & 1) ? M.meta.tlocs[a.tloc][0] : '';
      case 'preference': return a.pref;
      case 'weight': return a.weight;
      case 'origin': return (a.has & 4) ? a.origin : '';
      case 'private': return H.rFam[r] === M.famTLOCv6 ? (a.priv6 || '') : (a.priv4 || '');
      case 'public': return H.rFam[r] === M.famTLOCv6 ? (a.pub6 || '') : (a.pub4 || '');
      case 'last_change': return st.lc[r] >= 0 ? H.vT[st.lc[r]] : H.vT[st.cur[r]];
    }
    const v = rowAt(st, r);
    switch (col) {
      case 'status': return v.status;
      case 'loss_reason': return v.loss;
      case 'lost_to': return v.lostTo ? v.lostTo + ' path ' + v.lostToPath : '';
    }
    return '';
  }

  // sortKey is a number that orders rows as column col does, where one is
  // at hand without building strings (rows are numbered in snapshot order).
  function sortKey(col, kind) {
    const H = M.h, st = M.snap, meta = M.meta;
    const attr = (r) => meta.attrs[H.vAttr[st.cur[r]] - 1]; // rows listed are live at the instant
    switch (col) {
      case 'from': case 'to': {
        const names = [...new Set(meta.tables.map((t) => t[col]))].sort(cmpNameJS);
        const rank = new Map(names.map((n, i) => [n, i]));
        const tr = Int32Array.from(meta.tables, (t) => rank.get(t[col]));
        return (r) => tr[H.rTab[r]];
      }
      case 'vpn': return (r) => H.gVPN[H.rGrp[r]];
      case 'prefix': case 'service': return (r) => H.rGrp[r]; // groups are numbered in (VPN, prefix) order
      case 'path_id': return (r) => H.rPath[r];
      case 'preference': return (r) => attr(r).pref;
      case 'weight': return (r) => attr(r).weight;
      case 'last_change': return (r) => cell(r, 'last_change');
      case 'originator': return kind === 'route' ? (r) => attr(r).orig_rank : null;
    }
    return null;
  }
  const ADDRCOLS = new Set(['originator', 'tloc', 'private', 'public', 'lost_to']);
  // cmpAddrJS orders texts that begin with an address by the address
  // (10.255.0.2 before 10.255.0.10), then as text.
  function cmpAddrJS(x, y) {
    const a = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(x), b = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(y);
    if (a && b) {
      for (let i = 1; i <= 4; i++) if (+a[i] !== +b[i]) return +a[i] - +b[i];
    } else if (a) return -1;
    else if (b) return 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  // filterFlags are analyze's flags for the filters set.
  function filterFlags() {
    let f = '';
    if (TS.vpn) f += ' --vpn ' + shq(TS.vpn);
    if (TS.prefix) f += ' --prefix ' + shq(TS.prefix);
    if (TS.peer) f += ' --peer ' + shq(TS.peer);
    if (TS.color) f += ' --color ' + shq(TS.color);
    return f;
  }
  function badFilter() {
    if (TS.vpn && !/^\d+$/.test(TS.vpn)) return 'VPN ' + TS.vpn + ': not a VPN number.';
    if (TS.prefix && parsePrefix(TS.prefix).bad) return TS.prefix + ': not a prefix or an address.';
    return '';
  }

  function drawTable() {
    if (!M.snap) return;
    for (const b of M.tabs.children) b.setAttribute('aria-selected', b.dataset.kind === TS.kind ? 'true' : 'false');
    const cols = COLS[TS.kind];
    if (!M.filtered) M.filtered = filteredRows();
    let rows = M.filtered;
    if (TS.sort && rows.length > 1) {
      const c = TS.sort, sign = TS.desc ? -1 : 1;
      const kf = sortKey(c, TS.kind);
      if (kf) {
        const key = new Float64Array(rows.length);
        for (let i = 0; i < rows.length; i++) key[i] = kf(rows[i]);
        const ord = Array.from(key.keys()).sort((p, q) => sign * (key[p] - key[q]) || p - q);
        rows = Int32Array.from(ord, (i) => rows[i]);
      } else {
        const idx = Array.from(rows);
        const key = idx.map((r) => String(cell(r, c)));
        const cmp = ADDRCOLS.has(c) ? cmpAddrJS : (x, y) => (x < y ? -1 : x > y ? 1 : 0);
        const ord = Array.from(key.keys()).sort((p, q) => sign * cmp(key[p], key[q]) || p - q);
        rows = Int32Array.from(ord, (i) => idx[i]);
      }
    }
    const total = rows.length, pages = Math.max(1, Math.ceil(total / PAGE));
    TS.page = Math.min(TS.page, pages - 1);
    const shown = rows.subarray(TS.page * PAGE, (TS.page + 1) * PAGE);
    const T = M.snap.T;
    M.tablesInfo.textContent = '';
    M.tablesInfo.append(...[(T >= M.meta.end ? 'At the end of the capture, ' + fmtTS(M.meta.end) : 'At ' + fmtTS(T)) + ': ' + fmtInt(total) + ' ' + (TS.kind === 'tloc' ? 'TLOC' : TS.kind) + ' row(s) in ' +
      fmtInt(M.snap.tables.length) + ' table(s). The same from the command line: ', el('code', { text: cmdLine(['analyze', '--at ' + (T >= M.meta.end ? 'end' : fmtTS(T)) + filterFlags()]) }),
      badFilter() ? el('strong', { class: 'error', text: ' ' + badFilter() }) : null,
      (M.meta.dropped_from !== undefined && T >= M.meta.dropped_from) ? el('strong', { class: 'error', text: ' Incomplete: the report’s cap of row versions was reached before this instant.' }) : null].filter(Boolean));
    const thead = el('tr', {}, cols.map(([c, name]) => el('th', { scope: 'col', 'data-col': c, class: TS.sort === c ? (TS.desc ? 'sorted desc' : 'sorted') : '',
      onclick: () => { if (TS.sort === c) TS.desc = !TS.desc; else { TS.sort = c; TS.desc = false; } drawTable(); } }, name)));
    const tbody = el('tbody');
    for (const r of shown) {
      tbody.append(el('tr', { 'data-row': r }, cols.map(([c]) => {
        let v = cell(r, c);
        let title = null;
        if (c === 'last_change') { title = fmtTS(v); v = fmtClock(v); }
        return el('td', { class: 'c-' + c, title, text: v });
      })));
    }
    const pager = el('div', { class: 'pager' },
      el('button', { type: 'button', disabled: TS.page === 0, onclick: () => { TS.page = 0; drawTable(); } }, '«'),
      el('button', { type: 'button', disabled: TS.page === 0, onclick: () => { TS.page--; drawTable(); } }, '‹'),
      ' page ' + (TS.page + 1) + ' of ' + fmtInt(pages) + ' ',
      el('button', { type: 'button', disabled: TS.page >= pages - 1, onclick: () => { TS.page++; drawTable(); } }, '›'),
      el('button', { type: 'button', disabled: TS.page >= pages - 1, onclick: () => { TS.page = pages - 1; drawTable(); } }, '»'));
    M.tablesHolder.textContent = '';
    M.tablesHolder.append(pager, el('table', { class: 'rows', id: 'rows' }, el('thead', {}, thead), tbody));
  }

  function cmpNameJS(x, y) {
    const px = /^\d+\.\d+\.\d+\.\d+$/.test(x), py = /^\d+\.\d+\.\d+\.\d+$/.test(y);
    if (px && py) {
      const a = x.split('.').map(Number), b = y.split('.').map(Number);
      for (let i = 0; i < 4; i++) if (a[i] !== b[i]) return a[i] - b[i];
      return 0;
    }
    if (px) return -1;
    if (py) return 1;
    return x < y ? -1 : x > y ? 1 : 0;
  }

  // the fabric: controllers and edges, who peers with whom, what each holds
  function renderFabric() {
    const fab = (M.meta.summary.fabric || []).slice();
    const kids = [];
    const ctrl = fab.filter((d) => d.device_type !== 'vEdge'), edges = fab.filter((d) => d.device_type === 'vEdge');
    if (fab.length && fab.length <= 120) {
      const W = 1100, H = Math.max(260, 200 + 40 * Math.ceil(edges.length / 12));
      const pos = new Map();
      ctrl.forEach((d, i) => pos.set(d.system_ip, [W * (i + 1) / (ctrl.length + 1), 50]));
      edges.forEach((d, i) => {
        const perRow = Math.min(12, edges.length), row = Math.floor(i / perRow), col = i % perRow;
        pos.set(d.system_ip, [W * (col + 1) / (perRow + 1), 170 + row * 40]);
      });
      const g = svg('svg', { width: W, height: H, class: 'fabric', role: 'img', 'aria-label': 'fabric' });
      const drawn = new Set();
      for (const d of fab) {
        for (const p of d.peer_system_ips || []) {
          const k = [d.system_ip, p].sort().join('|');
          if (drawn.has(k) || !pos.has(p)) continue;
          drawn.add(k);
          const [x1, y1] = pos.get(d.system_ip), [x2, y2] = pos.get(p);
          g.append(svg('line', { x1, y1, x2, y2, class: 'peering' }));
        }
      }
      for (const d of fab) {
        const [x, y] = pos.get(d.system_ip);
        const isC = d.device_type !== 'vEdge';
        g.append(svg('g', { class: 'dev ' + (isC ? 'ctrl' : 'edge') },
          svg('title', {}, d.device_type + ' ' + d.system_ip + ' site ' + d.site_id + ': holds ' + d.received.route_count + ' routes, ' + d.received.tloc_count + ' TLOCs, ' + d.received.service_count + ' services; advertises ' + d.advertised.route_count + ' routes'),
          isC ? svg('rect', { x: x - 44, y: y - 14, width: 88, height: 28, rx: 5 }) : svg('circle', { cx: x, cy: y, r: 13 }),
          svg('text', { x, y: isC ? y + 4 : y + 26, 'text-anchor': 'middle' }, d.system_ip)));
      }
      kids.push(g);
    } else if (fab.length) {
      kids.push(el('p', { class: 'note', text: fmtInt(fab.length) + ' devices: too many to draw; the list below has them all.' }));
    }
    const tbl = el('table', { class: 'rows', id: 'fabric-table' }, el('thead', {}, el('tr', {}, ['Device', 'Type', 'Site', 'Peers', 'Holds routes', 'TLOCs', 'services', 'Advertises routes', 'TLOCs', 'services'].map((h) => el('th', { text: h })))));
    const tb = el('tbody');
    const shown = fab.slice(0, 500);
    for (const d of shown) {
      tb.append(el('tr', {}, [d.system_ip, d.device_type, d.site_id, (d.peer_system_ips || []).length > 6 ? d.peer_system_ips.slice(0, 6).join(', ') + ' … (' + d.peer_system_ips.length + ')' : (d.peer_system_ips || []).join(', '),
        d.received.route_count, d.received.tloc_count, d.received.service_count, d.advertised.route_count, d.advertised.tloc_count, d.advertised.service_count].map((v) => el('td', { text: v }))));
    }
    tbl.append(tb);
    kids.push(tbl);
    if (fab.length > shown.length) kids.push(el('p', { class: 'note', text: 'The first 500 of ' + fmtInt(fab.length) + ' devices; ompscope analyze -T json lists them all.' }));
    return section('fabric', 'Fabric', ...kids);
  }

  // ---------- start

  function mark(what) { window.ompscope.marks.push([what, Math.round(performance.now())]); }

  async function main() {
    const app = document.getElementById('app');
    mark('script');
    const t0 = performance.now();
    const metaBytes = await blob('ompscope-meta');
    mark('meta inflated');
    M.meta = JSON.parse(new TextDecoder().decode(metaBytes));
    mark('meta parsed');
    const m = /^(.*T\d\d:\d\d:\d\d)\.(\d{9})Z$/.exec(M.meta.start);
    startSecs = Date.parse(m[1] + 'Z') / 1000;
    startFrac = Number(m[2]);
    M.gText = [];
    const nav = el('nav', {}, ['summary', 'timeline', 'sessions', 'anomalies', 'tables', 'fabric'].map((s) => el('a', { href: '#' + s, text: s })));
    app.textContent = '';
    const later = (id, title) => section(id, title, el('p', { class: 'note', text: 'Reading…' }));
    const slots = { sessions: later('sessions', 'Control connections'), tables: later('tables', 'Tables'), fabric: later('fabric', 'Fabric') };
    const parts = [];
    for (const [name, f] of [['summary', renderSummary], ['plot', renderPlot], ['sessions', () => slots.sessions], ['anomalies', renderAnomalies],
      ['tables', () => slots.tables], ['fabric', () => slots.fabric]]) {
      parts.push(f());
      mark(name);
    }
    app.append(el('header', {}, el('h1', { text: document.title }), nav), ...parts,
      el('footer', {}, 'Written by ompscope (data ' + M.meta.schema + '). Plots: uPlot 1.6.32 (MIT). No request leaves this page.'));
    M.drawPlot(); // the fabric's sizes come with the summary: the rest is read after
    // milliseconds from the start of navigation (the page's opening)
    window.ompscope.plotMS = performance.now();
    mark('plot drawn');
    await new Promise((ok) => setTimeout(ok, 0)); // let the page paint
    if (document.readyState === 'loading') await new Promise((ok) => document.addEventListener('DOMContentLoaded', ok, { once: true }));
    const data = JSON.parse(new TextDecoder().decode(await blob('ompscope-data')));
    M.meta.summary.peers = data.peers;
    M.meta.summary.fabric = data.fabric;
    delete data.peers;
    delete data.fabric;
    Object.assign(M.meta, data);
    M.famTLOCv6 = M.meta.fam_tloc_v6;
    mark('data read');
    slots.sessions.replaceWith(renderSessions());
    slots.fabric.replaceWith(renderFabric());
    slots.tables.replaceWith(renderTables());
    M.addPeers();
    mark('sessions, fabric');
    const hb = await blob('ompscope-hist');
    mark('history inflated');
    M.h = decodeHist(hb, M.meta);
    mark('history decoded');
    buildIndex();
    mark('indexed');
    M.peerSelect.disabled = false;
    showInstant(M.pending !== undefined ? M.pending : M.meta.end);
    window.ompscope.tablesMS = performance.now();
    mark('tables');
    window.ompscope.scriptMS = t0;
    window.ompscope.ready = true;
  }

  window.ompscope = {
    ready: false,
    error: null,
    marks: [],
    snapshotJSON: (rel) => snapshotJSON(rel),
    parseTS: (s) => parseTS(s),
    fmtTS: (rel) => fmtTS(rel),
    end: () => M.meta.end,
    showInstant: (rel) => showInstant(rel),
    model: M,
  };
  main().catch((e) => {
    window.ompscope.error = String(e && e.stack || e);
    const app = document.getElementById('app');
    app.textContent = '';
    app.append(el('pre', { class: 'error', text: 'The report could not be read: ' + e }));
    throw e;
  });
})();
