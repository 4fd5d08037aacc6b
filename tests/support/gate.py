"""A webhook endpoint that answers a fixed number of requests and holds the rest, so a test knows
exactly how far a run has got while it is still running."""

from __future__ import annotations

import threading

import servers


class Gate:
    """A server that answers the first `open_for` requests 200 and holds every later one
    unanswered until `release()`, or until it closes. `answered` is the bodies answered."""

    def __init__(self, open_for: int):
        self.open_for = open_for
        self.answered: list[bytes] = []
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.server = servers.Server(self._respond)

    def _respond(self, request: servers.Received, exchange: servers.Exchange) -> None:
        with self._lock:
            now = len(self.answered) < self.open_for
            if now:
                self.answered.append(request.body)
        if not now:
            while not self._released.wait(0.05):
                if exchange.wait_closed(0):
                    return
            with self._lock:
                self.answered.append(request.body)
        exchange.send(200, b"ok")

    def release(self) -> None:
        self._released.set()

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> Gate:
        self.server.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.close()
