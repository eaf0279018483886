// The gateway's web page: try a served model, see how its version was trained.
// Plain browser JavaScript, no framework and no build step. It calls only the public API:
// GET v1/models, GET v1/models/<name>/metadata, POST v1/models/<name>:predict and
// GET v1/models/<name>/versions/<v>/report (URLs relative to the page, so it works behind
// a path prefix too).
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const KEY_STORAGE = "modelserve.apiKey";

const state = {
  model: null, // the model name shown
  meta: null, // its metadata answer (for the version being served)
  report: null, // the training report of that version, or null
  handDrawn: false, // the pad holds strokes (cropped to the ink before sending)
  padHasInk: false,
  loading: 0, // bumped per model shown: answers for a model no longer shown are dropped
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- DOM helpers

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function setAttrs(node, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function pct(p, digits = 1) {
  return `${(100 * p).toFixed(digits)}%`;
}

function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  const a = Math.abs(x);
  if (a !== 0 && (a < 0.001 || a >= 1e6)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

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

// ---------------------------------------------------------------- the drawing pad

function setupPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  let drawing = false;
  let last = null;

  const point = (e) => {
    const r = pad.getBoundingClientRect();
    return { x: (e.clientX - r.left) * (pad.width / r.width), y: (e.clientY - r.top) * (pad.height / r.height) };
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = pad.width / 11;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
  };

  pad.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    if (!state.handDrawn) blankPad(); // drawing over an example starts afresh
    drawing = true;
    state.handDrawn = true;
    state.padHasInk = true;
    last = point(e);
    stroke(last, last);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      const p = point(ev);
      stroke(last, p);
      last = p;
    }
  });
  const stop = () => {
    drawing = false;
    last = null;
  };
  pad.addEventListener("pointerup", stop);
  pad.addEventListener("pointercancel", stop);

  $("clear-pad").addEventListener("click", clearPad);
  $("predict-drawing").addEventListener("click", predictDrawing);
  $("image-example").addEventListener("change", (e) => {
    if (e.target.value !== "") drawExample(examples()[Number(e.target.value)]);
  });
  $("image-file").addEventListener("change", predictFile);
}

function blankPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  state.padHasInk = false;
}

function clearPad() {
  blankPad();
  state.handDrawn = false;
  $("image-example").value = "";
}

// A raw test image (values in the training range) drawn as blocks of light on black.
function drawExample(ex) {
  if (!ex) return;
  const [h, w, c = 1] = state.meta.input.shape.map(Number);
  const flat = [ex.instance].flat(Infinity).map(Number);
  if (flat.length !== h * w * c) return;
  const range = state.meta.input.raw_range || {};
  const lo = Number(range.min) || 0;
  const hi = Number(range.max) > lo ? Number(range.max) : 255;
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  blankPad();
  const cw = pad.width / w;
  const ch = pad.height / h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const at = (y * w + x) * c;
      const rgb = [0, 1, 2].map((k) => Math.round(255 * Math.min(1, Math.max(0, (flat[at + Math.min(k, c - 1)] - lo) / (hi - lo)))));
      ctx.fillStyle = `rgb(${rgb.join(",")})`;
      ctx.fillRect(Math.floor(x * cw), Math.floor(y * ch), Math.ceil(cw), Math.ceil(ch));
    }
  }
  state.handDrawn = false;
  state.padHasInk = true;
}

