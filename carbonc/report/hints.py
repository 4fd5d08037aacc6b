"""What to look at for each kind of delivery error (the `error` column of `deliveries`)."""

from __future__ import annotations

#: error kind -> the first thing to check. docs/run.md tables what each kind means.
ERROR_HINTS: dict[str, str] = {
    "refused": "nothing listens at the webhook URL's port: is the handler running?",
    "dns": "the webhook URL's host name does not resolve: check its spelling",
    "connect": "the connection could not be made: a firewall, or the wrong address?",
    "tls": "the TLS handshake failed: does the certificate verify (SSL_CERT_FILE for a local CA)?",
    "timeout": "no complete answer before the deadline: is the handler slow or stuck? (--timeout)",
    "reset": "the connection was reset: did the handler crash mid-request?",
    "closed": "the connection closed before any answer: did the handler crash or drop it?",
    "protocol": "the answer is not HTTP: is the URL pointing at the right service?",
    "redirect": "the handler answered with a redirect, which gateways do not follow: give the final URL",
    "oversized": "the answer's body is larger than 64 KiB: a webhook answer needs no body",
    "app": "the ASGI app raised an exception: see its log",
    "abandoned": "a second Ctrl-C stopped waiting for the answer; the handler may still have acted on it",
}


def error_hint(error: str) -> str:
    """The hint for `error`, or a pointer to the docs for a kind this version does not know."""
    return ERROR_HINTS.get(error, "see the error kinds in docs/run.md")
