// The buttons under the conversation (#turn-actions): regenerate the last answer, edit the last
// question, continue an answer cut at the length limit, export. Whether the last answer can be
// continued is the server's to say: it renders `data-offers="continue"` on that bubble.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { chat, conversations } = window.coda;
  const { state } = chat;
  const field = (id) => document.getElementById(id);
  const actions = field("turn-actions");
  const regenerateButton = field("regenerate");
  const editButton = field("edit-last");
  const continueButton = field("continue");
  const textarea = field("message");

  function lastTurn(role) {
    return [...state.current.turns].reverse().find((turn) => turn.role === role);
  }

  // What the last stored turn's bubble offers, as the server rendered it.
  function offered(turn) {
    const [bubble] = turn ? chat.bubblesOf([turn.id]) : [];
    return (bubble?.dataset.offers || "").split(" ");
  }

  function update() {
    const turns = state.current.turns;
    const last = turns[turns.length - 1];
    actions.hidden = !turns.length;
    regenerateButton.disabled = editButton.disabled = continueButton.disabled = Boolean(state.pending);
    regenerateButton.hidden = !lastTurn("user");
    editButton.hidden = !lastTurn("user");
    continueButton.hidden = !(last?.role === "assistant" && offered(last).includes("continue"));
  }

  function ask(kind) {
    if (state.pending) return;
    chat.setMode(kind);
    form.requestSubmit();
  }

  regenerateButton.addEventListener("click", () => ask("regenerate"));
  continueButton.addEventListener("click", () => ask("continue"));
  editButton.addEventListener("click", () => {
    if (state.pending) return;
    const question = lastTurn("user");
    if (!question) return;
    chat.setMode("edit");
    textarea.value = question.content;
    textarea.focus();
  });
  field("export-json").addEventListener("click", () => conversations.exportJSON(state.current));
  field("export-markdown").addEventListener("click", () => conversations.exportMarkdown(state.current));

  chat.onChange(update);
})();
