"""Fixtures for the real-gateway tests: localstripe, a stateful Stripe emulator, started on
127.0.0.1 on a free port for each test module that asks for it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

#: Starts localstripe's own app on 127.0.0.1 only (its command line listens on every interface)
#: and keeps its objects in memory (it would write them to a fixed file in /tmp).
_LAUNCH = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def localstripe() -> Iterator[str]:
    """The base URL of a fresh localstripe."""
    pytest.importorskip("localstripe", reason="localstripe (the Stripe emulator, in the test extra) is not installed")
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", _LAUNCH, str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/v1/customers", headers={"Authorization": "Bearer sk_test_probe"}, timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"localstripe did not start: {process.stderr.read().decode()[-2000:] if process.stderr else ''}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()
