"""Reports of a greenlet that held gevent's event loop too long (`CODA_BLOCKING_REPORT_MS`).

Under the gevent worker, a request that computes without yielding stops every other request on
its worker, streams and probes included (issue 17 found a highlighter and a JSON pre-check doing
it for seconds). gevent ships a monitor thread that notices when no greenlet switch happened for
`max_blocking_time` and raises an `EventLoopBlocked` event with the stack of the greenlet that ran.
This turns it on and makes each report one warning log line with that stack, and a count in
`coda_event_loop_blocked_total`, so that the next case of the kind is found by the tests (which
run with it on and fail on any report) or seen in production, not felt by users.

The event arrives on the monitor's own native thread, which must not take gevent's locks (the
logging and metrics code does); it is handed to the event loop, which logs it as soon as the
blocking greenlet lets go.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("coda.blocking")


def start(threshold_ms: int, on_report: Callable[[], None] | None = None) -> Callable[[], None]:
    """Watch this process's event loop; a report after `threshold_ms` of no switching.

    `on_report` is called (in the event loop) once per report: the metrics counter. Returns the
    function that stops watching.
    """
    import gevent
    from gevent import events

    gevent.config.max_blocking_time = threshold_ms / 1000
    gevent.config.print_blocking_reports = False  # the log line below says it, once
    gevent.config.monitor_thread = True
    hub = gevent.get_hub()

    def on_event(event: Any) -> None:
        if not isinstance(event, events.EventLoopBlocked):
            return
        stack = "\n".join(str(line) for line in event.info)
        blocked_ms = round(event.blocking_time * 1000)

        def report() -> None:
            logger.warning(
                "event loop blocked for more than %d ms",
                blocked_ms,
                extra={"blocked_ms": blocked_ms, "stack": stack},
            )
            if on_report is not None:
                on_report()

        hub.loop.run_callback_threadsafe(report)

    events.subscribers.append(on_event)
    # The monitor stops for good at its first look if the hub has not run yet (a greenlet that
    # never started counts as false): let it run once first.
    gevent.sleep(0)
    with warnings.catch_warnings():  # "install psutil" to watch memory too: not what this is for
        warnings.simplefilter("ignore")
        monitor = hub.start_periodic_monitoring_thread()

    def stop() -> None:
        events.subscribers.remove(on_event)
        monitor.kill()
        hub.periodic_monitoring_thread = None

    return stop
