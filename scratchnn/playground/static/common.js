// Helpers shared by the playground's pages: colours and decoding the server's arrays.
"use strict";

const ORANGE = [245, 147, 34];
const WHITE = [232, 234, 235];
const BLUE = [8, 119, 189];

// The colour of t in [-1, 1]: orange at -1 (class 0), light grey at 0, blue at +1 (class 1).
function colourOf(t) {
  t = Math.max(-1, Math.min(1, t));
  const [a, b, f] = t < 0 ? [WHITE, ORANGE, -t] : [WHITE, BLUE, t];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

function bytesOf(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

// Float64 values (little-endian) sent as base64.
function float64Of(b64) {
  const bytes = bytesOf(b64);
  return new Float64Array(bytes.buffer, 0, bytes.length / 8);
}

// Paint a size x size heatmap (values t in [-1, 1], row by row from the top) onto a canvas.
function paintHeatmap(canvas, values, size) {
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const c = colourOf(values[i]);
    img.data[4 * i] = c[0];
    img.data[4 * i + 1] = c[1];
    img.data[4 * i + 2] = c[2];
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function showMessage(text, kind = "error") {
  const box = document.getElementById("message");
  box.textContent = text || "";
  box.className = text ? kind : "";
}
