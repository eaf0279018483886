"""The `/docs` page: renders `/openapi.json` with a little inline script (no CDN, no assets)."""

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>modelserve gateway API</title>
<style>
 body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #1d1d1f; }
 h1 { margin-bottom: .2rem; } .lead { color: #555; }
 h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
 details { border: 1px solid #ddd; border-radius: 6px; margin: .5rem 0; padding: .4rem .8rem; }
 summary { cursor: pointer; }
 .m { display: inline-block; min-width: 3.5rem; font-weight: 600; font-family: monospace; }
 .get { color: #0a7; } .post { color: #06c; }
 code, pre { font-family: ui-monospace, monospace; font-size: 13px; }
 pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; border-radius: 4px; }
 table { border-collapse: collapse; } td { padding: .1rem .6rem .1rem 0; vertical-align: top; }
 .open { color: #888; font-size: 12px; }
</style>
</head>
<body>
<h1>modelserve gateway</h1>
<p class="lead" id="lead">Loading <a href="openapi.json">openapi.json</a>…</p>
<div id="api"></div>
<script>
"use strict";
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}
function pretty(v) { return JSON.stringify(v, null, 2); }
function schemaOf(content) {
  const json = content && content["application/json"];
  return json ? (json.example !== undefined ? json.example : json.schema) : undefined;
}
fetch("openapi.json").then(r => r.json()).then(doc => {
  document.title = doc.info.title;
  document.getElementById("lead").textContent = doc.info.description;
  const root = document.getElementById("api");
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      (byTag[op.tags[0]] = byTag[op.tags[0]] || []).push([path, method, op]);
    }
  }
  for (const tag of doc.tags) {
    root.append(el("h2", {}, tag.name + ": " + tag.description));
    for (const [path, method, op] of byTag[tag.name] || []) {
      const head = el("summary", {}, el("span", {class: "m " + method}, method.toUpperCase()),
                      el("code", {}, path), " — " + op.summary);
      if (op.security && op.security.length === 0) head.append(el("span", {class: "open"}, " (no API key needed)"));
      const box = el("details", {}, head);
      if (op.description) box.append(el("p", {}, op.description));
      if (op.requestBody) {
        box.append(el("p", {}, "Request body (application/json):"));
        box.append(el("pre", {}, pretty(schemaOf(op.requestBody.content))));
      }
      const rows = el("table");
      for (const [code, resp] of Object.entries(op.responses)) {
        rows.append(el("tr", {}, el("td", {}, el("code", {}, code)), el("td", {}, resp.description)));
      }
      box.append(el("p", {}, "Responses:"), rows);
      const ok = op.responses["200"];
      if (ok && ok.content && ok.content["application/json"] && ok.content["application/json"].example) {
        box.append(el("p", {}, "Example answer:"), el("pre", {}, pretty(ok.content["application/json"].example)));
      }
      root.append(box);
    }
  }
}).catch(err => {
  document.getElementById("lead").textContent = "Could not load openapi.json: " + err;
});
</script>
</body>
</html>
"""
