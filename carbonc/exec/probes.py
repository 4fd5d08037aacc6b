"""Probes the merchant's own state API once the deliveries have settled: renders each probe's
request (sandboxed Jinja2 templates) for every entity it selected, sends it with bounded
concurrency and a deadline per request (never retried), and judges the answer against what the
gateway knows — polling within a probe's `eventually` window, for merchants that queue webhooks.

A state API that misbehaves is a failed probe with its reason, never an exception:

    request   the templates did not render to a valid request   timeout  no answer in time
    connect   the request could not be sent                     json     the answer is not JSON
    field     a field the expectation reads is missing          value    the values cannot be compared

Header values given with `--probe-header` are sent but never recorded or shown.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import msgspec
import trio

from carbonc.domain.values import EvalError
from carbonc.errors import ExecutionError
from carbonc.exec.facts import GatewayFacts
from carbonc.exec.transport import ASGIApp, Connection, Fetched, parse_target
from carbonc.plan.judge import Unmeasured, condition_text, evaluate_expr
from carbonc.plan.records import Probe

if TYPE_CHECKING:
    from jinja2 import Template

#: Bytes of a state API's answer read at most; a larger answer is judged on none of it.
MAX_ANSWER_BYTES = 1 << 20
#: Characters of an answer kept in a failed probe's row.
SNIPPET_CHARS = 300
#: First wait between polls of an `eventually` probe, and the longest.
_POLL_FIRST_S, _POLL_MAX_S = 0.1, 1.0


class ProbeOptions(msgspec.Struct, kw_only=True):
    """Where and how to probe: `base` (the state API's origin; None with an in-process app),
    `headers` to add to every request (secrets: never recorded), the concurrency, the deadline
    of one request, and whether to `skip` probing."""

    base: str | None = None
    headers: dict[str, str] = {}
    concurrency: int = 20
    timeout_s: float = 10.0
    #: Send no probe: each is recorded as not judged (to test the webhook endpoint alone).
    skip: bool = False

    def __repr__(self) -> str:  # never show header values
        return f"ProbeOptions(base={self.base!r}, headers={sorted(self.headers)}, concurrency={self.concurrency})"


class EntityResult(msgspec.Struct, kw_only=True):
    """How one probe came out for one entity (or for the run, `entity` None): `passed`, the
    `request` as sent (method and URL, no header values), the `expected` conditions and the
    `observed` values, why it failed (`reason`), how long it took and how many requests."""

    entity: str | None
    passed: bool
    request: str
    expected: str
    observed: str
    reason: str | None
    elapsed_ms: float
    polls: int


class ProbeResult(msgspec.Struct, kw_only=True):
    """A probe over all its entities: every entity's result, in plan order."""

    probe: Probe
    results: list[EntityResult]

    @property
    def failed(self) -> list[EntityResult]:
        return [r for r in self.results if not r.passed]


#: Fields that name another entity, and its kind, per kind of the probed entity.
_LINKS = {"order": {"payment": "payment"}, "payment": {"parent": "order", "order": "order"},
          "refund": {"payment": "payment", "parent": "payment", "order": "order"},
          "dispute": {"payment": "payment", "parent": "payment", "order": "order"}}


class _MapView:
    """A map as a template sees it: `{{ api.orders }}` (or `api["my-key"]`), and nothing else —
    not a dict's methods (`api.items` is the map's `items`, if it has one)."""

    __slots__ = ("_table",)

    def __init__(self, table: dict[str, Any]):
        self._table = table

    def __getattr__(self, name: str) -> Any:
        try:
            return self._table[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._table[name]


class _Raw(str):
    """A template value put into a URL as it is (`base`, parameters); everything else from the
    entity is URL-encoded as one path segment."""


def _finalize_url(value: Any) -> str:
    if isinstance(value, _Raw):
        return str(value)
    return quote(str(value), safe="")


class Prober:
    """Sends the plan's probes and judges the answers; see the module docstring."""

    def __init__(self, probes: tuple[Probe, ...], facts: GatewayFacts, options: ProbeOptions,
                 params: Mapping[str, object], ref: Callable[[str, str], str], connect: Callable[[], StateSender]):
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        self.probes, self.facts, self.options = probes, facts, options
        self.params, self.ref, self.connect = params, ref, connect
        self._jinja = jinja2
        self._url_env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                                      keep_trailing_newline=True, finalize=_finalize_url)
        self._text_env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                                       keep_trailing_newline=True)
        self._compiled: dict[str, tuple[Template, list[tuple[str, Template]], Template | None]] = {}

    async def run(self) -> list[ProbeResult]:
        """Every probe's results, in plan order."""
        out: list[ProbeResult] = []
        # Windows run from when probing starts, just after the deliveries settled: a probe's
        # `eventually within 10s` means ten seconds after the merchant was told, for every
        # entity and every probe, however many are asked about before it.
        settled = trio.current_time()
        for probe in self.probes:
            deadline = settled + probe.eventually_ms / 1000
            results: list[EntityResult | None] = [None] * max(1, len(probe.entities))
            limiter = trio.CapacityLimiter(self.options.concurrency)
            jobs = iter(enumerate(probe.entities if probe.kind is not None else (None,)))
            async with trio.open_nursery() as nursery:
                for _ in range(min(self.options.concurrency, len(results))):
                    nursery.start_soon(self._worker, probe, deadline, jobs, limiter, results)
            done = [r for r in results if r is not None]
            out.append(ProbeResult(probe=probe, results=done))
        return out

    async def _worker(self, probe: Probe, deadline: float, jobs: Iterator[tuple[int, str | None]],
                      limiter: trio.CapacityLimiter, results: list[EntityResult | None]) -> None:
        """Probe entities taken from `jobs` (shared with the probe's other workers) over one
        sender of its own, each result into its place in `results`."""
        sender = self.connect()
        try:
            for index, entity in jobs:
                async with limiter:
                    results[index] = await self._probe_one(sender, probe, entity, deadline)
        finally:
            with trio.CancelScope(shield=True):
                await sender.aclose()

    async def _probe_one(self, sender: StateSender, probe: Probe, entity: str | None, deadline: float) -> EntityResult:
        started = trio.current_time()
        wait = _POLL_FIRST_S
        polls = 0
        expected = " and ".join(condition_text(e.expr) for e in probe.expects)
        context, entity_values = self._context(probe, entity)
        if context is None:
            return EntityResult(entity=entity, passed=False, request=f"{probe.method} {probe.url}",
                                expected=expected, observed="", reason=f"the gateway has no {probe.kind} `{entity}`",
                                elapsed_ms=0.0, polls=0)
        try:
            method, url, headers, body = self._render(probe, context)
        except _RequestError as exc:
            return EntityResult(entity=entity, passed=False, request=f"{probe.method} {probe.url}",
                                expected=expected, observed="", reason=f"request: {exc}", elapsed_ms=0.0, polls=0)
        shown = f"{method} {redacted(url)}"
        while True:
            polls += 1
            passed, observed, reason = await self._attempt(sender, probe, method, url, headers, body, entity_values)
            now = trio.current_time()
            if passed or now + wait > deadline:
                return EntityResult(entity=entity, passed=passed, request=shown, expected=expected,
                                    observed=observed, reason=reason, elapsed_ms=round((now - started) * 1000, 3),
                                    polls=polls)
            await trio.sleep(wait)
            wait = min(_POLL_MAX_S, wait * 2)

    def _context(self, probe: Probe, entity: str | None) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The templates' variables and the gateway's values the expectations may name."""
        context: dict[str, Any] = {name: _Raw(value) if isinstance(value, str) else value
                                   for name, value in self.params.items()}
        context["base"] = _Raw(self.options.base or "http://app")
        for name, table in probe.maps.items():
            context[name] = _MapView({key: _Raw(v) if isinstance(v, str) else v for key, v in table.items()})
        values: dict[str, Any] = {}
        if probe.kind is None or entity is None:
            totals = self.facts.totals
            gateway = {name: {cur: t[name] for cur, t in totals.items()}
                       for name in ("captured", "refunded", "disputed", "lost")}
            context["gateway"] = gateway
            values["gateway.totals"] = {cur: dict(t) for cur, t in totals.items()}
            for name, by_currency in gateway.items():
                for currency, amount in by_currency.items():
                    values[f"gateway.{name}.{currency}"] = amount
            return context, values
        fields = self.facts.fields(entity, probe.kind)
        if fields is None:
            return None, values
        fields = dict(fields)
        fields["ref"] = self.ref(probe.kind, entity)
        # Links to other entities as the provider names them, as the merchant stored them.
        for link, kind in _LINKS.get(probe.kind, {}).items():
            if fields.get(link):
                fields[link] = self.ref(kind, str(fields[link]))
        context[probe.kind] = fields
        for name, value in fields.items():
            values[f"{probe.kind}.{name}"] = value
        return context, values

    def _render(self, probe: Probe, context: dict[str, Any]) -> tuple[str, str, dict[str, str], bytes | None]:
        import httpx

        jinja2 = self._jinja
        try:
            url_t, header_ts, body_t = self._templates(probe)
            url = url_t.render(context).strip()
            headers = {name: template.render(context) for name, template in header_ts}
            body = body_t.render(context).encode() if body_t is not None else None
        except jinja2.UndefinedError as exc:
            raise _RequestError(f"the template names something undefined: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise _RequestError(f"the template failed: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - a template is user code: any failure is its own
            raise _RequestError(f"the template failed: {type(exc).__name__}") from None
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise _RequestError(f"`{_clip(redacted(url))}` is not a valid URL ({exc})") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise _RequestError(f"`{_clip(redacted(url))}` is not an http(s) URL with a host")
        try:
            parse_target(str(parsed))
        except ExecutionError as exc:
            raise _RequestError(f"`{_clip(redacted(url))}`: {exc}") from None
        for name, value in headers.items():
            if any(ord(c) < 32 or c == "\x7f" for c in name + value):
                raise _RequestError(f"header `{_clip(name)}` has a control character in its value")
            if not _TOKEN.fullmatch(name) or not _latin1(value):
                raise _RequestError(f"header `{_clip(name)}` cannot be sent: a header name is letters, digits "
                                    "and `-`, a value Latin-1 text")
        headers = {**headers, **self.options.headers}
        return probe.method, str(parsed), headers, body

    def _templates(self, probe: Probe) -> tuple[Template, list[tuple[str, Template]], Template | None]:
        """The probe's templates, compiled once (compiling costs more than rendering)."""
        found = self._compiled.get(probe.name)
        if found is None:
            found = self._compiled[probe.name] = (
                self._url_env.from_string(probe.url),
                [(name, self._text_env.from_string(value)) for name, value in probe.headers],
                self._text_env.from_string(probe.body) if probe.body is not None else None)
        return found

    async def _attempt(self, sender: StateSender, probe: Probe, method: str, url: str, headers: dict[str, str],
                       body: bytes | None, values: dict[str, Any]) -> tuple[bool, str, str | None]:
        """Send once and judge: (passed, observed, reason)."""
        fetched = await sender.fetch(method, url, headers, body or b"", self.options.timeout_s)
        status, raw, response_headers = fetched.status, fetched.body, fetched.headers
        if fetched.error == "timeout":
            return False, "", f"timeout: no answer within {self.options.timeout_s:g}s"
        if fetched.error == "oversized":
            return False, f"status = {status}", f"the answer is larger than {MAX_ANSWER_BYTES // 1024} KiB"
        if status is None or (fetched.error is not None and fetched.error != "redirect"):
            return False, "", f"connect: {_CONNECT_ERRORS.get(fetched.error or '', fetched.error)}"
        answer = _Answer(status, raw, response_headers, values)
        failures: list[str] = []
        for expect in probe.expects:
            try:
                held = evaluate_expr(expect.expr, answer)
                if held is not True:
                    failures.append(f"expected {condition_text(expect.expr)}")
            except _NotJson:
                failures.append(f"json: the answer (status {status}) is not JSON: {_clip(_text(raw))!r}")
            except Unmeasured as exc:
                failures.append(f"field: the answer has no `{exc.args[0]}`")
            except (EvalError, ArithmeticError, TypeError, ValueError) as exc:
                failures.append(f"value: {condition_text(expect.expr)} cannot be evaluated "
                                f"({exc or type(exc).__name__})")
        observed = answer.observed()
        return not failures, observed, "; ".join(dict.fromkeys(failures)) or None


