"""The webhook client against real misbehaving servers on 127.0.0.1: every kind of failure is an
`Answer` with its own error kind, never an exception, and keep-alive connections are reused."""

from __future__ import annotations

import contextlib
import re
import socket
import threading

import pytest
import servers
import trio
import trio.testing

from carbonc.errors import ExecutionError
from carbonc.exec import transport
from carbonc.exec.transport import (
    MAX_BODY_BYTES,
    SNIPPET_BYTES,
    Connection,
    parse_target,
)

BODY = b'{"event":"payment.captured"}'


def send_all(url: str, count: int = 1, timeout_s: float = 2.0):
    """Send `count` requests over one Connection; return the answers."""

    async def main():
        conn = Connection(parse_target(url))
        try:
            return [await conn.send("POST", {"Content-Type": "application/json"}, BODY, timeout_s)
                    for _ in range(count)]
        finally:
            await conn.aclose()

    return trio.run(main)


def test_keep_alive_reuses_one_connection():
    with servers.lax() as srv:
        answers = send_all(srv.url + "/hooks?x=1", count=20)
        assert [a.status for a in answers] == [200] * 20
        assert all(a.error is None and a.snippet == b"ok" for a in answers)
        assert len(srv.requests) == 20
        assert {r.path for r in srv.requests} == {"/hooks?x=1"}
        assert srv.requests[0].body == BODY
        assert srv.requests[0].headers["content-length"] == str(len(BODY))
        assert srv.connections == 1


