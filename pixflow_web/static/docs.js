// pixflow web API docs: renders /v1/openapi.json (made by the server from its route table). No libraries.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function schemaText(schema) {
  return JSON.stringify(schema, null, 2);
}

function parameters(op) {
  const params = op.parameters || [];
  if (!params.length) return null;
  const rows = params.map((p) =>
    el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
      el("td", {}, el("code", {}, (p.schema && p.schema.type) || "")), el("td", {}, p.description || "")));
  return el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"),
    el("th", {}, "what")), ...rows);
}

function responses(op) {
  const rows = Object.entries(op.responses || {}).map(([status, r]) =>
    el("tr", {}, el("td", {}, el("code", {}, status)), el("td", {}, Object.keys(r.content || {}).join(", ")),
      el("td", {}, r.description || "")));
  return el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "content"), el("th", {}, "what")),
    ...rows);
}

function route(path, method, op) {
  const body = el("div", { class: "body" }, el("p", {}, op.description || ""));
  const params = parameters(op);
  if (params) body.append(params);
  if (op.requestBody) {
    const schema = op.requestBody.content["application/json"].schema;
    body.append(el("h4", {}, "JSON body"), el("pre", {}, schemaText(schema)));
  }
  body.append(el("h4", {}, "Answers"), responses(op));
  const ok = op.responses["200"] && op.responses["200"].content && op.responses["200"].content["application/json"];
  if (ok) body.append(el("pre", {}, schemaText(ok.schema)));
  const details = el("details", { class: "route", id: op.operationId },
    el("summary", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || ""), el("span", { class: "role" }, op["x-pixflow-role"] || "public")),
    body);
  details.dataset.search = `${method} ${path} ${op["x-pixflow-request"] || ""} ${op["x-pixflow-role"] || "public"}`;
  return details;
}

async function main() {
  const doc = await (await fetch("/v1/openapi.json")).json();
  document.getElementById("description").textContent = doc.info.description;
  const main = document.getElementById("routes");
  const index = document.getElementById("index");
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      main.append(route(path, method, op));
      index.append(el("a", { href: `#${op.operationId}` }, `${method.toUpperCase()} ${path}`));
    }
  }
  document.getElementById("filter").addEventListener("input", (event) => {
    const words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    for (const node of main.children) {
      const text = node.dataset.search.toLowerCase();
      node.classList.toggle("hidden", !words.every((w) => text.includes(w)));
    }
  });
}

main().catch((error) => {
  document.getElementById("description").textContent = `Could not load /v1/openapi.json: ${error}`;
});
