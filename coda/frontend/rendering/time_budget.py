"""A hard wall-clock budget for CPU-bound work on untrusted text (rendering, highlighting).

Under gunicorn's gevent worker every request shares one thread: a step that computes for a second
stops every answer streaming on the worker for that second, and nothing cooperative can interrupt
it, because it never yields. Some of that work has no useful size bound: a regular expression
that backtracks (Pygments' Scala lexer took 7 s on 37 characters) or a parser that is quadratic
on one shape of input (markdown-it on 32,000 `[` took 2 s). So such work runs under a budget: a
real-time interval timer (`setitimer`) raises `OverBudget` in the computing code when its time is
up, and the caller falls back to something linear (escaped text).

Why a signal works here: CPython runs a Python signal handler between bytecodes, and the regular
expression engine checks for signals every 4,096 steps of a match, so even a backtracking match
stops within microseconds. The handler raises only while a budget is open and only in the thread
that opened it (signals are delivered to the main thread, which is where gevent's worker runs every
greenlet). Off the main thread (Flask's development server, gunicorn's gthread worker) a budget
cannot be enforced: the work then runs unbounded, which stalls nothing but its own thread.

Budgets nest: an inner budget (one code block's highlighting) never outlives the outer one (the
whole answer's rendering), and when the outer runs out inside the inner, the outer's caller is the
one who hears of it.
"""

from __future__ import annotations

import _thread
import gc
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import TypeVar

T = TypeVar("T")


class OverBudget(BaseException):
    """The budget ran out. A BaseException, so that no `except Exception` inside a library (a
    lexer, a parser) can swallow it and go on computing."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__("time budget exceeded")
        self.budget = budget


@dataclass(eq=False)
class _Budget:
    deadline: float
    closed: bool = False  # set first when the work ends: from then on nothing raises for it


# How soon the alarm rings again for a budget whose `OverBudget` did not end the work.
RETRY_SECONDS = 0.005
_open: list[_Budget] = []  # the main thread's open budgets, outermost first


def _native_thread() -> int:
    """The operating system's thread: under gevent, `threading` names each greenlet a thread."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:  # the original function, patched or not
        return int(monkey.get_original("_thread", "get_ident")())
    return _thread.get_ident()


# Imported with the app, on the main thread: the one thread that runs Python signal handlers.
_MAIN_THREAD = _native_thread()


def enforceable() -> bool:
    """True where a budget can stop the work: on the main thread, with interval timers."""
    return _native_thread() == _MAIN_THREAD and hasattr(signal, "setitimer")


def _innermost() -> _Budget | None:
    # A budget whose closing was itself interrupted may linger: closed ones never count.
    _open[:] = [budget for budget in _open if not budget.closed]
    return _open[-1] if _open else None


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    """Raise in whatever is computing for the outermost open budget that is due (an inner budget
    cut short by its outer one ends the outer work, not just the inner)."""
    _innermost()  # drops closed budgets
    now = time.monotonic()
    for budget in _open:
        if now >= budget.deadline - 0.0005:
            # Again soon, in case this one is swallowed: raised inside a garbage collector's
            # callback or a `__del__`, an exception is only printed, and the work goes on.
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
            raise OverBudget(budget)
    _arm()  # a stale alarm (its budget closed meanwhile): wait for the one now due, if any


def _arm() -> None:
    budget = _innermost()
    if budget is None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    # A timer of 0 would disarm it: a budget already spent fires at once instead.
    signal.setitimer(signal.ITIMER_REAL, max(budget.deadline - time.monotonic(), 1e-5))


def within_budget(seconds: float, work: Callable[[], T], fallback: Callable[[], T]) -> T:
    """`work()` if it ends within `seconds` of wall time, else `fallback()`.

    Only this budget running out leads to `fallback`; an enclosing budget that runs out meanwhile
    raises `OverBudget` on to its own caller. `fallback` should be linear in its input (escaping
    text): it runs after the budget. Where budgets cannot be enforced (`enforceable()` is false),
    `work()` simply runs.

    The garbage collector waits until the work ends: a full collection of a large heap can
    outlast a budget of a few tens of milliseconds (seen in the test process), and a budget
    measures the work's own time, not the collector's.
    """
    if not enforceable():
        return work()
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _bounded(seconds, work, fallback)
    finally:
        if collecting:
            gc.enable()


def _bounded(seconds: float, work: Callable[[], T], fallback: Callable[[], T]) -> T:
    if signal.getsignal(signal.SIGALRM) is not _on_alarm:
        try:
            signal.signal(signal.SIGALRM, _on_alarm)
        except ValueError:  # not the main thread after all: nothing can interrupt the work here
            return work()
    outer = _innermost()
    deadline = time.monotonic() + seconds
    budget = _Budget(deadline if outer is None else min(deadline, outer.deadline))
    _open.append(budget)
    try:
        try:
            _arm()
            return work()
        finally:
            budget.closed = True
    except OverBudget as exc:
        if exc.budget is not budget:
            raise
        return fallback()
    finally:
        _arm()
