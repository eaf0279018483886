// The gateway's web page: try a served model, see how its version was trained.
// Plain browser JavaScript, no framework and no build step. It calls only the public API:
// GET v1/models, GET v1/models/<name>/metadata, POST v1/models/<name>:predict and
// GET v1/models/<name>/versions/<v>/report (URLs relative to the page, so it works behind
// a path prefix too). This file: the API calls, the model shown, the inputs, the answer;
// dom.js, report.js and pad.js (loaded before it) hold the rest.
"use strict";

const KEY_STORAGE = "modelserve.apiKey";

const state = {
  model: null, // the model name shown
  meta: null, // its metadata answer (for the version being served)
  report: null, // the training report of that version, or null
  handDrawn: false, // the pad holds strokes (cropped to the ink before sending)
  padHasInk: false,
  loading: 0, // bumped per model shown: answers for a model no longer shown are dropped
};

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch (_) {
    return null;
  }
}

// One call to the gateway; rejects with an ApiError whose message is fit to show.
async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  let response;
  const started = performance.now();
  try {
    response = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError(0, `Cannot reach the gateway (${err.message}).`);
  }
  const text = await response.text();
  const ms = performance.now() - started;
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  if (!response.ok) {
    const said = body && typeof body.error === "string" ? body.error : null;
    const what = said || `${response.status} ${response.statusText || "error"}`;
    if (response.status === 401) showKeyForm();
    throw new ApiError(response.status, what);
  }
  if (body === null) throw new ApiError(response.status, "The gateway answered something that is not JSON.");
  return { body, ms, headers: response.headers };
}

const modelPath = (name) => `v1/models/${encodeURIComponent(name)}`;

function describeError(err, doing) {
  const status = err.status ? ` (HTTP ${err.status})` : "";
  const hint = err.status === 401 ? " Enter an API key in the form below." : "";
  const message = /[.!?]$/.test(err.message) ? err.message : `${err.message}.`;
  return el("div", {}, el("strong", { text: `${doing} failed${status}` }), `${message}${hint}`);
}

function showNotice(node) {
  const box = $("notice");
  box.replaceChildren(node);
  box.hidden = false;
}

function clearNotice() {
  $("notice").hidden = true;
  $("notice").replaceChildren();
}

// ---------------------------------------------------------------- API key

function showKeyForm() {
  const wasHidden = $("key-form").hidden;
  $("key-form").hidden = false;
  if (wasHidden) $("key-input").focus();
}

function setupKeyForm() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key-input").value.trim();
    if (!key) return;
    try {
      sessionStorage.setItem(KEY_STORAGE, key);
    } catch (_) {
      /* storage refused: the key is lost on reload, nothing else to do */
    }
    $("key-input").value = "";
    $("key-form").hidden = true;
    start();
  });
}

// ---------------------------------------------------------------- models and metadata

async function start() {
  clearNotice();
  const wanted = new URLSearchParams(location.search).get("model");
  const select = $("model-select");
  let names = [];
  try {
    names = (await api("v1/models")).body.models.map((m) => m.name);
  } catch (err) {
    showNotice(describeError(err, "Listing the models"));
    $("model-summary").textContent = "";
    select.replaceChildren(el("option", { text: "none" }));
    $("report-body").replaceChildren(el("p", { class: "placeholder", text: "No model to show." }));
    return;
  }
  if (wanted && !names.includes(wanted)) names.unshift(wanted);
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  select.disabled = names.length === 0;
  if (names.length === 0) {
    $("model-summary").textContent = "";
    showNotice(el("div", {}, el("strong", { text: "No model yet" }),
      "The gateway's model repository holds no model. Train one (make train), then reload."));
    $("report-body").replaceChildren();
    return;
  }
  select.value = wanted || names[0];
  await showModel(select.value);
}

async function showModel(name) {
  const token = ++state.loading;
  state.model = name;
  state.meta = null;
  state.report = null;
  clearNotice();
  $("image-input").hidden = true;
  $("tabular-form").hidden = true;
  $("try-placeholder").hidden = false;
  $("model-summary").textContent = `Loading ${name}…`;
  resetAnswer();
  let meta;
  try {
    meta = (await api(`${modelPath(name)}/metadata`)).body;
  } catch (err) {
    if (token !== state.loading) return;
    $("model-summary").textContent = "";
    showNotice(describeError(err, `Loading model “${name}”`));
    $("report-body").replaceChildren(el("p", { class: "placeholder", text: "No model to show." }));
    return;
  }
  if (token !== state.loading) return;
  state.meta = meta;
  renderSummary();
  await loadReport();
  if (token !== state.loading) return;
  renderInput();
}

