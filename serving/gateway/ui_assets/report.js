// The "how it was trained" panel: headline figures, the training curves and the confusion
// matrix as inline SVG (each with a title, a text summary and its numbers as a table).
// Uses dom.js.
"use strict";

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
