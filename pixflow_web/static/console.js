// The pixflow console, its core: the token, the REST calls, the live stream of /v1/events, the queue and the
// backends. console-views.js draws the submit form, the gallery, a job's detail and the groups. Plain JS, no
// library, nothing loaded from anywhere but this server.
"use strict";

const PF = {
  token: sessionStorage.getItem("pixflow.token") || "",
  role: null,
  jobs: new Map(), // job_id -> what we know of it (its snapshot, kept current by the events)
  backends: new Map(),
  startedAt: null, // the worker's started_at: a change means it restarted
  lastEventId: null,
  source: null,
  retryMs: 500,
  views: {}, // console-views.js fills it: gallery, group, form, ...
};
const RUNNING = ["loading", "encoding", "sampling", "decoding", "saving"];
const ENDED = ["done", "failed", "cancelled"];
const QUEUE_ROWS = 60;

function $(selector, root) { return (root || document).querySelector(selector); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// A URL of this server, with the token as ?access_token= (for <img> and EventSource, which send no headers).
function authUrl(path, query) {
  const params = new URLSearchParams(query || {});
  if (PF.token) params.set("access_token", PF.token);
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

class ApiError extends Error {
  constructor(status, code, message) { super(`${code}: ${message}`); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (PF.token) headers.Authorization = `Bearer ${PF.token}`;
  const init = { method, headers };
  if (body !== undefined) { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer.code || response.status, answer.message || "");
  return answer;
}

function say(selector, text, error) {
  const node = $(selector);
  node.textContent = text;
  node.classList.toggle("error", Boolean(error));
}

// ---- the token, once per tab ----
async function signIn() {
  try {
    const me = await api("GET", "/v1/me");
    PF.role = me.role;
    $("#who").textContent = `${me.name} (${me.role})`;
    document.body.classList.toggle("admin", me.role === "admin");
    $("#admin").hidden = me.role !== "admin";
    $("#login").hidden = true;
    $("#logout").hidden = !PF.token;
    $("#app").hidden = false;
    await start();
  } catch (error) {
    $("#login").hidden = false;
    $("#app").hidden = true;
    if (error instanceof ApiError && error.status === 401) {
      say("#login-msg", PF.token ? "that token is not known" : "this server needs a token", Boolean(PF.token));
    } else {
      say("#login-msg", `cannot reach the server: ${error.message}`, true);
    }
  }
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  PF.token = $("#token").value.trim();
  sessionStorage.setItem("pixflow.token", PF.token);
  $("#token").value = "";
  signIn();
});
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem("pixflow.token");
  location.reload();
});

// ---- what the page knows, from the REST API ----
async function resync() {
  const [worker, active, done] = await Promise.all([
    api("GET", "/v1/worker"),
    api("GET", "/v1/jobs?state=queued,loading,encoding,sampling,decoding,saving&limit=200"),
    api("GET", "/v1/jobs?limit=100"),
  ]);
  showWorker(worker);
  for (const job of [...done.jobs.reverse(), ...active.jobs]) rememberJob(job);
  drawQueue();
  PF.views.gallery && PF.views.gallery.reload();
  PF.views.groups && PF.views.groups.reload();
}

function rememberJob(snapshot) {
  const known = PF.jobs.get(snapshot.job_id);
  const job = Object.assign(known || { timeline: [] }, snapshot);
  if (!job.timeline.length) {
    job.timeline = Object.entries(snapshot.state_times || {}).sort((a, b) => a[1] - b[1]).map((entry) => entry[0]);
  }
  PF.jobs.set(job.job_id, job);
  return job;
}

async function start() {
  if (PF.source) return;
  PF.views.form && PF.views.form.load();
  await resync().catch((error) => say("#dispatch", `cannot read the worker: ${error.message}`, true));
  connect();
}

