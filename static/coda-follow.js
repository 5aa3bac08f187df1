// Following an answer as it streams: the newest text stays in view only while the reader is at the
// bottom of the page. Scrolling up by wheel, touch, keys or the scroll bar stops following at once;
// reaching the bottom again, sending, or the "jump to the latest" button (shown while away) resumes
// it. The answer's final swap follows the same rule, so a reader who scrolled up stays put.
(() => {
  "use strict";
  const jump = document.getElementById("jump-latest");
  if (!jump) return;
  const composer = document.getElementById("chat-form");
  const NEAR_PX = 48; // this close to the bottom counts as being at it
  const UP_KEYS = new Set(["PageUp", "ArrowUp", "Home"]);
  const page = document.scrollingElement || document.documentElement;
  let following = true;
  let lastTop = page.scrollTop;

  function atBottom() {
    return page.scrollHeight - page.scrollTop - page.clientHeight <= NEAR_PX;
  }

  // Shown while away from the bottom, centred just above the message box.
  function showJump() {
    jump.hidden = following || atBottom();
    if (jump.hidden || !composer) return;
    const box = composer.getBoundingClientRect();
    jump.style.left = `${box.left + box.width / 2}px`;
    jump.style.bottom = `${window.innerHeight - box.top + 8}px`;
  }

  function leave() {
    following = false;
    showJump();
  }

  // Follow again from here: the bottom of the page, at once.
  function start() {
    following = true;
    page.scrollTop = page.scrollHeight;
    showJump();
  }

  // After a piece of the answer came in.
  function update() {
    if (following) page.scrollTop = page.scrollHeight;
    showJump();
  }

  window.addEventListener("wheel", (event) => { if (event.deltaY < 0) leave(); }, { passive: true });
  window.addEventListener("touchmove", leave, { passive: true });
  document.addEventListener("keydown", (event) => {
    if (UP_KEYS.has(event.key) && !event.target.closest?.("textarea, input, select")) leave();
  });
  // The scroll bar, and anything else that moves the page: up is away, the bottom is back.
  window.addEventListener("scroll", () => {
    const top = page.scrollTop;
    if (atBottom()) following = true;
    else if (top < lastTop) following = false;
    lastTop = top;
    showJump();
  }, { passive: true });
  jump.addEventListener("click", start);

  window.coda.follow = { start, update };
})();
