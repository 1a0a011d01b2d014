// The training page: controls built from the server's declaration (/api/meta), a WebSocket to this tab's
// session, and canvas drawings of what the server's scratchnn network computes.
"use strict";

const pg = (window.playground = {
  meta: null, settings: null, sid: null, socket: null, playing: false, epoch: 0,
  history: [], // [epoch, training loss, test loss, test accuracy] per epoch
  boundary: null, boundaryGrid: 50, neurons: [], weights: [], data: null,
  updates: 0, errors: [], hover: null, connected: false,
});

// ---- the URL: every control, so a link reproduces the run -------------------------------------------
function settingsToQuery(s) {
  const q = new URLSearchParams();
  for (const c of pg.meta.controls) {
    const v = s[c.name];
    q.set(c.name, Array.isArray(v) ? v.join(",") : String(v));
  }
  return q.toString();
}

function settingsFromQuery(search) {
  const q = new URLSearchParams(search);
  const out = {};
  for (const c of pg.meta.controls) {
    if (!q.has(c.name)) continue;
    const text = q.get(c.name);
    if (c.kind === "float" || c.kind === "int") out[c.name] = Number(text);
    else if (c.kind === "bool") out[c.name] = text === "true";
    else if (c.kind === "features") out[c.name] = text ? text.split(",") : [];
    else if (c.kind === "layers") out[c.name] = text ? text.split(",").map(Number) : [];
    else out[c.name] = text;
  }
  return out;
}

function writeUrl() {
  history.replaceState(null, "", "?" + settingsToQuery(pg.settings));
}

// ---- the socket -----------------------------------------------------------------------------------
function send(message) {
  if (pg.socket && pg.socket.readyState === WebSocket.OPEN) pg.socket.send(JSON.stringify(message));
}

function configure(changes) {
  showMessage("");
  send({ type: "configure", settings: changes });
}

function connect() {
  const socket = (pg.socket = new WebSocket(`ws://${location.host}/ws`));
  socket.onmessage = (event) => onMessage(JSON.parse(event.data));
  socket.onclose = () => {
    pg.connected = false;
    document.getElementById("connection").textContent = "disconnected: reload the page";
  };
}

function onMessage(m) {
  if (m.type === "hello") {
    pg.sid = m.session;
    pg.connected = true;
    document.getElementById("connection").textContent = "";
    document.getElementById("download-model").href = `/api/session/${pg.sid}/model.npz`;
    document.getElementById("download-script").href = `/api/session/${pg.sid}/script.py`;
    // the URL's settings over the defaults; the server checks them and answers with what it uses
    configure({ ...settingsFromQuery(location.search) });
  } else if (m.type === "data") {
    pg.data = m;
    pg.settings = m.settings;
    pg.boundaryGrid = m.boundary_grid;
    pg.neuronGrid = m.neuron_grid;
    writeUrl();
    syncControls();
    buildNetwork();
  } else if (m.type === "update") {
    onUpdate(m);
  } else if (m.type === "state") {
    pg.playing = m.playing;
    const button = document.getElementById("play");
    button.innerHTML = m.playing ? "&#10074;&#10074; Pause" : "&#x25b6; Play";
    button.classList.toggle("playing", m.playing);
  } else if (m.type === "error") {
    pg.errors.push(m.message);
    showMessage(m.message);
  }
}

function onUpdate(m) {
  if (m.epoch === 0 || m.epoch < pg.epoch) pg.history = [];
  for (const r of m.records) pg.history.push(r);
  pg.epoch = m.epoch;
  pg.boundary = float64Of(m.boundary);
  pg.neurons = m.neurons.map((layer) => layer.map(bytesOf));
  pg.weights = m.weights;
  pg.updates += 1;
  if (m.diverged) showMessage(m.diverged);
  scheduleDraw();
}

// ---- controls ----------------------------------------------------------------------------------------
const PLACES = { dataset: "data-controls", noise: "data-controls", train_share: "data-controls",
  batch_size: "data-controls", seed: "top-controls", data_seed: "data-controls", show_test: "bool-controls" };

function controlFor(c) {
  const id = "ctl-" + c.name;
  if (c.kind === "bool") {
    const box = el("input", { type: "checkbox", id });
    box.addEventListener("change", () => {
      pg.settings[c.name] = box.checked;
      writeUrl();
      scheduleDraw(); // drawing only: the run is unchanged
      send({ type: "configure", settings: { [c.name]: box.checked } });
    });
    return el("label", { class: "check", title: c.help }, box, c.label);
  }
  let input;
  if (c.kind === "choice" || (c.options && c.options.length)) {
    input = el("select", { id });
    for (const v of c.kind === "choice" ? c.choices : c.options) input.append(el("option", { value: String(v) }, String(v)));
  } else {
    input = el("input", { type: "number", id, min: String(c.low), step: "1" });
    if (c.high !== null) input.max = String(c.high);
  }
  input.addEventListener("change", () => {
    const value = c.kind === "choice" ? input.value : Number(input.value);
    configure({ [c.name]: value });
  });
  return el("label", { title: c.help }, el("span", {}, c.label), input);
}

