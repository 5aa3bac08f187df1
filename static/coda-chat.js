// The open conversation: the record this tab shows, what the next post carries (the mode, and the
// newest turns within the server's history limits) and saving changes to it in this browser
// (coda-store.js). The other chat scripts share it through `window.coda.chat`.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { store, settings, conversations, data, text } = window.coda;
  const field = (id) => document.getElementById(id);
  const storageStatus = field("storage-status");
  const editing = field("editing");
  const listeners = [];

  // current: the open conversation {id, title, created, updated, turns, settings, leftOut, ...};
  // mode: what the next post asks (a key of data.modes); pending: the turn in flight (coda-stream.js).
  const state = { current: blank(), mode: "new", pending: null };

  function blank() {
    const now = Date.now();
    return { id: store.newId(), title: "", created: now, updated: now, turns: [], settings: settings.read() };
  }

  function messages() {
    return field("messages");
  }

  // --- What the next post carries -------------------------------------------------------------

  function lastQuestion(turns) {
    return turns.map((turn) => turn.role).lastIndexOf("user");
  }

  // The turns the model should see for `kind`, as the server reads that mode (data.modes).
  function historyFor(kind) {
    const turns = state.current.turns;
    const at = lastQuestion(turns);
    const sends = data.modes[kind].sends;
    if (sends === "before_last_question" && at >= 0) return turns.slice(0, at);
    if (sends === "through_last_question" && at >= 0) return turns.slice(0, at + 1);
    return turns;
  }

  // The ids of the turns a post of `kind` replaces once its answer starts.
  function replacedBy(kind) {
    const turns = state.current.turns;
    const at = lastQuestion(turns);
    const replaces = data.modes[kind].replaces;
    if (replaces === "from_last_question" && at >= 0) return turns.slice(at).map((turn) => turn.id);
    if (replaces === "last_turn" && turns.length) return [turns[turns.length - 1].id];
    return [];
  }

  // The newest turns within the server's limits; the server trims again to the context window.
  function recentHistory(turns) {
    const { max_messages: maxMessages, max_chars: maxChars } = data.history;
    const kept = [];
    let chars = 0;
    for (let i = turns.length - 1; i >= 0 && kept.length < maxMessages; i--) {
      const turn = turns[i];
      if (!turn.content) continue;
      if (chars + turn.content.length > maxChars) break;
      chars += turn.content.length;
      kept.unshift({ role: turn.role, content: turn.content });
    }
    const sendable = turns.filter((turn) => turn.content).length;
    return { kept, earlier: sendable - kept.length };
  }

  function formValues() {
    const { kept, earlier } = recentHistory(historyFor(state.mode));
    return {
      history: JSON.stringify(kept),
      mode: state.mode,
      earlier: String(earlier),
      left_out_shown: String(state.current.leftOut || 0),
    };
  }

  function fillForm() {
    const values = formValues();
    field("history").value = values.history;
    field("mode").value = values.mode;
    field("earlier").value = values.earlier;
    field("left-out-shown").value = values.left_out_shown;
  }

  function setMode(next) {
    state.mode = next;
    editing.hidden = next !== "edit";
    fillForm();
  }

  // --- Storage ------------------------------------------------------------------------------

  // What went wrong with storage, in the page's language; empty clears the message.
  function showStorageProblem(message) {
    storageStatus.textContent = message;
    storageStatus.hidden = !message;
  }

  function storageProblem(error) {
    if (store.isOutdated(error)) showStorageProblem(text("storage.outdated"));
    else if (store.isFull(error)) showStorageProblem(text("storage.full"));
    else showStorageProblem(text("storage.unavailable"));
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
  async function save(change, relist = true, id = state.current.id) {
    try {
      const fresh = { id, title: "", created: Date.now(), turns: [] }; // its first save
      const saved = await store.update(id, (record) => change(record || fresh));
      if (saved && state.current.id === id) state.current = saved;
      showStorageProblem("");
    } catch (error) {
      storageProblem(error);
      const next = change({ ...state.current });
      if (next && state.current.id === id) state.current = next; // kept for this page at least
    }
    fillForm();
    changed();
    if (relist) conversations.refresh();
  }

  function questionTurn(turn) {
    return { id: turn.questionId, role: "user", content: turn.question, state: "done" };
  }

  // A turn's changes go to the conversation it was asked in, even if another is open by now.
  function saveTurns(turn, answer, extra = {}, relist = true) {
    const ids = [...turn.replaces, turn.questionId, turn.answerId];
    const turns = data.modes[turn.mode].question === "none" ? [] : [questionTurn(turn)];
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

  // The bubbles showing the stored turns `ids` (coda gives each kept bubble its turn's id).
  function bubblesOf(ids) {
    return ids.flatMap((id) => Array.from(messages().querySelectorAll(`[data-turn="${CSS.escape(id)}"]`)));
  }

  // Whatever shows the conversation's state (the ask-again buttons) hears of every change.
  function changed() {
    for (const listener of listeners) listener();
  }

  window.coda.chat = {
    state,
    blank,
    messages,
    replacedBy,
    formValues,
    fillForm,
    setMode,
    save,
    saveTurns,
    showStorageProblem,
    storageProblem,
    bubblesOf,
    changed,
    onChange: (listener) => listeners.push(listener),
  };
})();
