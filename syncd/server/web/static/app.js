// syncd web page: actions through the JSON API with the session cookie + CSRF header, uploads
// with per-file progress, and live updates from the change feed (long poll). No inline script:
// this file is the page's only JavaScript (Content-Security-Policy: script-src 'self').
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
const LINK_DAYS = 7;

// The same wording as syncd/units.py human_bytes: "512 B", "43.1 KiB".
function humanBytes(n) {
  let value = n;
  for (const unit of UNITS) {
    if (Math.abs(value) < 1024 || unit === UNITS[UNITS.length - 1]) {
      return unit === "B" ? `${n} B` : `${value.toFixed(1)} ${unit}`;
    }
    value /= 1024;
  }
  return `${n} B`;
}

async function api(method, path, body) {
  const headers = { "X-CSRF-Token": CSRF };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401) {  // the session ended (signed out elsewhere, token rotated)
    window.location.assign("/login");
    throw new Error("signed out");
  }
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error(data?.error?.message || `HTTP ${resp.status}`);
  return data;
}

// ------------------------------------------------------------------ status messages

let toastTimer = 0;
function toast(message, extra) {
  const box = document.getElementById("status");
  box.replaceChildren(document.createTextNode(message));
  if (extra) box.append(extra);
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, extra ? 15000 : 6000);
}

function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

// ------------------------------------------------------------------ item actions

async function deleteItem(item) {
  const id = item.dataset.id, name = item.dataset.name;
  await api("DELETE", `/v1/files/${id}`);
  item.remove();
  showEmptyNotes();
  toast(`Deleted ${name} (moved to the trash).`, button("Undo", () => undoDelete(id, name)));
  refresh();
}

async function undoDelete(fileId, name) {
  const trash = await api("GET", "/v1/trash");
  const entry = trash.items.find((t) => t.file_id === fileId);
  if (!entry) { toast(`${name} is no longer in the trash.`); return; }
  await api("POST", `/v1/trash/${entry.id}/restore`, {});
  toast(`Restored ${name}.`);
  refresh();
}

async function copyLink(item) {
  const link = await api("POST", `/v1/files/${item.dataset.id}/links`,
    { expires_in_s: LINK_DAYS * 86400 });
  const field = document.createElement("input");
  field.readOnly = true;
  field.value = link.url;
  field.setAttribute("aria-label", "Share link");
  try {
    await navigator.clipboard.writeText(link.url);
    toast(`Link copied (valid ${LINK_DAYS} days): `, field);
  } catch {
    toast("Copy this link: ", field);
    field.select();
  }
}

async function restoreEntry(row) {
  await api("POST", `/v1/trash/${row.dataset.id}/restore`, {});
  const name = row.querySelector(".name")?.textContent || "the file";
  row.remove();
  showEmptyNotes();
  toast(`Restored ${name}.`);
  refresh();
}

async function deleteFolder(btn) {
  const question = `Delete the folder "${btn.dataset.name}" and all its files? ` +
    "They go to the trash, where you can restore them.";
  if (!window.confirm(question)) return;
  await api("DELETE", `/v1/folders/${btn.dataset.folder}`);
  window.location.assign("/");
}

const ACTIONS = {
  "delete": (el) => deleteItem(el.closest(".item")),
  "copy-link": (el) => copyLink(el.closest(".item")),
  "restore": (el) => restoreEntry(el.closest(".trash-item")),
  "delete-folder": (el) => deleteFolder(el),
};

document.addEventListener("click", (event) => {
  const el = event.target.closest("[data-action]");
  if (!el || !ACTIONS[el.dataset.action]) return;
  event.preventDefault();
  ACTIONS[el.dataset.action](el).catch((err) => toast(`Failed: ${err.message}`));
});

// Links styled as buttons answer Space like buttons do.
document.addEventListener("keydown", (event) => {
  const el = event.target;
  if (event.key === " " && el.matches?.('a[role="button"]')) {
    event.preventDefault();
    el.click();
  }
});

// ------------------------------------------------------------------ uploads

let pendingBytes = 0;

function quotaRefusal(file) {
  const body = document.body.dataset;
  const used = Number(body.used), limit = Number(body.limit), maxFile = Number(body.maxFile);
  if (file.size > maxFile) {
    return `${humanBytes(file.size)} is over the per-file limit of ${humanBytes(maxFile)}`;
  }
  const free = Math.max(0, limit - used - pendingBytes);
  if (file.size > free) {
    return `${humanBytes(file.size)} does not fit: ${humanBytes(free)} free of ` +
      `${humanBytes(limit)} (${humanBytes(used)} used)`;
  }
  return null;
}