// ---- the live stream: EventSource reconnects by itself with Last-Event-ID; a closed one is opened again ----
function connect() {
  const query = PF.lastEventId ? { last_event_id: PF.lastEventId } : {};
  const source = new EventSource(authUrl("/v1/events", query));
  PF.source = source;
  source.onopen = () => { setConn(true); PF.retryMs = 500; };
  source.onerror = () => {
    setConn(false);
    if (source.readyState === EventSource.CLOSED) { // the server refused or ended it: open a new one later
      PF.source = null;
      setTimeout(connect, PF.retryMs);
      PF.retryMs = Math.min(PF.retryMs * 2, 10000);
    }
  };
  for (const name of ["state", "progress", "preview", "output", "backend", "group", "stats", "snapshot", "dropped"]) {
    source.addEventListener(name, (message) => {
      if (message.lastEventId) PF.lastEventId = message.lastEventId;
      onEvent(name, JSON.parse(message.data));
    });
  }
}

function setConn(live) {
  const node = $("#conn");
  node.textContent = live ? "live" : "reconnecting";
  node.className = `conn ${live ? "live" : "off"}`;
  document.body.dataset.live = live ? "1" : "0";
}

function onEvent(name, data) {
  // Each event, as it arrives, for whatever else runs in the page (a test, a user script).
  document.dispatchEvent(new CustomEvent("pixflow:event", { detail: { name, data } }));
  if (name === "state") onState(data);
  else if (name === "progress") onProgress(data);
  else if (name === "output") onOutput(data);
  else if (name === "preview") onPreview(data);
  else if (name === "backend") { PF.backends.set(data.name, data); drawBackends(); }
  else if (name === "group") PF.views.groups && PF.views.groups.done(data);
  else if (name === "stats") onStats(data);
  else if (name === "snapshot") {
    showWorker(data.worker);
    for (const job of data.jobs || []) rememberJob(job);
    drawQueue();
  } else if (name === "dropped") { PF.source.close(); PF.source = null; connect(); }
}

function onState(event) {
  const job = PF.jobs.get(event.job_id) || rememberJob({ job_id: event.job_id, outputs: [] });
  if (event.from === null || event.from === undefined) {
    Object.assign(job, { params: event.params, workflow: event.workflow, group_id: event.group_id, timeline: [] });
    job.created_at = event.ts;
  }
  job.state = event.to;
  job.stage = RUNNING.includes(event.to) ? event.to : null;
  job.timeline.push(event.to);
  for (const key of ["overall", "eta", "backend", "error"]) if (key in event) job[key] = event[key];
  if (event.outputs) job.outputs = event.outputs;
  drawJob(job);
  if (event.to === "done") PF.views.gallery && PF.views.gallery.add(job);
}

function onProgress(event) {
  const job = PF.jobs.get(event.job_id);
  if (!job) return;
  Object.assign(job, { overall: event.overall, eta: event.eta, progress: { value: event.value, max: event.max } });
  if (event.stage) job.stage = event.stage;
  drawJob(job);
}

// A live preview frame (jobs sent with `previews: true`): shown in the job's row until it ends.
function onPreview(event) {
  const job = PF.jobs.get(event.job_id);
  if (!job || typeof event.image !== "string") return;
  job.preview = `data:image/${event.format || "jpeg"};base64,${event.image}`;
  drawJob(job);
}

function onOutput(event) {
  const job = PF.jobs.get(event.job_id);
  if (job && !(job.outputs || []).some((output) => output.index === event.index)) {
    job.outputs = [...(job.outputs || []), event];
  }
}

function onStats(stats) {
  $("#stats").textContent =
    `${stats.queued} queued · ${stats.running} running · ${stats.done} done · ${stats.jobs_per_minute}/min`;
  if (PF.startedAt !== null && stats.started_at !== PF.startedAt) { // the worker restarted: read it all again
    PF.startedAt = stats.started_at;
    document.body.dataset.startedAt = String(stats.started_at);
    say("#dispatch", "the worker restarted: reading its state again");
    resync().catch(() => {});
  }
  PF.startedAt = stats.started_at;
}

// ---- the queue ----
function drawQueue() {
  const body = $("#queue tbody");
  body.replaceChildren();
  const newest = [...PF.jobs.values()].sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  for (const job of newest.slice(0, QUEUE_ROWS)) body.append(jobRow(job));
}