function buildControls() {
  for (const c of pg.meta.controls) {
    if (c.kind === "features" || c.kind === "layers") continue;
    const place = PLACES[c.name] || "top-controls";
    document.getElementById(place).append(controlFor(c));
  }
}

function syncControls() {
  for (const c of pg.meta.controls) {
    const input = document.getElementById("ctl-" + c.name);
    if (!input) continue;
    const v = pg.settings[c.name];
    if (c.kind === "bool") input.checked = v;
    else {
      if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === String(v))) {
        input.append(el("option", { value: String(v) }, String(v))); // a value from a URL, off the menu
      }
      input.value = String(v);
    }
  }
  document.getElementById("layer-count").textContent = pg.settings.hidden.length;
}

// ---- the network: nodes, links and their heatmaps ----------------------------------------------------------
const NODE = 38, GAP = 14, TOP = 40;

function layout() {
  const hidden = pg.settings.hidden;
  const width = document.getElementById("network").clientWidth || 600;
  const columns = hidden.length + 2;
  const x = (col) => 70 + col * ((width - 70 - NODE - 10) / (columns - 1));
  const y = (row) => TOP + row * (NODE + GAP);
  const features = pg.meta.controls.find((c) => c.name === "features").choices;
  const nodes = [features.map((f, i) => ({ x: x(0), y: y(i), feature: f }))];
  hidden.forEach((units, l) => nodes.push(Array.from({ length: units }, (_, j) => ({ x: x(l + 1), y: y(j) }))));
  nodes.push([{ x: x(columns - 1), y: y(0), output: true }]);
  return nodes;
}

function buildNetwork() {
  const box = document.getElementById("network");
  box.querySelectorAll(".node, .feature-label, .layer-head").forEach((n) => n.remove());
  const nodes = (pg.layout = layout());
  pg.shapeKey = JSON.stringify([pg.settings.features, pg.settings.hidden]);
  const on = new Set(pg.settings.features);
  nodes[0].forEach((n, i) => {
    const canvas = el("canvas");
    const node = el("div", { class: "node" + (on.has(n.feature) ? "" : " off"), id: `feature-node-${i}`,
      title: `feature ${n.feature}: click to toggle` }, canvas);
    Object.assign(node.style, { left: n.x + "px", top: n.y + "px", width: NODE + "px", height: NODE + "px" });
    node.addEventListener("click", () => toggleFeature(n.feature));
    const check = el("input", { type: "checkbox", id: `feature-${i}`, checked: on.has(n.feature) });
    check.addEventListener("change", () => toggleFeature(n.feature));
    const label = el("label", { class: "feature-label" }, check, n.feature);
    Object.assign(label.style, { left: n.x - 66 + "px", top: n.y + NODE / 2 - 8 + "px" });
    box.append(node, label);
    paintFeature(canvas, n.feature);
  });
  pg.settings.hidden.forEach((units, l) => {
    nodes[l + 1].forEach((n, j) => {
      const node = el("div", { class: "node", id: `neuron-${l}-${j}` }, el("canvas"));
      Object.assign(node.style, { left: n.x + "px", top: n.y + "px", width: NODE + "px", height: NODE + "px" });
      node.addEventListener("mouseenter", () => { pg.hover = [l, j]; scheduleDraw(); });
      node.addEventListener("mouseleave", () => { pg.hover = null; scheduleDraw(); });
      box.append(node);
    });
    const head = el("div", { class: "layer-head" },
      el("button", { class: "add-neuron", title: "Add a neuron", onclick: () => changeUnits(l, 1) }, "+"),
      el("button", { class: "remove-neuron", title: "Remove a neuron", onclick: () => changeUnits(l, -1) }, "−"),
      el("div", {}, `${units} neuron${units > 1 ? "s" : ""}`));
    Object.assign(head.style, { left: nodes[l + 1][0].x - 16 + "px", top: "0px" });
    box.append(head);
  });
  const out = nodes[nodes.length - 1][0];
  const outNode = el("div", { class: "node", id: "output-node", title: "the output: p(class 1)" }, el("canvas"));
  Object.assign(outNode.style, { left: out.x + "px", top: out.y + "px", width: NODE + "px", height: NODE + "px" });
  box.append(outNode);
  box.style.height = TOP + Math.max(...nodes.map((c) => c.length)) * (NODE + GAP) + "px";
  drawLinks();
  scheduleDraw();
}

