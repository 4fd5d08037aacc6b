"""Type-checks delivery blocks and profiles: each setting's value and words, signature shares,
and retry ladders."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from decimal import Decimal
from typing import assert_never

from carbonc.codes import Code
from carbonc.diagnostics import did_you_mean
from carbonc.domain import vocabulary
from carbonc.domain.units import format_ratio
from carbonc.ir import nodes as ir
from carbonc.passes._exprs import DURATION, INT, RATIO, ExprChecker

_DELIVER_WORD = {"fail": "fail on"}


class DeliveryChecker(ExprChecker):
    """Checks `deliver` blocks, profiles' settings and retry ladders."""

    def deliver(self, deliver: ir.Deliver) -> None:
        if isinstance(deliver.target, ir.StringLit):
            glob = deliver.target.value
            if not any(fnmatch.fnmatchcase(e, glob) for e in vocabulary.NEUTRAL_EVENTS):
                self.report(Code.UNKNOWN_OPTION, f"`{glob}` matches no event", deliver.target, label="no such event",
                            help=did_you_mean(glob, vocabulary.NEUTRAL_EVENTS)
                            or "events look like `payment.captured`, `refund.*`, `dispute.*`")
        self.deliver_items(deliver.items)

    def deliver_items(self, items: Iterable[ir.DeliverItem]) -> None:
        seen: dict[str, ir.DeliverItem] = {}
        signatures: list[ir.SignatureItem] = []
        for item in items:
            name = type(item).__name__.removesuffix("Item").lower()
            if name in seen and name not in ("signature", "verdict", "include"):
                self.report(Code.DUPLICATE_SETTING, f"`{_DELIVER_WORD.get(name, name)}` is set twice in this block",
                            item,
                            label="second setting", help="keep one")
            seen[name] = item
            match item:
                case ir.OrderItem(mode=mode, within=within):
                    self.option(mode, vocabulary.ORDER_MODES, "delivery order")
                    if within is not None:
                        if mode.name != "shuffle":
                            self.report(Code.CLAUSE_NOT_ALLOWED, f"`within` goes with `shuffle`, not `{mode.name}`",
                                        within,
                                        help="write `order shuffle within 30s`")
                        self.want(within, DURATION, "`within`")
                        self.non_negative(within, "`within`")
                case ir.RepeatItem(value=v):
                    self.want(v, INT, "`repeat`")
                    self.non_negative(v, "`repeat`", 1)
                    if isinstance(n := self.const(v), int) and not isinstance(n, bool) and n > vocabulary.MAX_REPEAT:
                        self.report(Code.OUT_OF_RANGE, f"`repeat` must be at most {vocabulary.MAX_REPEAT}", v,
                                    label="out of range",
                                    help="a gateway sends a few copies at most; 100 already tests idempotency")
                case ir.DelayItem(delay=d, jitter=j):
                    self.want(d, DURATION, "`delay`")
                    self.non_negative(d, "`delay`")
                    if j is not None:
                        self.want(j, DURATION, "`jitter`")
                        self.non_negative(j, "`jitter`")
                case ir.DropItem(value=v):
                    self.want(v, RATIO, "`drop`")
                case ir.TimeoutItem(value=v):
                    self.want(v, DURATION, "`timeout`")
                    self.non_negative(v, "`timeout`", 1)
                case ir.SignatureItem(mode=mode, share=share):
                    self.option(mode, vocabulary.SIGNATURE_MODES, "signature mode")
                    if share is not None:
                        self.want(share, RATIO, "a signature share")
                    signatures.append(item)
                case ir.RetryItem(ladder=ir.ListLit() as steps):
                    self.ladder(steps)
                case ir.FailItem(statuses=statuses):
                    for status in statuses:
                        if status.name not in vocabulary.FAIL_STATUSES and not (
                                status.name.isdigit() and 100 <= int(status.name) <= 599):
                            self.report(Code.UNKNOWN_OPTION, f"`{status.name}` is not an answer class", status,
                                        label="unknown", help="use `3xx`, `4xx`, `5xx`, `timeout`, `error` "
                                        "or a status code such as `409`")
                case ir.VerdictItem(mode=mode, verdict=verdict):
                    self.option(mode, vocabulary.SIGNATURE_MODES, "signature mode")
                    self.option(verdict, vocabulary.VERDICTS, "verdict")
                case ir.RetryItem() | ir.IncludeItem():
                    pass  # names (`retry gateway`, `use PROFILE`), which resolve checks
                case _:
                    assert_never(item)
        if len(signatures) > 1:
            total = Decimal(0)
            for sig in signatures:
                value = self.const(sig.share) if sig.share is not None else None
                if isinstance(value, Decimal):
                    total += value
            if total > 1:
                self.report(Code.SHARES_NOT_WHOLE, f"signature shares add up to {format_ratio(total)}", signatures[-1],
                            label="over 100%", help="the shares of signature modes must not exceed 100%")

    def ladder(self, steps: ir.ListLit) -> None:
        if not steps.items:
            self.report(Code.OUT_OF_RANGE, "a retry ladder needs at least one step", steps, label="empty",
                        help="write `retry none` for no retries")
        for step in steps.items:
            self.want(step, DURATION, "a retry step")
            self.non_negative(step, "a retry step")
