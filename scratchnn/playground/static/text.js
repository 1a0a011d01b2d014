// The text page: a tiny GPT trained by the server's scratchnn on a text, its samples as it learns,
// and the attention of each head on one window of the validation text.
"use strict";

const tp = (window.textpage = {
  sid: null, socket: null, playing: false, step: 0, data: null,
  history: [], // [step, training loss] per step
  samples: [], // {step, val_loss, text}
  attention: null, updates: 0, connected: false,
});

function send(message) {
  if (tp.socket && tp.socket.readyState === WebSocket.OPEN) tp.socket.send(JSON.stringify(message));
}

function choose(corpus) {
  showMessage("");
  send({ type: "text_configure", corpus, seed: 0 });
}

function connect() {
  const socket = (tp.socket = new WebSocket(`ws://${location.host}/ws`));
  socket.onmessage = (event) => onMessage(JSON.parse(event.data));
  socket.onclose = () => {
    tp.connected = false;
    document.getElementById("connection").textContent = "disconnected: reload the page";
  };
}

function onMessage(m) {
  if (m.type === "hello") {
    tp.sid = m.session;
    tp.connected = true;
    choose(document.getElementById("corpus").value);
  } else if (m.type === "text_data") {
    tp.data = m;
    document.getElementById("limit").textContent = `${m.max_upload_bytes >> 10} KB`;
    document.getElementById("about").textContent =
      `${m.description}: ${m.characters.toLocaleString()} characters, ${m.vocab_size} distinct; ` +
      `the first 90% to learn from, the last 10% to validate on. A GPT of ${m.model.n_layer} blocks, ` +
      `${m.model.n_head} heads, ${m.model.n_embd} channels, a context of ${m.model.block_size} ` +
      `characters: ${m.params.toLocaleString()} numbers, trained on ${m.batch_size} random windows a step ` +
      `(AdamW, clipping at 1).`;
  } else if (m.type === "text_update") {
    if (m.records.length === 0) { tp.history = []; tp.samples = []; } // a new run
    tp.step = m.step;
    tp.history.push(...m.records);
    tp.samples.push(...m.samples);
    tp.attention = m.attention;
    tp.updates += 1;
    if (m.diverged) showMessage(m.diverged);
    draw();
  } else if (m.type === "state") {
    tp.playing = m.playing;
    const play = document.getElementById("play");
    play.classList.toggle("playing", tp.playing);
    play.innerHTML = tp.playing ? "&#10073;&#10073; Pause" : "&#9654; Train";
  } else if (m.type === "error") {
    showMessage(m.message);
  }
}

// ---- drawing ------------------------------------------------------------------------------------------
function draw() {
  document.getElementById("step-count").textContent = String(tp.step);
  const last = tp.history[tp.history.length - 1], sample = tp.samples[tp.samples.length - 1];
  document.getElementById("train-loss").textContent = last ? last[1].toFixed(3) : "-";
  document.getElementById("val-loss").textContent = sample ? sample.val_loss.toFixed(3) : "-";
  drawChart();
  drawSamples();
  drawAttention();
}

function drawChart() {
  const canvas = document.getElementById("loss-chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  const points = [...tp.history.map((r) => r[1]), ...tp.samples.map((s) => s.val_loss)];
  if (points.length === 0) return;
  const top = Math.max(...points), bottom = Math.min(0, ...points);
  const steps = Math.max(1, tp.step);
  const x = (s) => pad + ((w - pad - 6) * s) / steps, y = (v) => 6 + ((h - pad - 6) * (top - v)) / (top - bottom || 1);
  ctx.strokeStyle = "#ccc";
  ctx.beginPath();
  ctx.moveTo(pad, 6);
  ctx.lineTo(pad, h - pad);
  ctx.lineTo(w - 6, h - pad);
  ctx.stroke();
  ctx.fillStyle = "#777";
  ctx.font = "10px sans-serif";
  ctx.fillText(top.toFixed(1), 2, 14);
  ctx.fillText(String(tp.step), w - 30, h - 8);
  const line = (rows, colour) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    rows.forEach(([s, v], i) => (i ? ctx.lineTo(x(s), y(v)) : ctx.moveTo(x(s), y(v))));
    ctx.stroke();
  };
  line(tp.history, "#0877bd");
  line(tp.samples.map((s) => [s.step, s.val_loss]), "#f59322");
}

