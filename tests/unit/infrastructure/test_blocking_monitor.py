"""gevent's monitor, as the worker turns it on: a greenlet that holds the loop is one warning log
line with its stack, and one count."""

from __future__ import annotations

import logging
import time

import gevent
import pytest

from coda.infrastructure import blocking_monitor


def hold_the_loop() -> None:
    end = time.monotonic() + 0.35
    while time.monotonic() < end:
        pass


def test_a_greenlet_holding_the_loop_is_logged_with_its_stack_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    counted: list[int] = []
    stop = blocking_monitor.start(100, on_report=lambda: counted.append(1))
    try:
        with caplog.at_level(logging.WARNING, logger="coda.blocking"):
            gevent.spawn(hold_the_loop).get()
            gevent.sleep(0.05)  # the report is handed to the loop, which logs it now
    finally:
        stop()
    reports = [r for r in caplog.records if "event loop blocked" in r.getMessage()]
    assert reports
    assert "hold_the_loop" in reports[0].stack  # type: ignore[attr-defined]
    assert len(counted) == len(reports)
