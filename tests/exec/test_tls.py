"""https:// webhook URLs (ngrok and friends): a real TLS server on 127.0.0.1 with a certificate
from a test CA, trusted the standard way (SSL_CERT_FILE), or not trusted at all."""

from __future__ import annotations

import json
import ssl

import pytest
import servers
import trustme
from click.testing import CliRunner
from run_scenarios import TINY

from carbonc.cli import main


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with servers.Server(lambda request, exchange: exchange.send(200, b"ok"), tls=context) as srv:
        yield srv


def run(tmp_path, url: str, monkeypatch, ca_file: str | None):
    scenario = tmp_path / "tiny.carbon"
    scenario.write_text(TINY, encoding="utf-8")
    if ca_file is not None:
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    return CliRunner().invoke(main, ["run", str(scenario), "--webhook-url", url + "/hooks", "--db",
                                     str(tmp_path / "db.duckdb"), "--output", "json"])


def test_an_https_endpoint_with_a_trusted_certificate(tmp_path, monkeypatch, ca, tls_server):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    result = run(tmp_path, tls_server.url, monkeypatch, str(ca_file))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["by_outcome"]["2xx"] == 2 == len(tls_server.requests)
    assert doc["target"] == tls_server.url + "/hooks"
    assert tls_server.requests[0].path == "/hooks"


def test_an_untrusted_certificate_is_a_tls_error_not_a_crash(tmp_path, monkeypatch, tls_server):
    result = run(tmp_path, tls_server.url, monkeypatch, None)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deliveries"]["errors"] == {"tls": 2} and tls_server.requests == []