function drawJob(job) {
  const row = document.getElementById(`job-${job.job_id}`);
  if (row) row.replaceWith(jobRow(job));
  else drawQueue();
}

// A long id (a uuid) as its start and its end; the whole id is the cell's title.
function short(id) { return id.length > 22 ? `${id.slice(0, 8)}…${id.slice(-8)}` : id; }

function jobRow(job) {
  const state = job.state || "queued";
  const kind = ENDED.includes(state) || state === "queued" ? state : "running";
  const overall = job.overall === null || job.overall === undefined ? 0 : job.overall;
  const eta = typeof job.eta === "number" && !ENDED.includes(state) ? `${job.eta.toFixed(1)} s` : "";
  const actions = [];
  if (!ENDED.includes(state) && PF.role !== "viewer") {
    actions.push(el("button", { type: "button", text: "cancel", onclick: () => api("POST", `/v1/jobs/${job.job_id}/cancel`) }));
  }
  if (state === "done") {
    actions.push(el("button", { type: "button", text: "open", onclick: () => PF.views.detail(job.job_id) }));
  }
  return el("tr", { id: `job-${job.job_id}`, "data-state": state, "data-job": job.job_id },
    el("td", { class: "id", text: short(job.job_id), title: job.job_id }),
    el("td", { text: job.workflow || (job.params && job.params.workflow) || "" }),
    el("td", { class: `state state-${kind}`, text: state, title: (job.error && job.error.message) || job.wait_reason || "" }),
    el("td", {}, el("div", { class: "stages" }, job.timeline.map((name) => el("span", { text: name })))),
    el("td", {}, el("div", { class: "bar", title: `${Math.round(overall * 100)} %` },
      el("span", { style: `width: ${Math.round(overall * 100)}%` }))),
    el("td", { class: "eta", text: eta }),
    el("td", {}, job.preview && !ENDED.includes(state) ? el("img", { class: "preview", src: job.preview, alt: "preview" }) : null),
    el("td", {}, actions));
}

// ---- the worker and its backends ----
function showWorker(worker) {
  if (!worker || worker.type === "error") return;
  PF.startedAt = worker.started_at;
  document.body.dataset.startedAt = String(worker.started_at);
  for (const backend of worker.backends || []) PF.backends.set(backend.name, backend);
  const paused = worker.paused ? "paused" : "dispatching";
  $("#dispatch").textContent = `pixflow ${worker.version}: ${paused}, ${worker.queued} queued of ${worker.max_queued}`;
  $("#dispatch").dataset.paused = worker.paused ? "1" : "0";
  drawBackends();
}

function drawBackends() {
  const body = $("#backends tbody");
  body.replaceChildren();
  for (const backend of PF.backends.values()) {
    const actions = ["drain", "disable", "enable"].map((command) => el("button", {
      type: "button", text: command, "data-command": command,
      onclick: () => admin(`/v1/backends/${encodeURIComponent(backend.name)}/${command}`),
    }));
    body.append(el("tr", { "data-backend": backend.name },
      el("td", { text: backend.name, title: backend.url || "" }),
      el("td", { class: backend.up ? "state-done" : "state-failed", text: backend.state }),
      el("td", { text: backend.mode || "" }),
      el("td", { text: `${backend.inflight ?? "?"} / ${backend.max_inflight ?? "?"}` }),
      el("td", { text: backend.loaded_model || "" }),
      el("td", { text: backend.jobs_done ?? "" }),
      el("td", { class: "admin-only" }, actions)));
  }
}

async function admin(path) {
  try {
    const reply = await api("POST", path);
    if (reply.type === "worker") showWorker(reply);
    else if (reply.type === "backend") { PF.backends.set(reply.name, reply); drawBackends(); }
    say("#admin-msg", `${path.split("/").pop()}: done`);
  } catch (error) {
    say("#admin-msg", error.message, true);
  }
}
$("#pause").addEventListener("click", () => admin("/v1/pause"));
$("#resume").addEventListener("click", () => admin("/v1/resume"));

window.addEventListener("DOMContentLoaded", signIn);
