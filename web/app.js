// The live page: polls the JSON API for totals and follows /api/events
// (Server-Sent Events) for the feed. No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const FEED_MAX = 60;
let address = "";
const timers = new Map();

// 1234567 → "1.23 M"; difficulties and hashrates span 1e-8 to 1e20.
function human(n, unit = "") {
  if (!isFinite(n) || n === 0) return "0" + (unit ? " " + unit : "");
  const units = ["", "k", "M", "G", "T", "P", "E", "Z"];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : v >= 1 ? 2 : 3;
  const text = v < 0.001 ? n.toExponential(2) : (Math.sign(n) * v).toFixed(digits);
  return `${text} ${units[i]}${unit}`.trim();
}
const rate = (h) => human(h, "H/s");
const clock = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
const short = (a) => (a && a.length > 20 ? a.slice(0, 10) + "…" + a.slice(-6) : a || "");

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body.error || r.statusText), { status: r.status });
  return body;
}

async function refreshTotals() {
  try {
    const [pool, net] = await Promise.all([getJSON("/api/pool"), getJSON("/api/network")]);
    $("pool-rate").textContent = rate(pool.totalHashRate);
    $("pool-miners").textContent = pool.totalMiners;
    $("pool-blocks").textContent = pool.blocksFound.length;
    showNetwork(net.height, net.difficulty);
  } catch (e) { /* the next poll retries */ }
}

function showNetwork(height, diff) {
  $("net-height").textContent = height ? height.toLocaleString() : "–";
  if (diff) $("net-diff").textContent = human(diff);
}

// ---- the per-address view ----

async function refreshMe() {
  if (!address) return;
  try {
    const [info, bests, chart] = await Promise.all([
      getJSON(`/api/client/${encodeURIComponent(address)}`),
      getJSON(`/api/client/${encodeURIComponent(address)}/bests`),
      getJSON(`/api/client/${encodeURIComponent(address)}/chart`),
    ]);
    $("watch-error").hidden = true;
    $("me").hidden = false;
    $("me-address").textContent = address;
    showBests(bests);
    showWorkers(info.workers);
    $("me-rate").textContent = rate(info.workers.reduce((s, w) => s + w.hashRate, 0)) + " now";
    drawChart(chart);
  } catch (e) {
    $("me").hidden = e.status === 404 ? false : true;
    $("watch-error").hidden = false;
    $("watch-error").textContent = e.status === 404
      ? "No shares from this address yet — point a miner at the pool and they show up here."
      : e.message;
  }
}

function showBests(b) {
  $("best-session").textContent = human(b.session);
  $("best-week").textContent = human(b.weekBest);
  $("best-alltime").textContent = human(b.allTime);
  $("week-label").textContent = `ISO week ${String(b.week).slice(4)} of ${String(b.week).slice(0, 4)}`;
  $("weekly-shares").textContent = `${b.weeklyShares.toLocaleString()} shares this week`;
}

function showWorkers(workers) {
  const body = $("workers").querySelector("tbody");
  body.replaceChildren(...workers.map((w) => {
    const tr = document.createElement("tr");
    const cells = [w.name || "(default)", rate(w.hashRate), human(w.bestDifficulty),
      clock(new Date(w.startTime)), clock(new Date(w.lastSeen))];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    return tr;
  }));
  if (!workers.length) {
    body.innerHTML = '<tr><td colspan="5" class="muted">No worker connected right now</td></tr>';
  }
}

// An inline SVG area chart: 144 ten-minute slots.
function drawChart(points) {
  const W = 1000, H = 200, pad = 28;
  const max = Math.max(1, ...points.map((p) => p.data));
  const x = (i) => pad + (i * (W - pad * 2)) / Math.max(1, points.length - 1);
  const y = (v) => H - pad - (v / max) * (H - pad * 2);
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.data).toFixed(1)}`).join("");
  const area = `${line}L${x(points.length - 1)},${H - pad}L${x(0)},${H - pad}Z`;
  const ticks = points.map((p, i) => [p, i]).filter(([, i]) => i % 24 === 0)
    .map(([p, i]) => `<text class="axis" x="${x(i)}" y="${H - 8}" text-anchor="middle">${clock(new Date(p.label)).slice(0, 5)}</text>`).join("");
  $("chart").innerHTML = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="hashrate over 24 hours">
    <defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#f7931a" stop-opacity=".55"/><stop offset="1" stop-color="#f7931a" stop-opacity="0"/></linearGradient></defs>
    <line class="grid" x1="${pad}" y1="${y(max)}" x2="${W - pad}" y2="${y(max)}"/>
    <line class="grid" x1="${pad}" y1="${y(max / 2)}" x2="${W - pad}" y2="${y(max / 2)}"/>
    <path d="${area}" fill="url(#g)"/><path d="${line}" fill="none" stroke="#f7931a" stroke-width="2"/>
    <text class="axis" x="${pad}" y="${y(max) - 6}">${rate(max)}</text>${ticks}</svg>`;
}

