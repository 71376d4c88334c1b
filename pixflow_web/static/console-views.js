// The pixflow console, its views: the submit form (made from GET /v1/workflows' parameter specs), the gallery of
// finished jobs, a job's detail (raw and sprite, palette, parameters) and the groups (contact sheets, sprite sheets
// with each row playing, re-roll of a frame). Every image is drawn at a whole-number zoom, pixelated, on a checker.
"use strict";

const GALLERY_SIDE = 96; // a card's image fits this many CSS pixels a side (at a whole zoom)
const DETAIL_SIDE = 256;

// The largest whole zoom at which a w x h image fits `side` (at least 1).
function zoomFor(width, height, side) { return Math.max(1, Math.floor(side / Math.max(width, height, 1))); }

// An <img> of real pixels: once loaded, its box is exactly zoom x its natural size.
function pixels(src, side, attrs) {
  const image = el("img", Object.assign({ class: "pixels checker", alt: "" }, attrs || {}));
  image.addEventListener("load", () => {
    const zoom = zoomFor(image.naturalWidth, image.naturalHeight, side);
    image.style.width = `${image.naturalWidth * zoom}px`;
    image.style.height = `${image.naturalHeight * zoom}px`;
    image.dataset.zoom = String(zoom);
    image.dataset.loaded = "1";
  });
  image.src = src;
  return image;
}

function swatches(colours) {
  return el("div", { class: "swatches" }, (colours || []).map((colour) =>
    el("span", { class: "swatch", title: colour, "data-colour": colour, style: `background: ${colour}` })));
}

function outputUrl(jobId, variant, version) {
  return authUrl(`/v1/jobs/${encodeURIComponent(jobId)}/outputs/0`, { variant, v: version || "" });
}

// ---- the submit form ----
PF.views.form = {
  workflows: [],
  async load() {
    const answer = await api("GET", "/v1/workflows");
    this.workflows = answer.workflows;
    const select = $("#workflow");
    select.replaceChildren(...answer.workflows.map((w) => el("option", { value: w.name, text: w.name, title: w.description })));
    select.value = answer.default;
    this.draw();
  },
  current() { return this.workflows.find((w) => w.name === $("#workflow").value); },
  draw() {
    const workflow = this.current();
    const fields = $("#fields");
    fields.replaceChildren();
    if (!workflow) return;
    for (const spec of workflow.parameters) fields.append(el("label", {}, el("span", { text: spec.name, title: spec.description || "" }), input(spec)));
    for (const image of workflow.images) {
      fields.append(el("label", {}, el("span", { text: `${image.name} (image)`, title: image.description || "" }),
        el("input", { type: "file", accept: "image/png,image/jpeg,image/webp", "data-image": image.name, required: image.required })));
    }
  },
  async body() {
    const body = { workflow: $("#workflow").value, params: {}, images: {} };
    for (const node of $("#fields").querySelectorAll("[data-param]")) {
      const spec = this.current().parameters.find((p) => p.name === node.dataset.param);
      const value = valueOf(node, spec);
      if (value === undefined) continue;
      if (spec.source === "params") body.params[spec.name] = value;
      else body[spec.name] = value;
    }
    for (const node of $("#fields").querySelectorAll("[data-image]")) {
      if (node.files.length) body.images[node.dataset.image] = await base64Of(node.files[0]);
    }
    if ($("#previews").checked) body.previews = true;
    for (const key of ["params", "images"]) if (!Object.keys(body[key]).length) delete body[key];
    return body;
  },
  async submit(event) {
    event.preventDefault();
    try {
      const body = await this.body();
      if ($("#mode").value === "sheet") {
        body.rows = $("#sheet-rows").value.split(",").map((name) => name.trim()).filter(Boolean);
        body.frames = Number($("#sheet-frames").value);
        const cell = Number($("#sheet-cell").value);
        body.cell = [cell, cell];
        const group = await api("POST", "/v1/sheets", body);
        say("#submit-msg", `queued sheet ${group.group_id}: ${group.job_ids.length} frames`);
        $("#submit-msg").dataset.group = group.group_id;
        PF.views.groups.fetch(group.group_id);
      } else {
        const accepted = await api("POST", "/v1/jobs", body);
        say("#submit-msg", `queued ${accepted.job_id}`);
        $("#submit-msg").dataset.job = accepted.job_id;
      }
    } catch (error) {
      say("#submit-msg", error.message, true);
    }
  },
};