function renderSummary() {
  const m = state.meta;
  const input = m.input || {};
  const kind = input.kind === "IMAGE" ? `image ${(input.shape || []).join("×")}` : `${(input.feature_names || []).length} features`;
  const labels = m.labels || [];
  $("model-summary").replaceChildren(
    "Serving ", el("strong", { id: "summary-model", text: m.model }),
    " version ", el("strong", { id: "summary-version", text: m.model_version }),
    ` · ${kind} · ${labels.length} labels (${(m.output || {}).activation === "SIGMOID" ? "sigmoid" : "softmax"})`,
    m.training && m.training.dataset ? ` · trained on ${m.training.dataset}` : "",
  );
  document.title = `${m.model} v${m.model_version} · modelserve`;
}

async function loadReport() {
  const token = state.loading;
  const body = $("report-body");
  $("report-title").textContent = `How version ${state.meta.model_version} was trained`;
  body.replaceChildren(el("p", { class: "placeholder", text: "Loading the training report…" }));
  try {
    const report = (await api(`${modelPath(state.model)}/versions/${encodeURIComponent(state.meta.model_version)}/report`)).body;
    if (token !== state.loading) return;
    state.report = report;
  } catch (err) {
    if (token !== state.loading) return;
    state.report = null;
    if (err.status === 404) {
      body.replaceChildren(el("p", { class: "notice info", text:
        `Version ${state.meta.model_version} was published without a training report (${err.message}).` }));
    } else {
      body.replaceChildren(el("div", { class: "notice error", role: "alert" }, describeError(err, "Loading the training report")));
    }
    return;
  }
  renderReport(body, state.report, state.meta);
}

// ---------------------------------------------------------------- inputs

function examples() {
  return (state.report && Array.isArray(state.report.examples)) ? state.report.examples : [];
}

function fillExampleSelect(select, noneText) {
  const list = examples();
  select.replaceChildren(
    el("option", { value: "", text: list.length ? "Choose an example…" : noneText }),
    ...list.map((ex, i) => el("option", { value: String(i), text: `Example ${i + 1}: ${ex.label}` })),
  );
  select.disabled = list.length === 0;
}

function renderInput() {
  const image = state.meta.input.kind === "IMAGE";
  $("columns").classList.toggle("tabular", !image);
  $("try-placeholder").hidden = true;
  if (image) {
    $("image-input").hidden = false;
    fillExampleSelect($("image-example"), "No examples in the training report");
    clearPad();
  } else {
    $("tabular-form").hidden = false;
    renderFields();
  }
}

function renderFields() {
  const input = state.meta.input;
  const names = input.feature_names || [];
  const ranges = input.feature_ranges || [];
  const container = $("feature-fields");
  container.replaceChildren();
  names.forEach((name, i) => {
    const id = `feature-${i}`;
    const hintId = `${id}-hint`;
    const range = ranges[i];
    const field = el("div", { class: "field" },
      el("label", { for: id, text: name }),
      el("input", { id, name, type: "number", step: "any", inputmode: "decimal", required: true,
        "aria-describedby": range ? hintId : null, "data-feature": name }),
      range ? el("small", { id: hintId, text: `seen in training: ${fmt(range.min)} to ${fmt(range.max)}` }) : null);
    container.append(field);
  });
  $("features-legend").textContent = `Features (${names.length})`;
  const select = $("tabular-example");
  fillExampleSelect(select, "No examples in the training report: fill in the values");
  if (examples().length) {
    select.value = "0";
    applyTabularExample(0);
  }
}

function applyTabularExample(index) {
  const ex = examples()[index];
  if (!ex || typeof ex.instance !== "object" || Array.isArray(ex.instance)) return;
  for (const input of $("feature-fields").querySelectorAll("input")) {
    const v = ex.instance[input.dataset.feature];
    input.value = v === undefined || v === null ? "" : String(v);
    input.removeAttribute("aria-invalid");
  }
}

