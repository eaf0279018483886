// The drawing pad of image models (pointer events: mouse, pen or finger), the test examples
// drawn on it, and image files. Uses dom.js; predict(), examples(), showAnswerError() and
// state come from app.js.
"use strict";

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
