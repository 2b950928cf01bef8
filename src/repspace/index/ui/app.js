// repspace web UI: plain JS, no dependencies; talks to the same server's JSON API.
"use strict";
const $ = (id) => document.getElementById(id);
const PALETTE = ["#2f5bd3", "#e4572e", "#17a398", "#f3a712", "#8e44ad", "#5c946e", "#d81159",
  "#3d5a80", "#a44a3f", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#8c564b", "#e377c2",
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"];
const state = { space: null, spaces: {}, map: null, key: localStorage.getItem("repspace-api-key") || "" };

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.key) headers["X-API-Key"] = state.key;
  const res = await fetch(path, Object.assign({}, options, { headers }));
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (res.status === 401) $("keybox").hidden = false;
  if (!res.ok) throw new Error((body && body.error) || `HTTP ${res.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "status error" : "status";
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

// The text as nodes, with the words the server says matched the query wrapped in <mark>.
function highlighted(text, words) {
  const p = el("p", { class: "text" });
  if (!words || !words.length) { p.textContent = text; return p; }
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])(${words.map(escapeRe).join("|")})(?![\\p{L}\\p{N}_])`, "gu");
  let last = 0;
  for (const m of text.matchAll(re)) {
    p.append(text.slice(last, m.index), el("mark", {}, m[0]));
    last = m.index + m[0].length;
  }
  p.append(text.slice(last));
  return p;
}

function explain(h) {
  if (!h.scores) return "";
  const parts = [];
  if (h.scores.dense !== null) parts.push(`dense ${h.scores.dense.toFixed(3)}`);
  if (h.scores.lexical !== null) parts.push(`bm25 ${h.scores.lexical.toFixed(2)}`);
  return parts.join(" · ");
}

function renderHits(list, hits) {
  list.replaceChildren();
  for (const h of hits) {
    const li = el("li", { "data-id": h.id },
      el("div", { class: "meta" }, el("span", { class: "id" }, h.id),
        el("span", { class: "explain" }, explain(h)),
        el("span", { class: "score" }, h.score.toFixed(3))),
      highlighted((h.text || "").slice(0, 300), h.matched));
    li.addEventListener("click", () => showNeighbors(h.id));
    list.append(li);
  }
}

function currentMode() {
  const checked = document.querySelector('input[name="mode"]:checked');
  return checked ? checked.value : null;
}

// The mode switch offers lexical and hybrid only for spaces with a lexical index.
function setModes() {
  const info = state.spaces[state.space] || {};
  for (const input of document.querySelectorAll('input[name="mode"]')) {
    input.disabled = input.value !== "dense" && !info.lexical;
    input.checked = input.value === (info.mode || "dense");
  }
}

