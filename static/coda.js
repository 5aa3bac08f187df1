// Which conversation the page shows, and starting the page: the one this tab had open (or the
// newest) at load, one picked in the list, a new chat, one deleted, imported or changed in
// another tab. The server renders a conversation's saved turns (`/conversation`), as after a
// reload. Runs last: it uses what the other scripts put in `window.coda`.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { store, settings, conversations, chat, stream } = window.coda;
  const { state } = chat;
  const OPEN_KEY = "coda.open.v1"; // this tab's open conversation (sessionStorage: per tab)
  const restoreForm = document.getElementById("restore-form");

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
    state.current = record;
    remember(record.id);
    settings.apply(record.settings);
    chat.setMode("new");
    conversations.setCurrent(record.id);
    clearMessages();
    chat.changed();
    if (!record.turns.length) return;
    restoreForm.elements.history.value = JSON.stringify(record.turns.map(conversations.savedTurn));
    restoreForm.elements.left_out.value = String(record.leftOut || 0);
    restoreForm.elements.left_out_at.value = String(record.leftOutAt || 0);
    restoreForm.dataset.opening = record.id;
    htmx.trigger(restoreForm, "coda:restore");
  }

  function clearMessages() {
    for (const old of chat.messages().querySelectorAll(".message, .left-out-notice")) old.remove();
  }

  // The restored bubbles get their turns' ids, so asking again knows which to replace.
  restoreForm.addEventListener("htmx:after:swap", () => {
    const bubbles = chat.messages().querySelectorAll(".message:not([data-turn])");
    const { current } = state;
    if (restoreForm.dataset.opening !== current.id || bubbles.length !== current.turns.length) return;
    bubbles.forEach((bubble, i) => { bubble.dataset.turn = current.turns[i].id; });
    chat.changed(); // what the last answer offers is on its bubble now
  });

  async function open(id) {
    if (state.pending) stream.stop();
    const record = await store.get(id);
    if (record) show(record);
  }

  function startNew(id) {
    stream.stop();
    state.current = chat.blank();
    if (id) state.current.id = id;
    state.current.settings = settings.read();
    remember(state.current.id);
    chat.setMode("new");
    conversations.setCurrent(null);
    chat.changed();
  }

  document.getElementById("new-chat").addEventListener("click", () => startNew());
  conversations.onOpen(open);
  conversations.onRemoved((id) => {
    if (id !== state.current.id) return;
    startNew();
    clearMessages();
  });
  conversations.onImported((id, error) => {
    if (error) chat.storageProblem(error);
    else open(id);
  });

  // Settings belong to the conversation; a new one keeps them in memory until its first turn.
  settings.onChange((chosen) => {
    state.current.settings = chosen;
    if (state.current.turns.length) chat.save((record) => ({ ...record, settings: chosen }));
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
    if (id === state.current.id) await follow();
  });

  // The open conversation as storage has it now, shown again if its turns changed.
  async function follow() {
    if (state.pending) return;
    const { id } = state.current;
    let record;
    try {
      record = await store.get(id);
    } catch {
      return; // storage said what is wrong where it failed; the page keeps what it shows
    }
    if (id !== state.current.id || state.pending) return;
    if (!record) {
      if (!state.current.turns.length) return; // a new chat not saved yet
      startNew();
      clearMessages();
    } else if (shape(record.turns) !== shape(state.current.turns)) {
      show(record);
    } else {
      state.current = record;
      chat.fillForm();
    }
  }

  // A change another tab made while this one was hidden, frozen or in the back/forward cache
  // may never have been heard: look again when the page is shown.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") follow();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) follow();
  });

  // A newer coda opened the database in another tab: this page says so at once, and keeps
  // what it shows until the reload.
  store.onOutdated((error) => chat.storageProblem(error));

  async function start() {
    if (!(await store.available())) chat.storageProblem(null);
    let id = null;
    try {
      id = sessionStorage.getItem(OPEN_KEY);
    } catch {
      // as above
    }
    // This tab's conversation, even a new one not saved yet; a new tab opens the newest.
    let record = null;
    try {
      await conversations.refresh();
      record = id ? await store.get(id) : (await store.all())[0];
    } catch (error) {
      chat.storageProblem(error); // the page still works, with what it holds in memory
    }
    if (record) show(record);
    else startNew(id);
    if (record) await follow(); // an answer that ended in another tab while this one read it
    form.dataset.ready = "true"; // the page has read its storage (tests wait for this)
  }

  chat.fillForm();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