// ---- the live feed ----

function feed(kind, text, who, mine) {
  if ($("only-me").checked && !mine) return;
  const li = document.createElement("li");
  li.className = `${kind}${mine ? " mine" : ""}`;
  const t = document.createElement("time"); t.textContent = clock(new Date());
  const w = document.createElement("span"); w.className = "what"; w.textContent = text;
  const u = document.createElement("span"); u.className = "who"; u.textContent = who;
  li.append(t, w, u);
  const list = $("feed");
  list.prepend(li);
  while (list.children.length > FEED_MAX) list.lastChild.remove();
}

const TIER = { session: "session", week: "week", alltime: "all-time" };

const handlers = {
  share_submitted(e) {
    const mine = e.user === address;
    const text = e.accepted ? `share ${human(e.sdiff)} (at ${human(e.diff)})` : `rejected: ${e.reject_reason}`;
    feed(e.accepted ? "share" : "reject", text, short(e.worker), mine);
    if (mine) soon(refreshMe);
    soon(refreshTotals);
  },
  share_best_diff(e) {
    const mine = e.user === address;
    feed("best", `Personal best! ${TIER[e.timeframe] || e.timeframe}: ${human(e.new_best)} (was ${human(e.prev_best)})`, short(e.worker), mine);
    if (mine) {
      const card = document.querySelector(`.tier.${e.timeframe}`);
      if (card) { card.classList.remove("flash"); void card.offsetWidth; card.classList.add("flash"); }
      soon(refreshMe);
    }
  },
  diff_updated(e) {
    feed("diff", `difficulty ${human(e.old_diff)} → ${human(e.new_diff)}`, short(e.worker), e.user === address);
  },
  new_block_network(e) {
    showNetwork(e.height, e.diff);
    feed("tip", `new block ${e.height.toLocaleString()} on the network`, short(e.hash), false);
  },
  block_found(e) {
    $("banner-text").textContent = `height ${e.height.toLocaleString()} by ${short(e.worker)} — ${(e.reward_sats / 1e8).toFixed(8)} BTC`;
    $("banner").hidden = false;
    feed("block", `BLOCK ${e.height} found!`, short(e.worker), e.user === address);
    soon(refreshTotals);
  },
};

// Each refresh at most once a second, however many events arrive.
function soon(fn) {
  if (timers.has(fn)) return;
  timers.set(fn, setTimeout(() => { timers.delete(fn); fn(); }, 1000));
}

function connect() {
  const es = new EventSource("/api/events");
  es.onopen = () => { $("status").className = "status on"; $("status").lastChild.textContent = "live"; };
  es.onerror = () => { $("status").className = "status off"; $("status").lastChild.textContent = "reconnecting…"; };
  for (const kind of Object.keys(handlers)) {
    es.addEventListener(kind, (m) => {
      try { handlers[kind](JSON.parse(m.data)); } catch (err) { /* a malformed frame is skipped */ }
    });
  }
}

function follow(a) {
  address = a.trim();
  if (!address) return;
  localStorage.setItem("tbg-address", address);
  if (location.hash.slice(1) !== address) history.replaceState(null, "", "#" + address);
  refreshMe();
}

$("watch").addEventListener("submit", (e) => { e.preventDefault(); follow($("address").value); });
$("banner-close").addEventListener("click", () => { $("banner").hidden = true; });
const start = decodeURIComponent(location.hash.slice(1)) || localStorage.getItem("tbg-address") || "";
$("address").value = start;
refreshTotals();
setInterval(refreshTotals, 10000);
setInterval(refreshMe, 30000);
connect();
if (start) follow(start);
