// The dashboard's behaviour on top of its server-rendered pages: live logs with search,
// stats charts that refresh, the console, live events, sandbox countdowns, the host chart and
// a pull's progress. No third-party code; every request carries the session's CSRF token.
"use strict";

const csrf = () => document.body.dataset.csrf || "";

// Read a streaming response a line (or chunk) at a time.
async function stream(url, opts, onChunk) {
  const r = await fetch(url, opts);
  if (!r.ok || !r.body) {
    onChunk(`error: ${r.status} ${await r.text()}\n`);
    return;
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(dec.decode(value, { stream: true }));
  }
}

function logs() {
  const sec = document.getElementById("logs");
  if (!sec) return;
  const view = document.getElementById("log-view");
  const search = document.getElementById("log-search");
  const follow = document.getElementById("log-follow");
  let text = "";
  const show = () => {
    const q = search.value;
    view.textContent = q ? text.split("\n").filter((l) => l.includes(q)).join("\n") : text;
    if (follow.checked) view.scrollTop = view.scrollHeight;
  };
  search.addEventListener("input", show);
  stream(`/api/containers/${sec.dataset.id}/logs?follow=1&tail=500`, {}, (c) => {
    text += c;
    if (text.length > 1_000_000) text = text.slice(-500_000);
    show();
  });
}

function drawChart(fig, label, unit, points) {
  const svgNS = "http://www.w3.org/2000/svg";
  fig.replaceChildren();
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", "0 0 600 160");
  svg.setAttribute("role", "img");
  const line = document.createElementNS(svgNS, "polyline");
  const max = Math.max(1e-9, ...points.map((p) => p[1]));
  const t0 = points.length ? points[0][0] : 0;
  const t1 = points.length ? Math.max(points[points.length - 1][0], t0 + 1) : 1;
  line.setAttribute("points", points.map(([t, v]) => `${(((t - t0) / (t1 - t0)) * 600).toFixed(1)},${(160 - (v / max) * 150 - 5).toFixed(1)}`).join(" "));
  svg.setAttribute("aria-label", `${label}: ${points.length} samples, at most ${max.toFixed(2)}${unit}`);
  svg.appendChild(line);
  const cap = document.createElement("figcaption");
  cap.textContent = `${label} (max ${max.toFixed(2)}${unit}, ${points.length} samples)`;
  fig.append(svg, cap);
  fig.dataset.samples = String(points.length);
}

function stats() {
  const sec = document.getElementById("stats");
  if (!sec) return;
  const box = sec.querySelector(".charts");
  const figs = {};
  for (const [label, unit] of [["CPU", "%"], ["Memory", " MiB"]]) {
    const f = document.createElement("figure");
    f.className = "chart";
    f.dataset.chart = label;
    figs[label] = [f, unit];
  }
  const refresh = async () => {
    const r = await fetch(`/api/containers/${sec.dataset.id}/stats?since=1h`);
    if (!r.ok) return;
    const pts = await r.json();
    const t = (p) => Date.parse(p.time) / 1000;
    box.replaceChildren(figs.CPU[0], figs.Memory[0]);
    drawChart(figs.CPU[0], "CPU", "%", pts.map((p) => [t(p), p.cpu_percent]));
    drawChart(figs.Memory[0], "Memory", " MiB", pts.map((p) => [t(p), p.memory_working_set / 1048576]));
  };
  refresh();
  setInterval(refresh, 3000);
}

function consoleOpen(sec) {
  const el = document.getElementById("term");
  let ws;
  const term = new window.Term(el, (s) => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(new TextEncoder().encode(s));
  });
  window.berthTerm = term;
  ws = new WebSocket(`wss://${location.host}/api/containers/${sec.dataset.id}/console?cols=${term.cols}&rows=${term.rows}`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = (m) => term.write(new Uint8Array(m.data));
  ws.onclose = () => term.write("\r\n[the session ended]\r\n");
  ws.onopen = () => {
    el.dataset.connected = "1";
    el.focus();
  };
}

function consoles() {
  const sec = document.getElementById("console");
  if (!sec) return;
  if (sec.dataset.autostart) {
    consoleOpen(sec);
    return;
  }
  const b = document.getElementById("console-open");
  b.addEventListener("click", () => {
    b.disabled = true;
    consoleOpen(sec);
  });
}

function events() {
  const list = document.getElementById("events");
  if (!list) return;
  let partial = "";
  stream("/api/events", {}, (c) => {
    partial += c;
    const lines = partial.split("\n");
    partial = lines.pop();
    for (const l of lines) {
      if (!l) continue;
      const e = JSON.parse(l);
      const li = document.createElement("li");
      const when = new Date((e.timeNano ? e.timeNano / 1e6 : e.time * 1000)).toISOString().replace("T", " ").slice(0, 19);
      const name = (e.Actor && e.Actor.Attributes && e.Actor.Attributes.name) || (e.Actor && e.Actor.ID ? e.Actor.ID.slice(0, 12) : "");
      li.textContent = `${when} ${e.Type} ${e.Action} ${name}`;
      list.prepend(li);
    }
  });
}

function countdowns() {
  const els = document.querySelectorAll(".countdown[data-expires]");
  if (!els.length) return;
  const tick = () => {
    const now = Date.now() / 1000;
    for (const el of els) {
      const left = Math.round(Number(el.dataset.expires) - now);
      if (left <= 0) {
        el.textContent = "expired";
        el.dataset.expired = "1";
      } else {
        const m = Math.floor(left / 60), s = left % 60;
        el.textContent = `${m}:${String(s).padStart(2, "0")} left`;
      }
    }
  };
  tick();
  setInterval(tick, 1000);
}

function host() {
  const cpu = document.getElementById("host-cpu");
  if (!cpu) return;
  const mem = document.getElementById("host-mem");
  const cpuPts = [], memPts = [];
  const draw = (svg, pts, max) => {
    const n = Math.max(2, pts.length) - 1;
    svg.querySelector("polyline").setAttribute("points", pts.map((v, i) => `${((i / n) * 600).toFixed(1)},${(160 - (v / max) * 150 - 5).toFixed(1)}`).join(" "));
    svg.dataset.samples = String(pts.length);
  };
  const refresh = async () => {
    const r = await fetch("/api/host");
    if (!r.ok) return;
    const h = await r.json();
    cpuPts.push(h.cpu_percent);
    memPts.push(h.memory_used / 1073741824);
    if (cpuPts.length > 150) { cpuPts.shift(); memPts.shift(); }
    draw(cpu, cpuPts, 100);
    draw(mem, memPts, h.memory_total / 1073741824);
    document.getElementById("host-cpu-now").textContent = `${h.cpu_percent.toFixed(1)} %`;
    document.getElementById("host-mem-now").textContent = `${(h.memory_used / 1073741824).toFixed(2)} of ${(h.memory_total / 1073741824).toFixed(2)} GiB`;
  };
  refresh();
  setInterval(refresh, 2000);
}

function pull() {
  const form = document.getElementById("pull");
  if (!form) return;
  const out = document.getElementById("pull-progress");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    out.hidden = false;
    out.textContent = "";
    const image = form.elements.image.value;
    stream("/api/images/pull", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() }, body: JSON.stringify({ image }) }, (c) => {
      out.textContent += c;
      if (out.textContent.includes("\ndone: ") || out.textContent.startsWith("done: ")) setTimeout(() => location.reload(), 800);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  logs();
  stats();
  consoles();
  events();
  countdowns();
  host();
  pull();
});
