// What the server tells the scripts, read once: the JSON block #coda-data in the chat page
// (coda/frontend/page_data.py) holds the history limits, the ask-again modes, the export format
// and the strings the scripts show, so none of them is written here a second time. It is data,
// not script, so the page's CSP (scripts from this origin only) still holds.
(() => {
  "use strict";
  const block = document.getElementById("coda-data");
  const data = block ? JSON.parse(block.textContent) : null;
  window.coda = window.coda || {};
  window.coda.data = data;
  // A string of the catalogue in the page's language, its {placeholders} left for the caller.
  window.coda.text = (key) => data?.strings?.[key] ?? "";
})();