function uploadRow(file) {
  const row = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = file.size || 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `Uploading ${file.name}`);
  const note = document.createElement("span");
  note.className = "note";
  row.append(label, bar, note);
  document.getElementById("uploads").append(row);
  return { row, bar, note };
}

function send(folderId, file, ui) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/v1/folders/${folderId}/files/${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("X-CSRF-Token", CSRF);
    xhr.setRequestHeader("If-None-Match", "*");  // never replace a file by accident
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-Syncd-Mtime-Ns", String(BigInt(file.lastModified) * 1000000n));
    xhr.upload.addEventListener("progress", (e) => { ui.bar.value = e.loaded; });
    xhr.addEventListener("load", () => {
      let message = "uploaded";
      if (xhr.status === 412) message = "a file with this name is already here";
      else if (xhr.status >= 400) {
        try { message = JSON.parse(xhr.responseText).error.message; } catch { message = `HTTP ${xhr.status}`; }
      }
      ui.bar.value = ui.bar.max;
      ui.note.textContent = message;
      ui.row.classList.toggle("refused", xhr.status >= 400);
      resolve(xhr.status < 400);
    });
    xhr.addEventListener("error", () => { ui.note.textContent = "connection failed"; resolve(false); });
    xhr.send(file);
  });
}

async function uploadAll(folderId, files) {
  const jobs = [];
  for (const file of files) {
    const ui = uploadRow(file);
    const refusal = quotaRefusal(file);
    if (refusal) {
      ui.row.classList.add("refused");
      ui.bar.remove();
      ui.note.textContent = `not sent: ${refusal}`;
      continue;
    }
    pendingBytes += file.size;
    jobs.push(send(folderId, file, ui).finally(() => { pendingBytes -= file.size; }));
  }
  await Promise.all(jobs);
  refresh();
}

function setUpUploads() {
  const input = document.getElementById("upload-input");
  const zone = document.getElementById("dropzone");
  if (!input || !zone) return;
  input.addEventListener("change", () => {
    uploadAll(input.dataset.folder, Array.from(input.files));
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    uploadAll(zone.dataset.folder, Array.from(e.dataTransfer.files));
  });
}

// ------------------------------------------------------------------ live updates

// Keyed children stay as they are while their data-ver is unchanged (a playing voice note
// keeps playing); new or changed ones come from the fresh page.
function syncKeyed(current, fresh) {
  const kept = new Map();
  for (const child of current.children) kept.set(child.dataset.key, child);
  const next = [];
  for (const child of fresh.children) {
    const old = kept.get(child.dataset.key);
    if (old && old.dataset.ver === child.dataset.ver) next.push(old);
    else {
      const node = document.importNode(child, true);
      if (!old) node.classList.add("fresh");
      next.push(node);
    }
  }
  current.replaceChildren(...next);
}

function syncLive(doc) {
  for (const current of document.querySelectorAll("[data-live]")) {
    const fresh = doc.querySelector(`[data-live="${current.dataset.live}"]`);
    if (!fresh) continue;
    const keyed = fresh.firstElementChild?.dataset.key !== undefined ||
      current.firstElementChild?.dataset.key !== undefined;
    if (keyed) syncKeyed(current, fresh);
    else if (current.innerHTML !== fresh.innerHTML) current.innerHTML = fresh.innerHTML;
  }
  showEmptyNotes();
  for (const key of ["cursor", "used", "limit", "maxFile"]) {
    if (doc.body.dataset[key] !== undefined) document.body.dataset[key] = doc.body.dataset[key];
  }
}

function showEmptyNotes() {
  for (const note of document.querySelectorAll("[data-empty-for]")) {
    const list = document.querySelector(`[data-live="${note.dataset.emptyFor}"]`);
    note.hidden = Boolean(list && list.children.length);
  }
}

let refreshing = null;
function refresh() {
  refreshing = refreshing || (async () => {
    try {
      const resp = await fetch(window.location.href, { credentials: "same-origin" });
      if (resp.ok) syncLive(new DOMParser().parseFromString(await resp.text(), "text/html"));
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function follow() {
  for (;;) {
    const cursor = document.body.dataset.cursor;
    try {
      const resp = await fetch(`/v1/changes?cursor=${cursor}&limit=1&wait=25`,
        { credentials: "same-origin" });
      if (resp.status === 401) return;  // signed out meanwhile
      if (resp.status === 410 || (resp.ok && (await resp.json()).changes.length)) {
        await refresh();
        if (document.body.dataset.cursor === cursor) await pause(2000);
        continue;
      }
      if (!resp.ok) await pause(3000);
    } catch {
      await pause(3000);
    }
  }
}

function pause(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

setUpUploads();
if (document.body.dataset.cursor !== undefined) follow();
