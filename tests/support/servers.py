"""Real HTTP/1.1 servers on 127.0.0.1 for the executor's tests: one factory per way a merchant's
webhook endpoint behaves, each server recording every request exactly as it arrived.

    >>> with strict("stripe", SECRETS["stripe"]) as srv:
    ...     invoke(["run", ..., "--webhook-url", srv.url + "/hooks"])
    ...     assert [r.path for r in srv.requests] == ["/hooks"] * 19

A `Server` runs one thread per connection (keep-alive: many requests on each) and hands every
complete request to a respond strategy, which answers it through an `Exchange`. Leaving the
`with` block releases every connection, hanging ones included, and joins every thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import NamedTuple

import h11
from dialect_helpers import verify

from carbonc.dialects import PROVIDERS, Request

_HOST = "127.0.0.1"
_RECV_SIZE = 65_536
#: How long `close` waits for the server's threads before calling them leaked.
_CLOSE_TIMEOUT_S = 1.0


class Received(NamedTuple):
    """One request as it arrived: `method`, `path` (the request target), `headers` (names
    lowercased, a repeated header's values joined with ", ") and the exact `body` bytes."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Exchange:
    """What a respond strategy can do on the connection a request came in on. The connection
    stays open for the next request only after a complete `send` the client may keep alive;
    after anything else the server closes it."""

    def __init__(self, sock: socket.socket, conn: h11.Connection, closing: threading.Event):
        self._sock = sock
        self._conn = conn
        self._closing = closing
        self.hang_up = False

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Answer `status` with `body` and `headers`."""
        response = h11.Response(status_code=status, reason=_reason(status), headers=[
            ("content-type", "text/plain"), ("content-length", str(len(body))), *(headers or {}).items()])
        # One write per response: a head and body written apart would meet Nagle's algorithm and
        # the client's delayed ACK, and wait 40 ms each.
        self._sock.sendall(b"".join(self._conn.send(e) for e in (response, h11.Data(data=body), h11.EndOfMessage())))

    def send_chunked(self, status: int, chunks: list[bytes], trailers: dict[str, str]) -> None:
        """Answer `status` with a chunked body and trailer fields, keeping the connection open."""
        events = [h11.Response(status_code=status, reason=_reason(status),
                               headers=[("transfer-encoding", "chunked")]),
                  *(h11.Data(data=c) for c in chunks), h11.EndOfMessage(headers=list(trailers.items()))]
        self._sock.sendall(b"".join(self._conn.send(e) for e in events))

    def send_raw(self, data: bytes) -> None:
        """Write `data` as it is, HTTP or not."""
        self._sock.sendall(data)

    def reset(self, partial: bytes) -> None:
        """Write `partial`, then have the close abort the connection with a TCP reset."""
        self._sock.sendall(partial)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close_after(self) -> None:
        """Close the connection after this answer without saying so (no `Connection: close`),
        as servers do with idle keep-alive connections."""
        self.hang_up = True

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the server closes (True) or `timeout` seconds pass (False)."""
        return self._closing.wait(timeout)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


#: Answers one received request.
Respond = Callable[[Received, Exchange], None]


class Server:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records each request in `requests` and lets
    `respond` answer it. Entering binds an ephemeral port, shown in `url`, and starts serving;
    leaving shuts every connection down and joins every thread. A malformed request gets a 400
    and the connection closed; a client that goes away mid-answer is no error."""

    def __init__(self, respond: Respond, tls: ssl.SSLContext | None = None):
        self._respond = respond
        self._tls = tls
        self._requests: list[Received] = []
        self._arrived = threading.Condition()
        self._closing = threading.Event()
        self._lock = threading.Lock()  # guards _open and _threads
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.url = ""
        #: Connections accepted so far.
        self.connections = 0

    def __enter__(self) -> Server:
        self._listener = socket.create_server((_HOST, 0))
        host, port = self._listener.getsockname()
        self.url = f"{'https' if self._tls else 'http'}://{host}:{port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"server {self.url}", daemon=True)
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, in order of arrival."""
        with self._arrived:
            return list(self._requests)

    def wait_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The requests received so far, once there are at least `count`. Raises TimeoutError
        after `timeout` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests arrived at {self.url}")
            return list(self._requests)

    def close(self) -> None:
        """Stop accepting, release every connection and join every thread. Raises RuntimeError
        if a thread is still running after a second."""
        if self._listener is None or self._closing.is_set():
            return
        deadline = time.monotonic() + _CLOSE_TIMEOUT_S
        self._closing.set()
        # A connection wakes the acceptor, which sees `_closing` and stops; joining it first means
        # no connection is registered after the shutdowns below.
        with contextlib.suppress(OSError):
            socket.create_connection(self._listener.getsockname(), timeout=_CLOSE_TIMEOUT_S).close()
        self._acceptor.join(_CLOSE_TIMEOUT_S)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):  # wakes the connection's thread in recv or sendall
                    sock.shutdown(socket.SHUT_RDWR)
            threads = [self._acceptor, *self._threads]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        running = [t.name for t in threads if t.is_alive()]
        if running:
            raise RuntimeError(f"server threads still running after close: {running}")

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._closing.is_set():
                sock.close()
                return
            thread = threading.Thread(target=self._serve, args=(sock,), name=f"connection {self.url}", daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
                self._open.add(sock)
                self.connections += 1
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self._tls is not None:
                # The handshake happens here, on the connection's thread; the raw socket stays
                # registered for `close` to shut down.
                conn = self._tls.wrap_socket(sock, server_side=True)
                self._converse(conn)
                return
            self._converse(sock)
        except OSError:
            pass  # the client reset or closed the connection, or the server is closing it
        finally:
            # Forgotten before it is closed, so `close` never shuts down a descriptor reused since.
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def _converse(self, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        exchange = Exchange(sock, conn, self._closing)
        while True:
            try:
                received = _read_request(sock, conn)
            except h11.RemoteProtocolError:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    exchange.send(400, b"malformed request", {"connection": "close"})
                return
            if received is None:
                return
            with self._arrived:
                self._requests.append(received)
                self._arrived.notify_all()
            self._respond(received, exchange)
            if exchange.hang_up or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()


def _read_request(sock: socket.socket, conn: h11.Connection) -> Received | None:
    """The next complete request on the connection, or None once the client has closed it."""
    head: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(sock.recv(_RECV_SIZE))
            continue
        match event:
            case h11.Request():
                head = event
            case h11.Data():
                body += event.data
            case h11.EndOfMessage():
                assert head is not None
                return _received(head, bytes(body))
            case _:
                return None


def _received(head: h11.Request, body: bytes) -> Received:
    # Latin-1 maps every byte to one character, so the wire bytes survive decoding unchanged.
    headers: dict[str, str] = {}
    for name, value in head.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Received(head.method.decode("latin-1"), head.target.decode("latin-1"), headers, body)


class _Headers(dict[str, str]):
    """Lowercased header names looked up in any case, as a web framework hands headers to a
    handler: the verifiers ask for `X-Razorpay-Signature`, `Stripe-Signature`, `Authorization`."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: str | None = None) -> str | None:
        return super().get(name.lower(), default)


def lax(status: int = 200, body: bytes = b"ok") -> Server:
    """Answers every request `status` with `body`."""
    return Server(lambda request, exchange: exchange.send(status, body))


def strict(provider: str, secret: str, previous: str | None = None, tolerance_s: int | None = None) -> Server:
    """Answers 200 to a request that `provider`'s official SDK verifies with `secret`, or with
    `previous` when given (a handler mid-rotation), and 400 to any other.

    With `tolerance_s`, a request whose signed time is more than that many seconds old is refused
    too: Stripe's SDK takes the tolerance; Standard Webhooks' fixes its own at 5 minutes and
    Cashfree's checks none, so for them the server checks the signed header's age itself after
    the SDK has verified the signature, as a handler that guards against replays does."""
    dialect = PROVIDERS[provider]  # `mock` signs as razorpay does
    secrets = [secret] if previous is None else [secret, previous]

    def fresh(headers: _Headers) -> bool:
        if tolerance_s is None or dialect == "stripe":
            return True
        if dialect not in ("standard", "cashfree"):
            return True  # nothing is timestamped
        value = headers.get("webhook-timestamp" if dialect == "standard" else "x-webhook-timestamp") or ""
        if not value.isdigit():
            return False
        signed_at = int(value) if dialect == "standard" else int(value) / 1000
        return time.time() - signed_at <= tolerance_s

    def respond(request: Received, exchange: Exchange) -> None:
        signed = Request(request.method, _Headers(request.headers), request.body)
        if fresh(signed.headers) and any(verify(dialect, signed, s, tolerance_s=tolerance_s) for s in secrets):
            exchange.send(200, b"ok")
        else:
            exchange.send(400, b"signature verification failed")

    return Server(respond)


def flaky(failures: int = 2, status: int = 503) -> Server:
    """Answers `status` to the first `failures` deliveries of each event, then 200. An event is
    known by its body, which a retry repeats byte for byte."""
    deliveries: Counter[bytes] = Counter()
    lock = threading.Lock()

    def respond(request: Received, exchange: Exchange) -> None:
        with lock:
            event = hashlib.sha256(request.body).digest()
            deliveries[event] += 1
            failing = deliveries[event] <= failures
        if failing:
            exchange.send(status, b"unavailable")
        else:
            exchange.send(200, b"ok")

    return Server(respond)


def hanging() -> Server:
    """Reads each request and never answers, until the server closes."""
    return Server(lambda request, exchange: exchange.wait_closed())


def resetting() -> Server:
    """Reads each request, writes the start of a response, then resets the connection."""
    return Server(lambda request, exchange: exchange.reset(b"HTTP/1.1 200 O"))


def garbage() -> Server:
    """Answers each request with bytes that are not HTTP, then closes the connection."""
    return Server(lambda request, exchange: exchange.send_raw(b"\x00\xffnot http at all\r\n\r\n"))


def redirecting(location: str = "/elsewhere", status: int = 302) -> Server:
    """Answers every request `status` with a `Location: location` header."""
    return Server(lambda request, exchange: exchange.send(status, b"", {"location": location}))


def huge(size: int = 10 * 1024 * 1024) -> Server:
    """Answers every request 200 with a body of `size` bytes."""
    body = b"x" * size
    return Server(lambda request, exchange: exchange.send(200, body))


def slow(delay_s: float) -> Server:
    """Answers every request 200 after `delay_s` seconds (or never, if the server closes first)."""

    def respond(request: Received, exchange: Exchange) -> None:
        if not exchange.wait_closed(delay_s):
            exchange.send(200, b"ok")

    return Server(respond)


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        port = sock.getsockname()[1]
    return f"http://{_HOST}:{port}"
