"""Every diagnostic code, named, with its one-line summary: the one table of them. The checker,
the compiler and the source reader report `Code` members, never bare strings; docs/diagnostics.md
lists each code with an example (a test keeps the two equal)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

Family = Literal["files", "syntax", "names", "types", "warnings"]
_FAMILIES: dict[str, Family] = {"C00": "files", "C01": "syntax", "C02": "names", "C03": "types", "W04": "warnings"}


class Code(StrEnum):
    """A diagnostic code (`C0204`), its name (`UNKNOWN_PARAMETER`) and its `summary`. The first
    digits say the family: `C00` files, `C01` syntax, `C02` names, `C03` types and units, `W04`
    warnings."""

    summary: str

    def __new__(cls, code: str, summary: str) -> Code:
        member = str.__new__(cls, code)
        member._value_ = code
        member.summary = summary
        return member

    @property
    def family(self) -> Family:
        """What the code is about, from its first digits: `files`, `syntax`, `names`, `types`
        (and units, values, actions) or `warnings`."""
        return _FAMILIES[self.value[:3]]

    # files
    UNREADABLE_FILE = "C0001", "file cannot be read"
    NOT_UTF8 = "C0002", "file is not UTF-8 text"
    NUL_BYTE = "C0003", "file contains a NUL byte"
    # syntax
    UNEXPECTED_TOKEN = "C0101", "unexpected token"
    UNEXPECTED_EOF = "C0102", "unexpected end of file"
    UNEXPECTED_CHARACTER = "C0103", "unexpected character"
    UNTERMINATED_STRING = "C0104", "unterminated string"
    NESTING_TOO_DEEP = "C0105", "nesting too deep"
    NUMBER_TOO_LARGE = "C0106", "number too large"
    INVALID_ESCAPE = "C0107", "invalid string escape"
    UNTERMINATED_COMMENT = "C0108", "unterminated block comment"
    # names
    UNKNOWN_NAME = "C0201", "unknown name"
    DUPLICATE_DEFINITION = "C0202", "duplicate definition"
    UNKNOWN_MODULE = "C0203", "unknown module"
    UNKNOWN_PARAMETER = "C0204", "unknown parameter"
    IMPORT_CYCLE = "C0205", "import cycle"
    UNKNOWN_PHASE = "C0206", "unknown phase"
    PHASE_CYCLE = "C0207", "phase dependency cycle"
    UNKNOWN_DECLARATION = "C0208", "unknown profile, mix, ladder or oracle"
    UNKNOWN_KIND = "C0209", "unknown entity kind"
    UNKNOWN_STATE = "C0210", "unknown entity state"
    UNKNOWN_BASE = "C0211", "unknown base scenario"
    NO_SCENARIO = "C0212", "no scenario to plan"
    SELF_EXTENDS = "C0213", "scenario extends itself"
    UNKNOWN_FUNCTION = "C0214", "unknown function"
    # types and units
    UNKNOWN_CURRENCY = "C0301", "unknown currency"
    TOO_MANY_DECIMALS = "C0302", "too many decimal places for the currency"
    TYPE_MISMATCH = "C0303", "type mismatch"
    MONEY_WITHOUT_CURRENCY = "C0304", "money needs a currency"
    RATIO_OUT_OF_RANGE = "C0305", "ratio outside 0-100%"
    SHARES_NOT_WHOLE = "C0306", "outcome shares do not add up to 100%"
    MIXED_CURRENCIES = "C0307", "mixed currencies"
    OUT_OF_RANGE = "C0308", "value out of range"
    UNKNOWN_OUTCOME = "C0309", "unknown outcome"
    CLAUSE_NOT_ALLOWED = "C0310", "clause not allowed here"
    UNKNOWN_OPTION = "C0311", "unknown option value"
    MISSING_CLAUSE = "C0312", "missing clause"
    DUPLICATE_SETTING = "C0313", "duplicate setting"
    INVALID_PROBE = "C0314", "invalid probe (template, header, body or expectations)"
    WRONG_ARITY = "C0315", "wrong number of arguments"
    DIVISION_BY_ZERO = "C0316", "division by zero"
    ACTION_NOT_ALLOWED = "C0317", "action not allowed on these entities"
    REFUND_EXCEEDS = "C0318", "refund exceeds what is left to refund"
    # warnings
    UNUSED_PARAMETER = "W0401", "unused parameter"
    DUPLICATE_USE = "W0402", "duplicate use of a module"
