"""Sends one webhook request and says what came back: a lean HTTP/1.1 client over trio streams,
one keep-alive connection per worker, and an in-process ASGI target.

Why not one shared `httpx.AsyncClient`: its connection pool rechecks every idle connection per
request and races freed connections between waiters, which cost ~1.3 ms of CPU per request at
50 connections; a worker that owns its connection spends a fraction of that. httpx stays for
ASGI apps (its ASGI transport) and for everything that is not the webhook firehose.

An endpoint that misbehaves is an `Answer` with an error kind, never an exception:

    refused   nothing listens on the port            dns       the host name does not resolve
    connect   any other failure to connect           tls       the TLS handshake failed
    timeout   no complete answer before the deadline reset     the connection was reset
    closed    the connection closed before an answer protocol  the answer is not HTTP
    redirect  a 3xx (not followed, as gateways do)   oversized the body exceeded what is read
    app       the ASGI app raised
(and, from the executor, `abandoned`: a second Ctrl-C stopped waiting for the answer)
"""

from __future__ import annotations

import base64
import errno
import math
import re
import select
import socket
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import suppress
from typing import Any, NamedTuple, Protocol, TypeVar, cast
from urllib.parse import unquote, urlsplit

import trio

from carbonc.errors import ExecutionError

#: Bytes of a response body kept as its snippet.
SNIPPET_BYTES = 1024
#: Bytes of a response body read at most; past this the connection is closed, not drained.
MAX_BODY_BYTES = 64 * 1024
_USER_AGENT = "carbonc-webhooks/1"
#: How long after an answer kept alive its connection is reused without checking that the server
#: has not closed it meanwhile; shorter than any server's idle timeout by far.
FRESH_S = 0.05
_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: .*)?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: An ASGI application (`--app module:attr`): called with the connection's scope, and `receive`
#: and `send` for its event messages (plain dicts: ASGI gives them no narrower type).
ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[MutableMapping[str, Any]]],
     Callable[[MutableMapping[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


class Answer(NamedTuple):
    """What one attempt got: an HTTP `status` (None if there was none), the first bytes of the
    body, an error kind (see the module docstring), and the time taken in milliseconds."""

    status: int | None
    snippet: bytes | None
    error: str | None
    latency_ms: float


class Fetched(NamedTuple):
    """A whole answer, for probes of a merchant's state API: status (None if there was none), its
    header fields (names in lower case), the body (up to the connection's `max_body`), and an
    error kind as in `Answer`."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None


class Target(NamedTuple):
    """Where webhooks go, parsed once: scheme, host, port, the request target (path and query),
    the Host header, and the URL as shown (without credentials)."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    shown: str
    auth: str | None = None

    def __repr__(self) -> str:
        return f"Target({self.shown!r})"


def parse_target(url: str) -> Target:
    """Parse a webhook URL; raise ExecutionError for one that cannot be sent to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ExecutionError(f"invalid webhook URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        # Never quote the URL itself, nor what looks like a scheme: `alice:pw@host` is a user
        # name, then a password, with the scheme missing.
        shown = f"`{parts.scheme}://`" if parts.scheme and "://" in url else "no scheme"
        raise ExecutionError(f"the webhook URL must start with http:// or https:// (it has {shown})")
    if not parts.hostname:
        raise ExecutionError("the webhook URL has no host")
    if not _valid_host(parts.hostname):
        raise ExecutionError("the webhook URL's host is not a valid host name (an empty or over-long label?)")
    default = 443 if parts.scheme == "https" else 80
    port = port or default
    host = parts.hostname
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port == default else f"{bracketed}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c <= " " or c == "\x7f" for c in path) or not path.isascii():
        raise ExecutionError("the webhook URL's path must be percent-encoded (no spaces or control characters)")
    # Credentials in the URL are sent as Basic auth (a handler behind one expects them), and
    # never shown or stored; neither is the query, which often carries a token.
    auth = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    shown = f"{parts.scheme}://{host_header}{parts.path or '/'}"
    return Target(parts.scheme, host, port, path, host_header, shown, auth)


def _valid_host(host: str) -> bool:
    """An IP address, or a name whose labels IDNA can encode (1 to 63 characters each)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        host.encode("idna")
    except UnicodeError:
        return False
    return all(0 < len(label) <= 63 for label in host.rstrip(".").split("."))


class Connection:
    """One keep-alive HTTP/1.1 connection to `target`, reopened as needed. One request at a time."""

    def __init__(self, target: Target, ssl_context: ssl.SSLContext | None = None, max_body: int = MAX_BODY_BYTES):
        self.target, self._ssl, self.max_body = target, ssl_context, max_body
        self._stream: _Stream | None = None
        self._poller: select.poll | None = None
        self._bodiless = False
        self._buffer = b""
        self._served = 0
        #: Until when the connection is known good (see `_exchange`), and whether that shortcut
        #: is off: this server once closed a connection it had just kept alive.
        self._fresh_until = -math.inf
        self._always_check = False
        self._host = f"Host: {target.host_header}\r\n".encode("latin-1")
        self._head = self._host + f"User-Agent: {_USER_AGENT}\r\n".encode("latin-1")

    async def send(self, method: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Answer:
        """Send one request and read the answer, all within `timeout_s`."""
        start = trio.current_time()
        status, data, _, error = await self._exchange(method, self.target.path, headers, body, start + timeout_s,
                                                      now=start)
        snippet = data[:SNIPPET_BYTES] if status is not None else None
        return Answer(status, snippet, error, (trio.current_time() - start) * 1000)

    async def fetch(self, method: str, path: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Fetched:
        """Send one request to `path` on the target's host and read the whole answer, headers
        included, within `timeout_s`."""
        status, data, fields, error = await self._exchange(method, path, headers, body,
                                                           trio.current_time() + timeout_s)
        return Fetched(status, {k.decode("latin-1"): v.decode("latin-1") for k, v in fields.items()}, data, error)

    async def _exchange(self, method: str, path: str, headers: dict[str, str], body: bytes, deadline: float,
                        now: float | None = None) -> tuple[int | None, bytes, dict[bytes, bytes], str | None]:
        unchecked = False
        if self._stream is not None:
            if (trio.current_time() if now is None else now) < self._fresh_until and not self._always_check:
                # Known good: its last answer was read whole, kept alive, moments ago. A server
                # closes an idle connection after seconds (nginx 75, uvicorn 5, gunicorn 2), so
                # the check below (a system call per request) is skipped.
                unchecked = True
            elif not self._idle_and_open():
                # The server closed this keep-alive connection while it was idle: reopen it rather
                # than lose the request to a connection that is already gone. (Once a request is
                # written it is never sent again: the handler may have acted on it.)
                await self.aclose()
        if self.target.auth and not any(k.lower() == "authorization" for k in headers):
            headers = {**headers, "Authorization": self.target.auth}
        self._bodiless = method == "HEAD"  # its answer has a Content-Length but no body
        answer = await self._attempt(self._request(method, path, headers, body), deadline)
        if unchecked and answer[0] is None and answer[3] in ("closed", "reset"):
            # The server closed the connection right after keeping it alive, without saying so:
            # that request is lost (and recorded so), and from now on every reuse is checked.
            self._always_check = True
        return answer

    def _idle_and_open(self) -> bool:
        """Whether the idle connection is still open: nothing to read on it, not even an EOF."""
        if self._poller is None:
            return True
        return not self._poller.poll(0)  # readable while idle: an EOF, or bytes nobody asked for

    async def aclose(self) -> None:
        if self._stream is not None:
            stream, self._stream, self._buffer = self._stream, None, b""
            self._poller, self._fresh_until = None, -math.inf
            with (trio.CancelScope(shield=True), trio.move_on_after(1),
                  suppress(trio.BrokenResourceError, OSError, ssl.SSLError, trio.ClosedResourceError)):
                await stream.aclose()

    def _request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        # Our own headers, written directly: the dialects produce them, so there is nothing to
        # validate, and h11's per-header checks cost more than the rest of a request.
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        # The one check kept on this path: a control character in a name or value (an ID from a
        # hand-edited plan, say) would write a header of its own.
        if _CONTROL.search("".join(headers) + "".join(headers.values()) + path):
            raise ExecutionError("a request header or path holds a control character: refused, not sent")
        try:
            # A dialect that names its own User-Agent (Stripe's) sends that one alone.
            head = self._host if "User-Agent" in headers else self._head
            return b"".join((f"{method} {path} HTTP/1.1\r\n".encode("latin-1"), head,
                             f"Content-Length: {len(body)}\r\n{lines}\r\n".encode("latin-1"), body))
        except UnicodeEncodeError:
            raise ExecutionError("a request header holds a character HTTP cannot carry (not Latin-1): "
                                 "refused, not sent") from None

    async def _attempt(self, request: bytes, deadline: float) -> tuple[int | None, bytes, dict[bytes, bytes],
                                                                     str | None]:
        status: int | None = None
        error: str | None = None
        body = b""
        fields: dict[bytes, bytes] = {}
        keep = False
        stream = self._stream
        if isinstance(stream, _PlainStream):
            # An open plain connection: its deadline is kept by the run's watchdog rather than a
            # cancel scope of its own, which cost ~6 µs of CPU per request.
            deadlines = Deadlines.current()
            deadlines.arm(stream, deadline)
            try:
                await stream.send_all(request)
                status, body, fields, keep, error = await self._response()
            except (_Failure, trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError) as exc:
                error = "timeout" if stream.expired else _failure_kind(exc)
            finally:
                deadlines.disarm(stream)
            # A stream the watchdog woke is closed, answered or not; so is one answered before its
            # request was written whole (the bytes read were not that request's answer).
            keep = keep and not stream.expired and stream.settled
        else:
            # A new connection (or TLS): connecting and the handshake run under a cancel scope.
            with trio.move_on_at(deadline) as scope:
                try:
                    stream = stream if stream is not None else await self._open()
                    await stream.send_all(request)
                    status, body, fields, keep, error = await self._response()
                except (_Failure, trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
                    error = _failure_kind(exc)
            if scope.cancelled_caught:
                error, keep = "timeout", False
        if keep and not self._buffer:  # bytes beyond the answer: the connection is not in step
            self._served += 1
            self._fresh_until = trio.current_time() + FRESH_S
        else:
            await self.aclose()
        return status, body, fields, error

    async def _open(self) -> _Stream:
        """Connect (and shake hands, for https); the new stream is also the connection's."""
        t = self.target
        try:
            tcp = await trio.open_tcp_stream(t.host, t.port)
        except (socket.gaierror, UnicodeError):  # UnicodeError: a host IDNA cannot encode
            raise _Failure("dns") from None
        except OSError as exc:
            raise _Failure(_connect_error(exc)) from None
        stream: _Stream
        if t.scheme == "https":
            tls = trio.SSLStream(tcp, self._ssl or ssl.create_default_context(), server_hostname=t.host,
                                 https_compatible=True)
            try:
                await tls.do_handshake()
            except BaseException:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(tcp)
                raise
            stream = tls
            fileno = tcp.socket.fileno()
        else:
            stream = _PlainStream(socket.socket(fileno=tcp.socket.detach()))
            fileno = stream.socket.fileno()
        self._poller = select.poll()
        self._poller.register(fileno, select.POLLIN)
        self._stream, self._buffer, self._served = stream, b"", 0
        return stream

    async def _response(self) -> tuple[int, bytes, dict[bytes, bytes], bool, str | None]:
        """Read one response: (status, body up to `max_body`, header fields, whether the
        connection can be reused, an error kind for a redirect or an oversized body)."""
        while True:
            head = await self._until(b"\r\n\r\n", first=True)
            status, http11, fields = _parse_head(head)
            if status >= 200:
                break  # 1xx answers precede the real one
        keep = http11 and fields.get(b"connection", b"").lower() != b"close"
        error = "redirect" if 300 <= status < 400 else None
        if status in (204, 304) or self._bodiless:
            return status, b"", fields, keep, error
        if fields.get(b"transfer-encoding", b"").lower().endswith(b"chunked"):
            body, complete = await self._chunked()
        elif b"content-length" in fields:
            if not fields[b"content-length"].isdigit():
                raise _Failure("protocol")
            length = int(fields[b"content-length"])
            wanted = min(length, self.max_body)
            if len(self._buffer) >= wanted:  # the usual case: the answer came in one read
                body, self._buffer = self._buffer[:wanted], self._buffer[wanted:]
            else:
                body = await self._exactly(wanted)
            complete = length <= self.max_body
        else:  # the body runs until the server closes
            body, complete = await self._to_close()
            keep = False
        if not complete:
            error, keep = error or "oversized", False
        return status, body, fields, keep, error

    async def _receive(self) -> bytes | bytearray:
        # Only ever called while an answer is read, on the stream the request went out on.
        return await cast(_Stream, self._stream).receive_some(65536)

    async def _until(self, marker: bytes, *, first: bool = False) -> bytes:
        """Bytes up to `marker` (consumed, not returned)."""
        while True:
            at = self._buffer.find(marker)
            if at >= 0:
                found, self._buffer = self._buffer[:at], self._buffer[at + len(marker):]
                return found
            if len(self._buffer) > MAX_BODY_BYTES:
                raise _Failure("protocol")
            data = await self._receive()
            if not data:
                raise _Failure("closed" if first and not self._buffer else "protocol")
            self._buffer += data

    async def _exactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            data = await self._receive()
            if not data:
                raise _Failure("protocol")
            self._buffer += data
        found, self._buffer = self._buffer[:n], self._buffer[n:]
        return found

    async def _chunked(self) -> tuple[bytes, bool]:
        body = b""
        while True:
            size_line = (await self._until(b"\r\n")).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _Failure("protocol") from None
            if size == 0:
                while await self._until(b"\r\n"):  # trailer fields, up to the empty line
                    pass
                return body, True
            if len(body) + size > self.max_body:
                return body, False
            body += await self._exactly(size)
            if await self._exactly(2) != b"\r\n":
                raise _Failure("protocol")

    async def _to_close(self) -> tuple[bytes, bool]:
        """The body up to the server's close: (body, whether it was all read)."""
        while len(self._buffer) <= self.max_body:
            data = await self._receive()
            if not data:
                body, self._buffer = self._buffer, b""
                return body, True
            self._buffer += data
        body, self._buffer = self._buffer[:self.max_body], b""
        return body, False


def _parse_head(head: bytes) -> tuple[int, bool, dict[bytes, bytes]]:
    """A response's head: its status, whether it is HTTP/1.1, and its header fields (names in
    lower case); `_Failure("protocol")` if it is not HTTP."""
    end = head.find(b"\r\n")
    match = _STATUS_LINE.fullmatch(head if end < 0 else head[:end])
    if match is None:
        raise _Failure("protocol")
    status = int(match[2])
    if not 100 <= status <= 599:
        raise _Failure("protocol")
    fields: dict[bytes, bytes] = {}
    if end >= 0:
        for line in head[end + 2:].split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise _Failure("protocol")
            fields[name.lower()] = value.strip()
    return status, match[1] == b"1", fields


class _Stream(Protocol):
    """What a connection reads and writes: a `_PlainStream`, or a `trio.SSLStream` over trio's own."""

    async def send_all(self, data: bytes) -> None: ...

    async def receive_some(self, max_bytes: int) -> bytes | bytearray: ...

    async def aclose(self) -> None: ...


class _PlainStream:
    """A connected TCP socket, written and read directly: trio's socket stream checks for
    conflicting use, tries every read before waiting for it (a wasted system call, as the answer
    is never there yet) and checkpoints twice per call, ~17 µs of CPU per request in all.

    A request is not written when it is sent but posted to the run's `Outbox`, which writes
    everything posted in one round of trio's scheduler together, right after it."""

    def __init__(self, sock: socket.socket):
        sock.setblocking(False)
        self.socket = sock
        #: When the request in flight times out (`Deadlines`), and whether it has.
        self.deadline = math.inf
        self.expired = False
        #: The request posted to the outbox, not yet written; what the outbox could not write
        #: (the socket's buffer was full), for `receive_some` to finish; why writing it failed.
        self._posted: bytes | None = None
        self._unsent = b""
        self._failed: Exception | None = None

    def expire(self) -> None:
        """The request in flight is past its deadline: a wait on the socket, now or next, raises
        `_Failure("timeout")`; the connection is then closed, never reused."""
        self.expired = True
        trio.lowlevel.notify_closing(self.socket)

    async def send_all(self, data: bytes) -> None:
        if self.expired:
            raise _Failure("timeout")
        self._posted, self._unsent, self._failed = data, b"", None
        Outbox.current().post(self)

    def write_posted(self) -> None:
        """Write the posted request (the outbox calls this): in one system call, as it fits the
        socket's buffer; what does not fit, or a failure, is left for `receive_some`."""
        data, self._posted = self._posted, None
        if data is None:
            return  # written already (`aclose` writes a request still posted)
        try:
            sent = self.socket.send(data)
            if sent < len(data):
                self._unsent = data[sent:]
        except BlockingIOError:
            self._unsent = data
        except Exception as exc:  # noqa: BLE001 - the worker raises it: the outbox serves every stream
            self._failed = exc
        if self._unsent or self._failed is not None:
            # Wakes the task waiting for the answer (it waits to read), to finish or fail.
            trio.lowlevel.notify_closing(self.socket)

    @property
    def settled(self) -> bool:
        """Whether the request in flight has been written whole (not still posted, or partly)."""
        return self._posted is None and not self._unsent

    async def receive_some(self, max_bytes: int) -> bytes:
        while True:
            await self._wait_readable()
            try:
                return self.socket.recv(max_bytes)
            except BlockingIOError:
                continue

    async def _wait_readable(self) -> None:
        while True:
            await self._finish_sending()
            if self.expired:
                raise _Failure("timeout")
            try:
                await trio.lowlevel.wait_readable(self.socket)
                return
            except trio.ClosedResourceError:
                if self.expired:
                    raise _Failure("timeout") from None
                if self._failed is None and not self._unsent:
                    raise

    async def _finish_sending(self) -> None:
        """Write what the outbox could not, or raise why it failed."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        while self._unsent:
            if self.expired:
                raise _Failure("timeout")
            try:
                sent = self.socket.send(self._unsent)
                self._unsent = self._unsent[sent:]
            except BlockingIOError:
                try:
                    await trio.lowlevel.wait_writable(self.socket)
                except trio.ClosedResourceError:
                    if self.expired:
                        raise _Failure("timeout") from None
                    raise

    async def aclose(self) -> None:
        # A request still in the outbox is written first: its attempt is recorded (abandoned
        # by a second Ctrl-C, or timed out), and a recorded attempt is one that went out.
        with suppress(Exception):
            self.write_posted()
        trio.lowlevel.notify_closing(self.socket)
        self.socket.close()
        await trio.lowlevel.checkpoint()


class Outbox:
    """The run's writer of plain connections' requests: the requests posted during one round of
    trio's scheduler (each worker that read an answer renders and posts its next request) are
    written together in the next one, by one task.

    Why: a request written to a receiver that sleeps wakes it, and on this machine the wake-up
    (charged to the writing process) cost more CPU than the rest of the write (a run of 20,000
    deliveries to nginx on 127.0.0.1: 7% of all its CPU in `sock_def_readable`). Written in a
    burst, the requests find the receiver awake after the first. A request waits at most the
    rest of its round, which the time it took is measured over (`latency_ms`)."""

    def __init__(self) -> None:
        self._posted: list[_PlainStream] = []
        self._ready = trio.Event()

    @classmethod
    def current(cls) -> Outbox:
        """This trio run's outbox, started on first use."""
        return _of_this_run(_OUTBOX, cls, lambda outbox: outbox._write, "carbonc request outbox")

    def post(self, stream: _PlainStream) -> None:
        self._posted.append(stream)
        self._ready.set()

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            posted, self._posted = self._posted, []
            for stream in posted:
                stream.write_posted()


_OUTBOX: trio.lowlevel.RunVar[Outbox] = trio.lowlevel.RunVar("carbonc_outbox")


class _Failure(Exception):
    def __init__(self, kind: str):
        self.kind = kind


def _failure_kind(exc: BaseException) -> str:
    """The error kind (see the module docstring) of what an exchange raised."""
    if isinstance(exc, _Failure):
        return exc.kind
    if isinstance(exc, trio.BrokenResourceError):
        return "tls" if isinstance(exc.__cause__, ssl.SSLError) else "reset"
    if isinstance(exc, trio.ClosedResourceError):
        return "closed"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    return _connect_error(exc)


class Deadlines:
    """The run's watchdog over plain connections' deadlines: one task that sleeps until the
    earliest deadline of the requests in flight and wakes the stream of any request past it
    (`_PlainStream.expire`), instead of a cancel scope per request. A request arms its stream
    with its deadline and disarms it when it is done; only an earlier deadline than the one
    the watchdog sleeps to reschedules it."""

    def __init__(self) -> None:
        self._armed: dict[_PlainStream, None] = {}
        self._wake = math.inf
        self._sleep = trio.CancelScope()

    @classmethod
    def current(cls) -> Deadlines:
        """This trio run's watchdog, started on first use."""
        return _of_this_run(_DEADLINES, cls, lambda deadlines: deadlines._watch, "carbonc request deadlines")

    def arm(self, stream: _PlainStream, deadline: float) -> None:
        stream.deadline = deadline
        self._armed[stream] = None
        if deadline < self._wake:
            self._wake = self._sleep.deadline = deadline

    def disarm(self, stream: _PlainStream) -> None:
        stream.deadline = math.inf
        self._armed.pop(stream, None)  # gone already if the watchdog expired it

    async def _watch(self) -> None:
        while True:
            now = trio.current_time()
            wake = math.inf
            for stream in list(self._armed):
                if stream.deadline <= now:
                    stream.expire()
                    del self._armed[stream]
                else:
                    wake = min(wake, stream.deadline)
            self._wake = wake
            with trio.CancelScope(deadline=wake) as self._sleep:
                await trio.sleep_forever()


_DEADLINES: trio.lowlevel.RunVar[Deadlines] = trio.lowlevel.RunVar("carbonc_deadlines")
_Helper = TypeVar("_Helper")


def _of_this_run(var: trio.lowlevel.RunVar[_Helper], make: Callable[[], _Helper],
                 task: Callable[[_Helper], Callable[[], Awaitable[None]]], name: str) -> _Helper:
    """The trio run's one `var`: on first use, made, and its `task` started as a system task
    (which lives as long as the run)."""
    try:
        return var.get()
    except LookupError:
        made = make()
        var.set(made)
        trio.lowlevel.spawn_system_task(task(made), name=name)
        return made


def _connect_error(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    if getattr(exc, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    # trio.open_tcp_stream folds every address's failure into one OSError whose cause is an
    # ExceptionGroup holding the real ones.
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup):
        kinds = {_connect_error(inner) for inner in cause.exceptions}
        return "refused" if kinds == {"refused"} else "connect"
    return "connect"


class AppConnection:
    """An ASGI app called in-process through httpx's ASGI transport (`--app module:attr`)."""

    def __init__(self, app: ASGIApp, path: str = "/webhooks"):
        import httpx

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://app")
        self._path = path

    async def send(self, method: str, headers: dict[str, str], body: bytes, timeout_s: float) -> Answer:
        import httpx

        start = trio.current_time()
        status = snippet = error = None
        with trio.move_on_after(timeout_s) as scope:
            try:
                request = self._client.build_request(method, self._path, headers=headers, content=body)
                response = await self._client.send(request, stream=True)
                try:
                    status, data = response.status_code, b""
                    async for chunk in response.aiter_raw():
                        data += chunk
                        if len(data) > MAX_BODY_BYTES:
                            error = "oversized"
                            break
                    snippet = data[:SNIPPET_BYTES]
                finally:
                    await response.aclose()
                if 300 <= status < 400:
                    error = "redirect"
            except httpx.HTTPError:
                error = "protocol"
            except Exception:  # noqa: BLE001 - the app's own bug is a finding about the app, not ours
                error = "app"
        if scope.cancelled_caught:
            error = "timeout"
        return Answer(status, snippet, error, (trio.current_time() - start) * 1000)

    async def aclose(self) -> None:
        await self._client.aclose()
