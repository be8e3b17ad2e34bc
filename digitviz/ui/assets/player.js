// digitviz's player: a run's records, animated in the browser at the display's frame rate.
// The server sends the run (digitviz/player.py's bytes) each time it has more of it; everything else here
// (play, pause, scrub, speed, hover) happens in the page, so none of it reruns the Streamlit script.
// Plain canvas, no library: two line charts and a 28x28 map are a few hundred draw calls a frame.

const SPEEDS = [[10, "10"], [15, "15"], [30, "30"], [100, "100"], [Infinity, "as it trains"]];
const DEFAULT_SPEED = 15; // the default 30-epoch run grows over about two seconds: long enough for a class to watch
const memory = {speed: DEFAULT_SPEED, runs: new Map()}; // outlives a remount: the student's pace, each run's place

function decode(data) {
  const view = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = view.slice().buffer; // a fresh copy starts at 0, so the typed arrays below are aligned
  const size = new DataView(buffer).getUint32(0, true);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
  const types = {"<f8": Float64Array, "<f4": Float32Array, "<i4": Int32Array, "|u1": Uint8Array};
  const arrays = {};
  for (const [name, [dtype, offset, shape]] of Object.entries(meta.arrays)) {
    arrays[name] = new types[dtype](buffer, 4 + size + offset, shape.reduce((a, b) => a * b, 1));
  }
  return {meta, arrays};
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function rgb(color) {
  return color.match(/\d+/g).slice(0, 3).map(Number);
}

function lookupTable(colorscale) {
  // code c (1..255) -> the colour Plotly gives (c - 128) / 127 on the scale from -1 to 1; code 0 is blank
  const stops = colorscale.map(([at, c]) => [at, rgb(c)]);
  const lut = new Uint8ClampedArray(256 * 4);
  for (let c = 1; c < 256; c++) {
    const t = Math.min(1, Math.max(0, ((c - 128) / 127 + 1) / 2));
    let i = 1;
    while (i < stops.length - 1 && stops[i][0] < t) i++;
    const [a, ca] = stops[i - 1], [b, cb] = stops[i], f = b > a ? (t - a) / (b - a) : 0;
    for (let j = 0; j < 3; j++) lut[c * 4 + j] = Math.round(ca[j] + f * (cb[j] - ca[j]));
    lut[c * 4 + 3] = 255;
  }
  return lut;
}

function legendRows(widths, w) {
  // [x, distance from the bottom] of each legend entry: one row, or one entry a row where the chart is narrow
  const total = widths.reduce((a, b) => a + b, 0) + 16 * (widths.length - 1);
  if (8 + total <= w) return widths.map((_, i) => [8 + widths.slice(0, i).reduce((a, b) => a + b + 16, 0), 14]);
  return widths.map((_, i) => [8, 14 + 18 * (widths.length - 1 - i)]);
}

class Player {
  constructor(parent) {
    window.__digitvizPlayers = (window.__digitvizPlayers || 0) + 1; // tests check a run keeps one player
    this.root = el("div", {"data-testid": "digitviz-player", "class": "dvp", "data-epoch": "0", "data-playing": "false"});
    this.root.__player = this;
    this.metrics = el("div", {"class": "dvp-metrics"});
    this.cards = ["Validation accuracy", "Validation loss", "Training time"].map(label => {
      const value = el("div", {"class": "dvp-value"}), delta = el("div", {"class": "dvp-delta"});
      this.metrics.append(el("div", {"class": "dvp-metric"}, el("div", {"class": "dvp-label"}, label), value, delta));
      return {value, delta};
    });
    this.bar = el("div", {"class": "dvp-bar"});
    this.progressText = el("div", {"class": "dvp-progress-text"});
    this.progress = el("div", {"class": "dvp-progress", "role": "progressbar", "aria-valuemin": "0"},
                       el("div", {"class": "dvp-track"}, this.bar), this.progressText);
    this.panels = ["accuracy", "loss", "map", "change"].map(name => {
      const canvas = el("canvas", {"role": "img", "class": "dvp-canvas"});
      const box = el("div", {"class": `dvp-panel dvp-${name}`}, canvas);
      canvas.addEventListener("pointermove", e => this.pointAt(name, canvas, e));
      canvas.addEventListener("pointerdown", e => this.pointAt(name, canvas, e));
      canvas.addEventListener("pointerleave", () => { this.hover = null; this.dirty = true; });
      return {name, canvas, box};
    });
    this.playButton = el("button", {"type": "button", "class": "dvp-play"});
    this.playButton.addEventListener("click", () => this.toggle());
    this.scrub = el("input", {"type": "range", "class": "dvp-scrub", "min": "1", "max": "1", "step": "1", "value": "1",
                              "aria-label": "Epoch shown"});
    this.scrub.addEventListener("input", () => this.seek(Number(this.scrub.value)));
    this.speedButtons = SPEEDS.map(([speed, label]) => {
      const b = el("button", {"type": "button", "class": "dvp-speed", "aria-pressed": "false"}, label);
      b.addEventListener("click", () => { memory.speed = speed; this.playing = true; this.dirty = true; });
      return {speed, b};
    });
    const speeds = el("div", {"class": "dvp-speeds", "role": "group", "aria-label": "Epochs a second"},
                      el("span", {"class": "dvp-label"}, "epochs a second:"), ...this.speedButtons.map(s => s.b));
    this.controls = el("div", {"class": "dvp-controls"}, this.playButton, this.scrub, speeds);
    this.root.append(this.metrics, this.progress, el("div", {"class": "dvp-panels"}, ...this.panels.map(p => p.box)),
                     this.controls);
    this.root.addEventListener("keydown", e => this.key(e));
    parent.append(this.root);
    this.resize = new ResizeObserver(() => { this.dirty = true; });
    this.panels.forEach(p => this.resize.observe(p.box));
    this.playhead = 1;
    this.playing = false;
    this.hover = null;
    this.frames = 0;
    this.last = performance.now();
    this.tick = this.tick.bind(this);
    this.request = requestAnimationFrame(this.tick);
  }

  update({meta, arrays}) {
    const before = this.meta;
    this.meta = meta;
    this.a = arrays;
    this.lut = this.lut || lookupTable(meta.map.colorscale);
    this.keepMaps(before, meta, arrays);
    const place = memory.runs.get(meta.run);
    if (!meta.count) {
      // no run yet: the frame the first Train fills (the starting weights, empty axes with the baseline)
      this.playhead = 1;
      this.playing = false;
    } else if (!before || before.run !== meta.run) {
      // a run this page has not shown yet plays from its first epoch, even if it was all computed long ago
      this.playhead = place ? place.playhead : 1;
      this.playing = place ? place.playing : true;
    } else if (meta.count > before.count && this.playhead >= before.count && !this.paused) {
      this.playing = true; // it was waiting at the end for more: Step, Resume, or the next chunk of epochs
    }
    this.scrub.max = String(Math.max(1, meta.count));
    this.scrub.disabled = this.playButton.disabled = !meta.count;
    this.root.dataset.start = String(!meta.count);
    this.dirty = true;
  }

  keepMaps(before, meta, arrays) {
    // A whole run replaces the maps this player has; a part (the server sends one while a run trains) adds the maps
    // of the epochs after meta.part to those of the same run. Had a part gone missing (Streamlit's frontend may pass
    // on only the newest of several payloads that came at once), the epochs it held show the newest map before them;
    // had the whole run the parts build on, they show none (see image); until the whole run comes, when it stops.
    const adding = meta.part !== null && before && before.run === meta.run && this.maps;
    if (!adding) { this.maps = {}; this.images = new Map(); }
    for (const which of ["map", "change"]) {
      if (!meta[which]) continue;
      const kept = (adding && this.maps[which]) || {epochs: [], codes: [], limits: []};
      const [h, w] = meta[which].shape, codes = arrays[`${which}_codes`], limits = arrays[`${which}_limits`];
      meta[which].epochs.forEach((e, j) => {
        if (kept.epochs.length && e <= kept.epochs[kept.epochs.length - 1]) return; // sent before: keep the first
        kept.epochs.push(e);
        kept.codes.push(codes.subarray(j * h * w, (j + 1) * h * w));
        kept.limits.push(limits[j]);
      });
      this.maps[which] = kept;
    }
  }

  get count() { return this.meta ? this.meta.count : 0; }
  get shown() { return Math.min(this.count, Math.max(1, Math.floor(this.playhead))); } // 0: no run yet

  toggle() {
    if (!this.count) return;
    if (this.playing) { this.playing = false; this.paused = true; }
    else {
      if (this.playhead >= this.count && this.meta.status !== "running") this.playhead = 1;
      this.playing = true; this.paused = false;
    }
    this.dirty = true;
  }

  seek(index) {
    if (!this.count) return;
    this.playing = false;
    this.paused = true;
    this.playhead = Math.max(1, Math.min(this.count, index));
    this.dirty = true;
  }

  key(e) {
    const onButton = e.target.tagName === "BUTTON", onScrub = e.target === this.scrub;
    const moves = {ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1};
    if (e.key === " " && !onButton) this.toggle();
    else if (e.key in moves && !onScrub) this.seek(this.shown + moves[e.key]);
    else if (e.key === "Home" && !onScrub) this.seek(1);
    else if (e.key === "End" && !onScrub) this.seek(this.count);
    else return;
    e.preventDefault();
  }

  pointAt(name, canvas, e) {
    const r = canvas.getBoundingClientRect();
    this.hover = {name, x: e.clientX - r.left, y: e.clientY - r.top};
    this.dirty = true;
  }

  tick(now) {
    this.request = requestAnimationFrame(this.tick);
    const dt = Math.min(0.25, (now - this.last) / 1000);
    this.last = now;
    if (!this.meta) return;
    if (this.playing) {
      const before = this.shown;
      this.playhead = memory.speed === Infinity ? this.count : Math.min(this.count, this.playhead + memory.speed * dt);
      if (this.playhead >= this.count && this.meta.status !== "running") this.playing = false;
      if (this.shown !== before) this.dirty = true;
    }
    if (this.count) memory.runs.set(this.meta.run, {playhead: this.playhead, playing: this.playing});
    if (this.dirty) this.render();
    // what the tests read, written only when it changes: writing an attribute, even unchanged, makes the page
    // restyle and commit a frame, and at 60 frames a second that was a quarter of Chromium's CPU during a run
    this.mark("epoch", String(this.count ? this.a.epoch[this.shown - 1] : 0));
    this.mark("playing", String(this.playing));
  }

  mark(name, value) {
    if (this.root.dataset[name] !== value) this.root.dataset[name] = value;
  }

  render() {
    this.dirty = false;
    this.frames++;
    const style = getComputedStyle(this.root);
    const theme = {text: style.getPropertyValue("--st-text-color").trim() || "#31333f",
                   font: style.getPropertyValue("--st-font").trim() || "sans-serif",
                   grid: style.getPropertyValue("--st-border-color").trim() || "rgba(128,128,128,0.3)",
                   bg: style.getPropertyValue("--st-background-color").trim() || "#fff"};
    const k = this.shown;
    this.renderMetrics(k);
    this.meta.charts.forEach((chart, i) => this.draw(this.panels[i], theme, (ctx, w, h) => this.chart(ctx, w, h, chart, k, theme)));
    this.draw(this.panels[2], theme, (ctx, w, h) => this.map(ctx, w, h, k, theme, "map"));
    this.panels[3].box.hidden = !this.meta.change; // the change since the random start, beside the raw weights
    if (this.meta.change) this.draw(this.panels[3], theme, (ctx, w, h) => this.map(ctx, w, h, k, theme, "change"));
    this.playButton.textContent = this.playing ? "❚❚ Pause" : "▶ Play";
    this.playButton.setAttribute("aria-label", this.playing ? "Pause" : "Play");
    this.scrub.value = String(Math.max(1, k));
    this.scrub.setAttribute("aria-valuetext", `epoch ${k ? this.a.epoch[k - 1] : 0}`);
    this.speedButtons.forEach(({speed, b}) => b.setAttribute("aria-pressed", String(speed === memory.speed)));
  }

  renderMetrics(k) {
    if (!k) return this.renderStart();
    const a = this.a, m = this.meta, last = k === this.count, f = m.final, i = k - 1, base = m.baseline.value;
    const acc = a.valid_acc[i], loss = a.valid_loss[i];
    const text = last ? f : {
      accuracy: `${(acc * 100).toFixed(2)}%`,
      delta: `${(acc - base) * 100 >= 0 ? "+" : ""}${((acc - base) * 100).toFixed(2)} pts vs mean-image baseline`,
      loss: Number.isFinite(loss) ? loss.toFixed(4) : "not a number",
      time: `${a.seconds[i].toFixed(2)} s`, per_epoch: `${(1000 * a.seconds[i] / k).toFixed(1)} ms an epoch`,
      progress: `epoch ${a.epoch[i]} of ${m.target}`};
    const [accuracy, lossCard, time] = this.cards;
    accuracy.value.textContent = text.accuracy;
    accuracy.delta.textContent = text.delta;
    accuracy.delta.className = `dvp-delta ${text.delta.startsWith("-") ? "dvp-down" : "dvp-up"}`;
    lossCard.value.textContent = text.loss;
    time.value.textContent = text.time;
    time.delta.textContent = text.per_epoch;
    this.progressText.textContent = text.progress;
    this.bar.style.width = `${(100 * a.epoch[i] / m.target).toFixed(2)}%`;
    this.progress.setAttribute("aria-valuemax", String(m.target));
    this.progress.setAttribute("aria-valuenow", String(a.epoch[i]));
  }

  renderStart() {
    // before the first Train: the cards wait for the run, the progress bar says how far it will go
    const m = this.meta, [accuracy, lossCard, time] = this.cards;
    accuracy.value.textContent = lossCard.value.textContent = time.value.textContent = "–";
    accuracy.delta.textContent = `to beat: the ${m.baseline.label}`;
    accuracy.delta.className = "dvp-delta";
    lossCard.delta.textContent = "";
    time.delta.textContent = "press Train to start";
    this.progressText.textContent = `epoch 0 of ${m.target}`;
    this.bar.style.width = "0%";
    this.progress.setAttribute("aria-valuemax", String(m.target));
    this.progress.setAttribute("aria-valuenow", "0");
  }

  draw(panel, theme, paint) {
    const c = panel.canvas, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = theme.text;
    ctx.strokeStyle = theme.text;
    ctx.font = `15px ${theme.font}`;
    paint(ctx, w, h);
  }

  yRange(chart) {
    if (chart.percent) return this.meta.accuracy_range; // figures.accuracy_range: the baseline and 100% always show
    const a = this.a, values = [];
    for (const [, field] of chart.series) for (const v of a[field]) if (Number.isFinite(v)) values.push(v);
    if (!values.length) return [0, 1];
    let lo = Math.min(...values), hi = Math.max(...values);
    if (chart.from_zero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); } // a saturated run's loss barely moves
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
    return [lo - pad, hi + pad];
  }

  chart(ctx, w, h, chart, k, theme) {
    ctx.font = `14px ${theme.font}`;
    const twoRows = legendRows(chart.series.map(([name]) => 32 + ctx.measureText(name).width), w).some(([, y]) => y !== 14);
    const a = this.a, m = this.meta, box = {l: 66, r: 18, t: 44, b: twoRows ? 84 : 70};
    const x1 = w - box.r, y1 = h - box.b, target = m.target;
    const [lo, hi] = this.yRange(chart);
    const X = e => box.l + (e - 0.5) / target * (x1 - box.l), Y = v => y1 - (v - lo) / (hi - lo) * (y1 - box.t);
    ctx.font = `bold 17px ${theme.font}`;
    ctx.fillText(chart.title, 8, 22);
    ctx.font = `14px ${theme.font}`;
    ctx.lineWidth = 1;
    ctx.strokeStyle = theme.grid;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const t of niceTicks(lo, hi)) {
      ctx.beginPath(); ctx.moveTo(box.l, Y(t)); ctx.lineTo(x1, Y(t)); ctx.stroke();
      ctx.fillText(chart.percent ? `${Math.round(t * 100)}%` : String(Number(t.toPrecision(4))), box.l - 6, Y(t));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const t of niceTicks(1, target).filter(t => Number.isInteger(t))) ctx.fillText(String(t), X(t), y1 + 6);
    ctx.fillText("epoch", (box.l + x1) / 2, y1 + 24);
    ctx.save(); ctx.translate(16, (box.t + y1) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(chart.axis, 0, -8); ctx.restore();
    if (chart.percent) { // the baseline's key sits above the plot, where no curve can ever cover it
      ctx.textAlign = "right"; ctx.textBaseline = "bottom"; ctx.fillStyle = "#7f7f7f";
      ctx.fillText(`╌╌ ${m.baseline.label}`, x1, box.t - 6);
    }
    ctx.save();
    ctx.beginPath(); ctx.rect(box.l, box.t - 2, x1 - box.l, y1 - box.t + 4); ctx.clip();
    if (chart.percent) {
      const b = m.baseline;
      ctx.strokeStyle = "#7f7f7f"; ctx.lineWidth = 2; ctx.setLineDash([8, 6]);
      ctx.beginPath(); ctx.moveTo(box.l, Y(b.value)); ctx.lineTo(x1, Y(b.value)); ctx.stroke();
      ctx.setLineDash([]);
    }
    for (const [, field, color, dash] of chart.series) {
      ctx.strokeStyle = color; ctx.fillStyle = color; ctx.lineWidth = 2.5; ctx.setLineDash(dash ? [2, 4] : []);
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < k; i++) {
        const v = a[field][i];
        if (!Number.isFinite(v)) { pen = false; continue; }
        pen ? ctx.lineTo(X(a.epoch[i]), Y(v)) : ctx.moveTo(X(a.epoch[i]), Y(v));
        pen = true;
      }
      ctx.stroke();
      ctx.setLineDash([]);
      if (this.count < 40) for (let i = 0; i < k; i++) {
        if (!Number.isFinite(a[field][i])) continue;
        ctx.beginPath(); ctx.arc(X(a.epoch[i]), Y(a[field][i]), 3.5, 0, 2 * Math.PI); ctx.fill();
      }
    }
    ctx.restore();
    ctx.textAlign = "left"; ctx.textBaseline = "middle";
    const widths = chart.series.map(([name]) => 32 + ctx.measureText(name).width), rows = legendRows(widths, w);
    chart.series.forEach(([name, , color, dash], i) => {
      const [lx, ly] = rows[i];
      ctx.strokeStyle = color; ctx.lineWidth = 2.5; ctx.setLineDash(dash ? [2, 4] : []);
      ctx.beginPath(); ctx.moveTo(lx, h - ly); ctx.lineTo(lx + 26, h - ly); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = theme.text; ctx.fillText(name, lx + 32, h - ly);
    });
    const latest = k ? chart.series.map(([name, field]) => `${name} ${a[field][k - 1].toFixed(4)}`).join(", ") : "no run yet";
    const dashed = chart.percent ? `, dashed: the ${m.baseline.label}` : "";
    this.panels[chart.percent ? 0 : 1].canvas.setAttribute("aria-label", `${chart.title} at epoch ${k ? a.epoch[k - 1] : 0}: ${latest}${dashed}`);
    if (k && this.hover && this.hover.name === (chart.percent ? "accuracy" : "loss") && this.hover.x >= box.l && this.hover.x <= x1) {
      const e = Math.round(0.5 + (this.hover.x - box.l) / (x1 - box.l) * target);
      const i = Math.max(0, Math.min(k - 1, e - a.epoch[0]));
      ctx.strokeStyle = theme.grid; ctx.lineWidth = 1;
      ctx.beginPath(); ctx.moveTo(X(a.epoch[i]), box.t); ctx.lineTo(X(a.epoch[i]), y1); ctx.stroke();
      this.tooltip(ctx, w, h, this.hover, [`epoch ${a.epoch[i]}`,
        ...chart.series.map(([name, field]) => `${name}: ${a[field][i].toFixed(4)}`)], theme);
    }
  }

  image(k, which) {
    // the newest map kept at or before the epoch shown: every epoch's, or every few epochs' for big nets
    const kept = this.maps[which], e = k ? this.a.epoch[k - 1] : 0;
    let j = kept.epochs.length - 1;
    while (j >= 0 && kept.epochs[j] > e) j--;
    if (j < 0) return null; // no map this early: a later epoch's would be a wrong picture
    const id = `${which}:${kept.epochs[j]}`;
    if (!this.images.has(id)) {
      const [h, w] = this.meta[which].shape, codes = kept.codes[j];
      const canvas = document.createElement("canvas");
      canvas.width = w; canvas.height = h;
      const img = new ImageData(w, h);
      for (let p = 0; p < codes.length; p++) img.data.set(this.lut.subarray(codes[p] * 4, codes[p] * 4 + 4), p * 4);
      canvas.getContext("2d").putImageData(img, 0, 0);
      this.images.set(id, {canvas, codes, limit: kept.limits[j]});
    }
    return this.images.get(id);
  }

  map(ctx, w, h, k, theme, which) {
    const mm = this.meta[which], [rows, cols] = mm.shape, frame = this.image(k, which), epoch = k ? this.a.epoch[k - 1] : 0;
    const title = mm.title.replace("{epoch}", String(epoch));
    ctx.font = `bold 17px ${theme.font}`;
    ctx.fillText(title, 8, 22);
    const bar = 74, top = 38, s = Math.max(1, Math.min((w - bar - 16) / cols, (h - top - 8) / rows));
    const ox = Math.max(8, (w - bar - cols * s) / 2), oy = top;
    ctx.imageSmoothingEnabled = false;
    if (frame) ctx.drawImage(frame.canvas, ox, oy, cols * s, rows * s);
    else { // a payload went missing: this epoch's map comes with the whole run
      ctx.font = `14px ${theme.font}`; ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText("its map comes when the run stops", ox + cols * s / 2, oy + rows * s / 2);
    }
    ctx.font = `bold 14px ${theme.font}`;
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    for (const [x, y, label] of frame ? mm.labels : []) {
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = "rgba(255,255,255,0.7)"; ctx.fillRect(ox + x * s, oy + y * s, tw + 6, 18);
      ctx.fillStyle = "black"; ctx.fillText(label, ox + x * s + 3, oy + y * s + 2);
    }
    const bx = ox + cols * s + 14, by = oy + 26, bh = rows * s - 32;
    for (let y = 0; y < bh; y++) {
      const code = Math.round(255 - (y / bh) * 254);
      const c = this.lut.subarray(code * 4, code * 4 + 3);
      ctx.fillStyle = `rgb(${c[0]},${c[1]},${c[2]})`; ctx.fillRect(bx, by + y, 14, 1.5);
    }
    ctx.fillStyle = theme.text; ctx.font = `13px ${theme.font}`; ctx.textBaseline = "middle";
    ctx.fillText(mm.scale, bx - 4, oy + 4);
    [[mm.ends[2], by], [mm.ends[1], by + bh / 2], [mm.ends[0], by + bh]].forEach(([label, y]) => ctx.fillText(label, bx + 18, y));
    this.panels[which === "map" ? 2 : 3].canvas.setAttribute("aria-label", `${title}: blue pushes ${mm.ends[2]}, red ${mm.ends[0]}`);
    if (frame && this.hover && this.hover.name === which) {
      const c = Math.floor((this.hover.x - ox) / s), r = Math.floor((this.hover.y - oy) / s);
      if (c >= 0 && r >= 0 && c < cols && r < rows && frame.codes[r * cols + c] !== 0) {
        const last = this.a[`${which}_last`]; // the exact last map: a whole run has it, a part does not
        const exact = last && (!this.count || epoch === this.a.epoch[this.count - 1]);
        const v = exact ? last[r * cols + c] : (frame.codes[r * cols + c] - 128) / 127 * frame.limit;
        this.tooltip(ctx, w, h, this.hover, [`row ${r}, col ${c}: ${v.toFixed(3)}`], theme);
      }
    }
  }

  tooltip(ctx, w, h, at, lines, theme) {
    ctx.font = `14px ${theme.font}`;
    ctx.textAlign = "left"; ctx.textBaseline = "top";
    const tw = Math.max(...lines.map(l => ctx.measureText(l).width)) + 14, th = lines.length * 19 + 8;
    const x = Math.min(w - tw - 2, at.x + 12), y = Math.max(2, Math.min(h - th - 2, at.y - th - 6));
    ctx.fillStyle = theme.bg; ctx.strokeStyle = theme.grid; ctx.lineWidth = 1;
    ctx.fillRect(x, y, tw, th); ctx.strokeRect(x, y, tw, th);
    ctx.fillStyle = theme.text;
    lines.forEach((l, i) => ctx.fillText(l, x + 7, y + 5 + 19 * i));
  }

  // What the browser tests read: the curve as it is on screen.
  onScreen() {
    if (!this.count) return null; // no run: the start frame has no curve
    const k = this.shown, a = this.a;
    return {points: k, epochs: Array.from(a.epoch.subarray(0, k)), valid: Array.from(a.valid_acc.subarray(0, k)),
            baseline: this.meta.baseline.value, dash: this.meta.baseline.dash, count: this.count,
            progress: this.progressText.textContent, playing: this.playing};
  }

  destroy() {
    cancelAnimationFrame(this.request);
    this.resize.disconnect();
    this.root.remove();
  }
}

export default function (component) {
  const {data, parentElement} = component;
  // Streamlit calls this again with the same parent whenever the run grows: keep the one player and feed it
  let player = parentElement.__digitvizPlayer;
  if (!player) player = parentElement.__digitvizPlayer = new Player(parentElement);
  if (data) player.update(decode(data));
  return () => { player.destroy(); delete parentElement.__digitvizPlayer; };
}