#: What each transport error kind means for a probe's request.
_CONNECT_ERRORS = {
    "refused": "nothing listens there (connection refused)", "dns": "the host name does not resolve",
    "connect": "the connection failed", "tls": "the TLS handshake failed", "reset": "the connection was reset",
    "closed": "the connection closed before an answer", "protocol": "the answer is not HTTP",
    "app": "the app raised an exception",
}


class StateSender(Protocol):
    """Where a probe worker sends its requests: `fetch` one, whole; `aclose` when done."""

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes,
                    timeout_s: float) -> Fetched: ...

    async def aclose(self) -> None: ...


class HttpStateSender:
    """Keep-alive connections to whichever hosts a worker's probe URLs name, one per host: the
    executor's own HTTP/1.1 client (a shared httpx pool spent ~1 ms of CPU per request on its
    bookkeeping, more than the rest of a probe together)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None):
        self._ssl = ssl_context
        self._connections: dict[tuple[str, str, int], Connection] = {}

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes,
                    timeout_s: float) -> Fetched:
        target = parse_target(url)
        key = (target.scheme, target.host, target.port)
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = Connection(target, self._ssl, max_body=MAX_ANSWER_BYTES)
        return await connection.fetch(method, target.path, headers, body, timeout_s)

    async def aclose(self) -> None:
        for connection in self._connections.values():
            await connection.aclose()


class AppStateSender:
    """An ASGI app called in-process (`--app`): the probes ask the app that took the webhooks."""

    def __init__(self, app: ASGIApp):
        import httpx

        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app",
                                         follow_redirects=False)

    async def fetch(self, method: str, url: str, headers: dict[str, str], body: bytes,
                    timeout_s: float) -> Fetched:
        import httpx

        status: int | None = None
        raw = b""
        fields: dict[str, str] = {}
        with trio.move_on_after(timeout_s) as scope:
            try:
                async with self._client.stream(method, url, headers=headers, content=body) as response:
                    status = response.status_code
                    fields = {k.lower(): v for k, v in response.headers.items()}
                    async for chunk in response.aiter_raw():
                        raw += chunk
                        if len(raw) > MAX_ANSWER_BYTES:
                            return Fetched(status, fields, raw[:MAX_ANSWER_BYTES], "oversized")
            except httpx.HTTPError:
                return Fetched(None, {}, b"", "protocol")
            except Exception:  # noqa: BLE001 - the app's own bug is a finding about the app, not ours
                return Fetched(None, {}, b"", "app")
        if scope.cancelled_caught:
            return Fetched(None, {}, b"", "timeout")
        return Fetched(status, fields, raw, None)

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await self._client.aclose()


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def redacted(url: str) -> str:
    """`url` as it may be shown or stored: no user or password, and the query (often a token)
    as `?…`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # `http://[::1/x`: nothing of it is worth showing
        return "(not a URL)"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{parts.port}" if _port(parts) else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


