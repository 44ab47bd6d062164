// Spillway's dashboard: scrapes /metrics (the same Prometheus text operators scrape) once a second
// and charts what changed; the playground streams a chat completion from the server's own API.
"use strict";

const WINDOW = 120;        // points kept per chart (two minutes at one scrape a second)
const INTERVAL_MS = 1000;

/** Parses Prometheus text exposition into [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const pair of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function sum(samples, name, filter) {
  let total = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (filter && !Object.entries(filter).every(([k, v]) => s.labels[k] === v)) continue;
    total += s.value;
  }
  return total;
}

/** Cumulative bucket counts of a histogram, by upper bound. */
function buckets(samples, name) {
  const b = new Map();
  for (const s of samples) {
    if (s.name === name + "_bucket") b.set(s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value);
  }
  return [...b.entries()].sort((x, y) => x[0] - y[0]);
}

/** A quantile of the observations between two scrapes, interpolated within its bucket (as histogram_quantile does). */
function quantile(q, now, before) {
  const prev = new Map(before);
  const delta = now.map(([le, c]) => [le, c - (prev.get(le) || 0)]);
  const total = delta.length ? delta[delta.length - 1][1] : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0, below = 0;
  for (const [le, c] of delta) {
    if (c >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(1e-9, c - below));
    }
    lower = le; below = c;
  }
  return lower;
}

function lineChart(id, series, yMax) {
  return new Chart(document.getElementById(id), {
    type: "line",
    data: { labels: [], datasets: series.map(name => ({ label: name, data: [], pointRadius: 0, borderWidth: 2, tension: 0.2 })) },
    options: { animation: false, responsive: true, maintainAspectRatio: false,
               scales: { y: { beginAtZero: true, suggestedMax: yMax } }, plugins: { legend: { display: series.length > 1 } } },
  });
}

const charts = {
  queue: lineChart("chart-queue", ["waiting", "running"]),
  kv: lineChart("chart-kv", ["KV used %"], 100),
  tps: lineChart("chart-tps", ["output tokens/s"]),
  ttft: lineChart("chart-ttft", ["p50", "p90", "p99"]),
  rates: lineChart("chart-rates", ["spill %", "cache hit %"], 100),
};

function push(chart, label, values) {
  chart.data.labels.push(label);
  chart.data.datasets.forEach((d, i) => d.data.push(values[i]));
  if (chart.data.labels.length > WINDOW) {
    chart.data.labels.shift();
    chart.data.datasets.forEach(d => d.data.shift());
  }
  chart.update();
}

const fmt = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v)) ? "–" : v.toFixed(digits);
let previous = null;
// Read by the browser test: how many scrapes were charted, and the last values.
window.spillwayDashboard = { updates: 0, last: null };

