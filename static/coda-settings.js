// A conversation's settings in the form: the preset and its choices, temperature, answer length
// and model. The server renders every preset's fields; this shows the chosen preset's (the
// others are disabled, so the form never sends them) and reads or applies a conversation's
// settings. The server checks every value again, whatever the page sends.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const presetSelect = document.getElementById("preset");
  const temperature = document.getElementById("temperature");
  const maxTokens = document.getElementById("max-tokens");
  const modelPicker = document.getElementById("model"); // only when there is a choice
  const MODEL_KEY = "coda.model.v1"; // the model picked last, for new conversations
  const listeners = [];

  function fieldsets() {
    return form.querySelectorAll("fieldset.preset-fields");
  }

  function presetOption() {
    return presetSelect.selectedOptions[0] || presetSelect.options[0];
  }

  // Show the chosen preset's fields; with `defaults`, also its temperature and answer length.
  function showPreset(defaults) {
    for (const set of fieldsets()) {
      const chosen = set.dataset.preset === presetSelect.value;
      set.hidden = !chosen;
      set.disabled = !chosen;
    }
    if (defaults) {
      const option = presetOption();
      temperature.value = option.dataset.temperature ?? temperature.dataset.default;
      maxTokens.value = option.dataset.maxTokens ?? maxTokens.dataset.default;
    }
  }

  function activeFields() {
    const set = form.querySelector(`fieldset.preset-fields[data-preset="${CSS.escape(presetSelect.value)}"]`);
    return set ? Array.from(set.querySelectorAll("[data-field]")) : [];
  }

  // What a conversation keeps: choices, not what was typed in a text field (the code box).
  function read() {
    const fields = {};
    for (const input of activeFields()) {
      if (!input.hasAttribute("data-text-field")) fields[input.dataset.field] = input.value;
    }
    return {
      preset: presetSelect.value,
      fields,
      temperature: temperature.value,
      max_tokens: maxTokens.value,
      model: modelPicker ? modelPicker.value : "",
    };
  }

  function preferredModel() {
    try {
      return localStorage.getItem(MODEL_KEY);
    } catch {
      return null; // storage disabled: the page's default model it is
    }
  }

  function offers(select, value) {
    return value != null && Array.from(select.options).some((option) => option.value === value);
  }

  // A conversation's settings; anything this page no longer offers falls back to its default.
  function apply(settings) {
    const saved = settings || {};
    presetSelect.value = offers(presetSelect, saved.preset) ? saved.preset : presetSelect.options[0].value;
    showPreset(true);
    for (const input of activeFields()) {
      if (input.hasAttribute("data-text-field")) continue;
      const value = saved.fields?.[input.dataset.field];
      input.value = offers(input, value) ? value : input.dataset.default;
    }
    if (saved.temperature !== undefined && saved.temperature !== "") temperature.value = saved.temperature;
    if (saved.max_tokens !== undefined && saved.max_tokens !== "") maxTokens.value = saved.max_tokens;
    if (modelPicker) {
      const model = saved.model || preferredModel();
      if (offers(modelPicker, model)) modelPicker.value = model;
    }
  }

  // Empty the text fields once their text has been sent, as the message box is.
  function clearTexts() {
    for (const input of form.querySelectorAll("[data-text-field]")) input.value = "";
  }

  function changed() {
    const settings = read();
    for (const listener of listeners) listener(settings);
  }

  presetSelect.addEventListener("change", () => {
    showPreset(true);
    changed();
  });
  form.addEventListener("change", (event) => {
    if (event.target === presetSelect || event.target.hasAttribute?.("data-text-field")) return;
    if (event.target === modelPicker) {
      try {
        localStorage.setItem(MODEL_KEY, modelPicker.value);
      } catch {
        // as above: the choice holds for this conversation only
      }
    }
    if (event.target.closest?.(".composer-settings, fieldset.preset-fields")) changed();
  });

  window.coda = window.coda || {};
  window.coda.settings = {
    read,
    apply,
    clearTexts,
    onChange: (listener) => listeners.push(listener),
  };
})();
