"""The drain tells every open answer once, with one deadline for all."""

from __future__ import annotations

from coda.frontend.streaming.draining import Draining


def test_begin_sets_one_deadline_and_wakes_each_open_answer_once() -> None:
    now = [100.0]
    draining = Draining(3.0, clock=lambda: now[0])
    woken: list[str] = []

    with (
        draining.listening(lambda: woken.append("a")),
        draining.listening(lambda: woken.append("b")),
    ):
        assert draining.deadline is None
        draining.begin()
        now[0] = 101.0
        draining.begin()

    assert draining.deadline == 103.0
    assert sorted(woken) == ["a", "b"]


def test_an_answer_that_ended_is_not_woken() -> None:
    draining = Draining(3.0)
    woken: list[str] = []

    with draining.listening(lambda: woken.append("gone")):
        pass
    draining.begin()

    assert woken == []
