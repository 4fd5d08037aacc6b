"""Hypothesis strategies that build random, syntactically valid `.carbon` programs.

A program is first drawn as a list of tokens following grammar/carbon.lark, then laid out with
random whitespace and comments between the tokens (`programs`). Names never collide with
keywords, literals stay within the compiler's limits, and `about`/`category`/`seed` appear at
most once per scenario, so every drawn program parses without errors.
"""

from __future__ import annotations

from hypothesis import strategies as st

KEYWORDS = frozenset(["use", "profile", "mix", "ladder", "scenario", "extends", "about", "category", "tags", "param", "seed", "phase", "after", "create", "pay", "capture", "refund", "dispute", "settle", "cancel", "pause", "count", "amount", "method", "reason", "code", "over", "with", "then", "between", "full", "partial", "rest", "each", "all", "first", "of", "where", "deliver", "for", "order", "within", "repeat", "delay", "jitter", "drop", "signature", "retry", "fail", "on", "verdict", "timeout", "expect", "finding", "when", "probe", "severity", "or", "and", "not", "true", "false"])

NAMES = ("orders", "payments", "refunds", "disputes", "captured", "failed", "pending", "lost", "won",
         "x", "y_2", "rate", "baseline_orders", "card", "upi", "high", "low", "valid", "corrupted",
         "gateway", "base", "spike", "storm", "_hidden", "Mixed9")
assert not KEYWORDS & set(NAMES)

SLUGS = ("a", "refund-storm", "dispute-spike", "x1-y_2-z", "s")
SYMBOLS = ("BAD_REQUEST_ERROR", "GATEWAY_ERROR", "fraudulent", "insufficient_funds")

#: Characters that may touch the next token without a space between them.
_PUNCT = set("{}()[],=.+-*/<>!")

names = st.sampled_from(NAMES)


def _digits(max_len: int = 6) -> st.SearchStrategy[str]:
    """A digit string such as `1_000` or `42` (no leading zero run, no trailing `_`)."""
    return st.builds(
        lambda head, groups: head + "".join(("_" if sep else "") + g for sep, g in groups),
        st.sampled_from("123456789"),
        st.lists(st.tuples(st.booleans(), st.text("0123456789", min_size=1, max_size=3)), max_size=max_len // 2),
    )


ints = _digits()
decimals = st.builds(lambda a, b: f"{a}.{b}", _digits(4), st.text("0123456789", min_size=1, max_size=3))
percents = st.one_of(
    st.builds(lambda a: f"{a}%", st.integers(0, 100)),
    st.builds(lambda a, b: f"{a}.{b}%", st.integers(0, 99), st.text("0123456789", min_size=1, max_size=2)),
)
durations = st.builds(lambda n, u: f"{n}{u}", st.integers(0, 999).map(str), st.sampled_from(("ms", "s", "m", "h", "d")))
#: Money is one token; the gap between currency and amount is part of it (spaces or tabs).
money = st.one_of(
    st.builds(lambda gap, n: f"INR{gap}{n}", st.sampled_from((" ", "  ", "\t")), st.one_of(ints, decimals)),
    st.builds(lambda n, f: f"KWD {n}.{f}", st.integers(0, 99), st.text("0123456789", min_size=3, max_size=3)),
    st.builds(lambda n: f"JPY {n}", ints),
    st.builds(lambda n: f"USD {n}", decimals),
)
strings = st.builds(
    lambda parts: '"' + "".join(parts) + '"',
    st.lists(st.sampled_from(("a", "b c", "{x}", "é", "\\\"", "\\\\", "\\n", "\\t", "\\u00e9", "/", "*", "refund.*")),
             max_size=4),
)
literals = st.one_of(ints, decimals, percents, durations, money, strings, st.sampled_from(("true", "false")))


# ---------------------------------------------------------------- expressions
# An expression tree is ("lit", text) | ("name", parts) | ("call", f, args) | ("list", items)
# | ("un", op, e) | ("bin", op, l, r); `render` turns it into tokens with the parentheses the
# grammar needs plus random redundant ones.

_LEVEL = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
          "+": 5, "-": 5, "*": 6, "/": 6}