async function scrape() {
  try {
    const res = await fetch("/metrics", { cache: "no-store" });
    const samples = parseMetrics(await res.text());
    const now = { t: performance.now(), samples,
      generated: sum(samples, "spillway_engine_generation_tokens_total"),
      ttft: buckets(samples, "spillway_request_time_to_first_token_seconds"),
      requests: sum(samples, "spillway_router_requests_total"),
      bedrock: sum(samples, "spillway_router_requests_total", { route: "bedrock" }),
      cacheAll: sum(samples, "spillway_cache_requests_total"),
      cacheHits: sum(samples, "spillway_cache_requests_total", { result: "hit" }) + sum(samples, "spillway_cache_requests_total", { result: "semantic" }) };
    const waiting = sum(samples, "spillway_engine_requests_waiting");
    const running = sum(samples, "spillway_engine_requests_running");
    const kv = 100 * sum(samples, "spillway_kv_cache_usage_ratio");
    let tps = null, p50 = null, p90 = null, p99 = null, spill = null, hit = null;
    if (previous) {
      const dt = (now.t - previous.t) / 1000;
      tps = Math.max(0, (now.generated - previous.generated) / dt);
      p50 = quantile(0.5, now.ttft, previous.ttft);
      p90 = quantile(0.9, now.ttft, previous.ttft);
      p99 = quantile(0.99, now.ttft, previous.ttft);
      const dReq = now.requests - previous.requests;
      spill = dReq > 0 ? 100 * (now.bedrock - previous.bedrock) / dReq : 0;
      const dCache = now.cacheAll - previous.cacheAll;
      hit = dCache > 0 ? 100 * (now.cacheHits - previous.cacheHits) / dCache : 0;
    }
    const ms = v => v === null ? null : 1000 * v;
    const label = new Date().toLocaleTimeString();
    push(charts.queue, label, [waiting, running]);
    push(charts.kv, label, [kv]);
    push(charts.tps, label, [tps]);
    push(charts.ttft, label, [ms(p50), ms(p90), ms(p99)]);
    push(charts.rates, label, [spill, hit]);
    document.getElementById("tile-waiting").textContent = fmt(waiting);
    document.getElementById("tile-running").textContent = fmt(running);
    document.getElementById("tile-kv").textContent = fmt(kv, 1) + " %";
    document.getElementById("tile-tps").textContent = fmt(tps, 1);
    document.getElementById("tile-ttft").textContent = p50 === null ? "–" : `${fmt(ms(p50))} / ${fmt(ms(p99))} ms`;
    document.getElementById("tile-spill").textContent = spill === null ? "–" : fmt(spill, 1) + " %";
    document.getElementById("tile-cache").textContent = hit === null ? "–" : fmt(hit, 1) + " %";
    document.getElementById("status").textContent = "live";
    previous = now;
    window.spillwayDashboard.updates++;
    window.spillwayDashboard.last = { waiting, running, kv, tps, p50, p99, spill, hit };
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach the server: " + e.message;
  }
}

async function loadModel() {
  try {
    const res = await fetch("/v1/models", { headers: authHeaders() });
    if (res.ok) {
      const list = await res.json();
      const chat = list.data.find(m => !/minilm|embed/i.test(m.id)) || list.data[0];
      document.getElementById("model").textContent = chat ? chat.id : "";
    }
  } catch (e) { /* the status line reports connectivity */ }
}

function authHeaders() {
  const key = document.getElementById("chat-key").value.trim();
  return key ? { Authorization: "Bearer " + key } : {};
}

/** Sends the playground's message and streams the reply into the page as Server-Sent Events arrive. */
async function chat(event) {
  event.preventDefault();
  const out = document.getElementById("chat-output");
  const meta = document.getElementById("chat-meta");
  const button = document.getElementById("chat-send");
  out.textContent = "";
  meta.textContent = "";
  button.disabled = true;
  const started = performance.now();
  let first = null, chunks = 0, reads = 0, lastAt = null;
  try {
    const extraText = document.getElementById("chat-extra").value.trim();
    let extra = {};
    if (extraText) {
      try {
        extra = JSON.parse(extraText);
      } catch (e) {
        out.textContent = "More parameters must be a JSON object: " + e.message;
        return;
      }
    }
    const res = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...authHeaders() },
      body: JSON.stringify({ model: document.getElementById("model").textContent,
        messages: [{ role: "user", content: document.getElementById("chat-input").value }],
        max_tokens: Number(document.getElementById("chat-max").value) || 64, ...extra, stream: true }),
    });
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      out.textContent = "Error " + res.status + ": " + (err.error ? err.error.message : res.statusText);
      return;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let contentInRead = false;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const data = JSON.parse(event.slice(6));
        const text = data.choices && data.choices[0] && data.choices[0].delta && data.choices[0].delta.content;
        if (text) {
          if (first === null) first = performance.now() - started;
          chunks++;
          contentInRead = true;
          out.textContent += text;
        }
      }
      if (contentInRead) {
        reads++;
        lastAt = performance.now() - started;
      }
    }
    meta.textContent = `route ${res.headers.get("x-spillway-route") || "?"}, cache ${res.headers.get("x-spillway-cache") || "?"},`
      + ` first token after ${fmt(first)} ms, ${chunks} chunks in ${fmt(performance.now() - started)} ms`;
    window.spillwayDashboard.chat = { chunks, reads, first, last: lastAt, text: out.textContent };
  } catch (e) {
    out.textContent = "The request failed: " + e.message;
  } finally {
    button.disabled = false;
  }
}

document.getElementById("chat-form").addEventListener("submit", chat);
loadModel();
scrape();
setInterval(scrape, INTERVAL_MS);
