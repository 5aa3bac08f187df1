"""Work beside the request: a greenlet under gunicorn's gevent worker, a thread anywhere else.

Production serves with gevent (gunicorn.conf.py), where the standard library is patched and a
greenlet can be killed where it waits: that is how an answer nobody waits for is cancelled at the
model server at once, even before its first token. The Flask development server and the test client
run plain threads, which cannot be interrupted in a read: there, work checks a flag instead.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable


def cooperative() -> bool:
    """True in a process gevent has patched (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def spawn(run: Callable[[], None], name: str) -> Callable[[], None]:
    """Start `run` beside the request; returns the function that interrupts it.

    Interrupting kills a greenlet where it waits (its `finally` blocks run) and returns once it is
    dead; a thread cannot be interrupted, so there it does nothing.

    `run` sees a copy of the request's context variables: a new greenlet or thread starts with
    none, and whatever follows the request (the trace an answer belongs to) must follow it too.
    """
    context = contextvars.copy_context()

    def in_context() -> None:
        context.run(run)

    if cooperative():
        import gevent

        greenlet = gevent.spawn(in_context)
        greenlet.name = name
        return lambda: greenlet.kill(block=True, timeout=1)
    thread = threading.Thread(target=in_context, name=name, daemon=True)
    thread.start()
    return lambda: None


def pause() -> None:
    """Let every other greenlet run once before going on (nothing outside gevent).

    Work that is linear but long (reading a thousand posted messages, rendering a long
    conversation) calls this between its bounded steps, so it delays the answers streaming beside
    it by one step at most, never by the whole.
    """
    if cooperative():
        import gevent

        gevent.sleep(0)
