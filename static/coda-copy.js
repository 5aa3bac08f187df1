// The copy button of each code block in an answer (`div.code-block > button.copy-code + pre`,
// rendered by the server): the code goes to the clipboard, and the button says so for a moment.
(() => {
  "use strict";
  const { text } = window.coda;
  const SHOWN_MS = 1500;

  document.addEventListener("click", (event) => {
    const button = event.target.closest?.(".copy-code");
    if (!button) return;
    const code = button.parentElement.querySelector("pre")?.textContent || "";
    navigator.clipboard?.writeText(code).then(() => {
      const label = button.textContent;
      button.textContent = text("copied") || label;
      setTimeout(() => { button.textContent = label; }, SHOWN_MS);
    });
  });
})();