@pytest.mark.parametrize(("server", "status", "error"), [
    (lambda: servers.lax(status=503, body=b"busy"), 503, None),
    (lambda: servers.lax(status=400, body=b"bad signature"), 400, None),
    (servers.redirecting, 302, "redirect"),
    (servers.garbage, None, "protocol"),
    (servers.resetting, None, "reset"),
    (lambda: servers.Server(lambda req, ex: ex.send_raw(b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n")),
     None, "protocol"),
    (lambda: servers.Server(lambda req, ex: ex.send_raw(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 200_000)),
     200, "oversized"),
])
def test_misbehaviour_is_an_answer(server, status, error):
    with server() as srv:
        answer, = send_all(srv.url + "/hooks")
    assert (answer.status, answer.error) == (status, error)


def test_a_hanging_endpoint_times_out_at_the_deadline():
    with servers.hanging() as srv:
        answer, = send_all(srv.url + "/hooks", timeout_s=0.3)
        assert (answer.status, answer.error) == (None, "timeout")
        assert 300 <= answer.latency_ms < 2000


def _hangs_on(paths: set[str]) -> servers.Server:
    """Answers 200 at once, but never answers a request to one of `paths`."""

    def respond(request: servers.Received, exchange: servers.Exchange) -> None:
        if request.path in paths:
            exchange.wait_closed()
        else:
            exchange.send(200, b"ok")

    return servers.Server(respond)


def test_a_kept_alive_connection_that_hangs_times_out_at_the_deadline():
    # Over a connection already open (the watchdog's path, not a cancel scope's): the hanging
    # request times out at its deadline, its connection is closed, the next goes out on a new one.
    async def main(url):
        conn = Connection(parse_target(url))
        first = await conn.send("POST", {}, BODY, 2.0)
        conn.target = conn.target._replace(path="/hang")
        hung = await conn.send("POST", {}, BODY, 0.3)
        conn.target = conn.target._replace(path="/hooks")
        after = await conn.send("POST", {}, BODY, 2.0)
        await conn.aclose()
        return first, hung, after

    with _hangs_on({"/hang"}) as srv:
        first, hung, after = trio.run(main, srv.url + "/hooks")
        assert (first.status, first.error) == (200, None)
        assert (hung.status, hung.error) == (None, "timeout")
        assert 300 <= hung.latency_ms < 2000
        assert (after.status, after.error) == (200, None)
        assert srv.connections == 2


def test_each_kept_alive_connection_times_out_at_its_own_deadline():
    # A request with a long deadline in flight does not hold back an earlier one's, made later.
    async def main(url):
        slow, fast = Connection(parse_target(url)), Connection(parse_target(url))
        for conn in (slow, fast):
            assert (await conn.send("POST", {}, BODY, 2.0)).status == 200
            conn.target = conn.target._replace(path="/hang")
        answers = {}

        async def send(name, conn, timeout_s):
            answers[name] = await conn.send("POST", {}, BODY, timeout_s)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(send, "slow", slow, 30.0)
            await trio.sleep(0.05)
            nursery.start_soon(send, "fast", fast, 0.2)
            await trio.sleep(1.5)
            nursery.cancel_scope.cancel()  # the slow one is still waiting: stop it
        for conn in (slow, fast):
            await conn.aclose()
        return answers

    with _hangs_on({"/hang"}) as srv:
        answers = trio.run(main, srv.url + "/hooks")
    assert (answers["fast"].status, answers["fast"].error) == (None, "timeout")
    assert 200 <= answers["fast"].latency_ms < 1000
    assert "slow" not in answers


def test_a_huge_body_is_read_only_up_to_the_bound():
    with servers.huge(size=10 * 1024 * 1024) as srv:
        answer, = send_all(srv.url + "/hooks", timeout_s=5)
    assert answer.status == 200 and answer.error == "oversized"
    assert len(answer.snippet) == SNIPPET_BYTES < MAX_BODY_BYTES


def test_refused_and_unresolvable():
    answer, = send_all(servers.refused_url() + "/hooks")
    assert (answer.status, answer.error) == (None, "refused")
    answer, = send_all("http://no-such-host.invalid/hooks")
    assert (answer.status, answer.error) == (None, "dns")


def test_a_dropped_idle_connection_is_reopened_not_reported():
    # The server closes after every answer without saying so: before the next request the
    # client sees the connection has gone and opens a new one.
    async def main(url):
        conn = Connection(parse_target(url))
        answers = []
        for _ in range(3):
            answers.append(await conn.send("POST", {}, BODY, 2.0))
            await trio.sleep(0.2)  # the server's close arrives while the connection is idle
        await conn.aclose()
        return answers

    with servers.Server(lambda req, ex: (ex.send(200, b"ok"), ex.close_after())) as srv:
        answers = trio.run(main, srv.url)
        assert [(a.status, a.error) for a in answers] == [(200, None)] * 3
        assert len(srv.requests) == 3 and srv.connections == 3


def test_a_connection_known_good_is_reused_unchecked_and_a_silent_close_is_never_resent(monkeypatch):
    # The server closes after every answer without saying so. Reused moments after an answer
    # kept alive, a connection is not checked first: the close costs that request, which fails
    # and is not sent again on a new connection (the handler may have acted on it). From then
    # on every reuse is checked, and the close is seen before a request goes out.
    monkeypatch.setattr(transport, "FRESH_S", 60.0)  # "moments", however slow the machine

    async def main(url):
        conn = Connection(parse_target(url))
        answers = []
        for _ in range(4):
            answers.append(await conn.send("POST", {}, BODY, 2.0))
            await trio.sleep(0.1)  # the server's close arrives
        await conn.aclose()
        return answers

    with servers.Server(lambda req, ex: (ex.send(200, b"ok"), ex.close_after())) as srv:
        answers = trio.run(main, srv.url)
        assert (answers[0].status, answers[0].error) == (200, None)
        assert answers[1].status is None and answers[1].error in ("closed", "reset")
        assert [(a.status, a.error) for a in answers[2:]] == [(200, None)] * 2
        assert len(srv.requests) == 3 and srv.connections == 3


def test_a_request_is_never_sent_twice():
    # The server reads the request, then resets without answering: that attempt failed, and
    # the handler (which may have acted on it) must not get it again behind our back.
    def respond(req, ex):
        if len(srv.requests) == 2:
            ex.reset(b"")
        else:
            ex.send(200, b"ok")

    with servers.Server(respond) as srv:
        answers = send_all(srv.url, count=3)
        assert [(a.status, a.error) for a in answers] == [(200, None), (None, "reset"), (200, None)]
        assert len(srv.requests) == 3


def test_chunked_answers_with_trailers_keep_the_connection_usable():
    def respond(req, ex):
        ex.send_chunked(200, [b"o", b"k"], {"x-checksum": "1"})

    with servers.Server(respond) as srv:
        answers = send_all(srv.url, count=3)
        assert [(a.status, a.error, a.snippet) for a in answers] == [(200, None, b"ok")] * 3
        assert len(srv.requests) == 3 and srv.connections == 1


def test_credentials_in_the_url_are_sent_as_basic_auth():
    with servers.lax() as srv:
        send_all(srv.url.replace("http://", "http://hook%40user:p%3Ass@") + "/in")
        assert srv.requests[0].headers["authorization"] == "Basic aG9va0B1c2VyOnA6c3M="  # hook@user:p:ss


@pytest.mark.parametrize("url", ["ftp://x/", "http://", "http://h/a b", "localhost:8000"])
def test_unusable_urls_are_refused_up_front(url):
    with pytest.raises(ExecutionError):
        parse_target(url)


def test_credentials_in_the_url_are_not_shown():
    target = parse_target("https://user:pa55@hooks.example.com/in?token=abc")
    assert "pa55" not in target.shown and "token" not in target.shown
    assert target.path == "/in?token=abc" and target.port == 443


def test_a_failed_tls_handshake_is_tls(recwarn):
    with servers.lax() as srv:  # plain HTTP behind an https:// URL
        answers = send_all(srv.url.replace("http://", "https://"), count=2)
    assert [(a.status, a.error) for a in answers] == [(None, "tls")] * 2
    assert not [w for w in recwarn if issubclass(w.category, ResourceWarning)]


def test_a_control_character_in_a_header_is_never_written() -> None:
    import pytest as _pytest

    from carbonc.errors import ExecutionError
    from carbonc.exec.transport import Connection, parse_target

    connection = Connection(parse_target("http://127.0.0.1:9/hooks"))
    with _pytest.raises(ExecutionError, match="control character"):
        connection._request("POST", "/hooks", {"x-razorpay-event-id": "evt_x\r\nX-Evil: 1"}, b"{}")
    with _pytest.raises(ExecutionError, match="control character"):
        connection._request("GET", "/orders/a\nb", {}, b"")
    assert b"X-Tab: a\tb\r\n" in connection._request("POST", "/hooks", {"X-Tab": "a\tb"}, b"")


def test_a_dialect_user_agent_replaces_ours() -> None:
    # Stripe names its own User-Agent; before, the request carried two.
    connection = Connection(parse_target("http://127.0.0.1:9/hooks"))
    stripe = connection._request("POST", "/hooks", {"User-Agent": "Stripe/1.0"}, b"{}")
    assert stripe.count(b"User-Agent:") == 1 and b"User-Agent: Stripe/1.0\r\n" in stripe
    assert connection._request("POST", "/hooks", {}, b"{}").count(b"User-Agent: carbonc") == 1


@contextlib.contextmanager
def _reads_late(delay_s: float | None):
    """A server on 127.0.0.1 with a small receive buffer that, once a client connects, reads
    nothing for `delay_s` seconds (None: until the test ends), then reads one whole request and
    answers 200; yields its URL and the body bytes it read."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by the accepted one
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    read: list[int] = []
    done = threading.Event()

    def serve() -> None:
        sock, _ = listener.accept()
        with sock:
            if done.wait(delay_s) or delay_s is None:
                return
            data = bytearray()
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, body = bytes(data).partition(b"\r\n\r\n")
            length, got = int(re.search(rb"Content-Length: (\d+)", head)[1]), len(body)
            while got < length:
                got += len(sock.recv(1 << 20))
            read.append(got)
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            done.wait(5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks", read
    finally:
        done.set()
        thread.join(5)
        listener.close()


_LARGE = b"x" * (16 * 1024 * 1024)  # more than the socket buffers hold: written in several goes


def _send_large(url: str, timeout_s: float) -> transport.Answer:
    async def main():
        conn = Connection(parse_target(url))
        try:
            return await conn.send("POST", {}, _LARGE, timeout_s)
        finally:
            await conn.aclose()

    return trio.run(main)


def test_a_request_too_large_to_write_at_once_is_written_whole_once_the_server_reads():
    with _reads_late(0.3) as (url, read):
        answer = _send_large(url, 20.0)
        assert (answer.status, answer.error) == (200, None)
        assert read == [len(_LARGE)]


def test_a_request_the_server_never_reads_times_out_at_the_deadline():
    with _reads_late(None) as (url, _):
        answer = _send_large(url, 0.5)
    assert (answer.status, answer.error) == (None, "timeout")
    assert 500 <= answer.latency_ms < 3000


def test_requests_posted_in_one_round_are_written_together_after_it():
    # The outbox writes what the workers posted in one round of the scheduler in the next: the
    # receiver is woken once for all of them. A request whose connection closes first (its
    # attempt abandoned or timed out, and recorded) is written as it closes: it went out.
    async def main():
        pairs = [socket.socketpair() for _ in range(4)]
        try:
            streams = [transport._PlainStream(ours) for ours, _ in pairs]
            for stream, n in zip(streams, range(4), strict=True):
                await stream.send_all(b"request %d" % n)  # no checkpoint: still the same round
            theirs = [peer for _, peer in pairs]
            for peer in theirs:
                peer.setblocking(False)
            with pytest.raises(BlockingIOError):
                theirs[0].recv(100)  # not written yet
            await streams[3].aclose()
            assert theirs[3].recv(100) == b"request 3"
            with pytest.raises(BlockingIOError):
                theirs[0].recv(100)  # still not
            await trio.testing.wait_all_tasks_blocked()
            written = [peer.recv(100) for peer in theirs[:3]]
            assert theirs[3].recv(100) == b""  # closed, written once
            for stream in streams[:3]:
                await stream.aclose()
            return written
        finally:
            for ours, peer in pairs:
                ours.close()
                peer.close()

    assert trio.run(main) == [b"request 0", b"request 1", b"request 2"]


class _Refusing(socket.socket):
    """A socket whose writes fail with an error that is not an OSError."""

    def send(self, data, flags=0):
        raise ValueError("not writable")


def test_a_write_that_fails_oddly_fails_its_own_request_and_no_other():
    # The outbox writes for every worker: an unexpected error writing one request is raised in
    # that request's worker, and the other requests of the round are still written.
    async def main():
        (a, a_peer), (b, b_peer) = socket.socketpair(), socket.socketpair()
        odd = transport._PlainStream(_Refusing(fileno=a.detach()))
        fine = transport._PlainStream(b)
        try:
            await odd.send_all(b"first")
            await fine.send_all(b"second")
            with pytest.raises(ValueError, match="not writable"):
                await odd.receive_some(100)
            b_peer.setblocking(False)
            return b_peer.recv(100)
        finally:
            for stream in (odd, fine):
                await stream.aclose()
            a_peer.close()
            b_peer.close()

    assert trio.run(main) == b"second"