// One parameter's input: a number (min/max/step), a select (choices), a checkbox, a text; SIZE as two numbers.
function input(spec) {
  const common = { "data-param": spec.name, name: spec.name, "data-kind": spec.kind };
  const given = spec.default === null || spec.default === undefined ? "" : spec.default;
  if (spec.kind === "COMBO") {
    const select = el("select", common, (spec.choices || []).map((choice) => el("option", { value: choice, text: choice })));
    select.value = given;
    return select;
  }
  if (spec.kind === "BOOLEAN") return el("input", Object.assign({ type: "checkbox", checked: given === true }, common));
  if (spec.kind === "INT" || spec.kind === "FLOAT") {
    const step = spec.step ?? (spec.kind === "INT" ? 1 : "any");
    return el("input", Object.assign({ type: "number", min: spec.min, max: spec.max, step, value: given,
      placeholder: given === "" ? "random" : null }, common));
  }
  if (spec.kind === "SIZE") {
    const side = (index, label) => el("input", { type: "number", min: spec.min, max: spec.max, step: spec.step || 8,
      value: Array.isArray(given) ? given[index] : "", "data-side": index, "aria-label": label });
    return el("span", Object.assign({ class: "size" }, common), side(0, "width"), " × ", side(1, "height"));
  }
  if (spec.name === "prompt" || spec.name === "negative_prompt") {
    return el("textarea", Object.assign({ required: spec.name === "prompt" }, common), String(given));
  }
  return el("input", Object.assign({ type: "text", value: given }, common));
}

// What an input sends: undefined when it says the workflow's default (so the worker's own default applies).
function valueOf(node, spec) {
  let value;
  if (spec.kind === "SIZE") value = [...node.querySelectorAll("input")].map((side) => Number(side.value));
  else if (spec.kind === "BOOLEAN") value = node.checked;
  else if (node.value === "") return undefined;
  else if (spec.kind === "INT" || spec.kind === "FLOAT") value = Number(node.value);
  else value = node.value;
  return JSON.stringify(value) === JSON.stringify(spec.default) && spec.name !== "prompt" ? undefined : value;
}

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

$("#workflow").addEventListener("change", () => PF.views.form.draw());
$("#mode").addEventListener("change", () => { $("#sheet-fields").hidden = $("#mode").value !== "sheet"; });
$("#submit").addEventListener("submit", (event) => PF.views.form.submit(event));

// ---- the gallery: finished jobs, newest first ----
PF.views.gallery = {
  shown: new Set(),
  reload() {
    $("#gallery").replaceChildren();
    this.shown.clear();
    const done = [...PF.jobs.values()].filter((job) => job.state === "done" && (job.outputs || []).length);
    done.sort((a, b) => (a.created_at || 0) - (b.created_at || 0)).forEach((job) => this.add(job));
  },
  add(job) {
    if (this.shown.has(job.job_id) || !(job.outputs || []).length) return;
    this.shown.add(job.job_id);
    const output = job.outputs[0];
    const card = el("div", { class: "card", "data-job": job.job_id, onclick: () => PF.views.detail(job.job_id) },
      pixels(outputUrl(job.job_id, "final", output.bytes), GALLERY_SIDE),
      el("span", { class: "cap", text: `${short(job.job_id)} · ${output.width}×${output.height}`, title: job.job_id }));
    $("#gallery").prepend(card);
  },
};