// The PNG to send: the pad, cropped to a square around the ink when drawn by hand (the
// training images are centred and fill their frame), as a base64 string.
function padPng() {
  const pad = $("pad");
  if (!state.handDrawn) return pad.toDataURL("image/png").split(",")[1];
  const data = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
  let x0 = pad.width, y0 = pad.height, x1 = -1, y1 = -1;
  for (let y = 0; y < pad.height; y++) {
    for (let x = 0; x < pad.width; x++) {
      if (data[(y * pad.width + x) * 4] > 16) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const side = Math.max(x1 - x0, y1 - y0) * 1.2 + 8;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const out = document.createElement("canvas");
  out.width = out.height = Math.round(side);
  const octx = out.getContext("2d");
  octx.fillStyle = "#000";
  octx.fillRect(0, 0, out.width, out.height);
  octx.drawImage(pad, cx - side / 2, cy - side / 2, side, side, 0, 0, out.width, out.height);
  return out.toDataURL("image/png").split(",")[1];
}

async function predictDrawing() {
  const b64 = state.padHasInk ? padPng() : null;
  if (!b64) {
    showAnswerError(el("div", {}, el("strong", { text: "Nothing to predict" }),
      "Draw on the black square first, or choose an example or a file."));
    return;
  }
  await predict({ b64 }, $("predict-drawing"));
}

function predictFile(event) {
  const file = event.target.files && event.target.files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = async () => {
    const url = String(reader.result);
    $("upload-preview").src = url;
    $("upload-preview").alt = `The image sent: ${file.name}`;
    $("upload-caption").textContent = `${file.name} (${Math.round(file.size / 102.4) / 10} kB)`;
    $("upload-figure").hidden = false;
    await predict({ b64: url.slice(url.indexOf(",") + 1) }, $("image-file"));
  };
  reader.onerror = () => showAnswerError(el("div", {}, el("strong", { text: "Cannot read the file" }), file.name));
  reader.readAsDataURL(file);
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

// ---------------------------------------------------------------- the training report

function renderReport(container, report, meta) {
  const metrics = report.test_metrics || {};
  const history = report.history || {};
  const epochs = (history.loss || []).length;
  const headline = el("dl", { class: "headline" });
  const add = (term, value, id) => headline.append(el("div", {}, el("dt", { text: term }), el("dd", { id, text: value })));
  if (metrics.accuracy !== undefined && metrics.accuracy !== null) add("Test accuracy", pct(metrics.accuracy), "test-accuracy");
  if (metrics.auc !== undefined && metrics.auc !== null) add("Test AUC", fmt(metrics.auc), "test-auc");
  if (metrics.loss !== undefined && metrics.loss !== null) add("Test loss", fmt(metrics.loss), "test-loss");
  add("Best epoch", `${report.best_epoch} of ${epochs}`, "best-epoch");
  if (report.test_examples) add("Test examples", String(report.test_examples), "test-examples");

  const when = report.created_at ? ` on ${new Date(report.created_at).toLocaleString()}` : "";
  const intro = el("p", { class: "help", text:
    `${meta.model} version ${meta.model_version}, trained on ${report.dataset || "its data set"}${when}. ` +
    `The weights of the best epoch (${bestBy(report.monitor)}) were exported; the test split was not used in training.` });

  const charts = el("div", { class: "figures-row" });
  const pairs = [["loss", "val_loss", "Loss", false], ["accuracy", "val_accuracy", "Accuracy", true]];
  for (const [train, valid, name, isRate] of pairs) {
    if (history[train] || history[valid]) {
      charts.append(lineChart({ name, train: history[train], valid: history[valid], best: report.best_epoch, isRate }));
    }
  }
  const parts = [intro, headline, el("h3", { text: "Training curves" }), charts];
  if (Array.isArray(report.confusion_matrix)) {
    const row = el("div", { class: "figures-row" }, confusionMatrix(report.labels, report.confusion_matrix));
    if (Array.isArray(report.per_class) && report.per_class.length) row.append(perClassTable(report.per_class));
    parts.push(el("h3", { text: "On the test split" }), row);
  }
  container.replaceChildren(...parts);
}

function bestBy(monitor) {
  const known = { val_loss: "lowest validation loss", val_accuracy: "highest validation accuracy",
    val_auc: "highest validation AUC" };
  return known[monitor] || (monitor ? `best ${monitor}` : "best on the validation split");
}

function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let t = Math.floor(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

function lineChart({ name, train, valid, best, isRate }) {
  const W = 460, H = 270, L = 52, R = 14, T = 26, B = 44;
  const series = [["Training", train || [], "train"], ["Validation", valid || [], "valid"]].filter(([, v]) => v.length);
  const n = Math.max(...series.map(([, v]) => v.length));
  const values = series.flatMap(([, v]) => v).filter((v) => v !== null && Number.isFinite(v));
  let lo = isRate ? Math.min(...values) : 0;
  let hi = isRate ? 1 : Math.max(...values);
  if (isRate) lo = Math.max(0, Math.floor(lo * 10) / 10);
  const yTicks = niceTicks(lo, hi);
  lo = Math.min(lo, yTicks[0]);
  hi = Math.max(hi, yTicks[yTicks.length - 1]);
  const x = (epoch) => (n === 1 ? L + (W - L - R) / 2 : L + ((epoch - 1) / (n - 1)) * (W - L - R));
  const y = (v) => T + (1 - (v - lo) / (hi - lo || 1)) * (H - T - B);
  const titleId = nextId("chart-title");
  const descId = nextId("chart-desc");
  const valueText = (v) => (v === null || v === undefined ? "–" : isRate ? pct(v) : fmt(v));

  const describe = series.map(([label, v]) => {
    const at = v[best - 1];
    return `${label} ${name.toLowerCase()} went from ${valueText(v[0])} at epoch 1 to ${valueText(v[v.length - 1])} at epoch ${v.length}` +
      (at !== undefined ? ` (${valueText(at)} at the best epoch)` : "");
  }).join(". ");
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${titleId} ${descId}`, class: `chart-${name.toLowerCase()}` },
    svg("title", { id: titleId, text: `${name} per epoch, training and validation; best epoch ${best}` }),
    svg("desc", { id: descId, text: `${describe}. Epoch ${best} was the best and its weights were exported.` }));

  for (const t of yTicks) {
    root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(t), y2: y(t) }),
      svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end", text: isRate ? pct(t, 0) : fmt(t) }));
  }
  const xStep = Math.max(1, Math.ceil(n / 10));
  for (let e = 1; e <= n; e += xStep) {
    root.append(svg("text", { x: x(e), y: H - B + 16, "text-anchor": "middle", text: String(e) }));
  }
  root.append(
    svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", text: "epoch" }),
  );
  if (best >= 1 && best <= n) {
    root.append(svg("line", { class: "best-line", x1: x(best), x2: x(best), y1: T, y2: H - B }),
      svg("text", { x: x(best), y: T - 8, "text-anchor": x(best) > W - R - 50 ? "end" : x(best) < L + 50 ? "start" : "middle",
        class: "best-label", text: `best epoch ${best}` }));
  }
  for (const [, v, cls] of series) {
    let d = "";
    let pen = false;
    v.forEach((val, i) => {
      if (val === null || !Number.isFinite(val)) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i + 1).toFixed(1)},${y(val).toFixed(1)}`;
      pen = true;
    });
    root.append(svg("path", { class: `series-${cls}`, d }));
    if (n <= 40) {
      v.forEach((val, i) => {
        if (val !== null && Number.isFinite(val)) root.append(svg("circle", { class: `dot-${cls}`, cx: x(i + 1), cy: y(val), r: 2.5 }));
      });
    }
    const atBest = v[best - 1];
    if (atBest !== undefined && atBest !== null) root.append(svg("circle", { class: "best-dot", cx: x(best), cy: y(atBest), r: 5 }));
  }

  const legend = el("ul", { class: "legend", "aria-hidden": "true" },
    ...series.map(([label, , cls]) => el("li", {}, el("span", { class: `swatch ${cls}` }), label)),
    el("li", {}, el("span", { class: "swatch best" }), "best epoch"));
  const table = el("table", {},
    el("caption", { text: `${name} per epoch` }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "epoch" }),
      ...series.map(([label]) => el("th", { scope: "col", text: label.toLowerCase() })))),
    el("tbody", {}, ...Array.from({ length: n }, (_, i) => el("tr", {},
      el("th", { scope: "row", text: i + 1 === best ? `${i + 1} (best)` : String(i + 1) }),
      ...series.map(([, v]) => el("td", { text: valueText(v[i]) }))))));
  return el("figure", { class: "chart" }, el("figcaption", { text: `${name}: training vs validation` }), root, legend,
    el("details", {}, el("summary", { text: `${name} values as a table` }), el("div", { class: "table-scroll" }, table)));
}

