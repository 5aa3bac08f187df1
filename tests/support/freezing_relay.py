"""A TCP relay between the browser and coda for the one fault a real server cannot produce on
demand: a network that stops carrying packets without a reset.

It relays real traffic both ways. Once armed, the first `POST /chat` response it carries is
forwarded up to the end of its first event of streamed text, and then nothing more on that
connection in either direction, while both sockets stay open: the browser waits on a silent
stream, as behind a dead Wi-Fi or a phone gone out of coverage. Every other connection (pages,
scripts, later posts) is relayed as usual.

Loopback only, and bounded in time: sockets poll with short timeouts, and everything closes when
the `relaying` block ends or `LIFETIME_SECONDS` after it began, whichever is first.
"""

from __future__ import annotations

import re
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

LIFETIME_SECONDS = 180.0
POLL_SECONDS = 0.05
CHAT_POST = b"POST /chat "
# The end of an `<hx-partial>` that appends streamed text to the answer: to its body when it streams
# raw, to its hidden source when it is formatted live (bubbles.py).
TEXT_EVENT = re.compile(rb'-(?:body|source)" hx-swap="beforeend">')
EVENT_END = b"\n\n"


class FreezingRelay:
    """Relays 127.0.0.1:<port> to the target port; freezes one answer's stream when armed."""

    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_SECONDS)
        self.port = int(self._listener.getsockname()[1])
        self._armed = False
        self._lock = threading.Lock()
        self.frozen = threading.Event()  # set once a stream has been frozen
        self._closed = threading.Event()
        self._started = time.monotonic()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self) -> None:
        """Freeze the next answer's stream after its first text."""
        with self._lock:
            self._armed = True
            self.frozen.clear()

    def start(self) -> None:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in list(self._sockets):
            sock.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _over(self) -> bool:
        return self._closed.is_set() or time.monotonic() - self._started > LIFETIME_SECONDS

    def _accept(self) -> None:
        while not self._over():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            self._sockets += [client, upstream]
            thread = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Both directions of one connection, until either side closes or the relay does."""
        watching = False  # this connection carries a POST /chat while the relay is armed
        held = b""  # response bytes looked at for the first text event
        frozen = False
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            while not self._over():
                if frozen:  # silent both ways, sockets open, until the relay closes
                    time.sleep(POLL_SECONDS)
                    continue
                for key, _ in selector.select(POLL_SECONDS):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    sink: socket.socket = key.data
                    try:
                        data = source.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        client.close()
                        upstream.close()
                        return
                    if source is client and CHAT_POST in data:
                        with self._lock:
                            watching = self._armed
                            self._armed = False
                    if source is upstream and watching:
                        held += data
                        cut = self._freeze_point(held)
                        if cut is None:
                            continue
                        data, frozen = held[:cut], True
                        self.frozen.set()
                    try:
                        sink.sendall(data)
                    except OSError:
                        client.close()
                        upstream.close()
                        return
                    if frozen:
                        break

    @staticmethod
    def _freeze_point(held: bytes) -> int | None:
        """Where to stop: just after the first event of streamed text, once it is all here."""
        found = TEXT_EVENT.search(held)
        end = held.find(EVENT_END, found.end()) if found else -1
        return None if end < 0 else end + len(EVENT_END)


@contextmanager
def relaying(target_port: int) -> Iterator[FreezingRelay]:
    """A relay to coda's port on loopback for the block; everything closes when it ends."""
    relay = FreezingRelay(target_port)
    relay.start()
    try:
        yield relay
    finally:
        relay.close()
