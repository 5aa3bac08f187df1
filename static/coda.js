// coda's one script: what htmx does not do for us. Enter to send, Stop and Esc, the conversation
// kept in this browser (localStorage) and sent back each turn, the chosen model kept beside it,
// copy buttons. No inline code, no eval: the page's CSP allows scripts from this origin only.
(() => {
  "use strict";
  const STORAGE_KEY = "coda.conversation.v1";
  const MODEL_KEY = "coda.model.v1";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const textarea = document.getElementById("message");
  const historyInput = document.getElementById("history");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const newChatButton = document.getElementById("new-chat");
  const restoreForm = document.getElementById("restore-form");
  const modelPicker = document.getElementById("model"); // only when there is a choice
  // The server's limits, from the page: it refuses history beyond them.
  const limits = {
    messages: Number(form.dataset.maxHistoryMessages),
    chars: Number(form.dataset.maxHistoryChars),
  };

  let turns = load(); // [{role, content, state}], oldest first
  let pending = null; // the turn in flight: {message, stopped, finished}

  function load() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "[]");
      return Array.isArray(saved) ? saved : [];
    } catch {
      return [];
    }
  }

  function save() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(turns));
    } catch {
      // Storage full or disabled: the conversation still works, it just won't survive a reload.
    }
    fillHistory();
  }

  function fillHistory() {
    historyInput.value = JSON.stringify(recentHistory());
  }

  // The newest turns within the server's limits; the server trims again to the context window.
  function recentHistory() {
    const kept = [];
    let chars = 0;
    for (let i = turns.length - 1; i >= 0 && kept.length < limits.messages; i--) {
      const turn = turns[i];
      if (!turn.content) continue;
      if (chars + turn.content.length > limits.chars) break;
      chars += turn.content.length;
      kept.unshift({ role: turn.role, content: turn.content });
    }
    return kept;
  }

  function messages() {
    return document.getElementById("messages");
  }

  function setStreaming(on) {
    stopButton.hidden = !on;
    stopButton.disabled = !on;
    sendButton.disabled = on;
  }

  function streamingBubble() {
    const found = messages()?.querySelectorAll('[data-role="assistant"][data-state="streaming"]');
    return found && found.length ? found[found.length - 1] : null;
  }

  function remember(state, content) {
    if (!pending || pending.finished) return;
    pending.finished = true;
    turns.push({ role: "user", content: pending.message, state: "done" });
    if (content) turns.push({ role: "assistant", content, state });
    save();
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
    remember(state, body.textContent);
  }

  function stop() {
    if (!pending) return;
    pending.stopped = true;
    htmx.trigger(form, "htmx:abort");
  }

  form.addEventListener("htmx:before:request", (event) => {
    if (event.target !== form) return;
    pending = { message: textarea.value.trim(), stopped: false, finished: false };
    textarea.value = "";
    setStreaming(true);
  });

  // The stream's last event: its data is JSON with the whole answer as plain text.
  for (const name of ["done", "error"]) {
    form.addEventListener(name, (event) => {
      if (typeof event.detail?.data !== "string") return;
      try {
        const data = JSON.parse(event.detail.data);
        remember(data.state, data.content || "");
      } catch {
        remember("error", "");
      }
    });
  }

  form.addEventListener("htmx:finally:request", (event) => {
    if (event.target !== form || !pending) return;
    if (!pending.finished) {
      const bubble = streamingBubble();
      if (bubble) {
        endWithoutAnswer(bubble);
      } else {
        // Refused before streaming (too long, expired page): give the text back to edit.
        textarea.value = pending.message;
      }
    }
    pending = null;
    setStreaming(false);
    textarea.focus();
  });

  form.addEventListener("htmx:after:swap", () => {
    const last = messages()?.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
  });

  textarea.addEventListener("keydown", (event) => {
    // Enter sends, except while an IME is composing Japanese, where Enter confirms the text.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (!pending) form.requestSubmit();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && pending) {
      event.preventDefault();
      stop();
    }
  });

  stopButton.addEventListener("click", stop);

  newChatButton.addEventListener("click", () => {
    stop();
    turns = [];
    save();
  });

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

  // A saved conversation the server refuses to show stays saved as it is: the reply, appended to
  // the page, says so, and "New chat" is the user's choice, never the server's.

  // The model picked here last time, if the server still offers it; the select is a field of the
  // chat form, so htmx sends the choice with every turn and the server checks it.
  if (modelPicker) {
    let saved = null;
    try {
      saved = localStorage.getItem(MODEL_KEY);
    } catch {
      // Storage disabled: the page's default model it is.
    }
    if (saved && Array.from(modelPicker.options).some((option) => option.value === saved)) {
      modelPicker.value = saved;
    }
    modelPicker.addEventListener("change", () => {
      try {
        localStorage.setItem(MODEL_KEY, modelPicker.value);
      } catch {
        // As above: the choice holds for this page only.
      }
    });
  }

  // Only the form is filled at load: what storage holds is rewritten by the next turn, never by
  // merely opening the page (a copy this script could not read stays as it was).
  fillHistory();
  document.addEventListener("DOMContentLoaded", () => {
    if (!turns.length) return;
    restoreForm.querySelector('[name="history"]').value = JSON.stringify(turns);
    htmx.trigger(restoreForm, "coda:restore");
  });
})();
