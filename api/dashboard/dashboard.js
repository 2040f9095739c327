// The maas dashboard: polls the JSON API every REFRESH_MS and redraws its tables in place.
// Every call carries the key typed in (kept in sessionStorage: gone when the tab closes); the
// page builds its DOM with textContent only, so no value from the API is ever parsed as HTML.
"use strict";

const REFRESH_MS = 1500;
const KEY_STORE = "maas.apiKey";
const ADMIN_SCOPE = "models:admin";
const laneRates = new Map(); // lane id -> {at, rows}: rows/s between two refreshes
const bulkSeen = new Map(); // bulk id -> {at, done}: first sight, for the ETA
let scopes = [];

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node[name] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const td = (text, cls = "") => el("td", { class: cls }, text);
const num = (value) => td(value ?? "", "num");
const stateCell = (state) => td(state ?? "", `state-${state}`);

function fill(id, rows) {
  document.getElementById(id).replaceChildren(...rows);
}

function seconds(value) {
  if (value === null || value === undefined) return "";
  if (value < 1) return `${(value * 1000).toFixed(0)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return `${(value / 60).toFixed(1)} min`;
}

const clock = (epochS) => (epochS ? new Date(epochS * 1000).toLocaleTimeString() : "");
const when = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

async function api(path, options = {}) {
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { ...options, headers, cache: "no-store" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return { ok: response.ok, status: response.status, body };
}

function note(sectionId, answer) {
  const box = document.querySelector(`#${sectionId} .note`);
  if (answer.ok) {
    box.hidden = true;
    return true;
  }
  const message = answer.body?.error?.message ?? `HTTP ${answer.status}`;
  box.textContent = answer.status === 401 ? `Enter an API key: ${message}` : message;
  box.hidden = false;
  return false;
}

function histogram(stats) {
  const buckets = Object.entries(stats)
    .filter(([name]) => name.startsWith("batch_rows_le_"))
    .map(([name, count]) => [name.slice(14), count])
    .sort((a, b) => (a[0] === "inf" ? 1 : b[0] === "inf" ? -1 : a[0] - b[0]));
  const top = Math.max(1, ...buckets.map(([, count]) => count));
  const bars = buckets.map(([bound, count]) => {
    const bar = el("span", { title: `≤ ${bound} rows: ${count} batches` });
    bar.style.height = `${Math.max(4, (100 * count) / top)}%`;
    return bar;
  });
  return el("td", {}, el("div", { class: "hist" }, ...bars));
}

function rowsPerSecond(id, stats, readAt) {
  const rows = stats.computed_rows ?? 0;
  const before = laneRates.get(id);
  laneRates.set(id, { at: readAt, rows });
  if (!before || readAt <= before.at) return "";
  return ((rows - before.rows) / (readAt - before.at)).toFixed(1);
}

function drawLanes(overview) {
  fill(
    "lanes",
    overview.lanes.map((lane) => {
      const id = `${lane.model}:${lane.version}:${lane.lane}`;
      return el(
        "tr",
        { dataset: { lane: id } },
        td(lane.model),
        num(lane.version),
        td(lane.lane),
        el("td", { class: "num depth" }, lane.rows_queued),
        num(lane.entries_waiting),
        num(lane.pending),
        td(seconds(lane.oldest_waiting_age_s)),
        num(rowsPerSecond(id, lane.stats, overview.read_at)),
        num(lane.stats.batches ?? 0),
        histogram(lane.stats),
      );
    }),
  );
  const queues = Object.entries(overview.queues).map(([name, count]) => `${name}: ${count}`);
  document.getElementById("queues").textContent = `waiting in rq queues and the outbox: ${queues.join(", ")}`;
}

function drawWorkers(overview) {
  const mib = (bytes) => (bytes ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : "");
  fill(
    "workers",
    overview.workers.map((worker) => {
      // A loading version says how far: its phase, and the share of its files read.
      const loading = (v) =>
        v.phase ? ` (${v.phase}${v.phase === "reading" ? ` ${Math.round(100 * v.progress)}%` : ""})` : "";
      const held = Object.entries(worker.versions).map(([label, v]) =>
        el("div", { class: `state-${v.state}` }, `${label} ${v.state}${loading(v)}${v.error ? `: ${v.error}` : ""}`),
      );
      const budget = worker.info.memory_budget_bytes ? ` of ${mib(worker.info.memory_budget_bytes)}` : "";
      return el(
        "tr",
        {},
        td(worker.worker_id),
        td(seconds(worker.heartbeat_age_s)),
        el("td", {}, ...held),
        td(worker.info.device ?? ""),
        td(`${mib(worker.info.rss_bytes)}${budget}`),
      );
    }),
  );
}

// The admin route that redelivers each kind of record's webhook event.
const REDELIVER_PATHS = { job: "/v1/admin/jobs/", bulk: "/v1/admin/bulk-jobs/" };

function redeliverButton(hook) {
  const path = REDELIVER_PATHS[hook.kind];
  if (!scopes.includes(ADMIN_SCOPE) || !path) return td("");
  const button = el("button", { type: "button", class: "redeliver" }, "Redeliver");
  button.addEventListener("click", async () => {
    button.disabled = true;
    const answer = await api(`${path}${encodeURIComponent(hook.id)}/webhook/redeliver`, { method: "POST" });
    button.textContent = answer.ok ? "queued" : answer.body?.error?.message ?? `HTTP ${answer.status}`;
  });
  return el("td", {}, button);
}

