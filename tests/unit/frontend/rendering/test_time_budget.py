"""The time budget stops CPU-bound work where it computes, backtracking expressions included."""

from __future__ import annotations

import contextlib
import gc
import re
import threading
import time

from coda.frontend.rendering.time_budget import OverBudget, enforceable, within_budget

BACKTRACKING = re.compile(r"(a+)+$")  # exponential on "aaaa…!": the textbook catastrophic case


def spin(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def test_work_that_ends_in_time_returns_its_result() -> None:
    assert within_budget(1.0, lambda: "done", lambda: "fallback") == "done"


def test_work_past_its_budget_gives_the_fallback() -> None:
    assert within_budget(0.02, lambda: spin(5), lambda: "fallback") == "fallback"


def test_a_backtracking_regular_expression_is_interrupted_inside_the_engine() -> None:
    text = "a" * 40 + "!"  # about 2**40 steps: hours, if nothing stopped it
    assert within_budget(0.02, lambda: str(BACKTRACKING.match(text)), lambda: "cut") == "cut"


def test_work_that_swallows_the_first_interruption_is_interrupted_again() -> None:
    """As a garbage collector's callback or a `__del__` does: the exception is printed, not
    raised, and the work would otherwise go on unbounded."""

    def swallowing() -> str:
        with contextlib.suppress(OverBudget):
            spin(5)
        return spin(5)

    started = time.monotonic()
    assert within_budget(0.02, swallowing, lambda: "fallback") == "fallback"
    assert time.monotonic() - started < 2


def test_the_garbage_collector_waits_until_the_work_ends() -> None:
    """A full collection of a large heap would count against the work's budget."""
    assert within_budget(1.0, gc.isenabled, lambda: True) is False
    assert gc.isenabled()
    assert within_budget(0.02, lambda: str(spin(5)), lambda: "fallback") == "fallback"
    assert gc.isenabled()


def test_an_inner_budget_falls_back_alone_and_the_outer_work_goes_on() -> None:
    def outer() -> str:
        inner = within_budget(0.02, lambda: spin(5), lambda: "inner cut")
        return f"{inner}, then outer finished"

    assert within_budget(2.0, outer, lambda: "outer cut") == "inner cut, then outer finished"


def test_an_outer_budget_that_runs_out_inside_an_inner_one_is_the_outer_callers() -> None:
    def outer() -> str:
        return within_budget(5.0, lambda: spin(5), lambda: "inner cut")

    assert within_budget(0.02, outer, lambda: "outer cut") == "outer cut"


def test_no_alarm_is_left_behind_after_the_work() -> None:
    within_budget(0.01, lambda: "quick", lambda: "fallback")
    assert spin(0.05) == "finished"  # an alarm left armed would raise here


def test_off_the_main_thread_the_work_runs_unbounded() -> None:
    results: list[object] = []
    thread = threading.Thread(
        target=lambda: results.extend(
            [enforceable(), within_budget(0.001, lambda: spin(0.05), str)]
        )
    )
    thread.start()
    thread.join()
    assert results == [False, "finished"]
