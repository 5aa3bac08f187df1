// The message box's keys: Enter sends (not while an IME is composing), Shift+Enter adds a line,
// Esc stops the answer in flight or cancels editing the last question. On a touch-first screen,
// whose keyboard has no Shift+Enter, Enter adds a line and the Send button sends, unless the
// person chose "Enter sends" in the settings (kept for this browser).
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { chat, stream, text } = window.coda;
  const { state } = chat;
  const textarea = document.getElementById("message");
  const enterSends = document.getElementById("enter-sends");
  const hint = document.getElementById("composer-hint");
  const ENTER_KEY = "coda.enter.v1"; // this browser's choice: "send" or "newline"
  const touchFirst = window.matchMedia("(hover: none) and (pointer: coarse)");

  let choice = null; // the choice made on this page, when storage cannot keep it

  function chosen() {
    try {
      return localStorage.getItem(ENTER_KEY) ?? choice;
    } catch {
      return choice; // storage disabled: the choice holds until the page closes
    }
  }

  // Whether Enter sends: the person's choice, else the screen's kind.
  function sends() {
    const made = chosen();
    if (made === "send" || made === "newline") return made === "send";
    return !touchFirst.matches;
  }

  // The checkbox, the keyboard's return key label (`enterkeyhint`) and the hint say the same.
  function showMode() {
    const on = sends();
    enterSends.checked = on;
    textarea.setAttribute("enterkeyhint", on ? "send" : "enter");
    form.dataset.enter = on ? "send" : "newline";
    hint.textContent = on ? text("hint") : text("hint_touch");
  }

  enterSends.addEventListener("change", (event) => {
    event.stopPropagation(); // this browser's choice, not the conversation's settings
    choice = enterSends.checked ? "send" : "newline";
    try {
      localStorage.setItem(ENTER_KEY, choice);
    } catch {
      // storage disabled: `choice` holds it until the page closes
    }
    showMode();
  });
  touchFirst.addEventListener?.("change", showMode);

  textarea.addEventListener("keydown", (event) => {
    // Enter confirms the text while an IME is composing Japanese: never a send then.
    if (event.key !== "Enter" || event.isComposing || event.keyCode === 229) return;
    if (event.shiftKey) return; // a new line, always
    // Ctrl or Cmd+Enter sends even where Enter adds a line (a keyboard on a tablet).
    if (!sends() && !event.ctrlKey && !event.metaKey) return;
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
  showMode();
})();