function mix(from, to, t) {
  return from.map((c, k) => Math.round(c + (to[k] - c) * t));
}

function confusionMatrix(labels, matrix) {
  const n = labels.length;
  const longest = Math.max(...labels.map((l) => l.length));
  const labelWidth = Math.min(120, 7.5 * longest + 6);
  let cell = Math.max(22, Math.min(44, Math.floor(380 / n)));
  if (labelWidth > cell && n <= 6) cell = Math.ceil(labelWidth);
  const rotate = labelWidth > cell; // many long labels: slanted column headers
  const L = 28 + labelWidth, T = rotate ? 30 + labelWidth * 0.75 : 44;
  const W = L + n * cell + (rotate ? labelWidth * 0.75 : 8), H = T + n * cell + 8;
  const total = matrix.flat().reduce((a, b) => a + b, 0);
  const correct = labels.reduce((a, _, i) => a + matrix[i][i], 0);
  let worst = null;
  matrix.forEach((row, i) => row.forEach((c, j) => {
    if (i !== j && c > 0 && (!worst || c > worst.c)) worst = { i, j, c };
  }));
  const titleId = nextId("cm-title");
  const descId = nextId("cm-desc");
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${titleId} ${descId}`, class: "confusion" },
    svg("title", { id: titleId, text: "Confusion matrix on the test split" }),
    svg("desc", { id: descId, text: `Rows are the true labels, columns the predicted labels. ${correct} of ${total} test examples are on the diagonal (predicted correctly).` +
      (worst ? ` The most frequent mistake: ${labels[worst.i]} predicted as ${labels[worst.j]}, ${worst.c} times.` : " There are no mistakes.") }),
    svg("text", { x: L + (n * cell) / 2, y: 14, "text-anchor": "middle", "font-weight": "600", text: "predicted label" }),
    svg("text", { x: 12, y: T + (n * cell) / 2, "text-anchor": "middle", "font-weight": "600", transform: `rotate(-90 12 ${T + (n * cell) / 2})`, text: "true label" }));
  root.style.maxWidth = `${Math.ceil(W * 1.25)}px`; // no giant cells for two labels
  labels.forEach((label, j) => {
    const x = L + j * cell + cell / 2;
    root.append(svg("text", rotate
      ? { x: x - 4, y: T - 6, "text-anchor": "start", transform: `rotate(-45 ${x - 4} ${T - 6})`, text: label }
      : { x, y: T - 8, "text-anchor": "middle", text: label }));
  });
  matrix.forEach((row, i) => {
    const rowTotal = row.reduce((a, b) => a + b, 0) || 1;
    root.append(svg("text", { x: L - 6, y: T + i * cell + cell / 2 + 4, "text-anchor": "end", text: labels[i] }));
    row.forEach((count, j) => {
      // Shade by the share of the true label's examples: white to light blue under dark
      // text, then mid to dark blue under white text (each at least 4.5:1 contrast).
      const share = count / rowTotal;
      const dark = share > 0.5;
      const rgb = dark ? mix([40, 90, 170], [11, 61, 145], (share - 0.5) / 0.5)
        : mix([255, 255, 255], [140, 175, 230], share / 0.5);
      const fill = `rgb(${rgb.join(",")})`;
      root.append(svg("rect", { x: L + j * cell, y: T + i * cell, width: cell, height: cell, fill: count ? fill : "#fff",
        stroke: "#d0d6dd", class: i === j ? "cell-diag" : null }));
      root.append(svg("text", { x: L + j * cell + cell / 2, y: T + i * cell + cell / 2 + 4, "text-anchor": "middle",
        class: dark ? "count light" : "count", text: String(count) }));
    });
  });
  const table = el("table", {},
    el("caption", { text: "Confusion matrix (rows: true label, columns: predicted label)" }),
    el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "true \\ predicted" }), ...labels.map((l) => el("th", { scope: "col", text: l })))),
    el("tbody", {}, ...matrix.map((row, i) => el("tr", {}, el("th", { scope: "row", text: labels[i] }),
      ...row.map((c) => el("td", { text: String(c) }))))));
  return el("figure", { class: "chart" }, el("figcaption", { text: "Confusion matrix" }), root,
    el("details", {}, el("summary", { text: "Confusion matrix as a table" }), el("div", { class: "table-scroll" }, table)));
}

function perClassTable(rows) {
  return el("div", { class: "table-scroll" }, el("table", { id: "per-class" },
    el("caption", { text: "Per label, on the test split" }),
    el("thead", {}, el("tr", {}, ...["label", "precision", "recall", "F1", "examples"].map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {},
      el("th", { scope: "row", text: r.label }),
      el("td", { text: fmt(r.precision) }), el("td", { text: fmt(r.recall) }), el("td", { text: fmt(r.f1) }),
      el("td", { text: r.support === undefined ? "–" : String(r.support) }))))));
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