#: (left, right) minimum levels of a binary operator's operands.
_OPERANDS = {1: (1, 2), 2: (2, 3), 4: (5, 5), 5: (5, 6), 6: (6, 7)}
SUM = 5

_atoms = st.one_of(
    literals.map(lambda t: ("lit", t)),
    st.lists(names, min_size=1, max_size=3).map(lambda ps: ("name", tuple(ps))),
)


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(sorted(_LEVEL)), children, children),
        st.tuples(st.just("un"), st.sampled_from(("-", "+", "not")), children),
        st.tuples(st.just("call"), st.sampled_from(("round", "min", "rate")), st.lists(children, max_size=3)),
        st.tuples(st.just("list"), st.lists(children, max_size=3)),
    )


expr_trees = st.recursive(_atoms, _extend, max_leaves=8)


def _level(tree) -> int:
    match tree:
        case ("bin", op, _, _):
            return _LEVEL[op]
        case ("un", "not", _):
            return 3
        case ("un", _, _):
            return 7
    return 8


@st.composite
def render(draw, tree, need: int = 1, parens: bool = True) -> list[str]:
    """Tokens for `tree` where the grammar wants an expression of level `need` or higher."""
    match tree:
        case ("lit", text):
            out = [text]
        case ("name", parts):
            out = [parts[0]]
            for p in parts[1:]:
                out += [".", p]
        case ("call", func, args):
            out = [func, "("]
            for i, a in enumerate(args):
                out += ([","] if i else []) + draw(render(a))
            out.append(")")
        case ("list", items):
            out = ["["]
            for i, a in enumerate(items):
                out += ([","] if i else []) + draw(render(a))
            if items and draw(st.booleans()):
                out.append(",")
            out.append("]")
        case ("un", op, operand):
            out = [op, *draw(render(operand, 3 if op == "not" else 7))]
        case ("bin", op, left, right):
            lneed, rneed = _OPERANDS[_LEVEL[op]]
            out = [*draw(render(left, lneed)), op, *draw(render(right, rneed))]
        case _:
            raise AssertionError(tree)
    if _level(tree) < need or (parens and draw(st.integers(0, 9)) == 0):
        out = ["(", *out, ")"]
    return out


def expression(need: int = 1) -> st.SearchStrategy[list[str]]:
    return expr_trees.flatmap(lambda t: render(t, need))


#: A list literal `[…]` where the grammar wants a list, not an expression (`retry`, `ladder`).
list_literals = st.lists(expr_trees, max_size=4).flatmap(lambda items: render(("list", items), parens=False))


# ---------------------------------------------------------------- clauses, outcomes, selections


