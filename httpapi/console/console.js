// fmspush's console: polls /v1/streams every 2 s and renders every stream
// and target. Every string from the server goes into the page as text
// (textContent), never as markup.
"use strict";

(function () {
  const POLL_MS = 2000;
  const THUMB_MS = 5000;
  const HISTORY = 150; // points kept per stream: 5 minutes at 2 s
  const TIMELINE_MS = 10 * 60 * 1000;

  const cards = new Map(); // stream ID -> card
  const history = new Map(); // stream ID -> [{t, thr, need, lag, path, state}]

  // el makes an element with a class and text (never markup).
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function isTime(s) {
    return typeof s === "string" && s !== "" && !s.startsWith("0001-01-01");
  }

  // dur renders nanoseconds as people read them: "450 ms", "8 s", "2 min 5 s".
  function dur(ns) {
    if (typeof ns !== "number" || !isFinite(ns)) return "";
    const neg = ns < 0;
    let ms = Math.abs(ns) / 1e6;
    let s;
    if (ms < 1) s = "0 ms";
    else if (ms < 1000) s = Math.round(ms) + " ms";
    else if (ms < 10000) s = (Math.round(ms / 100) / 10) + " s";
    else if (ms < 60000) s = Math.round(ms / 1000) + " s";
    else if (ms < 3600000) {
      const m = Math.floor(ms / 60000), sec = Math.round((ms % 60000) / 1000);
      s = m + " min" + (sec ? " " + sec + " s" : "");
    } else {
      const h = Math.floor(ms / 3600000), m = Math.round((ms % 3600000) / 60000);
      s = h + " h" + (m ? " " + m + " min" : "");
    }
    return (neg ? "-" : "") + s;
  }

  // rel renders a time relative to now: "in 57 s", "12 s ago".
  function rel(iso) {
    if (!isTime(iso)) return "";
    const d = Date.parse(iso) - Date.now();
    if (Math.abs(d) < 500) return "now";
    return d > 0 ? "in " + dur(d * 1e6) : dur(-d * 1e6) + " ago";
  }

  // clock renders a time as a local clock time.
  function clock(iso) {
    if (!isTime(iso)) return "";
    return new Date(iso).toLocaleTimeString();
  }

  function bps(v) {
    if (typeof v !== "number") return "";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + " Mbit/s";
    if (v >= 1e3) return Math.round(v / 1e3) + " kbit/s";
    return v + " bit/s";
  }

  function bytes(v) {
    if (typeof v !== "number") return "";
    if (v >= 1 << 30) return (v / (1 << 30)).toFixed(2) + " GiB";
    if (v >= 1 << 20) return (v / (1 << 20)).toFixed(1) + " MiB";
    if (v >= 1 << 10) return Math.round(v / (1 << 10)) + " KiB";
    return v + " B";
  }

  function idOf(s) {
    return s.target_name ? s.name + "/" + s.target_name : s.name;
  }

  // The card of one stream's target: built once, updated on every poll.
  function makeCard(s) {
    const c = { root: el("section", "card") };
    c.root.dataset.stream = idOf(s);
    const h2 = el("h2");
    c.name = el("span", "name", s.name);
    h2.append(c.name);
    if (s.target_name) h2.append(el("span", "target-name", "→ " + s.target_name));
    c.badge = el("span", "badge state");
    c.path = el("span", "pathtag active-path");
    c.ingest = el("span", "dim ingest");
    h2.append(c.badge, c.path, c.ingest);
    c.reason = el("p", "reason");

    const top = el("div", "top");
    c.thumb = el("div", "thumb");
    c.img = el("img");
    c.img.alt = "latest keyframe of " + s.name;
    c.img.decoding = "async";
    c.img.addEventListener("load", () => c.thumb.classList.add("has-pic"));
    c.img.addEventListener("error", () => c.thumb.classList.remove("has-pic"));
    c.thumb.append(c.img, el("span", "nopic", "no picture"));
    c.thumbAt = 0;
    c.info = el("dl", "kv");
    top.append(c.thumb, c.info);

    c.paths = el("table", "paths");

    const charts = el("div", "charts");
    const rate = el("div", "chart rate");
    c.rateLabel = el("span");
    const rh = el("h3");
    rh.append(el("span", null, "bitrate: taken vs needed"), c.rateLabel);
    c.rateCanvas = el("canvas");
    c.rateCanvas.setAttribute("role", "img");
    rate.append(rh, c.rateCanvas);
    const lag = el("div", "chart lag");
    c.lagLabel = el("span");
    const lh = el("h3");
    lh.append(el("span", null, "delivery lag"), c.lagLabel);
    c.lagCanvas = el("canvas");
    c.lagCanvas.setAttribute("role", "img");
    lag.append(lh, c.lagCanvas);
    charts.append(rate, lag);

    const tl = el("div", "section timeline");
    const th = el("h3");
    c.failoverText = el("span");
    th.append(el("span", null, "failover history"), c.failoverText);
    c.tlCanvas = el("canvas");
    c.tlCanvas.setAttribute("role", "img");
    const legend = el("div", "legend");
    for (const [cls, text] of [["native", "native active"], ["ffmpeg", "ffmpeg active"], ["verdict", "failure"]]) {
      const item = el("span");
      item.append(el("i", cls), document.createTextNode(text));
      legend.append(item);
    }
    c.tlRange = el("span");
    legend.append(c.tlRange);
    tl.append(th, c.tlCanvas, legend);

    const vs = el("div", "section");
    vs.append(el("h3", null, "last verdicts"));
    c.verdicts = el("ul", "verdicts");
    vs.append(c.verdicts);

    c.counters = el("div", "counters");
    c.root.append(h2, c.reason, top, c.paths, charts, tl, vs, c.counters);
    return c;
  }

  function kv(dl, key, value, cls) {
    if (value === undefined || value === null || value === "") return;
    dl.append(el("dt", null, key), el("dd", cls, value));
  }

  function verdictLine(v) {
    const li = el("li", "verdict");
    li.dataset.layer = v.layer || "";
    li.append(el("span", "vlayer", v.layer), el("span", "vcause", v.cause));
    const parts = [];
    if (v.path) parts.push("on " + v.path);
    if (isTime(v.at)) parts.push("at " + clock(v.at) + " (" + rel(v.at) + ")");
    if (v.time_to_rst_ns > 0) parts.push("reset " + dur(v.time_to_rst_ns) + " after " + (v.layer === "L5" ? "the first frame" : "publish"));
    if (v.since_dial_ns >= 0) parts.push(dur(v.since_dial_ns) + " after dial");
    if (v.since_publish_ns >= 0) parts.push(dur(v.since_publish_ns) + " after publish");
    if (v.since_first_frame_ns >= 0) parts.push(dur(v.since_first_frame_ns) + " after the first frame");
    li.append(el("span", "dim", " " + parts.join(", ")));
    if (v.server_words) li.append(el("div", "dim", "server: " + v.server_words));
    if (v.detail) li.append(el("div", null, v.detail));
    return li;
  }

  function probeCell(p) {
    const td = el("td");
    if (!p) {
      td.append(el("span", "dim", "none yet"));
      return td;
    }
    const line = el("div");
    line.append(el("span", p.skipped ? "dim" : p.ok ? "ok" : "fail", p.skipped ? "skipped" : p.ok ? "passed" : "failed"));
    line.append(el("span", "dim", " " + rel(p.at) + ", " + dur(p.duration_ns)));
    td.append(line);
    const layers = el("div", "layers");
    for (const l of p.layers || []) {
      const chip = el("span", "layer" + (l.ok ? "" : " bad"), l.layer);
      chip.title = (l.ok ? "ok" : "failed") + ", " + dur(l.duration_ns) + (l.note ? ": " + l.note : "");
      layers.append(chip);
    }
    td.append(layers);
    if (p.verdict) td.append(el("div", "fail", p.verdict.layer + " " + p.verdict.cause));
    return td;
  }

  function pathsTable(c, s) {
    const rows = [];
    const head = el("tr");
    for (const h of ["path", "ready", "circuit", "backoff", "last probe", "last verdict"]) head.append(el("th", null, h));
    rows.push(head);
    for (const p of s.paths || []) {
      const tr = el("tr", p.active ? "active" : "");
      tr.dataset.path = p.kind;
      const name = el("td");
      name.append(el("span", "pathtag " + p.kind, p.kind));
      if (p.active) name.append(el("span", "ok", " active"));
      tr.append(name);
      const ready = el("td", p.ready ? "ok" : "fail", p.ready ? "ready" : "not ready");
      if (p.check_error) ready.append(el("div", "dim", p.check_error));
      tr.append(ready);
      tr.append(el("td", "circuit-" + p.circuit, (p.circuit || "").replace("_", "-") + (p.failures ? " · " + p.failures + " failures" : "")));
      const back = el("td", null, p.backoff_ns > 0 ? dur(p.backoff_ns) : "none");
      if (isTime(p.next_attempt) && Date.parse(p.next_attempt) > Date.now()) back.append(el("div", "dim", "next attempt " + rel(p.next_attempt)));
      tr.append(back);
      tr.append(probeCell(p.last_probe));
      const v = el("td");
      if (p.last_verdict) {
        v.append(el("span", "vlayer", p.last_verdict.layer), el("span", "vcause", p.last_verdict.cause));
        if (isTime(p.last_verdict.at)) v.append(el("div", "dim", clock(p.last_verdict.at)));
      } else {
        v.append(el("span", "dim", "none"));
      }
      tr.append(v);
      rows.push(tr);
    }
    c.paths.replaceChildren(...rows);
  }

  // sizeCanvas matches a canvas's pixels to its size on screen.
  function sizeCanvas(cv) {
    const r = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(cv.clientWidth * r)), h = Math.max(1, Math.round(cv.clientHeight * r));
    if (cv.width !== w || cv.height !== h) {
      cv.width = w;
      cv.height = h;
    }
    const ctx = cv.getContext("2d");
    ctx.setTransform(r, 0, 0, r, 0, 0);
    ctx.clearRect(0, 0, cv.clientWidth, cv.clientHeight);
    return ctx;
  }

  // sparkline draws series (each {key, color, dash}) of points over the
  // history, on one scale from 0 to their maximum.
  function sparkline(cv, points, series) {
    const ctx = sizeCanvas(cv);
    const w = cv.clientWidth, h = cv.clientHeight;
    if (points.length < 2) return;
    let max = 0;
    for (const p of points) for (const s of series) if (typeof p[s.key] === "number") max = Math.max(max, p[s.key]);
    if (max <= 0) max = 1;
    const t0 = points[0].t, span = Math.max(1, points[points.length - 1].t - t0);
    for (const s of series) {
      ctx.beginPath();
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.setLineDash(s.dash || []);
      let started = false;
      for (const p of points) {
        const v = p[s.key];
        if (typeof v !== "number") {
          started = false;
          continue;
        }
        const x = ((p.t - t0) / span) * (w - 2) + 1, y = h - 2 - (v / max) * (h - 6);
        if (started) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        started = true;
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  // timeline draws the active path over the page's history and the
  // verdicts at their times, over the last TIMELINE_MS at most.
  function timeline(c, s, points) {
    const ctx = sizeCanvas(c.tlCanvas);
    const w = c.tlCanvas.clientWidth, h = c.tlCanvas.clientHeight;
    const now = Date.now();
    let t0 = points.length ? points[0].t : now;
    for (const v of s.last_verdicts || []) if (isTime(v.at)) t0 = Math.min(t0, Date.parse(v.at));
    if (isTime(s.active_since)) t0 = Math.min(t0, Date.parse(s.active_since));
    t0 = Math.max(t0, now - TIMELINE_MS);
    const span = Math.max(1000, now - t0);
    const x = (t) => ((t - t0) / span) * w;
    for (let i = 0; i < points.length; i++) {
      const p = points[i], next = i + 1 < points.length ? points[i + 1].t : now;
      if (!p.path || next < t0) continue;
      ctx.fillStyle = cssVar("--" + p.path);
      ctx.fillRect(x(Math.max(p.t, t0)), 6, Math.max(1, x(next) - x(Math.max(p.t, t0)) + 1), h - 12);
    }
    // The active path since active_since, also before the page's history.
    if (s.active_path && isTime(s.active_since)) {
      const from = Math.max(Date.parse(s.active_since), t0);
      const to = points.length ? Math.max(from, points[0].t) : now;
      if (to > from) {
        ctx.fillStyle = cssVar("--" + s.active_path);
        ctx.fillRect(x(from), 6, Math.max(1, x(to) - x(from)), h - 12);
      }
    }
    ctx.fillStyle = cssVar("--bad");
    for (const v of s.last_verdicts || []) {
      if (!isTime(v.at)) continue;
      const t = Date.parse(v.at);
      if (t < t0) continue;
      ctx.fillRect(Math.min(w - 2, x(t)), 0, 2, h);
    }
    c.tlRange.textContent = "since " + new Date(t0).toLocaleTimeString();
  }

  function record(id, s) {
    let pts = history.get(id);
    if (!pts) history.set(id, (pts = []));
    const d = s.delivery;
    pts.push({
      t: Date.now(),
      thr: d ? d.throughput_bps : null,
      need: d ? d.needed_bps : null,
      lag: d ? d.lag_ms : null,
      path: s.active_path || "",
    });
    if (pts.length > HISTORY) pts.splice(0, pts.length - HISTORY);
    return pts;
  }

  function update(c, s) {
    const id = idOf(s);
    const state = s.state || "unknown";
    c.root.className = "card state-" + state;
    c.root.dataset.state = state;
    c.root.dataset.activePath = s.active_path || "";
    c.badge.className = "badge state state-" + state;
    c.badge.textContent = state.replace(/_/g, " ");
    c.path.className = "pathtag active-path " + (s.active_path || "");
    c.path.textContent = s.active_path ? "on " + s.active_path : "no active path";
    c.ingest.textContent = s.ingest ? "ingest: " + s.ingest : "";
    c.reason.textContent = s.reason || "";

    const now = Date.now();
    if (now - c.thumbAt >= THUMB_MS) {
      c.thumbAt = now;
      c.img.src = "/v1/streams/" + encodeURIComponent(s.name) + "/thumbnail.jpg?t=" + now;
    }

    const info = el("dl", "kv");
    kv(info, "source", s.source + (s.source_status ? " (" + s.source_status + ")" : ""));
    kv(info, "target", s.target);
    kv(info, "preferred", s.preferred);
    if (isTime(s.active_since)) kv(info, "active since", clock(s.active_since) + " (" + rel(s.active_since) + ")");
    kv(info, "running since", isTime(s.started_at) ? clock(s.started_at) : "");
    if (s.last_error) kv(info, "last error", s.last_error, "fail");
    if (!s.enabled) kv(info, "enabled", "no (idle by config)");
    c.info.replaceWith(info);
    c.info = info;

    pathsTable(c, s);

    const pts = record(id, s);
    const d = s.delivery;
    c.rateLabel.textContent = d ? bps(d.throughput_bps) + " / " + bps(d.needed_bps) + (d.congested ? " · congested" : "") : "no session";
    c.lagLabel.textContent = d ? dur(d.lag_ms * 1e6) + (d.unacked_for_ms > 0 ? " · nothing taken for " + dur(d.unacked_for_ms * 1e6) : "") : "no session";
    sparkline(c.rateCanvas, pts, [
      { key: "need", color: cssVar("--idle"), dash: [3, 3] },
      { key: "thr", color: cssVar("--live") },
    ]);
    sparkline(c.lagCanvas, pts, [{ key: "lag", color: cssVar("--move") }]);
    c.rateCanvas.setAttribute("aria-label", "bitrate taken vs needed: " + c.rateLabel.textContent);
    c.lagCanvas.setAttribute("aria-label", "delivery lag: " + c.lagLabel.textContent);

    const fo = (s.failovers || []).map((f) => f.from + " → " + f.to + " at " + f.layer + " ×" + f.count);
    c.failoverText.textContent = fo.length ? fo.join(", ") : "no failover";
    c.tlCanvas.setAttribute("aria-label", "failover history: " + c.failoverText.textContent);
    timeline(c, s, pts);

    const vs = (s.last_verdicts || []).slice().reverse().slice(0, 8).map(verdictLine);
    if (!vs.length) vs.push(el("li", "dim", "none"));
    c.verdicts.replaceChildren(...vs);

    const k = s.counters || {};
    c.counters.textContent =
      "failovers " + (k.failovers || 0) + " · failbacks " + (k.failbacks || 0) + " · reconnects " + (k.reconnects || 0) +
      " · attempts " + (k.attempts || 0) + " · frames " + (k.frames_sent || 0) + " · sent " + bytes(k.bytes_sent || 0) +
      " · taken " + bytes(k.bytes_acked || 0) + " · dropped frames " + (k.dropped_frames || 0);
  }

  function render(doc) {
    const main = document.getElementById("streams");
    const seen = new Set();
    const streams = doc.streams || [];
    let healthy = 0;
    for (const s of streams) {
      const id = idOf(s);
      seen.add(id);
      let c = cards.get(id);
      if (!c) {
        c = makeCard(s);
        cards.set(id, c);
      }
      if (c.root.parentNode !== main || main.children[seen.size - 1] !== c.root) main.append(c.root);
      update(c, s);
      if (["live", "congested", "idle", "paused", "elsewhere"].includes(s.state)) healthy++;
    }
    for (const [id, c] of cards) {
      if (!seen.has(id)) {
        c.root.remove();
        cards.delete(id);
        history.delete(id);
      }
    }
    document.getElementById("summary").textContent =
      streams.length + (streams.length === 1 ? " stream" : " streams") + ", " + healthy + " healthy" + (doc.version ? " · fmspush " + doc.version : "");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    const cfg = doc.config || {};
    const ce = document.getElementById("config-error");
    ce.hidden = !cfg.last_error;
    ce.textContent = cfg.last_error ? "The last reload failed" + (isTime(cfg.last_error_at) ? " at " + clock(cfg.last_error_at) : "") + ": " + cfg.last_error : "";
  }

  let polls = 0;

  async function poll() {
    const problem = document.getElementById("problem");
    try {
      const resp = await fetch("/v1/streams", { cache: "no-store", headers: { Accept: "application/json" } });
      if (!resp.ok) throw new Error("/v1/streams answered " + resp.status);
      render(await resp.json());
      problem.hidden = true;
      polls++;
      document.body.dataset.polls = String(polls);
    } catch (e) {
      problem.hidden = false;
      problem.textContent = "No status from the service: " + (e && e.message ? e.message : String(e));
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