function drawFailures(overview) {
  fill(
    "dead-letters",
    overview.dead_letters.map((letter) =>
      el(
        "tr",
        {},
        td(letter.job_id),
        td(`${letter.model}:${letter.version} ${letter.lane}`),
        td(letter.tenant),
        num(letter.rows),
        num(letter.deliveries),
        td(clock(letter.at)),
      ),
    ),
  );
  fill(
    "failed-webhooks",
    overview.failed_webhooks.map((hook) =>
      el(
        "tr",
        { dataset: { webhook: `${hook.kind}:${hook.id}` } },
        td(`${hook.kind} ${hook.id}`),
        td(hook.tenant),
        td(hook.receiver),
        stateCell(hook.state),
        td(hook.last_status),
        num(hook.attempts),
        td(clock(hook.failed_at)),
        redeliverButton(hook),
      ),
    ),
  );
}

async function refreshOverview() {
  const answer = await api("/v1/admin/overview");
  const shown = note("lanes-section", answer) & note("workers-section", answer) & note("failures-section", answer);
  if (!shown) return;
  scopes = answer.body.caller.scopes;
  drawLanes(answer.body);
  drawWorkers(answer.body);
  drawFailures(answer.body);
}

async function refreshModels() {
  const answer = await api("/v1/models");
  if (!note("models-section", answer)) return;
  fill(
    "models",
    answer.body.map((model) => {
      const aliases = Object.entries(model.aliases).map(([alias, version]) => `${alias}→${version}`);
      return el(
        "tr",
        {},
        td(model.name),
        td(model.versions.join(", ")),
        td(aliases.join(", ")),
        num(model.latest.version),
        stateCell(model.latest.status),
      );
    }),
  );
}

async function refreshJobs() {
  const [recent, failed] = await Promise.all([api("/v1/jobs?limit=10"), api("/v1/jobs?status=failed&limit=10")]);
  if (!note("jobs-section", recent)) return;
  fill(
    "recent-jobs",
    recent.body.data.map((job) =>
      el(
        "tr",
        {},
        td(job.id),
        td(`${job.model}:${job.version}`),
        stateCell(job.status),
        td(when(job.created_at)),
        num(job.timings?.queue_ms),
        num(job.timings?.inference_ms),
      ),
    ),
  );
  if (!failed.ok) return;
  fill(
    "failed-jobs",
    failed.body.data.map((job) =>
      el("tr", {}, td(job.id), td(`${job.model}:${job.version}`), td(job.error?.code ?? ""), td(when(job.finished_at))),
    ),
  );
}

function eta(job, done, total) {
  if (job.status !== "running" || done >= total) return "";
  const now = Date.now() / 1000;
  const first = bulkSeen.get(job.id);
  if (!first) {
    bulkSeen.set(job.id, { at: now, done });
    return "";
  }
  const rate = (done - first.done) / (now - first.at);
  return rate > 0 ? seconds((total - done) / rate) : "";
}

async function refreshBulk() {
  const answer = await api("/v1/bulk-jobs?limit=10");
  if (!note("bulk-section", answer)) return;
  fill(
    "bulk-jobs",
    answer.body.data.map((job) => {
      const total = job.counts.total ?? 0;
      const done = (job.counts.succeeded ?? 0) + (job.counts.failed ?? 0);
      const bar = el("progress", { max: Math.max(total, 1), value: done });
      return el(
        "tr",
        { dataset: { bulk: job.id } },
        td(job.id),
        td(`${job.model}:${job.version}`),
        stateCell(job.status),
        el("td", {}, bar),
        td(`${done} / ${total}`),
        td(eta(job, done, total)),
      );
    }),
  );
}

async function findJob() {
  const id = document.getElementById("job-id").value.trim();
  const out = document.getElementById("job-found");
  if (!id) return;
  const answer = await api(`/v1/jobs/${encodeURIComponent(id)}`);
  out.textContent = answer.ok
    ? JSON.stringify({ ...answer.body, outputs: answer.body.outputs ? "(outputs omitted)" : null }, null, 2)
    : answer.body?.error?.message ?? `HTTP ${answer.status}`;
  out.hidden = false;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    await Promise.all([refreshOverview(), refreshModels(), refreshJobs(), refreshBulk()]);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
    status.classList.remove("error");
  } catch (error) {
    status.textContent = `cannot reach maas: ${error.message}`;
    status.classList.add("error");
  }
  setTimeout(refresh, REFRESH_MS);
}

function setUp() {
  const input = document.getElementById("api-key");
  input.value = sessionStorage.getItem(KEY_STORE) ?? "";
  document.getElementById("save-key").addEventListener("click", () => {
    sessionStorage.setItem(KEY_STORE, input.value.trim());
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    input.value = "";
  });
  document.getElementById("find-job").addEventListener("click", findJob);
  document.getElementById("job-id").addEventListener("keydown", (event) => {
    if (event.key === "Enter") findJob();
  });
  refresh();
}

document.addEventListener("DOMContentLoaded", setUp);
