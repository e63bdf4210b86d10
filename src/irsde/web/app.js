// irsde web demo: upload or pick an image, restore it, compare, download.
// Talks only to this server's JSON API (see irsde/web/app.py); no external requests.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { config: null, models: [], selected: null, job: null, timer: null, previewUrl: null };

function mb(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toPrecision(3)} MB` : `${Math.round(bytes / 1e3)} kB`;
}

async function api(path, options) {
  let resp;
  try {
    resp = await fetch(path, options);
  } catch (err) {
    throw new Error("cannot reach the server (is irsde serve still running?)");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch (err) {
    body = null;
  }
  if (!resp.ok) {
    const msg = body && typeof body.error === "string" ? body.error : `request failed (HTTP ${resp.status})`;
    throw new Error(msg);
  }
  return body;
}

function showError(message) {
  const el = $("error");
  el.textContent = String(message || "something went wrong").split("\n")[0];
  el.hidden = !message;
}

// ------------------------------------------------------------------ image choice
function setPreview(url, label) {
  const compare = $("compare");
  compare.classList.remove("empty", "done", "pixelated");
  compare.classList.add("preview");
  $("before").src = url;
  $("after").removeAttribute("src");
  $("result-bar").hidden = true;
  $("uncertainty").hidden = true;
  $("file-name").textContent = label;
  $("before").onerror = () => {
    $("file-name").textContent = `${label} (no preview in this browser)`;
  };
  $("before").onload = () => fitCompare($("before").naturalWidth, $("before").naturalHeight);
}

function selectFile(file) {
  if (!file) return;
  showError("");
  document.querySelectorAll(".example").forEach((b) => b.classList.remove("selected"));
  const limit = state.config ? state.config.max_upload_bytes : Infinity;
  if (file.size > limit) {
    state.selected = null;
    $("run").disabled = true;
    showError(`${file.name} is ${mb(file.size)}; this server accepts images up to ${mb(limit)}`);
    return;
  }
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  state.selected = { kind: "file", file };
  setPreview(state.previewUrl, `${file.name} · ${mb(file.size)}`);
  $("run").disabled = Boolean(state.job);
}

function selectExample(example, button) {
  showError("");
  document.querySelectorAll(".example").forEach((b) => b.classList.remove("selected"));
  button.classList.add("selected");
  $("file").value = "";
  state.selected = { kind: "example", name: example.name };
  setPreview(example.url, `example: ${example.name} · ${example.width}×${example.height}`);
  $("run").disabled = Boolean(state.job);
}

function setupDrop() {
  const drop = $("drop");
  $("file").addEventListener("change", (e) => selectFile(e.target.files[0]));
  ["dragenter", "dragover"].forEach((t) =>
    drop.addEventListener(t, (e) => {
      e.preventDefault();
      drop.classList.add("over");
    }),
  );
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) selectFile(file);
  });
  // a drop elsewhere on the page must not navigate away from it
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
}

// ------------------------------------------------------------------ models
function describeModel(m) {
  const params = m.params >= 1e6 ? `${(m.params / 1e6).toFixed(1)}M` : `${Math.round(m.params / 1e3)}k`;
  return `${m.task || "no task"} · ${m.arch} · ${params} parameters · T = ${m.T}`;
}

function samplerOptions(names) {
  const about = (state.config && state.config.sampler_descriptions) || {};
  return names.map((name) => {
    const opt = document.createElement("option");
    opt.value = name;
    opt.textContent = name;
    if (about[name]) opt.title = about[name];
    return opt;
  });
}

function currentModel() {
  return state.models.find((x) => x.name === $("model").value);
}

// the sampler and steps of the chosen mode: the model's stored setting (faithful) or
// its realistic setting; the realistic option is offered only where the model can run it
function applyMode() {
  const m = currentModel();
  if (!m) return;
  const realistic = $("mode").value === "realistic" && m.realistic;
  $("sampler").value = realistic ? m.realistic.name : m.sampler;
  $("steps").value = realistic ? m.realistic.steps : m.steps;
}

function onModelChange() {
  const m = currentModel();
  if (!m) return;
  $("sampler").replaceChildren(...samplerOptions(m.samplers));
  $("steps").max = m.max_steps;
  $("mode").querySelector('option[value="realistic"]').disabled = !m.realistic;
  if (!m.realistic) $("mode").value = "faithful";
  applyMode();
  $("model-info").textContent = describeModel(m);
}

async function loadModels() {
  state.models = await api("/api/models");
  const select = $("model");
  select.replaceChildren(
    ...state.models.map((m) => {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = m.task && m.task !== m.name ? `${m.name} (${m.task})` : m.name;
      return opt;
    }),
  );
  select.addEventListener("change", onModelChange);
  $("mode").addEventListener("change", applyMode);
  onModelChange();
}

async function loadExamples() {
  const examples = await api("/api/examples");
  const box = $("examples");
  box.replaceChildren(
    ...examples.map((ex) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "example";
      b.title = `${ex.name} (${ex.width}×${ex.height})`;
      b.dataset.name = ex.name;
      const img = document.createElement("img");
      img.src = ex.url;
      img.alt = ex.name;
      b.append(img);
      b.addEventListener("click", () => selectExample(ex, b));
      return b;
    }),
  );
}

// ------------------------------------------------------------------ running
function formData() {
  const fd = new FormData();
  const sel = state.selected;
  if (sel.kind === "file") fd.append("image", sel.file, sel.file.name);
  else {
    fd.append("example", sel.name);
    fd.append("degrade", $("degrade").checked ? "1" : "0");
  }
  for (const id of ["model", "mode", "sampler", "steps", "seed", "samples"]) fd.append(id, $(id).value);
  return fd;
}

function setBusy(busy) {
  $("run").disabled = busy || !state.selected;
  $("run").textContent = busy ? "Restoring…" : "Restore";
  $("progress").hidden = !busy;
}

function showProgress(job) {
  let text = "waiting…";
  if (job.state === "queued") text = job.position > 1 ? `in queue (position ${job.position})` : "starting…";
  else if (job.state === "running" && job.steps) {
    text = `step ${job.step}/${job.steps}`;
    if (job.samples > 1) text += ` · sample ${job.sample + 1}/${job.samples}`;
  }
  $("progress-text").textContent = text;
  $("bar-fill").style.width = `${Math.round(100 * (job.progress || 0))}%`;
}

async function run() {
  if (!state.selected) return;
  showError("");
  setBusy(true);
  $("bar-fill").style.width = "0%";
  $("progress-text").textContent = "uploading…";
  try {
    const job = await api("/api/restore", { method: "POST", body: formData() });
    state.job = job.id;
    poll();
  } catch (err) {
    setBusy(false);
    showError(err.message);
  }
}

async function poll() {
  const id = state.job;
  if (!id) return;
  let job;
  try {
    job = await api(`/api/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    state.job = null;
    setBusy(false);
    showError(err.message);
    return;
  }
  if (id !== state.job) return;
  showProgress(job);
  if (job.state === "queued" || job.state === "running") {
    state.timer = setTimeout(poll, 250);
    return;
  }
  state.job = null;
  setBusy(false);
  if (job.state === "done") showResult(job);
  else if (job.state === "cancelled") showError("restoration cancelled");
  else showError(job.error || "restoration failed");
}

