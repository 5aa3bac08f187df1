// The copy button of each code block in an answer (`div.code-block > button.copy-code + pre`,
// rendered by the server): the code goes to the clipboard, and the button says so for a moment.
// Served over plain HTTP on a LAN address the page has no Clipboard API (browsers keep it for
// HTTPS and loopback), so the older copy command does it; where neither can, the button says so.
(() => {
  "use strict";
  const { text } = window.coda;
  const SHOWN_MS = 1500;
  const FAILED_MS = 4000;

  // The older way: select the text in a hidden box and ask for a copy, within the click.
  function copyByCommand(code) {
    const box = document.createElement("textarea");
    box.value = code;
    box.readOnly = true;
    box.className = "visually-hidden";
    document.body.appendChild(box);
    box.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    box.remove();
    return copied;
  }

  async function copy(code) {
    if (navigator.clipboard?.writeText) {
      try {
        await navigator.clipboard.writeText(code);
        return true;
      } catch {
        // refused (no permission, or the page lost focus): the older way may still work
      }
    }
    return copyByCommand(code);
  }

  function tell(button, message, ms) {
    button.dataset.label ??= button.textContent;
    button.textContent = message || button.dataset.label;
    clearTimeout(button.codaTimer);
    button.codaTimer = setTimeout(() => { button.textContent = button.dataset.label; }, ms);
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest?.(".copy-code");
    if (!button) return;
    const code = button.parentElement.querySelector("pre")?.textContent || "";
    const copied = await copy(code);
    button.focus();
    if (copied) tell(button, text("copied"), SHOWN_MS);
    else tell(button, text("copy_failed"), FAILED_MS);
  });
})();
