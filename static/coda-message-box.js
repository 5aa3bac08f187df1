// The message box's keys: Enter sends (not while an IME is composing), Shift+Enter adds a line,
// Esc stops the answer in flight or cancels editing the last question.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { chat, stream } = window.coda;
  const { state } = chat;
  const textarea = document.getElementById("message");

  textarea.addEventListener("keydown", (event) => {
    // Enter sends, except while an IME is composing Japanese, where Enter confirms the text.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    if (!state.pending) form.requestSubmit();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (state.pending) {
      event.preventDefault();
      stream.stop();
    } else if (state.mode === "edit") {
      event.preventDefault();
      chat.setMode("new");
      textarea.value = "";
    }
  });

  document.getElementById("stop").addEventListener("click", stream.stop);
})();
