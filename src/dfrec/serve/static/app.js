// dfrec serve: upload with drag-and-drop, live job progress. No external code.
"use strict";

function fmtBytes(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + " GB";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + " MB";
  if (n >= 1e3) return (n / 1e3).toFixed(0) + " kB";
  return n + " B";
}

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function setupUpload(form) {
  const drop = document.getElementById("drop");
  const input = document.getElementById("files");
  const list = document.getElementById("file-list");
  const button = document.getElementById("upload-button");
  const error = document.getElementById("upload-error");
  const bar = document.getElementById("upload-progress");
  let chosen = [];

  function show() {
    list.textContent = "";
    for (const f of chosen) {
      const li = el("li");
      li.appendChild(el("span", {}, f.name));
      li.appendChild(el("span", {class: "sz"}, fmtBytes(f.size)));
      list.appendChild(li);
    }
    button.disabled = chosen.length === 0;
  }
  function choose(files) {
    chosen = Array.from(files);
    error.textContent = "";
    show();
  }
  show();
  drop.addEventListener("click", (e) => { if (e.target !== input) { e.preventDefault(); input.click(); } });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => choose(input.files));
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer && e.dataTransfer.files.length) choose(e.dataTransfer.files); });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!chosen.length) return;
    const data = new FormData();
    for (const f of chosen) data.append("files", f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/jobs");
    xhr.setRequestHeader("Accept", "application/json");
    button.disabled = true;
    bar.hidden = false;
    error.textContent = "";
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable) bar.firstElementChild.style.width = (100 * ev.loaded / ev.total).toFixed(0) + "%";
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {error: "the server answered " + xhr.status}; }
      if (xhr.status === 201 && body.url) { window.location.assign(body.url); return; }
      let msg = body.error || ("the server answered " + xhr.status);
      if (body.rejected && body.rejected.length) msg += "\n" + body.rejected.map((r) => r.name + ": " + r.message).join("\n");
      error.textContent = msg;
      button.disabled = false;
      bar.hidden = true;
    };
    xhr.onerror = () => { error.textContent = "The upload failed: the server could not be reached."; button.disabled = false; bar.hidden = true; };
    xhr.send(data);
  });
}

function setupJob(root) {
  const id = root.dataset.job;
  // the verdict rule and its words come from the server (data-threshold, data-fake-text, data-real-text)
  function scoreBadge(x) {
    const fake = x >= parseFloat(root.dataset.threshold);
    const b = document.createElement("span");
    b.className = "badge " + (fake ? "fake" : "real");
    b.textContent = x.toFixed(2) + " " + (fake ? root.dataset.fakeText : root.dataset.realText);
    return b;
  }
  const statusEl = document.getElementById("job-status");
  const barEl = document.getElementById("job-progress");
  const pctEl = document.getElementById("job-percent");
  let timer = null;

  function render(job) {
    const del = document.getElementById("delete-case");
    if (del) del.hidden = job.status === "running";  // the server refuses to delete a running case
    statusEl.textContent = job.status;
    statusEl.className = "badge " + job.status;
    barEl.style.width = (100 * job.progress).toFixed(0) + "%";
    pctEl.textContent = (100 * job.progress).toFixed(0) + " %";
    for (const inp of job.inputs) {
      const row = document.getElementById("input-" + inp.n);
      if (!row) continue;
      const st = row.querySelector(".st");
      st.textContent = inp.status; st.className = "badge st " + inp.status;
      row.querySelector(".stage").textContent = inp.stage || "";
      row.querySelector(".pbar span").style.width = (100 * (["done", "failed", "rejected"].includes(inp.status) ? 1 : inp.progress)).toFixed(0) + "%";
      row.querySelector(".msg").textContent = inp.message || "";
      const link = row.querySelector(".result-link");
      if (inp.status === "done" && link.hidden) { link.hidden = false; }
      const faces = row.querySelector(".faces");
      if (inp.faces !== null && inp.faces !== undefined) faces.textContent = inp.faces;
      const score = row.querySelector(".max-score");
      if (inp.max_score !== null && inp.max_score !== undefined && !score.firstChild) score.appendChild(scoreBadge(inp.max_score));
    }
    if (["done", "interrupted"].includes(job.status)) {
      clearInterval(timer);
      if (job.status === "done") document.getElementById("job-downloads").hidden = false;
      const rr = document.getElementById("rerun");
      if (rr) rr.hidden = job.status !== "interrupted";
      const m = document.getElementById("job-message");
      if (m) m.textContent = job.message || "";
    }
  }
  async function poll() {
    try {
      const r = await fetch("/api/jobs/" + id, {headers: {Accept: "application/json"}});
      if (r.ok) render(await r.json());
    } catch (err) { /* the server may be restarting: try again */ }
  }
  if (!["done", "interrupted"].includes(root.dataset.status)) timer = setInterval(poll, 1000);
}

function setupConfirm(form) {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); return; }
    if (!form.querySelector("input[name=confirmed]")) {  // asked here: the server need not ask again
      const yes = document.createElement("input");
      yes.type = "hidden"; yes.name = "confirmed"; yes.value = "yes";
      form.appendChild(yes);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-confirm]").forEach(setupConfirm);
  const form = document.getElementById("upload-form");
  if (form) setupUpload(form);
  const job = document.getElementById("job");
  if (job) setupJob(job);
});
