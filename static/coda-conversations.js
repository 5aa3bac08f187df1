// The list of saved conversations beside the chat: open, search, rename, delete with undo, export
// and import. Items are clones of the server's <template id="conversation-item">; text goes in
// with textContent only. The chat (coda.js) says which conversation is open and hears which one
// the user picked.
(() => {
  "use strict";
  const aside = document.getElementById("conversations");
  if (!aside) return;
  const { store, data, text } = window.coda;
  const list = document.getElementById("conversation-list");
  const empty = document.getElementById("conversation-empty");
  const search = document.getElementById("search");
  const itemTemplate = document.getElementById("conversation-item");
  const toggle = document.getElementById("toggle-conversations");
  const toast = document.getElementById("toast");
  const toastText = document.getElementById("toast-text");
  const undoButton = document.getElementById("undo");
  const importFile = document.getElementById("import-file");
  const TITLE_CHARS = 60;
  const UNDO_MS = 10_000;
  const handlers = { open: () => {}, removed: () => {}, imported: () => {} };
  let records = [];
  let currentId = null;
  let deleted = null; // {record, timer}: what Undo puts back

  function titleOf(record) {
    if (record.title) return record.title;
    const first = record.turns?.find((turn) => turn.role === "user" && turn.content);
    const line = first ? first.content.trim().split("\n")[0] : "";
    return line ? line.slice(0, TITLE_CHARS) : text("untitled");
  }

  function matches(record, words) {
    if (!words.length) return true;
    const text = [titleOf(record), ...(record.turns || []).map((turn) => turn.content || "")]
      .join("\n")
      .toLocaleLowerCase();
    return words.every((word) => text.includes(word));
  }

  async function refresh() {
    records = (await store.all()).filter((record) => record.turns?.length);
    render();
  }

  function render() {
    // A name being typed is never swept away by a list redrawn for another change.
    if (list.querySelector(".conversation-rename-form:not([hidden])")) return;
    const words = search.value.toLocaleLowerCase().split(/\s+/).filter(Boolean);
    const shown = records.filter((record) => matches(record, words));
    list.replaceChildren(...shown.map(item));
    empty.hidden = shown.length > 0;
    empty.textContent = records.length ? text("no_matches") : text("no_conversations");
  }

  function item(record) {
    const li = itemTemplate.content.firstElementChild.cloneNode(true);
    li.dataset.id = record.id;
    const open = li.querySelector(".conversation-open");
    open.textContent = titleOf(record);
    if (record.id === currentId) open.setAttribute("aria-current", "true");
    open.addEventListener("click", () => {
      handlers.open(record.id);
      setOpen(false);
    });
    li.querySelector(".conversation-rename").addEventListener("click", () => startRename(li, record));
    li.querySelector(".conversation-delete").addEventListener("click", () => remove(record));
    return li;
  }

  function startRename(li, record) {
    const renameForm = li.querySelector(".conversation-rename-form");
    const input = renameForm.elements.title;
    const close = () => {
      renameForm.hidden = true;
      li.querySelector(".conversation-open").hidden = false;
      li.querySelector(".conversation-tools").hidden = false;
      render();
    };
    renameForm.hidden = false;
    li.querySelector(".conversation-open").hidden = true;
    li.querySelector(".conversation-tools").hidden = true;
    input.value = titleOf(record);
    input.focus();
    input.select();
    renameForm.onsubmit = async (event) => {
      event.preventDefault();
      const title = input.value.trim();
      close();
      await store.update(record.id, (saved) => (saved ? { ...saved, title } : null));
      await refresh();
      list.querySelector(`[data-id="${CSS.escape(record.id)}"] .conversation-open`)?.focus();
    };
    renameForm.querySelector(".conversation-rename-cancel").onclick = () => {
      close();
      li.querySelector(".conversation-open").focus();
    };
    input.onkeydown = (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
        li.querySelector(".conversation-open").focus();
      }
    };
  }

  async function remove(record) {
    const saved = (await store.get(record.id)) || record;
    await store.remove(record.id);
    window.coda.attach?.forget(record.id); // its files go once Undo is no longer offered
    if (deleted) clearTimeout(deleted.timer);
    deleted = { record: saved, timer: setTimeout(hideToast, UNDO_MS) };
    toastText.textContent = text("deleted").replace("{title}", titleOf(saved));
    toast.hidden = false;
    undoButton.focus();
    await refresh();
    handlers.removed(record.id);
  }

  function hideToast() {
    toast.hidden = true;
    deleted = null;
  }

  undoButton.addEventListener("click", async () => {
    if (!deleted) return;
    const { record } = deleted;
    clearTimeout(deleted.timer);
    hideToast();
    await store.put(record);
    await refresh();
    list.querySelector(`[data-id="${CSS.escape(record.id)}"] .conversation-open`)?.focus();
  });

  let searching = null;
  search.addEventListener("input", () => {
    clearTimeout(searching);
    searching = setTimeout(render, 120);
  });

  // On a phone the list is a panel over the chat, opened from the header.
  function setOpen(open) {
    document.body.classList.toggle("conversations-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) search.focus();
  }
  toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
  aside.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("conversations-open")) {
      event.stopPropagation(); // closes the panel only, never stops an answer as well
      setOpen(false);
      toggle.focus();
    }
  });

  // Export: the file is made here from what this browser keeps; nothing goes to the server.
  function download(name, type, text) {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type }));
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  function fileName(record, extension) {
    const day = new Date(record.created || Date.now()).toISOString().slice(0, 10);
    const slug = titleOf(record).replace(/[\\/:*?"<>|\s]+/g, "-").slice(0, 40);
    return `coda-${day}-${slug}.${extension}`;
  }

  // A turn as the server reads it back (`/conversation`, `/import`): what it said and how it ended.
  function savedTurn(turn) {
    const kept = { role: turn.role, content: turn.content || "", state: turn.state || "done" };
    if (turn.error) kept.error = turn.error;
    if (turn.usage) kept.usage = turn.usage;
    if (turn.knowledge) Object.assign(kept, { knowledge: turn.knowledge, sources: turn.sources || [] });
    if (turn.knowledge && turn.files) kept.files = turn.files;
    if (turn.knowledge && turn.partial) kept.partial = turn.partial;
    return kept;
  }

  async function exportJSON(record) {
    const file = {
      format: data.export.format,
      version: data.export.version,
      title: titleOf(record),
      created: new Date(record.created || Date.now()).toISOString(),
      turns: (record.turns || []).map(savedTurn),
      settings: record.settings || {},
    };
    // Attached files go with it (coda-attach.js); the server never sees this part of the file.
    const attached = (await window.coda.attach?.exported(record.id).catch(() => [])) || [];
    if (attached.length) file.attachments = attached;
    download(fileName(record, "json"), "application/json", `${JSON.stringify(file, null, 2)}\n`);
  }

  function exportMarkdown(record) {
    const parts = [`# ${titleOf(record)}`];
    for (const turn of record.turns || []) {
      const who = turn.role === "user" ? text("you") : text("assistant");
      parts.push(`## ${who}`, turn.content || "");
      if (turn.error) parts.push(`> ${turn.error}`);
    }
    download(fileName(record, "md"), "text/markdown", `${parts.join("\n\n")}\n`);
  }

  // An exported file's attached files stay here: the server checks the conversation without
  // them (its body limit is a message's, and it has no use for them), and they are kept with
  // the conversation once it is imported.
  let importedFiles = null;
  window.addEventListener("change", async (event) => {
    if (event.target !== importFile || importFile.dataset.stripped) return;
    const [chosen] = importFile.files;
    if (!chosen) return;
    event.stopImmediatePropagation();
    let parsed = null;
    try {
      parsed = JSON.parse(await chosen.text());
    } catch {
      parsed = null; // not JSON: the server says so
    }
    importedFiles = null;
    let sent = chosen;
    if (parsed && typeof parsed === "object" && "attachments" in parsed) {
      importedFiles = parsed.attachments;
      delete parsed.attachments;
      sent = new File([JSON.stringify(parsed)], chosen.name, { type: "application/json" });
    }
    const transfer = new DataTransfer();
    transfer.items.add(sent);
    importFile.files = transfer.files;
    importFile.dataset.stripped = "yes";
    importFile.dispatchEvent(new Event("change", { bubbles: true }));
    delete importFile.dataset.stripped;
  }, true);

  // The server checked the file and sent back what to keep, in `data-conversation`.
  document.addEventListener("htmx:after:swap", async () => {
    const result = document.getElementById("imported");
    const raw = result?.dataset.conversation;
    if (!raw) return;
    delete result.dataset.conversation;
    importFile.value = "";
    const checked = JSON.parse(raw);
    const now = Date.now();
    const record = {
      id: store.newId(),
      title: checked.title || "",
      created: now,
      updated: now,
      turns: checked.turns.map((turn) => ({ ...turn, id: store.newId() })),
      settings: checked.settings || {},
    };
    try {
      await store.put(record);
      if (importedFiles) await window.coda.attach?.imported(record.id, importedFiles);
    } catch (error) {
      handlers.imported(null, error);
      return;
    } finally {
      importedFiles = null;
    }
    await refresh();
    handlers.imported(record.id);
  });

  window.coda.conversations = {
    undoMs: UNDO_MS, // how long a deleted conversation can be put back
    refresh,
    titleOf,
    savedTurn,
    exportJSON,
    exportMarkdown,
    setCurrent(id) {
      currentId = id;
      render();
    },
    onOpen: (handler) => { handlers.open = handler; },
    onRemoved: (handler) => { handlers.removed = handler; },
    onImported: (handler) => { handlers.imported = handler; },
  };
})();
