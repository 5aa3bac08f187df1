// A turn in flight: htmx posts the form and swaps the answer in as it streams (hx-sse); this
// script sets what the post carries, gives the new bubbles their turns' ids, saves the answer as
// it comes (every second and on pagehide, so a closed tab keeps it) and as it ended (the `done` or
// `error` event), and puts the text back in the message box when the server refuses the post.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { store, settings, chat, data, text, follow } = window.coda;
  const { state } = chat;
  const PARTIAL_SAVE_MS = 1000; // how often a streaming answer is saved, for a tab that closes
  const textarea = document.getElementById("message");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");

  function asks(kind) {
    return data.modes[kind].question; // typed | last | none
  }

  function setStreaming(on) {
    stopButton.hidden = !on;
    stopButton.disabled = !on;
    sendButton.disabled = on;
    chat.changed();
  }

  function streamingBubble() {
    const found = chat.messages()?.querySelectorAll('[data-role="assistant"][data-state="streaming"]');
    return found && found.length ? found[found.length - 1] : null;
  }

  // The answer has started: its bubbles get their turns' ids, the old ones go, and both are saved
  // (the answer as `streaming`, so a tab closed now keeps the question and what came).
  function started(bubble) {
    const pending = state.pending;
    pending.started = true;
    bubble.dataset.turn = pending.answerId;
    const question = bubble.previousElementSibling;
    if (asks(pending.mode) !== "none" && question?.dataset.role === "user") {
      question.dataset.turn = pending.questionId;
      pending.question = question.querySelector(".message-body").textContent;
    }
    for (const old of chat.bubblesOf(pending.replaces)) old.remove();
    savePartial(true);
    pending.saver = setInterval(savePartial, PARTIAL_SAVE_MS);
  }

  // The answer's text so far: a formatted answer keeps it in a hidden element beside its body.
  function textOf(bubble) {
    const source = bubble?.querySelector(".message-source") || bubble?.querySelector(".message-body");
    return source ? source.textContent : "";
  }

  function savePartial(relist = false) {
    const pending = state.pending;
    if (!pending || pending.finished || !pending.started) return;
    const bubble = document.getElementById(pending.bubbleId);
    chat.saveTurns(pending, { content: textOf(bubble), state: "streaming" }, {}, relist);
  }

  function finish(answer, leftOut) {
    const pending = state.pending;
    if (!pending || pending.finished) return;
    pending.finished = true;
    clearInterval(pending.saver);
    const extra = {};
    if (leftOut !== undefined && pending.conversationId === state.current.id) {
      extra.leftOut = leftOut;
      // The notice sits where turns were first left out: before this turn's question.
      if (leftOut > 0 && !state.current.leftOut) extra.leftOutAt = indexOfTurn(pending);
      if (leftOut === 0) extra.leftOutAt = 0;
    }
    chat.saveTurns(pending, answer, extra);
  }

  function indexOfTurn(turn) {
    const ids = [...turn.replaces, turn.questionId, turn.answerId];
    const at = state.current.turns.findIndex((saved) => ids.includes(saved.id));
    return at < 0 ? state.current.turns.length : at;
  }

  // A stream that ended without `done` or `error`: stopped here, or cut on the way.
  function endWithoutAnswer(bubble) {
    const stopped = state.pending.stopped;
    const ended = stopped ? "stopped" : "error";
    const body = bubble.querySelector(".message-body");
    body.removeAttribute("aria-live");
    body.classList.remove("streaming");
    bubble.querySelector(".message-notices")?.replaceChildren();
    bubble.dataset.state = ended;
    const note = document.createElement("p");
    note.className = stopped ? "message-status" : "message-error";
    if (!stopped) note.setAttribute("role", "alert");
    note.textContent = stopped ? text("stopped") : text("connection_lost");
    bubble.appendChild(note);
    // What came can be continued, as the server's bubbles offer it (data.continue_after).
    const content = textOf(bubble);
    if (content.trim() && data.continue_after.includes(ended)) bubble.dataset.offers = "continue";
    const answer = { content, state: ended };
    if (!stopped) answer.error = note.textContent;
    finish(answer);
  }

  function stop() {
    if (!state.pending) return;
    state.pending.stopped = true;
    htmx.trigger(form, "htmx:abort");
  }

  // The connection is known to be dead (coda-connection.js): end the turn as a dropped one.
  function lose() {
    if (state.pending) htmx.trigger(form, "htmx:abort"); // not stopped: ends as connection_lost
  }

  // Everything the post carries is set here, as htmx builds the request from the form.
  form.addEventListener("htmx:config:request", (event) => {
    if (event.target !== form) return;
    const body = event.detail?.ctx?.request?.body;
    if (body?.set) for (const [name, value] of Object.entries(chat.formValues())) body.set(name, value);
  });

  form.addEventListener("htmx:before:request", (event) => {
    if (event.target !== form) return;
    const asking = state.mode;
    const pending = {
      conversationId: state.current.id,
      settings: settings.read(),
      mode: asking,
      message: textarea.value,
      question: textarea.value.trim(),
      replaces: chat.replacedBy(asking),
      questionId: store.newId(),
      answerId: store.newId(),
      stopped: false,
      finished: false,
      started: false,
      saver: null,
      bubbleId: null,
    };
    state.pending = pending;
    for (const old of chat.bubblesOf(pending.replaces)) old.hidden = true;
    if (asks(asking) === "typed") {
      textarea.value = "";
      pending.texts = Array.from(form.querySelectorAll("[data-text-field]"), (box) => box.value);
      settings.clearTexts();
    }
    chat.setMode("new");
    setStreaming(true);
    follow.start();
  });

  form.addEventListener("htmx:after:swap", () => {
    const pending = state.pending;
    const bubble = streamingBubble();
    if (pending && !pending.started && bubble) {
      pending.bubbleId = bubble.id;
      started(bubble);
    }
    // The finished bubble replaces the streaming one whole: it gets its turn's id again.
    const answer = pending?.bubbleId && document.getElementById(pending.bubbleId);
    if (answer) answer.dataset.turn = pending.answerId;
    follow.update();
  });

  // The stream's last event: its data is JSON with the whole answer as plain text.
  for (const name of ["done", "error"]) {
    form.addEventListener(name, (event) => {
      const pending = state.pending;
      if (typeof event.detail?.data !== "string" || !pending) return;
      let ended;
      try {
        ended = JSON.parse(event.detail.data);
      } catch {
        finish({ content: "", state: "error" });
        return;
      }
      if (typeof ended.question === "string") pending.question = ended.question;
      const answer = { content: ended.content || "", state: ended.state };
      if (ended.message) answer.error = ended.message;
      if (ended.usage) answer.usage = ended.usage;
      if (ended.reasoning) answer.reasoning = ended.reasoning; // shown, saved, never sent as history
      if (ended.knowledge) Object.assign(answer, { knowledge: ended.knowledge, sources: ended.sources || [] });
      if (ended.files) answer.files = ended.files; // attached files sent whole
      if (ended.partial) answer.partial = ended.partial; // and those read in part
      finish(answer, Number(ended.left_out) || 0);
    });
  }

  form.addEventListener("htmx:finally:request", (event) => {
    const turn = state.pending;
    if (event.target !== form || !turn) return;
    if (!turn.finished) {
      const bubble = turn.started ? document.getElementById(turn.bubbleId) : null;
      if (bubble) {
        endWithoutAnswer(bubble);
      } else {
        // Refused before streaming (too long, expired page): give the text back to edit, and the
        // turns it would have replaced back to the page.
        clearInterval(turn.saver);
        if (asks(turn.mode) === "typed") {
          textarea.value = turn.message;
          form.querySelectorAll("[data-text-field]").forEach((box, i) => { box.value = turn.texts?.[i] ?? ""; });
          chat.setMode(turn.mode);
        }
        for (const old of chat.bubblesOf(turn.replaces)) old.hidden = false;
      }
    }
    state.pending = null;
    setStreaming(false);
    textarea.focus();
  });

  // A tab closing or going Back mid-answer saves what came so far (also saved every second).
  window.addEventListener("pagehide", () => savePartial());

  window.coda.stream = { stop, lose };
})();
