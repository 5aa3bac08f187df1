// The chat: what htmx does not do for us. Enter to send, Stop and Esc, the open conversation kept
// in this browser (coda-store.js) and sent back each turn, asking again (regenerate, edit the last
// question, continue a cut answer), copy buttons. No inline code, no eval: the page's CSP allows
// scripts from this origin only, and text reaches the page through textContent or the server.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { store, settings, conversations } = window.coda;
  const OPEN_KEY = "coda.open.v1"; // this tab's open conversation (sessionStorage: per tab)
  const PARTIAL_SAVE_MS = 1000; // how often a streaming answer is saved, for a tab that closes
  const textarea = document.getElementById("message");
  const field = (id) => document.getElementById(id);
  const sendButton = field("send");
  const stopButton = field("stop");
  const newChatButton = field("new-chat");
  const restoreForm = field("restore-form");
  const storageStatus = field("storage-status");
  const editing = field("editing");
  const actions = field("turn-actions");
  const regenerateButton = field("regenerate");
  const editButton = field("edit-last");
  const continueButton = field("continue");
  // The server's limits, from the page: it refuses history beyond them.
  const limits = {
    messages: Number(form.dataset.maxHistoryMessages),
    chars: Number(form.dataset.maxHistoryChars),
  };

  let current = blank(); // the open conversation: {id, title, created, updated, turns, settings, ...}
  let mode = "new"; // what the next post asks: new | edit | regenerate | continue
  let pending = null; // the turn in flight

  function blank() {
    const now = Date.now();
    return { id: store.newId(), title: "", created: now, updated: now, turns: [], settings: settings.read() };
  }

  function messages() {
    return field("messages");
  }

  // --- What the next post carries -------------------------------------------------------------

  // The turns the model should see for `mode`: an edit drops the last question and its answer,
  // regenerate the last answer (the server asks the last question again).
  function historyFor(kind) {
    const turns = current.turns;
    const lastQuestion = turns.map((turn) => turn.role).lastIndexOf("user");
    if (kind === "edit" && lastQuestion >= 0) return turns.slice(0, lastQuestion);
    if (kind === "regenerate" && lastQuestion >= 0) return turns.slice(0, lastQuestion + 1);
    return turns;
  }

  // The newest turns within the server's limits; the server trims again to the context window.
  function recentHistory(turns) {
    const kept = [];
    let chars = 0;
    let i = turns.length - 1;
    for (; i >= 0 && kept.length < limits.messages; i--) {
      const turn = turns[i];
      if (!turn.content) continue;
      if (chars + turn.content.length > limits.chars) break;
      chars += turn.content.length;
      kept.unshift({ role: turn.role, content: turn.content });
    }
    const sendable = turns.filter((turn) => turn.content).length;
    return { kept, earlier: sendable - kept.length };
  }

  function formValues() {
    const { kept, earlier } = recentHistory(historyFor(mode));
    return {
      history: JSON.stringify(kept),
      mode,
      earlier: String(earlier),
      left_out_shown: String(current.leftOut || 0),
    };
  }

  function fillForm() {
    const values = formValues();
    field("history").value = values.history;
    field("mode").value = values.mode;
    field("earlier").value = values.earlier;
    field("left-out-shown").value = values.left_out_shown;
  }

  // --- Storage ------------------------------------------------------------------------------

  function showStorageProblem(key) {
    storageStatus.textContent = key ? storageStatus.dataset[key] : "";
    storageStatus.hidden = !key;
  }

  // Replace the turns with ids `replaced` by `turns`, where they were (or at the end): the change
  // is applied to the stored copy, so turns another tab added meanwhile stay.
  function replaceTurns(record, replaced, turns) {
    const all = record.turns || [];
    const at = all.findIndex((turn) => replaced.includes(turn.id));
    const kept = all.filter((turn) => !replaced.includes(turn.id));
    const index = at < 0 ? kept.length : at;
    return [...kept.slice(0, index), ...turns, ...kept.slice(index)];
  }

  // `relist`: whether the list needs redrawing (not for every second of a streaming answer).
  async function save(change, relist = true, id = current.id) {
    try {
      const fresh = { id, title: "", created: Date.now(), turns: [] }; // its first save
      const saved = await store.update(id, (record) => change(record || fresh));
      if (saved && current.id === id) current = saved;
      showStorageProblem(null);
    } catch (error) {
      showStorageProblem(store.isFull(error) ? "textFull" : "textUnavailable");
      const next = change({ ...current });
      if (next && current.id === id) current = next; // kept for this page at least
    }
    fillForm();
    updateActions();
    if (relist) conversations.refresh();
  }

  // A turn's changes go to the conversation it was asked in, even if another is open by now.
  function saveTurns(turn, answer, extra = {}, relist = true) {
    const ids = [...turn.replaces, turn.questionId, turn.answerId];
    const turns = turn.mode === "continue" ? [] : [questionTurn(turn)];
    turns.push({ id: turn.answerId, role: "assistant", ...answer });
    const change = (record) => ({
      ...record,
      ...extra,
      turns: replaceTurns(record, ids, turns),
      settings: turn.settings,
      updated: Date.now(),
    });
    return save(change, relist, turn.conversationId);
  }

  // --- A turn in flight ---------------------------------------------------------------------

  function setStreaming(on) {
    stopButton.hidden = !on;
    stopButton.disabled = !on;
    sendButton.disabled = on;
    updateActions();
  }

  function streamingBubble() {
    const found = messages()?.querySelectorAll('[data-role="assistant"][data-state="streaming"]');
    return found && found.length ? found[found.length - 1] : null;
  }

  // The turns a post replaces, hidden until its answer starts (and shown again if it is refused).
  function replacedBy(kind) {
    const turns = current.turns;
    const lastQuestion = turns.map((turn) => turn.role).lastIndexOf("user");
    if ((kind === "edit" || kind === "regenerate") && lastQuestion >= 0) {
      return turns.slice(lastQuestion).map((turn) => turn.id);
    }
    if (kind === "continue" && turns.length) return [turns[turns.length - 1].id];
    return [];
  }

  function bubblesOf(ids) {
    return ids.flatMap((id) => Array.from(messages().querySelectorAll(`[data-turn="${CSS.escape(id)}"]`)));
  }

  function questionTurn(turn) {
    return { id: turn.questionId, role: "user", content: turn.question, state: "done" };
  }

  // The answer has started: its bubbles get their turns' ids, the old ones go, and both are saved
  // (the answer as `streaming`, so a tab closed now keeps the question and what came).
  function started(bubble) {
    pending.started = true;
    bubble.dataset.turn = pending.answerId;
    const question = bubble.previousElementSibling;
    if (pending.mode !== "continue" && question?.dataset.role === "user") {
      question.dataset.turn = pending.questionId;
      pending.question = question.querySelector(".message-body").textContent;
    }
    for (const old of bubblesOf(pending.replaces)) old.remove();
    savePartial(true);
    pending.saver = setInterval(savePartial, PARTIAL_SAVE_MS);
  }

  function savePartial(relist = false) {
    if (!pending || pending.finished || !pending.started) return;
    const body = field(pending.bubbleId)?.querySelector(".message-body");
    saveTurns(pending, { content: body ? body.textContent : "", state: "streaming" }, {}, relist);
  }

  function finish(answer, leftOut) {
    if (!pending || pending.finished) return;
    pending.finished = true;
    clearInterval(pending.saver);
    const extra = {};
    if (leftOut !== undefined && pending.conversationId === current.id) {
      extra.leftOut = leftOut;
      // The notice sits where turns were first left out: before this turn's question.
      if (leftOut > 0 && !current.leftOut) extra.leftOutAt = indexOfTurn(pending);
      if (leftOut === 0) extra.leftOutAt = 0;
    }
    saveTurns(pending, answer, extra);
  }

  function indexOfTurn(turn) {
    const ids = [...turn.replaces, turn.questionId, turn.answerId];
    const at = current.turns.findIndex((saved) => ids.includes(saved.id));
    return at < 0 ? current.turns.length : at;
  }

  // A stream that ended without `done` or `error`: stopped here, or cut on the way.
  function endWithoutAnswer(bubble) {
    const stopped = pending.stopped;
    const state = stopped ? "stopped" : "error";
    const body = bubble.querySelector(".message-body");
    body.removeAttribute("aria-live");
    body.classList.remove("streaming");
    bubble.querySelector(".message-notices")?.replaceChildren();
    bubble.dataset.state = state;
    const note = document.createElement("p");
    note.className = stopped ? "message-status" : "message-error";
    if (!stopped) note.setAttribute("role", "alert");
    note.textContent = messages().dataset[stopped ? "textStopped" : "textLost"] || "";
    bubble.appendChild(note);
    const answer = { content: body.textContent, state };
    if (!stopped) answer.error = note.textContent;
    finish(answer);
  }

  function stop() {
    if (!pending) return;
    pending.stopped = true;
    htmx.trigger(form, "htmx:abort");
  }

  // Everything the post carries is set here, as htmx builds the request from the form.
  form.addEventListener("htmx:config:request", (event) => {
    if (event.target !== form) return;
    const body = event.detail?.ctx?.request?.body;
    if (body?.set) for (const [name, value] of Object.entries(formValues())) body.set(name, value);
  });

  form.addEventListener("htmx:before:request", (event) => {
    if (event.target !== form) return;
    const asking = mode;
    pending = {
      conversationId: current.id,
      settings: settings.read(),
      mode: asking,
      message: textarea.value,
      question: textarea.value.trim(),
      replaces: replacedBy(asking),
      questionId: store.newId(),
      answerId: store.newId(),
      stopped: false,
      finished: false,
      started: false,
      saver: null,
      bubbleId: null,
    };
    for (const old of bubblesOf(pending.replaces)) old.hidden = true;
    if (asking === "new" || asking === "edit") {
      textarea.value = "";
      pending.texts = Array.from(form.querySelectorAll("[data-text-field]"), (box) => box.value);
      settings.clearTexts();
    }
    setMode("new");
    setStreaming(true);
  });

  form.addEventListener("htmx:after:swap", () => {
    const bubble = streamingBubble();
    if (pending && !pending.started && bubble) {
      pending.bubbleId = bubble.id;
      started(bubble);
    }
    // The finished bubble replaces the streaming one whole: it gets its turn's id again.
    const answer = pending?.bubbleId && field(pending.bubbleId);
    if (answer) answer.dataset.turn = pending.answerId;
    const last = messages()?.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
  });

  // The stream's last event: its data is JSON with the whole answer as plain text.
  for (const name of ["done", "error"]) {
    form.addEventListener(name, (event) => {
      if (typeof event.detail?.data !== "string" || !pending) return;
      let data;
      try {
        data = JSON.parse(event.detail.data);
      } catch {
        finish({ content: "", state: "error" });
        return;
      }
      if (typeof data.question === "string") pending.question = data.question;
      const answer = { content: data.content || "", state: data.state };
      if (data.message) answer.error = data.message;
      if (data.usage) answer.usage = data.usage;
      if (data.reasoning) answer.reasoning = data.reasoning; // shown, saved, never sent as history
      finish(answer, Number(data.left_out) || 0);
    });
  }

  form.addEventListener("htmx:finally:request", (event) => {
    if (event.target !== form || !pending) return;
    const turn = pending;
    if (!turn.finished) {
      const bubble = turn.started ? field(turn.bubbleId) : null;
      if (bubble) {
        endWithoutAnswer(bubble);
      } else {
        // Refused before streaming (too long, expired page): give the text back to edit, and the
        // turns it would have replaced back to the page.
        clearInterval(turn.saver);
        if (turn.mode === "new" || turn.mode === "edit") {
          textarea.value = turn.message;
          form.querySelectorAll("[data-text-field]").forEach((box, i) => { box.value = turn.texts?.[i] ?? ""; });
        }
        if (turn.mode === "edit") setMode("edit");
        for (const old of bubblesOf(turn.replaces)) old.hidden = false;
      }
    }
    pending = null;
    setStreaming(false);
    textarea.focus();
  });

  // --- Asking again -------------------------------------------------------------------------

  function setMode(next) {
    mode = next;
    editing.hidden = mode !== "edit";
    fillForm();
  }

  function lastTurn(role) {
    return [...current.turns].reverse().find((turn) => turn.role === role);
  }

  function updateActions() {
    const turns = current.turns;
    const last = turns[turns.length - 1];
    actions.hidden = !turns.length;
    regenerateButton.disabled = editButton.disabled = continueButton.disabled = Boolean(pending);
    regenerateButton.hidden = !lastTurn("user");
    editButton.hidden = !lastTurn("user");
    continueButton.hidden = !(last?.role === "assistant" && last.content && last.usage?.done_reason === "length");
  }

  function ask(kind) {
    if (pending) return;
    setMode(kind);
    form.requestSubmit();
  }

  regenerateButton.addEventListener("click", () => ask("regenerate"));
  continueButton.addEventListener("click", () => ask("continue"));
  editButton.addEventListener("click", () => {
    if (pending) return;
    const question = lastTurn("user");
    if (!question) return;
    setMode("edit");
    textarea.value = question.content;
    textarea.focus();
  });
  field("export-json").addEventListener("click", () => conversations.exportJSON(current));
  field("export-markdown").addEventListener("click", () => conversations.exportMarkdown(current));

  // --- Keys -----------------------------------------------------------------------------------

  textarea.addEventListener("keydown", (event) => {
    // Enter sends, except while an IME is composing Japanese, where Enter confirms the text.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (!pending) form.requestSubmit();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (pending) {
      event.preventDefault();
      stop();
    } else if (mode === "edit") {
      event.preventDefault();
      setMode("new");
      textarea.value = "";
    }
  });

  stopButton.addEventListener("click", stop);

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.(".copy-code");
    if (!button) return;
    const code = button.parentElement.querySelector("pre")?.textContent || "";
    navigator.clipboard?.writeText(code).then(() => {
      const label = button.textContent;
      button.textContent = messages().dataset.textCopied || label;
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });

  // --- Opening conversations ----------------------------------------------------------------

  function remember(id) {
    try {
      sessionStorage.setItem(OPEN_KEY, id);
    } catch {
      // storage disabled: a reload opens the newest conversation instead
    }
  }

  // Show `record`: the server renders its saved turns, as after a reload. A conversation the
  // server refuses to show stays saved as it is, and the reply appended to the page says so.
  function show(record) {
    current = record;
    remember(record.id);
    settings.apply(record.settings);
    setMode("new");
    conversations.setCurrent(record.id);
    clearMessages();
    updateActions();
    if (!record.turns.length) return;
    restoreForm.elements.history.value = JSON.stringify(record.turns.map(sendableTurn));
    restoreForm.elements.left_out.value = String(record.leftOut || 0);
    restoreForm.elements.left_out_at.value = String(record.leftOutAt || 0);
    restoreForm.dataset.opening = record.id;
    htmx.trigger(restoreForm, "coda:restore");
  }

  function clearMessages() {
    for (const old of messages().querySelectorAll(".message, .left-out-notice")) old.remove();
  }

  function sendableTurn(turn) {
    const sent = { role: turn.role, content: turn.content || "", state: turn.state || "done" };
    if (turn.error) sent.error = turn.error;
    if (turn.usage) sent.usage = turn.usage;
    return sent;
  }

  // The restored bubbles get their turns' ids, so asking again knows which to replace.
  restoreForm.addEventListener("htmx:after:swap", () => {
    const bubbles = messages().querySelectorAll(".message:not([data-turn])");
    if (restoreForm.dataset.opening !== current.id || bubbles.length !== current.turns.length) return;
    bubbles.forEach((bubble, i) => { bubble.dataset.turn = current.turns[i].id; });
  });

  async function open(id) {
    if (pending) stop();
    const record = await store.get(id);
    if (record) show(record);
  }

  function startNew(id) {
    stop();
    current = blank();
    if (id) current.id = id;
    current.settings = settings.read();
    remember(current.id);
    setMode("new");
    conversations.setCurrent(null);
    updateActions();
  }

  newChatButton.addEventListener("click", () => startNew());
  conversations.onOpen(open);
  conversations.onRemoved((id) => {
    if (id !== current.id) return;
    startNew();
    clearMessages();
  });
  conversations.onImported((id, error) => {
    if (error) showStorageProblem(store.isFull(error) ? "textFull" : "textUnavailable");
    else open(id);
  });

  // Settings belong to the conversation; a new one keeps them in memory until its first turn.
  settings.onChange((chosen) => {
    current.settings = chosen;
    if (current.turns.length) save((record) => ({ ...record, settings: chosen }));
  });

  // Another tab changed a conversation: the list follows (at most once a second), and so does
  // the open one when idle, once a turn has been added, replaced or has ended (not for every
  // second of an answer still streaming there).
  let relisting = null;
  function shape(turns) {
    return JSON.stringify((turns || []).map((turn) => [turn.id, turn.state]));
  }
  store.onChange(async (id) => {
    relisting ??= setTimeout(() => {
      relisting = null;
      conversations.refresh();
    }, 1000);
    if (id !== current.id || pending) return;
    const record = await store.get(id);
    if (!record) {
      startNew();
      clearMessages();
    } else if (shape(record.turns) !== shape(current.turns)) {
      show(record);
    } else {
      current = record;
      fillForm();
    }
  });

  // A tab closing or going Back mid-answer saves what came so far (also saved every second).
  window.addEventListener("pagehide", () => savePartial());

  async function start() {
    if (!(await store.available())) showStorageProblem("textUnavailable");
    await conversations.refresh();
    let id = null;
    try {
      id = sessionStorage.getItem(OPEN_KEY);
    } catch {
      // as above
    }
    // This tab's conversation, even a new one not saved yet; a new tab opens the newest.
    const record = id ? await store.get(id) : (await store.all())[0];
    if (record) show(record);
    else startNew(id);
    form.dataset.ready = "true"; // the page has read its storage (tests wait for this)
  }

  fillForm();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