class _RequestError(Exception):
    """A probe's templates did not give a valid request."""


class _NotJson(Exception):
    """An expectation reads `json.…` of an answer that is not JSON."""


class _Answer(Mapping[str, Any]):
    """The names an expectation reads: `status`, `json.…`, `headers.…` of the answer, and the
    gateway's values; records what was read, for the failure's `observed` text."""

    def __init__(self, status: int, raw: bytes, headers: dict[str, str], known: dict[str, Any]):
        # The gateway's values are `known`, not `values`: that name is Mapping's method.
        self.status, self.raw, self.headers, self.known = status, raw, headers, known
        self._json: Any = _UNREAD
        self.read: dict[str, Any] = {}

    def _lookup(self, name: str) -> Any:
        if name == "status":
            return self.status
        if name in self.known:
            return self.known[name]
        head, _, rest = name.partition(".")
        if head == "headers":
            # Names cannot hold `-`: `headers.content_type` reads `Content-Type`.
            for key in (rest.lower(), rest.lower().replace("_", "-")):
                if key in self.headers:
                    return self.headers[key]
            raise KeyError(name)
        if head == "json":
            node = self.json()
            for part in rest.split(".") if rest else ():
                if isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    raise KeyError(name)
            return _language_value(node)
        raise KeyError(name)

    def json(self) -> Any:
        if self._json is _UNREAD:
            try:
                self._json = _JSON.decode(self.raw)
            except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past any use
                self._json = _NOT_JSON
        if self._json is _NOT_JSON:
            raise _NotJson
        return self._json

    def __getitem__(self, name: str) -> Any:
        value = self._lookup(name)
        self.read[name] = value
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except KeyError:
            self.read.setdefault(name, _MISSING)
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.read)

    def __len__(self) -> int:
        return len(self.read)

    def observed(self) -> str:
        parts = []
        for name, value in self.read.items():
            shown = "missing" if value is _MISSING else _clip(repr(value) if isinstance(value, str) else _shown(value))
            parts.append(f"{name} = {shown}")
        return ", ".join(parts) if parts else f"status = {self.status}"


_UNREAD, _NOT_JSON, _MISSING = object(), object(), object()
#: Numbers with a fraction decode exactly (`170.10` stays 170.10), as the language computes.
_JSON = msgspec.json.Decoder(float_hook=Decimal)


def _language_value(node: Any) -> Any:
    """A JSON value as the language's values: numbers with a fraction are exact decimals
    (`170.10`; `115.0` equals `115`), `null` stays None. A number past 40 digits or an exponent
    of ±40 is refused: `1e1000000` would cost seconds of arithmetic per comparison."""
    if isinstance(node, Decimal):
        _, digits, exponent = node.as_tuple()
        # Only an infinity or a NaN has a letter (`F`, `n`, `N`) for its exponent.
        if not isinstance(exponent, int) or len(digits) > 40 or not -40 <= exponent <= 40:
            raise ValueError("a number too large or too precise to judge")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ValueError("not a finite number")
    elif isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**40:
        raise ValueError("a number too large to judge")
    return node


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return msgspec.json.encode(value, enc_hook=str).decode()
    return str(value)


def _text(raw: bytes) -> str:
    return raw[:SNIPPET_CHARS].decode("utf-8", "replace")


def _clip(text: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"