// ---- a job's detail: raw vs sprite, palette, parameters ----
PF.views.detail = async function detail(jobId) {
  const job = rememberJob(await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}`));
  const output = job.outputs[0] || {};
  const figures = [el("figure", {}, el("figcaption", { text: `sprite ${output.width}×${output.height}` }),
    pixels(outputUrl(jobId, "final", output.bytes), DETAIL_SIDE, { id: "detail-final" }))];
  if (output.raw_path) {
    figures.unshift(el("figure", {}, el("figcaption", { text: "raw generation" }),
      pixels(outputUrl(jobId, "raw", output.raw_bytes), DETAIL_SIDE, { id: "detail-raw" })));
  }
  const params = Object.assign({}, job.params, job.params.params || {});
  delete params.params;
  const rows = Object.entries(params).filter((entry) => entry[1] !== null && entry[1] !== "")
    .map(([key, value]) => el("tr", {}, el("td", { text: key }), el("td", { text: typeof value === "object" ? JSON.stringify(value) : String(value) })));
  const section = $("#detail");
  section.replaceChildren(el("h2", { text: `Job ${jobId}` }),
    el("button", { type: "button", text: "close", onclick: () => { section.hidden = true; } }),
    el("div", { class: "pair" }, figures),
    el("h3", { text: "palette" }), swatches(output.palette),
    el("h3", { text: "parameters" }), el("table", { class: "params" }, rows));
  section.dataset.job = jobId;
  section.hidden = false;
  section.scrollIntoView();
};

// ---- groups: a contact sheet of a compare, a sprite sheet with its rows playing ----
PF.views.groups = {
  known: new Map(), // group_id -> its last `group` reply
  reload() {
    const ids = new Set([...PF.jobs.values()].map((job) => job.group_id).filter(Boolean));
    for (const id of ids) if (!this.known.has(id)) this.fetch(id);
  },
  done(event) { this.fetch(event.group_id); },
  async fetch(groupId) {
    const group = await api("GET", `/v1/groups/${encodeURIComponent(groupId)}`);
    group.version = (this.known.get(groupId)?.version || 0) + 1;
    this.known.set(groupId, group);
    for (const job of group.jobs) rememberJob(job);
    const node = el("div", { class: "group", id: `group-${groupId}`, "data-group": groupId,
      "data-finished": group.finished ? "1" : "0", "data-version": group.version }, el("h3", { text: `${group.sprite_sheet !== undefined ? "sheet" : "group"} ${groupId}` }));
    if (group.sprite_sheet) node.append(...sheetView(group));
    else node.append(contactSheet(group));
    const old = document.getElementById(`group-${groupId}`);
    if (old) old.replaceWith(node);
    else $("#groups").prepend(node);
  },
};

function contactSheet(group) {
  const grid = el("div", { class: "contact", style: `grid-template-columns: repeat(${Math.min(group.jobs.length, 8)}, max-content)` });
  for (const job of group.jobs) {
    const label = `seed ${job.params.seed} | ${job.params.model || "default"}`;
    grid.append(el("div", { class: "card", onclick: () => PF.views.detail(job.job_id) },
      job.outputs.length ? pixels(outputUrl(job.job_id, "final", job.outputs[0].bytes), GALLERY_SIDE) : el("span", { text: job.state }),
      el("span", { class: "cap", text: label })));
  }
  return grid;
}

function sheetView(group) {
  const files = group.sprite_sheet;
  const file = (variant, query) => authUrl(`/v1/groups/${encodeURIComponent(group.group_id)}/files/${variant}`,
    Object.assign({ v: group.version }, query || {}));
  const sheetImage = pixels(file("sheet"), 512, { class: "pixels checker sheet-image" });
  const rows = el("div", { class: "rows" });
  fetch(file("atlas"), { headers: PF.token ? { Authorization: `Bearer ${PF.token}` } : {} })
    .then((response) => response.json())
    .then((atlas) => {
      for (const tag of atlas.meta.frameTags) rows.append(animation(tag, atlas, sheetImage, file("preview", { row: tag.name })));
    });
  return [el("figure", {}, el("figcaption", { text: "sheet" }), sheetImage),
    el("h3", { text: "palette" }), swatches(files.palette),
    el("h3", { text: "rows" }), rows,
    el("h3", { text: "frames (re-roll one with a new seed)" }), frameCells(group)];
}

// A row's animation: its frames from the atlas drawn in turn on a canvas (each its own duration), beside its GIF.
function animation(tag, atlas, sheetImage, gifUrl) {
  const frames = atlas.frames.slice(tag.from, tag.to + 1);
  const { w, h } = frames[0].sourceSize;
  const zoom = zoomFor(w, h, 128);
  const canvas = el("canvas", { class: "pixels checker row-anim", width: w * zoom, height: h * zoom, "data-row": tag.name });
  const context = canvas.getContext("2d");
  let index = 0;
  const draw = () => {
    if (!canvas.isConnected && index > 0) return; // the view was redrawn: this loop ends
    const frame = frames[index % frames.length];
    context.imageSmoothingEnabled = false;
    context.clearRect(0, 0, canvas.width, canvas.height);
    const f = frame.frame;
    context.drawImage(sheetImage, f.x, f.y, f.w, f.h, 0, 0, f.w * zoom, f.h * zoom);
    canvas.dataset.frame = String(index % frames.length);
    canvas.dataset.drawn = String(index);
    index += 1;
    setTimeout(draw, Math.max(frame.duration || 100, 40));
  };
  const begin = () => draw();
  if (sheetImage.complete && sheetImage.naturalWidth) begin();
  else sheetImage.addEventListener("load", begin, { once: true });
  return el("figure", { "data-row": tag.name }, el("figcaption", { text: `${tag.name}: ${frames.length} frames` }),
    el("div", { class: "pair" }, canvas, pixels(gifUrl, 128, { class: "pixels checker row-gif", "data-row": tag.name })));
}

// The newest job of each cell, rows × frames, each with its re-roll button (retry with a new seed).
function frameCells(group) {
  const cells = new Map();
  for (const job of group.jobs) {
    const where = (job.params.params || {}).sheet || job.params.sheet || {};
    cells.set(`${where.row_index}:${where.frame}`, { job, where });
  }
  const frames = Math.max(1, ...[...cells.values()].map((cell) => (cell.where.frame ?? 0) + 1));
  const grid = el("div", { class: "cells", style: `grid-template-columns: repeat(${frames}, max-content)` });
  const ordered = [...cells.values()].sort((a, b) => (a.where.row_index - b.where.row_index) || (a.where.frame - b.where.frame));
  for (const { job, where } of ordered) {
    const image = job.outputs.length ? pixels(outputUrl(job.job_id, "final", job.outputs[0].bytes), 64) : el("span", { text: job.state });
    grid.append(el("div", { class: "cell", "data-job": job.job_id },
      image, el("span", { class: "cap", text: `${where.row} ${where.frame}` }),
      el("button", { type: "button", class: "reroll", "data-job": job.job_id, text: "re-roll", onclick: () => reroll(group, job) })));
  }
  return grid;
}

async function reroll(group, job) {
  try {
    const accepted = await api("POST", `/v1/jobs/${encodeURIComponent(job.job_id)}/retry`, { new_seed: true });
    say("#submit-msg", `re-rolling ${job.job_id} as ${accepted.job_id}`);
    $("#submit-msg").dataset.rerolled = accepted.job_id;
  } catch (error) {
    say("#submit-msg", error.message, true);
  }
}