async function search(event) {
  if (event) event.preventDefault();
  const q = $("query").value.trim();
  if (!q) { setStatus("Type a query.", true); return; }
  const body = { query: q, space: state.space, k: Number($("k").value) || 10 };
  const mode = currentMode();
  if (mode) body.mode = mode;
  const f = $("filter").value.trim();
  if (f) {
    body.filter = {};
    for (const part of f.split(",")) {
      const i = part.indexOf("=");
      if (i < 1) { setStatus(`filter "${part}" is not field=value`, true); return; }
      body.filter[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
  }
  setStatus("Searching…");
  try {
    const t0 = performance.now();
    const res = await api("/search", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    renderHits($("results"), res.hits);
    setStatus(`${res.hits.length} results in ${Math.round(performance.now() - t0)} ms, ${res.mode}` +
      (res.note ? ` — ${res.note}` : ""));
  } catch (e) { setStatus(e.message, true); }
}

async function showNeighbors(id) {
  try {
    const res = await api(`/spaces/${encodeURIComponent(state.space)}/neighbors/${encodeURIComponent(id)}?k=10`);
    $("neighbors").hidden = false;
    $("nb-id").textContent = id;
    $("nb-text").textContent = res.text || "";
    renderHits($("nb-list"), res.hits);
  } catch (e) { setStatus(e.message, true); }
}

const SVG = "http://www.w3.org/2000/svg";
function drawMap() {
  const m = state.map, svg = $("map");
  svg.replaceChildren();
  if (!m || !m.x.length) { $("map-info").textContent = "no points"; return; }
  const field = $("color-by").value;
  const values = field ? m.fields[field] : null;
  const cats = values ? [...new Set(values)].sort() : [];
  const color = (i) => values ? PALETTE[cats.indexOf(values[i]) % PALETTE.length] : PALETTE[0];
  const pad = 20, W = 800, H = 600;
  const [x0, x1] = [Math.min(...m.x), Math.max(...m.x)], [y0, y1] = [Math.min(...m.y), Math.max(...m.y)];
  const sx = (v) => pad + (v - x0) / ((x1 - x0) || 1) * (W - 2 * pad);
  const sy = (v) => H - pad - (v - y0) / ((y1 - y0) || 1) * (H - 2 * pad);
  for (let i = 0; i < m.x.length; i++) {
    const c = document.createElementNS(SVG, "circle");
    c.setAttribute("cx", sx(m.x[i]).toFixed(1));
    c.setAttribute("cy", sy(m.y[i]).toFixed(1));
    c.setAttribute("r", "3.5");
    c.setAttribute("fill", color(i));
    c.setAttribute("fill-opacity", "0.75");
    c.dataset.i = i;
    svg.append(c);
  }
  $("legend").replaceChildren(...cats.map((v, i) => {
    const s = el("span", {}, v || "(none)"); s.style.setProperty("--c", PALETTE[i % PALETTE.length]); return s;
  }));
  const ev = m.explained_variance || [];
  $("map-info").textContent = `${m.x.length.toLocaleString()} of ${m.n.toLocaleString()} rows, PCA` +
    (ev.length ? ` (PC1 ${(ev[0] * 100).toFixed(1)}%, PC2 ${(ev[1] * 100).toFixed(1)}% of variance)` : "");
}

function mapHover(event) {
  const tip = $("tooltip"), t = event.target;
  if (t.tagName !== "circle") { tip.hidden = true; return; }
  const i = Number(t.dataset.i), m = state.map;
  const field = $("color-by").value;
  tip.textContent = `${m.ids[i]}${field ? " [" + m.fields[field][i] + "]" : ""}: ${m.texts ? m.texts[i] : ""}`;
  const box = $("map").parentElement.getBoundingClientRect();
  tip.style.left = `${Math.min(event.clientX - box.left + 12, box.width - 200)}px`;
  tip.style.top = `${event.clientY - box.top + 12}px`;
  tip.hidden = false;
}

async function loadMap() {
  if (state.map && state.map.space === state.space) { drawMap(); return; }
  $("map-info").textContent = "computing the map…";
  try {
    state.map = await api(`/spaces/${encodeURIComponent(state.space)}/map`);
    state.map.space = state.space;
    const fields = Object.keys(state.map.fields || {});
    $("color-by").replaceChildren(el("option", { value: "" }, "(none)"), ...fields.map((f) => el("option", { value: f }, f)));
    if (fields.length) $("color-by").value = fields[0];
    drawMap();
  } catch (e) { $("map-info").textContent = e.message; }
}

function fmt(v) {
  if (typeof v === "number") return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(4);
  if (v === null || v === undefined) return "–";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

async function loadReports() {
  try {
    const s = await api(`/spaces/${encodeURIComponent(state.space)}`);
    $("space-facts").replaceChildren(el("p", {},
      `${s.n.toLocaleString()} rows × ${s.dim} dims, ${s.dtype} storage, encoder `, el("code", {}, s.encoder || "(none)")));
    if (s.inspect) {
      const rows = Object.entries(s.inspect.metrics).map(([k, v]) =>
        el("tr", {}, el("th", {}, k), el("td", { class: "num" }, fmt(v)), el("td", {}, s.inspect.scope[k] || "")));
      $("metrics").replaceChildren(el("table", { class: "metrics" }, ...rows));
    } else {
      $("metrics").replaceChildren(el("p", { class: "status" }, "No inspect metrics beside this space (run repspace inspect --json > inspect.json)."));
    }
    const links = s.reports.map((r) =>
      el("li", {}, el("a", { href: r.url, target: "_blank", rel: "noopener" }, `${r.name} (${r.kind})`)));
    $("report-links").replaceChildren(...(links.length ? links : [el("li", { class: "status" }, "No reports found beside this space.")]));
  } catch (e) { $("metrics").textContent = e.message; }
}

function showTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of ["search", "map", "reports"]) $(`tab-${p}`).hidden = p !== name;
  if (name === "map") loadMap();
  if (name === "reports") loadReports();
}

async function init() {
  $("search-form").addEventListener("submit", search);
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("map").addEventListener("mousemove", mapHover);
  $("map").addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
  $("color-by").addEventListener("change", drawMap);
  $("savekey").addEventListener("click", () => {
    state.key = $("apikey").value; localStorage.setItem("repspace-api-key", state.key); $("keybox").hidden = true; init_spaces();
  });
  $("space").addEventListener("change", () => { state.space = $("space").value; setModes(); $("results").replaceChildren(); $("neighbors").hidden = true; });
  await init_spaces();
}

async function init_spaces() {
  try {
    const spaces = await api("/spaces");
    $("space").replaceChildren(...spaces.map((s) => el("option", { value: s.name }, `${s.name} (${s.n.toLocaleString()})`)));
    state.spaces = Object.fromEntries(spaces.map((s) => [s.name, s]));
    state.space = spaces.length ? spaces[0].name : null;
    setModes();
    setStatus("");
  } catch (e) { setStatus(e.message, true); }
}

init();
