// Whether the turn in flight still hears from the server. The server writes something at least
// once a heartbeat period (text, a notice, or a `heartbeat` event); a network that drops without
// a reset leaves the socket open and silent, so after `lost_after_seconds` with nothing at all the
// turn ends as a lost connection, its partial text kept and offered to continue (coda-stream.js).
// A tab in the background has its timers slowed or frozen: when it runs again (or is shown), the
// server gets one more heartbeat period to be heard before the turn is called lost. A post that
// never reached the server says so, and its text is back in the box.
(() => {
  "use strict";
  const form = document.getElementById("chat-form");
  if (!form) return;
  const { chat, stream, data, text } = window.coda;
  const { state } = chat;
  const status = document.getElementById("connection-status");
  const TICK_MS = 1000;
  const SLEPT_MS = 3 * TICK_MS; // a tick this late: the page was asleep, not the network
  const lostAfterMs = data.stream.lost_after_seconds * 1000;
  const graceMs = Math.min(lostAfterMs, data.stream.heartbeat_seconds * 1000 + 2 * TICK_MS);
  let watched = null; // {turn, deadline, swapped}: the turn in flight
  let timer = null;
  let lastTick = 0;

  function say(message) {
    status.textContent = message;
    status.hidden = !message;
  }

  // Something arrived: the stream lives for another `lost_after_seconds` at least.
  function heard() {
    if (watched) watched.deadline = Date.now() + lostAfterMs;
  }

  // The page ran again after a sleep: whatever the clock says, the server gets its chance.
  function woke() {
    if (watched) watched.deadline = Math.max(watched.deadline, Date.now() + graceMs);
  }

  function check() {
    const now = Date.now();
    const slept = now - lastTick > SLEPT_MS;
    lastTick = now;
    if (!watched || state.pending !== watched.turn) return;
    if (slept) woke();
    else if (now > watched.deadline) stream.lose();
  }

  form.addEventListener("htmx:before:request", (event) => {
    if (event.target !== form || !state.pending) return;
    say("");
    watched = { turn: state.pending, deadline: Date.now() + lostAfterMs, swapped: false };
    lastTick = Date.now();
    clearInterval(timer);
    timer = setInterval(check, TICK_MS);
  });

  // Every message of the stream, heartbeats included (the page never sees SSE comments).
  form.addEventListener("htmx:sse:before:message", heard);
  form.addEventListener("htmx:after:swap", () => {
    if (watched) watched.swapped = true;
  });

  form.addEventListener("htmx:finally:request", (event) => {
    if (event.target !== form || !watched) return;
    const { turn, swapped } = watched;
    watched = null;
    clearInterval(timer);
    // Nothing came back at all (offline, the server unreachable, or lost before it answered).
    if (!turn.started && !turn.stopped && !swapped) say(text("unreachable"));
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") woke();
  });
  // The page came back from the back/forward cache or a frozen state: the same as waking.
  window.addEventListener("pageshow", woke);
  document.addEventListener("resume", woke);
})();
