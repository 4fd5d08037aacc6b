"""The test servers themselves, driven by plain sockets and http.client (never by the HTTP client
the executor uses): each behaviour, keep-alive, verification by the official SDKs, and a clean
close even with clients still connected."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
from urllib.parse import urlsplit

import msgspec
import pytest
from dialect_helpers import DIALECTS, PREVIOUS, SECRETS, rendered_events, world
from servers import (
    Server,
    flaky,
    garbage,
    hanging,
    huge,
    lax,
    redirecting,
    refused_url,
    resetting,
    slow,
    strict,
)

from carbonc.dialects import PROVIDERS, Secrets, build_request, get_dialect

# A server thread that dies of an exception fails the test instead of printing a warning.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")

INDEX, MESSAGES = world()


def _connect(srv: Server, timeout: float = 5.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(urlsplit(srv.url).netloc, timeout=timeout)


def _post(srv: Server, body: bytes = b"{}", headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    """POST `body` on a fresh connection: the status, headers and body of the answer."""
    conn = _connect(srv)
    try:
        conn.request("POST", "/hooks", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def _raw_socket(srv: Server, data: bytes, timeout: float = 2.0) -> socket.socket:
    """A socket connected to `srv` that has sent `data`."""
    split = urlsplit(srv.url)
    sock = socket.create_connection((split.hostname, split.port), timeout=timeout)
    sock.sendall(data)
    return sock


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


_REQUEST = b"POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


# lax and the shared core

def test_lax_records_exactly_what_arrived() -> None:
    body = b'{"event":"payment.captured","amount":250000}'
    with lax() as srv:
        status, _, answer = _post(srv, body, {"X-Razorpay-Signature": "abc", "Content-Type": "application/json"})
    assert (status, answer) == (200, b"ok")
    [received] = srv.requests
    assert received.method == "POST"
    assert received.path == "/hooks"
    assert received.body == body
    assert received.headers["x-razorpay-signature"] == "abc"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["content-length"] == str(len(body))
    assert all(name == name.lower() for name in received.headers)


def test_lax_answers_the_status_and_body_asked_for() -> None:
    with lax(status=418, body=b"teapot") as srv:
        status, headers, answer = _post(srv)
    assert (status, answer, headers["content-length"]) == (418, b"teapot", "6")


def test_a_repeated_header_is_joined() -> None:
    with lax() as srv:
        sock = _raw_socket(srv, b"POST / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n"
                                b"Connection: close\r\n\r\n")
        with sock:
            assert _read_to_eof(sock).startswith(b"HTTP/1.1 200 ")
    assert srv.requests[0].headers["x-a"] == "1, 2"


def test_keep_alive_serves_every_request_on_one_connection() -> None:
    with lax() as srv:
        conn = _connect(srv)
        conn.connect()
        first = conn.sock
        for n in range(50):
            conn.request("POST", f"/hooks/{n}", body=f'{{"n":{n}}}'.encode())
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b"ok")
            assert conn.sock is first, f"the server closed the connection after request {n}"
        conn.close()
    assert [r.path for r in srv.requests] == [f"/hooks/{n}" for n in range(50)]
    assert [r.body for r in srv.requests] == [f'{{"n":{n}}}'.encode() for n in range(50)]


def test_lax_keeps_up_with_a_keep_alive_client() -> None:
    """The executor's tests send thousands of requests on one connection. It manages about
    4,000 a second; the floor is lower so a busy machine passes, yet far above the 25 a second
    it would manage with a response's head and body written apart (Nagle and delayed ACKs)."""
    count = 1_000
    with lax() as srv:
        conn = _connect(srv)
        started = time.perf_counter()
        for _ in range(count):
            conn.request("POST", "/hooks", body=b"{}")
            conn.getresponse().read()
        elapsed = time.perf_counter() - started
        conn.close()
    assert len(srv.requests) == count
    assert elapsed < count / 1_000, f"{count / elapsed:.0f} requests/s"