function toggleFeature(name) {
  const on = new Set(pg.settings.features);
  if (on.has(name)) on.delete(name); else on.add(name);
  configure({ features: [...on] });
}

function changeUnits(layer, delta) {
  const hidden = [...pg.settings.hidden];
  hidden[layer] = Math.max(1, Math.min(pg.meta.max_units, hidden[layer] + delta));
  configure({ hidden });
}

function paintFeature(canvas, name) {
  const size = 24, values = new Float64Array(size * size), e = 6;
  const f = { "x1": (a) => a / e, "x2": (a, b) => b / e, "x1^2": (a) => (a * a) / 18 - 1, "x2^2": (a, b) => (b * b) / 18 - 1,
    "x1*x2": (a, b) => (a * b) / 18, "sin x1": (a) => Math.sin(a), "sin x2": (a, b) => Math.sin(b) }[name];
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) {
    const a = -e + ((j + 0.5) * 2 * e) / size, b = e - ((i + 0.5) * 2 * e) / size;
    values[i * size + j] = f(a, b);
  }
  paintHeatmap(canvas, values, size);
}

// Connections: one path per weight, its width the weight's magnitude, its colour the weight's sign. The paths
// are made when the network's shape changes; an update only restyles them.
function drawLinks() {
  const svg = document.getElementById("links");
  if (!pg.layout || !pg.weights.length) { svg.innerHTML = ""; return; }
  const count = pg.weights.reduce((n, layer) => n + layer.w.length * (layer.w[0] || []).length, 0);
  if (svg.childElementCount !== count || svg.dataset.shape !== pg.shapeKey) makeLinks(svg);
  let k = 0;
  for (const layer of pg.weights) for (const row of layer.w) for (const w of row) {
    const path = svg.children[k++];
    path.setAttribute("stroke", w >= 0 ? "rgb(8,119,189)" : "rgb(245,147,34)");
    path.setAttribute("stroke-width", String(Math.min(8, 0.5 + Math.abs(w) * 2)));
    path.dataset.weight = String(w);
  }
}

function makeLinks(svg) {
  svg.innerHTML = "";
  svg.dataset.shape = pg.shapeKey;
  const active = pg.layout[0].filter((n) => pg.settings.features.includes(n.feature));
  const columns = [active, ...pg.layout.slice(1)];
  pg.weights.forEach((layer, l) => {
    layer.w.forEach((row, i) => row.forEach((_, j) => {
      const a = columns[l][i] || columns[l][0], b = columns[l + 1][j] || columns[l + 1][0];
      const x1 = a.x + NODE, y1 = a.y + NODE / 2, x2 = b.x, y2 = b.y + NODE / 2, mx = (x1 + x2) / 2;
      const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
      path.setAttribute("d", `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`);
      path.setAttribute("stroke-opacity", "0.75");
      path.dataset.link = `${l}:${i}:${j}`;
      path.addEventListener("mousemove", (e) =>
        tooltip(e, `weight ${Number(path.dataset.weight).toFixed(4)} (layer ${l + 1}, ${i + 1} → ${j + 1})`));
      path.addEventListener("mouseleave", () => tooltip(null));
      svg.append(path);
    }));
  });
}

function tooltip(event, text) {
  const tip = document.getElementById("tooltip");
  if (!event) { tip.hidden = true; return; }
  tip.hidden = false;
  tip.textContent = text;
  tip.style.left = event.clientX + 12 + "px";
  tip.style.top = event.clientY + 12 + "px";
}

// ---- drawing, once per animation frame -------------------------------------------------------------------
let drawPending = false;
function scheduleDraw() {
  if (!drawPending) { drawPending = true; requestAnimationFrame(draw); }
}

function draw() {
  drawPending = false;
  if (!pg.settings || !pg.boundary) return;
  const n = pg.neuronGrid, t = (bytes) => Array.from(bytes, (b) => b / 127.5 - 1);
  pg.neurons.forEach((layer, l) => layer.forEach((bytes, j) => {
    const canvas = document.querySelector(`#neuron-${l}-${j} canvas`);
    if (canvas) paintHeatmap(canvas, t(bytes), n);
  }));
  const out = document.querySelector("#output-node canvas");
  const boundaryT = Array.from(pg.boundary, (p) => 2 * p - 1);
  if (out) paintHeatmap(out, boundaryT, pg.boundaryGrid);
  const big = document.getElementById("boundary");
  if (pg.hover && pg.neurons[pg.hover[0]]) {
    drawPlane(big, t(pg.neurons[pg.hover[0]][pg.hover[1]]), n);
    document.getElementById("showing").textContent = `neuron ${pg.hover[1] + 1} of hidden layer ${pg.hover[0] + 1}`;
  } else {
    drawPlane(big, boundaryT, pg.boundaryGrid);
    document.getElementById("showing").textContent = "the network's output: p(class 1)";
  }
  drawLinks();
  drawChart();
  const last = pg.history[pg.history.length - 1];
  document.getElementById("epoch").textContent = String(pg.epoch).padStart(3, "0");
  document.getElementById("train-loss").textContent = last ? last[1].toFixed(3) : "–";
  document.getElementById("test-loss").textContent = last ? last[2].toFixed(3) : "–";
  document.getElementById("test-accuracy").textContent = last ? last[3].toFixed(3) : "–";
}