function drawSamples() {
  const box = document.getElementById("samples");
  box.innerHTML = "";
  const prompt = tp.data ? tp.data.prompt : "";
  for (const s of [...tp.samples].reverse().slice(0, 12)) {
    const pre = el("pre", {}, el("b", {}, prompt), s.text);
    box.append(el("div", { class: "sample" }, el("div", { class: "head" },
      `step ${s.step} · validation loss ${s.val_loss.toFixed(3)}`), pre));
  }
}

function drawAttention() {
  const a = tp.attention;
  if (!a) return;
  const select = document.getElementById("block");
  if (select.options.length !== a.maps.length) {
    select.innerHTML = "";
    a.maps.forEach((_, i) => select.append(el("option", { value: String(i) }, String(i + 1))));
    select.value = String(a.maps.length - 1);
  }
  document.getElementById("window").textContent = JSON.stringify(a.window);
  const heads = a.maps[Number(select.value)], size = a.size, box = document.getElementById("heads");
  if (box.children.length !== heads.length) {
    box.innerHTML = "";
    heads.forEach((_, k) => box.append(el("div", { class: "head-map" }, `head ${k + 1}`, el("canvas", { id: `head-${k}` }))));
  }
  heads.forEach((b64, k) => {
    const bytes = bytesOf(b64), canvas = document.getElementById(`head-${k}`);
    canvas.width = size;
    canvas.height = size;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(size, size);
    const rowMax = Array.from({ length: size }, (_, r) => Math.max(1, ...bytes.subarray(r * size, (r + 1) * size)));
    for (let i = 0; i < size * size; i++) {
      const row = Math.floor(i / size), col = i % size, t = bytes[i] / rowMax[row]; // 1: the row's largest
      const c = col > row ? [250, 250, 250] : [255 - 247 * t, 255 - 136 * t, 255 - 66 * t]; // white to blue
      img.data.set([c[0], c[1], c[2], 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    canvas.title = `head ${k + 1} on ${JSON.stringify(a.window)}`;
  });
}

// ---- controls -----------------------------------------------------------------------------------------
document.getElementById("play").addEventListener("click", () => send({ type: tp.playing ? "pause" : "play" }));
document.getElementById("step").addEventListener("click", () => send({ type: "step" }));
document.getElementById("reset").addEventListener("click", () => send({ type: "reset", seed: Math.floor(Math.random() * 1e6) }));
document.getElementById("corpus").addEventListener("change", (e) => choose(e.target.value));
document.getElementById("block").addEventListener("change", drawAttention);
document.getElementById("text-file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  if (!file || !tp.sid) return;
  showMessage(`uploading ${file.name}...`, "info");
  try {
    const response = await fetch(`/api/session/${tp.sid}/text?name=${encodeURIComponent(file.name)}`, {
      method: "POST", body: file,
    });
    const answer = await response.json();
    if (!response.ok) {
      showMessage(answer.error || `the upload failed (${response.status})`);
      return;
    }
    const option = document.querySelector('#corpus option[value="upload"]');
    option.disabled = false;
    option.textContent = answer.name;
    document.getElementById("corpus").value = "upload";
    showMessage(`${answer.name}: ${answer.characters.toLocaleString()} characters`, "info");
    send({ type: "text_configure", corpus: "upload", seed: 0 });
  } catch (err) {
    showMessage(`could not upload: ${err}`);
  } finally {
    e.target.value = "";
  }
});

connect();
