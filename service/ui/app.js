// RALIS live page: replays a real DSADS recording over /v1/stream and shows what the model
// makes of it while sensors are switched off and on. Plain JavaScript, no libraries, no build.
"use strict";

(() => {
  const CHUNK_S = 0.2; // sample time per message, well under the server's stale_after_s
  const TICK_MS = 50;
  const SPARK_SAMPLES = 100; // 4 s at 25 Hz
  const TOP_CLASSES = 5;
  const TIMELINE_COLUMNS = 240;

  const $ = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    apiKey: null, // memory only: never written to storage, gone with the tab
    model: null,
    recording: null,
    views: [],
    enabled: {},
    spark: {},
    tiles: {},
    ws: null,
    ready: false,
    playing: true,
    speed: 1,
    sent: 0, // samples sent per enabled sensor on this page's sample clock (all loops)
    clock: 0, // playback position in sample-time seconds
    lastTick: null,
    predictions: 0,
    errors: 0,
    reconnectDelayMs: 1000,
    colours: {},
  };

  // ---- helpers -------------------------------------------------------------------------
  const pretty = (name) => name.replace(/_/g, " ");

  // Colours by class index (Tableau 20, reordered so that the recording's activities and the
  // classes they are most often confused with stand apart); further classes get hues.
  const PALETTE = [
    "#4e79a7", "#a0cbe8", "#9d7660", "#d7b5a6", "#f28e2b", "#ffbe7d", "#bab0ac", "#79706e",
    "#59a14f", "#8cd17d", "#b6992d", "#e15759", "#ff9d9a", "#499894", "#86bcb6", "#d37295",
    "#b07aa1", "#f1ce63", "#fabfd2",
  ];

  function colourFor(activity) {
    if (!(activity in state.colours)) {
      const classes = state.model ? state.model.classes : [];
      const index = Math.max(0, classes.indexOf(activity));
      state.colours[activity] =
        index < PALETTE.length ? PALETTE[index] : `hsl(${(index * 137.5) % 360} 60% 50%)`;
    }
    return state.colours[activity];
  }

  function setStatus(text, kind) {
    const status = $("status");
    status.textContent = text;
    status.dataset.kind = kind || "info";
  }

  function truthAt(streamSeconds) {
    // The activity at the middle of the window ending at t_end (windows straddle changes).
    const rec = state.recording;
    const t = ((streamSeconds % rec.duration_s) + rec.duration_s) % rec.duration_s;
    let activity = rec.segments[0].activity;
    for (const segment of rec.segments) if (t >= segment.start_s) activity = segment.activity;
    return activity;
  }

  function authHeaders() {
    return state.apiKey ? { Authorization: `Bearer ${state.apiKey}` } : {};
  }

  // ---- start: recording, model (asking for a key when the server wants one) --------------
  async function start() {
    const params = new URLSearchParams(location.search);
    const speed = Number(params.get("speed"));
    if ([1, 2, 5, 10].includes(speed)) state.speed = speed;
    $("speed").value = String(state.speed);
    $("speed").addEventListener("change", (e) => {
      state.speed = Number(e.target.value);
    });
    $("play").addEventListener("click", togglePlay);
    $("auth").addEventListener("submit", (e) => {
      e.preventDefault();
      state.apiKey = $("api-key").value.trim();
      $("api-key").value = "";
      loadModel();
    });
    try {
      const response = await fetch(new URL("ui/recording.json", location.href));
      if (!response.ok) throw new Error(`recording: HTTP ${response.status}`);
      state.recording = await response.json();
    } catch (err) {
      setStatus(`Cannot load the recording (${err.message}).`, "error");
      return;
    }
    $("attribution").textContent = `Data: ${state.recording.attribution}`;
    await loadModel();
  }

  async function loadModel() {
    setStatus("Loading the model description...");
    let response;
    try {
      response = await fetch(new URL("v1/model", location.href), { headers: authHeaders() });
    } catch (err) {
      setStatus(`Cannot reach the service (${err.message}).`, "error");
      return;
    }
    if (response.status === 401) {
      const refused = state.apiKey !== null;
      state.apiKey = null;
      showAuth(refused ? "That key was refused." : "");
      return;
    }
    if (!response.ok) {
      setStatus(`The service answered ${response.status} for /v1/model.`, "error");
      return;
    }
    state.model = await response.json();
    $("auth").hidden = true;
    buildTiles(state.model.views.map((v) => v.name));
    buildLegend();
    connect();
  }

  function showAuth(message) {
    $("auth").hidden = false;
    $("auth-error").textContent = message;
    setStatus("An API key is needed.", "warn");
    $("api-key").focus();
  }

  // ---- sensor tiles ----------------------------------------------------------------------
  function buildTiles(views) {
    if (state.views.length) return; // already built (reconnect)
    state.views = views.filter((v) => v in state.recording.samples);
    const tiles = $("tiles");
    tiles.textContent = "";
    for (const view of state.views) {
      state.enabled[view] = true;
      state.spark[view] = [];
      const tile = el("article", "tile");
      tile.dataset.sensor = view;
      tile.dataset.enabled = "true";
      tile.dataset.used = "false";
      const head = el("div", "tile-head");
      head.append(el("h3", "", pretty(view)));
      const toggle = el("button", "switch");
      toggle.type = "button";
      toggle.id = `switch-${view}`;
      toggle.setAttribute("role", "switch");
      toggle.setAttribute("aria-checked", "true");
      toggle.setAttribute("aria-label", `${pretty(view)} sensor`);
      toggle.append(el("span", "knob"));
      toggle.addEventListener("click", () => setSensor(view, !state.enabled[view]));
      head.append(toggle);
      tile.append(head);

      const svg = document.createElementNS(SVG, "svg");
      svg.setAttribute("class", "spark");
      svg.setAttribute("viewBox", `0 0 ${SPARK_SAMPLES} 30`);
      svg.setAttribute("preserveAspectRatio", "none");
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", `${pretty(view)}: acceleration magnitude, last 4 s`);
      const line = document.createElementNS(SVG, "polyline");
      svg.append(line);
      tile.append(svg);

      const weight = el("div", "weight");
      const bar = el("div", "weight-bar");
      const fill = el("div", "weight-fill");
      bar.append(fill);
      const value = el("span", "weight-value", "-");
      weight.append(el("span", "muted small", "attention weight"), value, bar);
      tile.append(weight);
      tiles.append(tile);
      state.tiles[view] = { tile, toggle, line, fill, value };
    }
  }

  function setSensor(view, on) {
    state.enabled[view] = on;
    const { tile, toggle } = state.tiles[view];
    tile.dataset.enabled = String(on);
    toggle.setAttribute("aria-checked", String(on));
    const t = state.sent / state.recording.rate_hz;
    document.body.dataset.lastToggleT = t.toFixed(2);
    const marker = el("div", `marker ${on ? "on" : "off"}`);
    marker.title = `${pretty(view)} ${on ? "on" : "off"} at t=${t.toFixed(1)} s`;
    marker.setAttribute("aria-label", marker.title);
    appendTimeline(marker);
    if (!on) state.spark[view] = [];
    if (!state.views.some((v) => state.enabled[v])) {
      setStatus("All sensors are off: nothing is sent, so no predictions come.", "warn");
    } else if (state.ready) {
      setStatus(`Streaming ${state.views.filter((v) => state.enabled[v]).length} sensors.`, "ok");
    }
  }

  function renderSparklines() {
    for (const view of state.views) {
      const values = state.spark[view];
      const { line } = state.tiles[view];
      if (values.length < 2) {
        line.setAttribute("points", "");
        continue;
      }
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of values) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const span = Math.max(hi - lo, 1); // at least 1 m/s^2, so noise stays flat
      const offset = SPARK_SAMPLES - values.length;
      const points = values.map((v, i) => `${offset + i},${(28 - ((v - lo) / span) * 26).toFixed(1)}`);
      line.setAttribute("points", points.join(" "));
    }
  }

  // ---- the stream ------------------------------------------------------------------------
  function connect() {
    const url = new URL("v1/stream", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    setStatus("Connecting...");
    state.ready = false;
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.addEventListener("open", () => {
      if (state.apiKey) ws.send(JSON.stringify({ type: "auth", token: state.apiKey }));
    });
    ws.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.ready = false;
      if (event.code === 1008 && state.apiKey) {
        state.apiKey = null;
        showAuth("The stream refused that key.");
        return;
      }
      const why = event.reason ? `: ${event.reason}` : "";
      if (!state.playing) {
        setStatus(`Paused; the stream closed (${event.code}${why}). Play reconnects.`, "warn");
        return;
      }
      setStatus(`Stream closed (${event.code}${why}); reconnecting...`, "warn");
      setTimeout(() => {
        if (!state.ws && state.playing) connect();
      }, state.reconnectDelayMs);
      state.reconnectDelayMs = Math.min(state.reconnectDelayMs * 2, 15000);
    });
  }

  function onMessage(message) {
    if (message.type === "ready") {
      state.ready = true;
      state.reconnectDelayMs = 1000;
      state.lastTick = performance.now();
      state.clock = state.sent / state.recording.rate_hz;
      setStatus(`Streaming to model ${message.model_version}, ${message.views.length} sensors.`, "ok");
    } else if (message.type === "prediction") {
      onPrediction(message);
    } else if (message.type === "error") {
      state.errors += 1;
      $("prediction").dataset.errors = String(state.errors);
      setStatus(`Server: ${message.detail}`, "warn");
    }
  }

  function tick() {
    const now = performance.now();
    const elapsed = state.lastTick === null ? 0 : (now - state.lastTick) / 1000;
    state.lastTick = now;
    const ws = state.ws;
    if (!state.playing || !state.ready || !ws || ws.readyState !== WebSocket.OPEN) return;
    const rec = state.recording;
    const rate = rec.rate_hz;
    const total = rec.samples[state.views[0]].length;
    // A throttled tab catches up at most 1 s at once rather than flooding the stream.
    state.clock = Math.min(state.clock + elapsed * state.speed, state.sent / rate + 1);
    const chunk = Math.round(CHUNK_S * rate);
    while ((state.sent + chunk) / rate <= state.clock) {
      const first = state.sent % total;
      const size = Math.min(chunk, total - first); // never across the loop's end
      // The enabled sensors' chunks of one tick as one message: the server parses one
      // message instead of one per sensor.
      const chunks = [];
      for (const view of state.views) {
        if (!state.enabled[view]) continue;
        const samples = rec.samples[view].slice(first, first + size);
        chunks.push({ sensor: view, samples, t0: state.sent / rate, rate_hz: rate });
        const spark = state.spark[view];
        for (const [x, y, z] of samples) spark.push(Math.hypot(x, y, z));
        if (spark.length > SPARK_SAMPLES) spark.splice(0, spark.length - SPARK_SAMPLES);
      }
      if (chunks.length) ws.send(JSON.stringify({ type: "chunks", chunks }));
      state.sent += size;
    }
    document.body.dataset.clock = (state.sent / rate).toFixed(2);
    renderSparklines();
  }

  function togglePlay() {
    state.playing = !state.playing;
    const button = $("play");
    button.textContent = state.playing ? "Pause" : "Play";
    button.setAttribute("aria-label", state.playing ? "Pause replay" : "Resume replay");
    state.lastTick = performance.now();
    if (state.playing && !state.ws) connect();
  }

  // ---- rendering a prediction ------------------------------------------------------------
  function onPrediction(p) {
    state.predictions += 1;
    const truth = truthAt(p.t_end - state.model.window_seconds / 2);
    const box = $("prediction");
    box.dataset.count = String(state.predictions);
    box.dataset.viewsUsed = p.views_used.join(",");
    box.dataset.activity = p.activity;
    box.dataset.tEnd = String(p.t_end);
    const predicted = $("predicted");
    predicted.textContent = pretty(p.activity);
    predicted.style.borderColor = colourFor(p.activity);
    const truthNode = $("truth");
    truthNode.textContent = pretty(truth);
    truthNode.style.borderColor = colourFor(truth);
    const correct = truth === p.activity;
    const verdict = $("verdict");
    verdict.textContent = correct ? "✓ match" : "✗ differs";
    verdict.dataset.correct = String(correct);
    $("meta").textContent =
      `t = ${p.t_end.toFixed(0)} s · ${p.views_used.length} of ${state.views.length} sensors · ` +
      `${p.latency_ms.toFixed(1)} ms`;

    renderProbabilities(p.probabilities);
    for (const view of state.views) {
      const { tile, fill, value } = state.tiles[view];
      const used = p.views_used.includes(view);
      const weight = p.view_weights[view] || 0;
      tile.dataset.used = String(used);
      fill.style.width = `${(weight * 100).toFixed(1)}%`;
      value.textContent = used ? weight.toFixed(2) : "not used";
    }

    const column = el("div", "column");
    column.dataset.tEnd = String(p.t_end);
    column.title = `t=${p.t_end} s: predicted ${pretty(p.activity)}, true ${pretty(truth)}; ` +
      `sensors: ${p.views_used.map(pretty).join(", ")}`;
    const top = el("div", "cell");
    top.style.background = colourFor(p.activity);
    const bottom = el("div", "cell");
    bottom.style.background = colourFor(truth);
    column.append(top, bottom);
    appendTimeline(column);
    addToLegend(p.activity);
  }

  function renderProbabilities(probabilities) {
    const list = $("probabilities");
    list.textContent = "";
    const top = Object.entries(probabilities).sort((a, b) => b[1] - a[1]).slice(0, TOP_CLASSES);
    for (const [activity, probability] of top) {
      const item = el("li", "prob");
      const percent = `${(probability * 100).toFixed(1)}%`;
      item.setAttribute("aria-label", `${pretty(activity)} ${percent}`);
      item.append(el("span", "prob-name", pretty(activity)));
      const bar = el("div", "prob-bar");
      const fill = el("div", "prob-fill");
      fill.style.width = `${Math.max(probability * 100, 0.5)}%`;
      fill.style.background = colourFor(activity);
      bar.append(fill);
      item.append(bar, el("span", "prob-value", percent));
      list.append(item);
    }
  }

  function appendTimeline(node) {
    const timeline = $("timeline");
    timeline.append(node);
    while (timeline.children.length > TIMELINE_COLUMNS) timeline.firstChild.remove();
    timeline.scrollLeft = timeline.scrollWidth;
  }

  function buildLegend() {
    $("legend").textContent = "";
    for (const segment of state.recording.segments) addToLegend(segment.activity);
  }

  function addToLegend(activity) {
    const legend = $("legend");
    if (legend.querySelector(`[data-activity="${activity}"]`)) return;
    const item = el("li");
    item.dataset.activity = activity;
    const swatch = el("span", "swatch");
    swatch.style.background = colourFor(activity);
    item.append(swatch, document.createTextNode(pretty(activity)));
    legend.append(item);
  }

  setInterval(tick, TICK_MS);
  start();
})();
