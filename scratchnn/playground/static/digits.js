// The draw-a-digit page: a pad, the 8x8 image the server makes of it, and the network's probabilities, live.
"use strict";

const dg = (window.digits = { version: 0, answered: -1, image: null, proba: null, labels: null, requests: 0 });
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d", { willReadFrequently: true });
let drawing = false, last = null, inFlight = false;

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dg.version += 1;
  predict();
}

function penWidth() { return Number(document.getElementById("pen").value); }

function point(event) {
  const r = pad.getBoundingClientRect(); // the border box: the drawing starts inside the border
  const x = event.clientX - r.left - pad.clientLeft, y = event.clientY - r.top - pad.clientTop;
  return [(x * pad.width) / pad.clientWidth, (y * pad.height) / pad.clientHeight];
}

function stroke(from, to) {
  ctx.strokeStyle = "#000";
  ctx.fillStyle = "#000";
  ctx.lineWidth = penWidth();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (from[0] === to[0] && from[1] === to[1]) {
    ctx.beginPath();
    ctx.arc(to[0], to[1], penWidth() / 2, 0, 2 * Math.PI);
    ctx.fill();
  } else {
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  }
  dg.version += 1;
  predict();
}

pad.addEventListener("pointerdown", (e) => {
  drawing = true;
  last = point(e);
  if (pad.setPointerCapture && e.pointerId !== undefined) { try { pad.setPointerCapture(e.pointerId); } catch (_) {} }
  stroke(last, last);
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  const p = point(e);
  stroke(last, p);
  last = p;
});
for (const type of ["pointerup", "pointercancel", "pointerleave"]) pad.addEventListener(type, () => { drawing = false; });

// The drawing as bits (dark pixel = on), packed 8 to a byte, row by row, base64.
function packedBits() {
  const { data } = ctx.getImageData(0, 0, pad.width, pad.height);
  const n = pad.width * pad.height, bytes = new Uint8Array(Math.ceil(n / 8));
  for (let i = 0; i < n; i++) if (data[4 * i] < 128) bytes[i >> 3] |= 0x80 >> (i & 7);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

// One request at a time; a drawing changed meanwhile is sent when the answer comes.
async function predict() {
  if (inFlight) return;
  inFlight = true;
  const version = dg.version;
  try {
    const response = await fetch("/api/digits/predict", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ width: pad.width, height: pad.height, bits: packedBits() }),
    });
    const answer = await response.json();
    dg.requests += 1;
    if (answer.error) showMessage(answer.error);
    else show(answer, version);
  } catch (err) {
    showMessage(`could not reach the server: ${err}`);
  } finally {
    inFlight = false;
    if (dg.version !== version) predict();
  }
}

function show(answer, version) {
  dg.image = answer.image;
  dg.proba = answer.proba;
  dg.labels = answer.labels;
  dg.answered = version;
  const img = document.getElementById("image8"), c = img.getContext("2d"), cell = img.width / 8;
  answer.image.forEach((row, i) => row.forEach((v, j) => {
    const grey = Math.round(255 - (v / 16) * 255);
    c.fillStyle = `rgb(${grey},${grey},${grey})`;
    c.fillRect(j * cell, i * cell, cell, cell);
  }));
  const empty = answer.image.every((row) => row.every((v) => v === 0));
  const best = answer.proba.indexOf(Math.max(...answer.proba));
  document.getElementById("prediction").textContent = empty ? "?" : answer.labels[best];
  const bars = document.getElementById("bars");
  bars.innerHTML = "";
  answer.proba.forEach((p, k) => {
    const bar = el("div", { class: "bar" + (k === best && !empty ? " best" : "") });
    bar.style.width = Math.max(1, p * 200) + "px";
    bars.append(el("div", {}, answer.labels[k]), el("div", {}, bar), el("div", {}, (100 * p).toFixed(1) + "%"));
  });
}

document.getElementById("clear").addEventListener("click", clearPad);
clearPad();