def test_requests_are_recorded_from_concurrent_connections() -> None:
    with lax() as srv:
        def send(worker: int) -> None:
            conn = _connect(srv)
            for n in range(25):
                conn.request("POST", "/hooks", body=f"{worker}:{n}".encode())
                conn.getresponse().read()
            conn.close()

        workers = [threading.Thread(target=send, args=(w,)) for w in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert sorted(r.body for r in srv.requests) == sorted(f"{w}:{n}".encode() for w in range(8) for n in range(25))


def test_a_malformed_request_gets_400_and_a_close() -> None:
    with lax() as srv:
        with _raw_socket(srv, b"NOT HTTP AT ALL\r\n\r\n") as sock:
            answer = _read_to_eof(sock)
        assert answer.startswith(b"HTTP/1.1 400 ")
        assert b"connection: close" in answer.lower()
        assert srv.requests == []
        assert _post(srv)[0] == 200


def test_wait_requests_times_out_with_what_arrived() -> None:
    with lax() as srv:
        _post(srv)
        assert len(srv.wait_requests(1)) == 1
        with pytest.raises(TimeoutError, match="1 of 2 requests arrived"):
            srv.wait_requests(2, timeout=0.05)


# strict

_STRICT_CASES = [pytest.param(p, o, id=i) for i, p, o in [*DIALECTS, ("mock", "mock", {})]]


def _render(provider: str, options: dict, mode: str, previous: str | None = None):
    dialect_name = PROVIDERS[provider]
    dialect = get_dialect(provider, **options)
    event = rendered_events(provider, options)[0]
    message = msgspec.structs.replace(MESSAGES[event], signature=mode)
    # The SDKs check timestamps against the wall clock, so this is sent now.
    return build_request(dialect, message, INDEX, secrets=Secrets(SECRETS[dialect_name], previous=previous),
                  now_ms=int(time.time() * 1000))


@pytest.mark.parametrize(("provider", "options"), _STRICT_CASES)
@pytest.mark.parametrize(("mode", "expected"), [("valid", 200), ("corrupted", 400)])
def test_strict_answers_by_the_official_verifier(provider, options, mode, expected) -> None:
    request = _render(provider, options, mode)
    with strict(provider, SECRETS[PROVIDERS[provider]]) as srv:
        status, _, _ = _post(srv, request.body, request.headers)
    assert status == expected
    [received] = srv.requests
    assert received.body == request.body
    assert {k.lower(): v for k, v in request.headers.items()}.items() <= received.headers.items()


_ROTATING_CASES = [pytest.param(p, o, id=i) for i, p, o in DIALECTS if "old_secret" in get_dialect(p, **o).modes]


@pytest.mark.parametrize(("provider", "options"), _ROTATING_CASES)
def test_strict_mid_rotation_accepts_the_previous_secret(provider, options) -> None:
    request = _render(provider, options, "old_secret", previous=PREVIOUS[provider])
    with strict(provider, SECRETS[provider], previous=PREVIOUS[provider]) as rotating:
        assert _post(rotating, request.body, request.headers)[0] == 200
    with strict(provider, SECRETS[provider]) as rotated:
        assert _post(rotated, request.body, request.headers)[0] == 400


def test_strict_finds_headers_whatever_their_case() -> None:
    """HTTP header names are case-insensitive: a lowercased signature header still verifies."""
    request = _render("razorpay", {}, "valid")
    lowered = {k.lower(): v for k, v in request.headers.items()}
    with strict("razorpay", SECRETS["razorpay"]) as srv:
        assert _post(srv, request.body, lowered)[0] == 200


# flaky

def test_flaky_fails_each_event_the_first_times_it_arrives() -> None:
    with flaky(failures=2, status=503) as srv:
        answers = [_post(srv, body)[0] for body in (b"a", b"a", b"b", b"a", b"b", b"b", b"a")]
    assert answers == [503, 503, 503, 200, 503, 200, 200]
    assert [hashlib.sha256(r.body).hexdigest() for r in srv.requests] == \
        [hashlib.sha256(b).hexdigest() for b in (b"a", b"a", b"b", b"a", b"b", b"b", b"a")]


def test_flaky_keeps_the_connection_open_between_failures() -> None:
    with flaky(failures=1, status=500) as srv:
        conn = _connect(srv)
        statuses = []
        for _ in range(3):
            conn.request("POST", "/hooks", body=b"same")
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
    assert statuses == [500, 200, 200]


# hanging, and closing with clients connected

def test_hanging_never_answers_and_closes_within_a_second() -> None:
    before = set(threading.enumerate())
    with hanging() as srv:
        sock = _raw_socket(srv, _REQUEST, timeout=0.2)
        srv.wait_requests(1)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        started = time.monotonic()
        srv.close()
        assert time.monotonic() - started < 1.0
    sock.settimeout(1.0)
    with sock:
        assert sock.recv(1) == b""  # closed without an answer
    assert set(threading.enumerate()) == before
    assert srv.requests[0].body == b"{}"


def test_close_releases_an_idle_keep_alive_client() -> None:
    with lax() as srv:
        conn = _connect(srv)
        conn.request("POST", "/hooks", body=b"{}")
        conn.getresponse().read()
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    conn.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_close_leaks_no_thread_or_socket() -> None:
    threads, fds = set(threading.enumerate()), set(os.listdir("/proc/self/fd"))
    with hanging() as srv:
        clients = [_raw_socket(srv, _REQUEST) for _ in range(5)]
        srv.wait_requests(5)
    for client in clients:
        client.close()
    assert set(threading.enumerate()) == threads
    assert set(os.listdir("/proc/self/fd")) == fds
    with pytest.raises(ConnectionRefusedError):
        _post(srv)


# resetting, garbage, redirecting

def test_resetting_writes_part_of_a_response_then_resets() -> None:
    with resetting() as srv, _raw_socket(srv, _REQUEST) as sock:
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := sock.recv(1024):
                received += chunk
    assert b"HTTP/1.1 200 O".startswith(received)
    assert len(srv.requests) == 1


def test_garbage_answers_bytes_that_are_not_http() -> None:
    with garbage() as srv:
        with _raw_socket(srv, _REQUEST) as sock:
            assert _read_to_eof(sock) == b"\x00\xffnot http at all\r\n\r\n"
        with pytest.raises(http.client.BadStatusLine):
            _post(srv)
    assert len(srv.requests) == 2


def test_redirecting_answers_a_location() -> None:
    with redirecting("/moved", status=307) as srv:
        status, headers, _ = _post(srv)
    assert (status, headers["location"]) == (307, "/moved")


# huge, slow

def test_huge_sends_the_whole_body() -> None:
    with huge() as srv:
        status, headers, body = _post(srv)
    assert (status, headers["content-length"], len(body)) == (200, str(10 * 1024 * 1024), 10 * 1024 * 1024)


def test_huge_survives_clients_that_stop_reading() -> None:
    with huge() as srv:
        for _ in range(3):
            with _raw_socket(srv, _REQUEST) as sock:
                assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
        assert _post(srv)[0] == 200
        srv.wait_requests(4)


def test_slow_answers_after_the_delay() -> None:
    with slow(0.2) as srv:
        started = time.monotonic()
        status, _, _ = _post(srv)
        elapsed = time.monotonic() - started
    assert status == 200
    assert 0.2 <= elapsed < 1.0


def test_slow_is_released_by_close() -> None:
    with slow(60) as srv:
        sock = _raw_socket(srv, _REQUEST)
        srv.wait_requests(1)
        started = time.monotonic()
    assert time.monotonic() - started < 1.0
    with sock:
        assert _read_to_eof(sock) == b""


# refused

def test_refused_url_refuses() -> None:
    split = urlsplit(refused_url())
    assert split.hostname == "127.0.0.1"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((split.hostname, split.port), timeout=1).close()