def _opt(tokens: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(st.just([]), tokens)


def _cat(*parts: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*parts).map(lambda ps: [t for p in ps for t in p])


def _commas(items: list[str]) -> list[str]:
    out: list[str] = []
    for i, item in enumerate(items):
        out += ([","] if i else []) + [item]
    return out


def _word(*words: str) -> st.SearchStrategy[list[str]]:
    return st.just(list(words))


def _one(s: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return s.map(lambda t: [t])


symbols = st.one_of(st.sampled_from(SYMBOLS), strings)

amounts = st.one_of(
    expression(),
    _cat(_word("between"), expression(SUM), _word("and"), expression(SUM)),
    _word("full"),
    _cat(_word("partial"), expression()),
)


def clause(outcome_mix: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    return st.one_of(
        _cat(_word("count"), expression()),
        _cat(_word("amount"), amounts),
        _cat(_word("method"), _one(names)),
        _cat(_word("reason"), _one(symbols)),
        _cat(_word("code"), _one(symbols)),
        _cat(_word("after"), expression()),
        _cat(_word("over"), expression()),
        _cat(_word("with"), _one(names)),
        _cat(_word("then"), outcome_mix),
    )


def _mix_of(outcome: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """`{ outcome[,] … }` with commas between, after, or left out."""

    @st.composite
    def build(draw):
        out = ["{"]
        for _ in range(draw(st.integers(0, 4))):
            out += draw(outcome)
            if draw(st.booleans()):
                out.append(",")
        return [*out, "}"]

    return build()


def _outcome(inner: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    share = st.one_of(_word("rest"), _one(percents), expression())
    return _cat(_one(names), share, st.lists(clause(inner), max_size=3).map(lambda cs: [t for c in cs for t in c]))


#: Outcome mixes nested up to three deep through `then`.
outcome_mixes = st.deferred(lambda: _mix_of(_outcome(_mix_of(_outcome(_mix_of(_outcome(_word("{", "}"))))))))


def _clauses(max_size: int = 3) -> st.SearchStrategy[list[str]]:
    return st.lists(clause(outcome_mixes), max_size=max_size).map(lambda cs: [t for c in cs for t in c])


entity_refs = st.one_of(
    _one(st.sampled_from(("order", "payments", "refunds"))),
    st.tuples(st.sampled_from(("captured", "failed")), st.sampled_from(("payments", "orders"))).map(list),
)
selections = _cat(
    st.one_of(_word("each"), _word("all"), _cat(_word("first"), expression(SUM), _word("of")),
              _cat(expression(SUM), _word("of"))),
    entity_refs,
    _opt(_cat(_word("where"), expression())),
)

actions = st.one_of(
    _cat(_word("create"), _one(names), _clauses(), _opt(outcome_mixes)),
    _cat(_one(st.sampled_from(("pay", "refund", "dispute"))), selections, _clauses(), _opt(outcome_mixes)),
    _cat(_one(st.sampled_from(("capture", "settle", "cancel", "pause"))), selections, _clauses()),
)


# ---------------------------------------------------------------- delivery and checks

statuses = st.one_of(st.sampled_from(("1xx", "2xx", "3xx", "4xx", "5xx", "timeout", "404", "500")))
deliver_items = st.one_of(
    _cat(_word("order"), _one(names), _opt(_cat(_word("within"), expression()))),
    _cat(_word("repeat"), expression()),
    _cat(_word("delay"), expression(), _opt(_cat(_word("jitter"), expression()))),
    _cat(_word("drop"), expression()),
    _cat(_word("signature"), _one(names), _opt(expression())),
    _cat(_word("retry"), st.one_of(_one(names), list_literals)),
    _cat(_word("fail", "on"), st.lists(statuses, min_size=1, max_size=4).map(_commas)),
    _cat(_word("verdict"), _one(names), _one(st.sampled_from(("accept", "reject")))),
    _cat(_word("timeout"), expression()),
    _cat(_word("use"), _one(names)),
)


@st.composite
def deliver_item_list(draw) -> list[str]:
    out: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        item = draw(deliver_items)
        out += item
        # A comma after `fail on 5xx, timeout` would continue its list of statuses.
        if item[0] != "fail" and draw(st.integers(0, 3)) == 0:
            out.append(",")
    return out


severities = _opt(_cat(_word("severity"), _one(names)))


@st.composite
def probes(draw) -> list[str]:
    out = ["probe", draw(st.sampled_from(("GET", "POST", "PUT", "PATCH", "HEAD"))), draw(strings), "for"]
    out += [*draw(selections), "{"]
    for _ in range(draw(st.integers(0, 3))):
        out += ["expect", *draw(expression())]
    return [*out, "}", *draw(severities)]


checks = st.one_of(
    _cat(_word("expect"), expression(), severities),
    _cat(_word("finding", "when"), expression(), _one(strings), severities),
    probes(),
)


# ---------------------------------------------------------------- declarations


@st.composite
def scenarios(draw) -> list[str]:
    out = ["scenario", draw(st.sampled_from(SLUGS))]
    if draw(st.booleans()):
        out += ["extends", draw(st.sampled_from(SLUGS))]
    out.append("{")
    items: list[list[str]] = []
    if draw(st.booleans()):
        items.append(["about", draw(strings)])
    if draw(st.booleans()):
        items.append(["category", draw(names)])
    if draw(st.booleans()):
        items.append(["seed", draw(ints)])
    for _ in range(draw(st.integers(0, 2))):
        items.append(["tags", *_commas(draw(st.lists(names, min_size=1, max_size=3)))])
    for _ in range(draw(st.integers(0, 4))):
        items.append(["param", draw(names), "=", *draw(expression()), *draw(_opt(_one(strings)))])
    for _ in range(draw(st.integers(0, 3))):
        phase = ["phase", draw(names)]
        after = draw(st.lists(names, max_size=2))
        if after:
            phase += ["after", *_commas(after)]
        phase.append("{")
        for _ in range(draw(st.integers(0, 3))):
            phase += draw(actions)
        items.append([*phase, "}"])
    for _ in range(draw(st.integers(0, 2))):
        target = draw(st.one_of(st.just([]), _cat(_word("for"), _one(st.one_of(names, strings)))))
        items.append(["deliver", *target, "{", *draw(deliver_item_list()), "}"])
    for _ in range(draw(st.integers(0, 3))):
        items.append(draw(checks))
    # Items of any kind may come in any order; the formatter sorts them.
    for item in draw(st.permutations(items)):
        out += item
    return [*out, "}"]


declarations = st.one_of(
    scenarios(),
    _cat(_word("use"), _one(strings)),
    st.builds(lambda n, items: ["profile", n, "{", *items, "}"], names, deliver_item_list()),
    _cat(_word("mix"), _one(names), outcome_mixes),
    _cat(_word("ladder"), _one(names), list_literals),
)

program_tokens = st.lists(declarations, max_size=4).map(lambda ds: [t for d in ds for t in d])


# ---------------------------------------------------------------- layout and comments

_COMMENT_TEXT = st.text(alphabet="abc XYZ{}()\";,*/#-é\t", max_size=16)
line_comments = _COMMENT_TEXT.map(lambda t: "//" + t)
block_comments = st.one_of(
    _COMMENT_TEXT.filter(lambda t: "*/" not in t and not t.endswith("*")).map(lambda t: f"/*{t}*/"),
    # Several lines, the later ones indented: their layout is part of the comment's text.
    st.lists(_COMMENT_TEXT.filter(lambda t: "*/" not in t and not t.endswith("*")), min_size=2, max_size=4)
    .map(lambda lines: "/*" + "\n   ".join(lines) + " */"),
)
comments = st.one_of(line_comments, block_comments)

_SPACES = (" ", " ", " ", " ", "", "", "\n", "\n\n", "\t", "\n    ", "   ", "\r\n", "\n\n\n  ")


@st.composite
def separator(draw, with_comments: bool = True) -> str:
    """Whitespace, perhaps with comments in it; a line comment always ends its line."""
    kind = draw(st.integers(0, 19 if with_comments else 15))
    if kind < 16:
        return _SPACES[kind % len(_SPACES)]
    comment = draw(comments)
    before = draw(st.sampled_from((" ", "\n", "\n\n", "  ")))
    after = "\n" if comment.startswith("//") else draw(st.sampled_from((" ", "\n", "")))
    return before + comment + after + draw(st.sampled_from(("", "  ", "\t")))


@st.composite
def layout(draw, tokens: list[str], with_comments: bool = True) -> str:
    """Join `tokens` with random separators; comments also before the first and after the last."""
    out = [draw(separator(with_comments)).lstrip(" \t")]
    for i, tok in enumerate(tokens):
        if i:
            sep = draw(separator(with_comments))
            if sep == "" and not (out[-1][-1] in _PUNCT or tok[0] in _PUNCT):
                sep = " "
            out.append(sep)
        out.append(tok)
    out.append(draw(separator(with_comments)))
    return "".join(out)


def programs(with_comments: bool = True) -> st.SearchStrategy[str]:
    """Whole programs: random declarations, randomly laid out, with comments anywhere."""
    return program_tokens.flatmap(lambda toks: layout(toks, with_comments))
