"""A lean webhook receiver for the delivery benchmarks: answers every POST with a fixed
`200 OK` on a keep-alive HTTP/1.1 connection, and counts what it received.

    python bench/receiver.py [--port 0] [--host 127.0.0.1]

Prints `listening http://HOST:PORT` on stdout once bound, then serves until SIGTERM or SIGINT.
`GET /_stats` answers `{"requests": N, "bytes": B}`: the POSTs and body bytes seen so far.

It parses only what a benchmark client sends: a request line, headers, and a body sized by
`Content-Length`. A chunked body is answered with 411 and the connection closed, so a client
that sends one fails loudly instead of hanging.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok"
_LENGTH_REQUIRED = b"HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_MAX_HEAD = 64 * 1024


class Stats:
    """Counters shared by every connection: `requests` (POSTs answered) and body `bytes`."""

    def __init__(self) -> None:
        self.requests = 0
        self.bytes = 0

    def as_json(self) -> bytes:
        return json.dumps({"requests": self.requests, "bytes": self.bytes}).encode()


class _Connection(asyncio.Protocol):
    """One client connection: a byte buffer, cut into requests as they complete."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        out: list[bytes] = []
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > _MAX_HEAD:
                    out.append(_BAD_REQUEST)
                    self._finish(out, close=True)
                    return
                break
            head = bytes(self.buf[:end]).lower()
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        out.append(_BAD_REQUEST)
                        self._finish(out, close=True)
                        return
                elif name == b"transfer-encoding" and b"chunked" in value:
                    out.append(_LENGTH_REQUIRED)
                    self._finish(out, close=True)
                    return
                elif name == b"connection" and b"close" in value:
                    close = True
            total = end + 4 + length
            if len(self.buf) < total:
                break
            del self.buf[:total]
            if head.startswith(b"get /_stats"):
                body = self.stats.as_json()
                out.append(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(body), body))
            else:
                if head.startswith(b"post"):
                    self.stats.requests += 1
                    self.stats.bytes += length
                out.append(_OK_CLOSE if close else _OK)
            if close:
                self._finish(out, close=True)
                return
        self._finish(out, close=False)

    def _finish(self, out: list[bytes], *, close: bool) -> None:
        assert self.transport is not None
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()


async def serve(host: str, port: int, stats: Stats, ready=print) -> None:
    """Serve on `host:port` until cancelled or signalled; call `ready(message)` once bound."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(stats), host, port, backlog=1024, reuse_address=True)
    bound = server.sockets[0].getsockname()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready(f"listening http://{bound[0]}:{bound[1]}")
    async with server:
        await stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = ap.parse_args()
    stats = Stats()
    asyncio.run(serve(args.host, args.port, stats, ready=lambda msg: print(msg, flush=True)))
    print(stats.as_json().decode(), flush=True)


if __name__ == "__main__":
    main()