async function cancel() {
  const id = state.job;
  if (!id) return;
  clearTimeout(state.timer);
  state.job = null;
  setBusy(false);
  showError("restoration cancelled");
  try {
    await api(`/api/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
  } catch (err) {
    /* already finished or expired */
  }
}

// ------------------------------------------------------------------ result
function fitCompare(w, h) {
  // the box takes the image's shape, as wide as the panel allows and at most 72% of the
  // window's height, so that the slider's ends are the image's edges
  if (!(w > 0 && h > 0)) return;
  const box = $("compare").style;
  box.aspectRatio = `${w} / ${h}`;
  box.width = `min(100%, calc(72vh * ${w / h}))`;
}

function setSlider(value) {
  $("after").style.clipPath = `inset(0 0 0 ${value}%)`;
  $("divider").style.left = `${value}%`;
}

function showResult(job) {
  const compare = $("compare");
  compare.classList.remove("empty", "preview");
  compare.classList.add("done");
  fitCompare(job.width, job.height);
  compare.classList.toggle("pixelated", compare.clientWidth > 3 * job.width);
  $("before").onerror = null;
  $("before").onload = null;
  $("before").src = job.images.input;
  $("after").src = job.images.result;
  $("slider").value = 50;
  setSlider(50);
  const dl = $("download");
  dl.href = `${job.images.result}?download=1`;
  dl.download = `${job.name}_restored.png`;
  const steps = job.steps * (job.samples || 1);
  const samples = job.samples > 1 ? ` · ${job.samples} samples` : "";
  $("result-info").textContent =
    `${job.width}×${job.height} · ${job.model} · ${job.mode} · ${job.sampler}, ${job.steps} steps${samples} · ` +
    `${steps} network evaluations in ${job.seconds.toFixed(1)} s`;
  $("result-bar").hidden = false;
  const std = job.images.std;
  $("uncertainty").hidden = !std;
  if (std) {
    $("std").src = std;
    $("std-caption").textContent =
      `Per-pixel standard deviation over ${job.samples} samples (bright = less certain; max ${job.std_max.toFixed(3)}).`;
    $("download-std").href = `${std}?download=1`;
    $("download-std").download = `${job.name}_uncertainty.png`;
  }
}

// ------------------------------------------------------------------ start
async function init() {
  setupDrop();
  $("run").addEventListener("click", run);
  $("cancel").addEventListener("click", cancel);
  $("slider").addEventListener("input", (e) => setSlider(e.target.value));
  try {
    state.config = await api("/api/config");
    $("version").textContent = `irsde ${state.config.version}`;
    $("samples").max = state.config.max_samples;
    $("limits").textContent =
      `Limits: ${mb(state.config.max_upload_bytes)} per file, ` +
      `${(state.config.max_pixels / 1e6).toFixed(1)} megapixels.`;
    await loadModels();
    await loadExamples();
    document.body.dataset.ready = "1";
  } catch (err) {
    showError(err.message);
  }
}

document.addEventListener("DOMContentLoaded", init);