const heat = document.createElement("canvas");
function drawPlane(canvas, values, size) {
  paintHeatmap(heat, values, size);
  const ctx = canvas.getContext("2d"), w = canvas.width, e = pg.data.extent;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(heat, 0, 0, w, w);
  const dot = (p, test) => {
    const c = p[2] === 1 ? BLUE : ORANGE;
    ctx.beginPath();
    ctx.arc(((p[0] + e) / (2 * e)) * w, ((e - p[1]) / (2 * e)) * w, 3.2, 0, 2 * Math.PI);
    ctx.fillStyle = `rgb(${c.join(",")})`;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = test ? "#000" : "#fff";
    ctx.stroke();
  };
  for (const p of pg.data.train) dot(p, false);
  if (pg.settings.show_test) for (const p of pg.data.test) dot(p, true);
}

function drawChart() {
  const canvas = document.getElementById("chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, rows = pg.history;
  ctx.clearRect(0, 0, w, h);
  if (!rows.length) return;
  const top = Math.max(1e-9, ...rows.map((r) => Math.max(r[1], r[2])));
  const stride = Math.max(1, Math.floor(rows.length / w)); // at most a point per pixel
  for (const [col, colour] of [[1, "#999"], [2, "#222"]]) {
    ctx.beginPath();
    for (let i = 0; i < rows.length; i += stride) {
      const x = rows.length === 1 ? 0 : (i / (rows.length - 1)) * (w - 2) + 1;
      const y = h - 2 - (rows[i][col] / top) * (h - 6);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }
}

// ---- buttons ------------------------------------------------------------------------------------------
function randomSeed() { return Math.floor(Math.random() * 1e6); }

function wireButtons() {
  document.getElementById("play").addEventListener("click", () => send({ type: pg.playing ? "pause" : "play" }));
  document.getElementById("step").addEventListener("click", () => send({ type: "step" }));
  document.getElementById("reset").addEventListener("click", () => {
    pg.settings.seed = randomSeed(); // new weights; the URL keeps the seed, so the reset run is reproducible
    writeUrl();
    syncControls();
    send({ type: "reset", seed: pg.settings.seed });
  });
  document.getElementById("regenerate").addEventListener("click", () => configure({ data_seed: randomSeed() }));
  document.getElementById("add-layer").addEventListener("click", () => {
    if (pg.settings.hidden.length < pg.meta.max_layers) configure({ hidden: [...pg.settings.hidden, 2] });
  });
  document.getElementById("remove-layer").addEventListener("click", () => configure({ hidden: pg.settings.hidden.slice(0, -1) }));
  document.getElementById("csv-file").addEventListener("change", uploadCsv);
  document.getElementById("csv-use").addEventListener("click", () => {
    showMessage("");
    const v = (id) => document.getElementById(id).value;
    send({ type: "columns", x1: v("csv-x1"), x2: v("csv-x2"), label: v("csv-label") });
  });
}

async function uploadCsv(event) {
  const file = event.target.files[0];
  if (!file) return;
  showMessage("");
  document.getElementById("csv-columns").hidden = true;
  let answer;
  try {
    const response = await fetch(`/api/session/${pg.sid}/upload?name=${encodeURIComponent(file.name)}`,
      { method: "POST", body: file });
    answer = await response.json();
  } catch (err) {
    showMessage(`could not upload ${file.name}: ${err}`);
    return;
  }
  if (answer.error) { pg.errors.push(answer.error); showMessage(answer.error); return; }
  const columns = answer.columns;
  const fill = (id, chosen) => {
    const select = document.getElementById(id);
    select.innerHTML = "";
    for (const c of columns) select.append(el("option", { value: c }, c));
    select.value = chosen;
  };
  fill("csv-x1", columns[0]);
  fill("csv-x2", columns[1]);
  fill("csv-label", columns[columns.length - 1]);
  document.getElementById("csv-columns").hidden = false;
  showMessage(`${answer.name}: ${answer.lines} lines; choose the columns and train`, "info");
}

async function main() {
  pg.meta = await (await fetch("/api/meta")).json();
  buildControls();
  wireButtons();
  connect();
}

main();