async function submitTabular(event) {
  event.preventDefault();
  const instance = {};
  for (const input of $("feature-fields").querySelectorAll("input")) {
    const value = input.value.trim() === "" ? NaN : Number(input.value);
    if (!Number.isFinite(value)) {
      input.setAttribute("aria-invalid", "true");
      showAnswerError(el("div", {}, el("strong", { text: "Check the form" }),
        `“${input.dataset.feature}” needs a number.`));
      input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    instance[input.dataset.feature] = value;
  }
  await predict(instance, $("predict-form"));
}

// ---------------------------------------------------------------- predict and the answer

function resetAnswer() {
  $("answer-error").hidden = true;
  $("result").replaceChildren(el("p", { class: "placeholder", text: "No prediction yet." }));
}

function showAnswerError(node) {
  $("answer-error").replaceChildren(node);
  $("answer-error").hidden = false;
}

async function predict(instance, trigger) {
  const labels = state.meta.labels || [];
  const topK = Math.min(labels.length, 5);
  const token = state.loading;
  $("answer-error").hidden = true;
  $("result").setAttribute("aria-busy", "true");
  if (trigger) trigger.disabled = true;
  try {
    const { body, ms } = await api(`${modelPath(state.model)}:predict`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ instances: [instance], top_k: topK }),
    });
    if (token !== state.loading) return; // another model is shown now
    renderAnswer(body, ms);
    if (body.model_version !== state.meta.model_version) {
      // Another version answered (a newer one, or a rollback): show its metadata and report.
      const meta = (await api(`${modelPath(state.model)}/versions/${encodeURIComponent(body.model_version)}/metadata`)).body;
      if (token !== state.loading) return;
      state.meta = meta;
      renderSummary();
      await loadReport();
      // Its examples to start from; the values typed in the form stay.
      fillExampleSelect($("image-example"), "No examples in the training report");
      fillExampleSelect($("tabular-example"), "No examples in the training report: fill in the values");
    }
  } catch (err) {
    if (token === state.loading) showAnswerError(describeError(err, "The prediction"));
  } finally {
    $("result").removeAttribute("aria-busy");
    if (trigger) trigger.disabled = false;
  }
}

function renderAnswer(body, ms) {
  const p = body.predictions[0];
  const bars = el("ol", { class: "bars", "aria-label": "Most likely labels" });
  for (const item of p.top_k || [{ label: p.label, probability: p.probability }]) {
    const labelId = nextId("bar-label");
    const fill = el("div", { class: "bar-fill" });
    fill.style.width = `${Math.max(0, Math.min(100, 100 * item.probability))}%`;
    bars.append(el("li", {},
      el("span", { class: "bar-label", id: labelId, text: item.label }),
      el("div", { class: "bar", role: "meter", "aria-labelledby": labelId, "aria-valuemin": 0, "aria-valuemax": 100,
        "aria-valuenow": (100 * item.probability).toFixed(1), "aria-valuetext": pct(item.probability) }, fill),
      el("span", { class: "bar-value", "aria-hidden": "true", text: pct(item.probability) })));
  }
  $("result").replaceChildren(
    el("p", { class: "verdict" }, "Predicted", el("span", { class: "label", id: "answer-label", text: p.label }),
      `with ${pct(p.probability)}`),
    bars,
    el("p", { class: "answered" }, "Answered by ", el("strong", { id: "answer-model", text: body.model }),
      " version ", el("strong", { id: "answer-version", text: body.model_version }),
      " in ", el("strong", { id: "answer-latency", text: `${Math.round(ms)} ms` }), " (round trip)."),
  );
}

// ---------------------------------------------------------------- start

document.addEventListener("DOMContentLoaded", () => {
  setupKeyForm();
  setupPad();
  $("tabular-form").addEventListener("submit", submitTabular);
  $("tabular-example").addEventListener("change", (e) => {
    if (e.target.value !== "") applyTabularExample(Number(e.target.value));
  });
  $("model-select").addEventListener("change", (e) => {
    const url = new URL(location.href);
    url.searchParams.set("model", e.target.value);
    history.replaceState(null, "", url);
    showModel(e.target.value);
  });
  start();
});
