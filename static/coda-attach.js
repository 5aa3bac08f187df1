// Files attached to the open conversation: chosen with the 📎 button or dropped on the message
// box, sent to the server once to be read (POST /attachments, with upload progress), and kept in
// this browser with the conversation (coda-store.js); the server keeps nothing. Each post of the
// conversation then carries them: a file that fits the model whole goes whole; a long one goes as
// the passages nearest the question, ranked here by the cosine with the question's vector, which
// the server makes (POST /attachments/question). Names and text go in with textContent only.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  const rules = window.coda?.data?.attachments;
  if (!form || !rules) return;
  const { store, chat, conversations, text } = window.coda;
  const field = (id) => document.getElementById(id);
  const input = field("attach-file");
  const list = field("attachment-list");
  const status = field("attachment-status");
  const progress = field("attachment-progress");
  const storageLine = field("attachment-storage");
  const itemTemplate = field("attachment-item");
  const textarea = field("message");
  let shownFor = null; // the conversation whose files are listed
  let files = []; // its attachment records
  let prepared = null; // the passages picked for the post being sent (see `prepare`)
  let busy = false; // a file is being sent and read
  let preparing = false; // a question's passages are being found

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers:inherited") || "{}")["X-CSRFToken"] || "";
    } catch {
      return "";
    }
  }

  function megabytes(bytes) {
    if (bytes < 1_000_000) return `${Math.ceil(bytes / 1000)} KB`;
    return `${(bytes / 1_000_000).toFixed(bytes < 10_000_000 ? 1 : 0)} MB`;
  }

  function say(message, problem = false) {
    status.textContent = message;
    status.hidden = !message;
    status.classList.toggle("problem", problem);
  }

  // --- The list under the message box --------------------------------------------------------

  function render() {
    list.replaceChildren(...files.map(item));
  }

  function item(file) {
    const li = itemTemplate.content.firstElementChild.cloneNode(true);
    li.dataset.id = file.id;
    li.dataset.mode = file.mode;
    li.querySelector(".attachment-name").textContent = file.name;
    li.querySelector(".attachment-mode").textContent = file.mode === "whole" ? text("attach.whole") : text("attach.passages");
    const remove = li.querySelector(".attachment-remove");
    remove.setAttribute("aria-label", fill(text("attach.remove"), { name: file.name }));
    remove.addEventListener("click", () => detach(file));
    return li;
  }

  async function showStorage() {
    try {
      const used = (await store.attachmentSizes()).reduce((sum, file) => sum + (file.bytes || 0), 0);
      storageLine.textContent = fill(text("attach.storage"), { used: megabytes(used), limit: megabytes(rules.storage_bytes) });
      return used;
    } catch {
      return 0;
    }
  }

  async function load() {
    const id = chat.state.current.id;
    shownFor = id;
    try {
      const found = await store.attachmentsOf(id);
      if (shownFor === id) files = found;
    } catch (error) {
      chat.storageProblem(error);
      files = [];
    }
    render();
    showStorage();
  }

  async function detach(file) {
    try {
      await store.removeAttachment(file.id, file.conversation);
    } catch (error) {
      chat.storageProblem(error);
      return;
    }
    files = files.filter((kept) => kept.id !== file.id);
    render();
    showStorage();
    textarea.focus();
  }

  // --- Attaching -----------------------------------------------------------------------------

  function decodeVectors(base64) {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  // The record kept in this browser from what the server read (coda/frontend/attachments.py).
  function record(read, conversation) {
    const kept = {
      id: store.newId(),
      conversation,
      name: read.name,
      kind: read.kind,
      pages: read.pages ?? null,
      chars: read.chars,
      mode: read.mode,
      created: Date.now(),
    };
    if (read.mode === "whole") {
      kept.text = read.text;
      kept.bytes = read.text.length * 2;
    } else {
      kept.passages = read.passages;
      kept.vectors = decodeVectors(read.vectors);
      kept.dimension = read.dimension;
      kept.model = read.model;
      kept.bytes = read.passages.reduce((sum, p) => sum + p.text.length * 2, 0) + kept.vectors.byteLength;
    }
    return kept;
  }

  function send(file) {
    return new Promise((resolve) => {
      const request = new XMLHttpRequest();
      const started = Date.now();
      let ticking = null;
      const reading = () => say(fill(text("attach.reading"), { name: file.name, seconds: Math.round((Date.now() - started) / 1000) }));
      request.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const percent = Math.round((100 * event.loaded) / event.total);
        progress.hidden = false;
        progress.value = percent;
        say(fill(text("attach.uploading"), { name: file.name, percent }));
      });
      request.upload.addEventListener("load", () => {
        progress.removeAttribute("value"); // the server is reading it: no figure to show
        reading();
        ticking = setInterval(reading, 1000);
      });
      const end = (result) => {
        clearInterval(ticking);
        progress.hidden = true;
        resolve(result);
      };
      request.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(request.responseText);
        } catch {
          body = null;
        }
        if (request.status === 200 && body) end({ read: body });
        else end({ error: body?.message || text("attach.failed") });
      });
      request.addEventListener("error", () => end({ error: text("attach.failed") }));
      request.addEventListener("abort", () => end({ error: text("attach.failed") }));
      request.addEventListener("timeout", () => end({ error: text("attach.failed") }));
      request.open("POST", form.dataset.attachUrl);
      request.timeout = 600_000; // past the server's own limits: the connection is gone
      request.setRequestHeader("X-CSRFToken", csrfToken());
      const body = new FormData();
      body.append("file", file, file.name);
      request.send(body);
    });
  }

  async function attach(file) {
    if (busy) return;
    const conversation = chat.state.current.id;
    if (files.length >= rules.max_files) {
      say(fill(text("attach.too_many"), { limit: rules.max_files }), true);
      return;
    }
    busy = true;
    try {
      const { read, error } = await send(file);
      if (error) {
        say(error, true);
        return;
      }
      const kept = record(read, conversation);
      const used = await showStorage();
      if (used + kept.bytes > rules.storage_bytes) {
        say(fill(text("attach.storage_full"), { limit: megabytes(rules.storage_bytes) }), true);
        return;
      }
      await store.putAttachment(kept);
      // The conversation is saved too, so a reload before the first question still finds it.
      await chat.save((saved) => saved, true, conversation);
      if (chat.state.current.id === conversation) files = [...files, kept];
      say("");
      render();
      showStorage();
    } catch (error) {
      chat.storageProblem(error);
      say(text("attach.failed"), true);
    } finally {
      busy = false;
    }
  }

  input.addEventListener("change", async () => {
    for (const file of [...input.files]) await attach(file);
    input.value = "";
  });

  // Dropping files on the message box attaches them (text dropped stays the browser's).
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  textarea.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    form.classList.add("dropping");
  });
  textarea.addEventListener("dragleave", () => form.classList.remove("dropping"));
  textarea.addEventListener("drop", async (event) => {
    form.classList.remove("dropping");
    if (!carriesFiles(event)) return;
    event.preventDefault();
    for (const file of [...event.dataTransfer.files]) await attach(file);
  });

  // --- What a post carries --------------------------------------------------------------------

  function dot(vectors, row, dimension, query) {
    let sum = 0;
    const start = row * dimension;
    for (let i = 0; i < dimension; i++) sum += vectors[start + i] * query[i];
    return sum;
  }

  // The `top_k` passages of `file` nearest `query`, best first, each scoring at least min_score.
  function nearest(file, query) {
    const count = file.passages.length;
    const scored = [];
    for (let row = 0; row < count; row++) {
      const score = dot(file.vectors, row, file.dimension, query);
      if (score >= rules.min_score) scored.push([score, row]);
    }
    scored.sort((a, b) => b[0] - a[0]);
    return scored.slice(0, rules.top_k).map(([, row]) => file.passages[row]);
  }

  function searchedQuestion() {
    const typed = textarea.value.trim();
    if (chat.state.mode === "new" || chat.state.mode === "edit") return typed;
    const asked = chat.state.current.turns.filter((turn) => turn.role === "user");
    return asked.length ? asked[asked.length - 1].content : typed;
  }

  async function questionVector(question) {
    const body = new FormData();
    body.append("question", question);
    const response = await fetch(form.dataset.questionUrl, {
      method: "POST",
      body,
      headers: { "X-CSRFToken": csrfToken() },
    });
    const answer = await response.json().catch(() => null);
    if (!response.ok || !answer) throw new Error(answer?.message || text("attach.failed"));
    return { vector: decodeVectors(answer.vector), model: answer.model };
  }

  // The passages each long file sends with this question, found before the post is made.
  async function prepare() {
    const long = files.filter((file) => file.mode === "passages");
    const question = searchedQuestion();
    const picked = new Map();
    if (!long.length || !question) return picked;
    say(text("attach.searching"));
    try {
      const { vector, model } = await questionVector(question);
      for (const file of long) {
        if (file.model !== model || file.dimension !== vector.length) {
          say(fill(text("attach.model_changed"), { name: file.name }), true);
          continue;
        }
        picked.set(file.id, nearest(file, vector));
      }
      if (!status.classList.contains("problem")) say("");
    } catch (error) {
      say(error.message || text("attach.failed"), true);
    }
    return picked;
  }

  function payload(picked) {
    return files.map((file) => {
      if (file.mode === "whole") return { name: file.name, text: file.text };
      return { name: file.name, passages: picked?.get(file.id) || [], total: file.passages.length };
    });
  }

  // A conversation with a long file: the question is embedded first, then the post goes.
  // (On window, in the capture phase: before htmx hears of the submit anywhere.)
  window.addEventListener("submit", async (event) => {
    if (event.target !== form || prepared || !files.some((file) => file.mode === "passages")) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (chat.state.pending || preparing) return;
    preparing = true;
    try {
      prepared = await prepare();
    } finally {
      preparing = false;
    }
    form.requestSubmit();
  }, true);

  form.addEventListener("htmx:config:request", (event) => {
    if (event.target !== form) return;
    const body = event.detail?.ctx?.request?.body;
    if (body?.set) body.set("attachments", files.length ? JSON.stringify(payload(prepared)) : "");
    prepared = null;
  });

  // --- The conversation's life ----------------------------------------------------------------

  // Another conversation opened (or a new one): list its files.
  chat.onChange(() => {
    if (chat.state.current.id !== shownFor) load();
  });

  // A deleted conversation's files go once its Undo has passed, and any left by a closed tab
  // (whose conversation is gone) at the next start.
  async function forget(conversation) {
    setTimeout(async () => {
      if (await store.get(conversation)) return;
      for (const file of await store.attachmentsOf(conversation)) await store.removeAttachment(file.id, conversation);
      showStorage();
    }, conversations.undoMs + 1000);
  }

  async function sweep() {
    try {
      const kept = new Set((await store.all()).map((saved) => saved.id));
      kept.add(chat.state.current.id);
      for (const file of await store.attachmentSizes()) {
        if (!kept.has(file.conversation)) await store.removeAttachment(file.id, file.conversation);
      }
    } catch {
      // storage unavailable: nothing kept to sweep
    }
    showStorage();
  }

  // An exported conversation carries its files (vectors as base64), an imported one brings them.
  function encodeVectors(vectors) {
    const bytes = new Uint8Array(vectors.buffer, vectors.byteOffset, vectors.byteLength);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }

  async function exported(conversation) {
    const found = await store.attachmentsOf(conversation);
    return found.map((file) => {
      const { id, conversation: owner, vectors, ...rest } = file;
      return vectors ? { ...rest, vectors: encodeVectors(vectors) } : rest;
    });
  }

  // Files from an exported conversation, checked for shape before they are kept: only text,
  // numbers and the vectors' bytes, within this page's limits.
  async function imported(conversation, raw) {
    if (!Array.isArray(raw)) return;
    for (const file of raw.slice(0, rules.max_files)) {
      if (typeof file?.name !== "string" || !["whole", "passages"].includes(file.mode)) continue;
      const read = { ...file, chars: Number(file.chars) || 0, pages: Number.isInteger(file.pages) ? file.pages : null };
      if (file.mode === "whole" && typeof file.text !== "string") continue;
      if (file.mode === "passages") {
        const valid = Array.isArray(file.passages) && typeof file.vectors === "string" && file.passages.every((p) => typeof p?.text === "string");
        if (!valid) continue;
        const vectors = decodeVectors(file.vectors);
        if (vectors.length !== file.passages.length * file.dimension) continue;
      }
      const kept = record({ ...read, name: read.name.slice(0, 255), kind: String(read.kind || "text") }, conversation);
      await store.putAttachment(kept);
    }
    showStorage();
  }

  window.coda.attach = { forget, exported, imported, reload: load };
  load();
  sweep();
})();
