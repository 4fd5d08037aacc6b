"""Meaning of unit literals: ISO 4217 currencies and exponents, ratios, durations.

Money is always an exact integer of minor units; nothing here goes through float.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Active ISO 4217 codes. Exponent 2 unless listed in _EXPONENT.
CURRENCIES: frozenset[str] = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLF", "CLP", "CNY", "COP",
    "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
    "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN",
    "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYI", "UYU",
    "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG"
})

_EXPONENT: dict[str, int] = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
                     "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}

#: Largest integer a program may hold (amounts in minor units, counts): a signed 64-bit value.
MAX_INT = 2**63 - 1

#: The longest duration a plan holds (ten years): virtual times stay well inside 64 bits.
MAX_DURATION_MS = 10 * 366 * 86_400_000

DURATION_MS: dict[str, int] = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def exponent(currency: str) -> int:
    """Return the ISO 4217 minor-unit exponent of `currency` (INR 2, JPY 0, KWD 3)."""
    return _EXPONENT.get(currency, 2)


def decimal_places(text: str) -> int:
    """Return how many digits follow the decimal point in `text`."""
    return len(text.split(".", 1)[1]) if "." in text else 0


def to_minor(amount: str, currency: str) -> int:
    """Return `amount` (major units, as written) in minor units of `currency`.

    The caller has checked that `amount` has no more decimals than the exponent allows.
    """
    scaled = Decimal(amount.replace("_", "")).scaleb(exponent(currency))
    return int(scaled)


def percent_value(text: str) -> Decimal:
    """Return the ratio a `15%`-style literal denotes, as an exact Decimal in 0..1 (or beyond)."""
    return Decimal(text.rstrip("%").replace("_", "")) / 100


def decimal_value(text: str) -> Decimal:
    """Return a decimal literal's exact value."""
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the grammar only admits digits
        raise ValueError(text) from None


def duration_ms(text: str) -> int:
    """Return the milliseconds a `30s`-style literal denotes."""
    digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = text[len(digits):]
    return int(digits.replace("_", "")) * DURATION_MS[unit]


def format_ratio(value: Decimal) -> str:
    """Render a ratio as a percentage without trailing zeros: 0.15 -> `15%`."""
    pct = (value * 100).normalize()
    text = format(pct, "f")
    return f"{text}%"


def duration_text(ms: int) -> str:
    """`259200000` -> `3d`: the largest unit that divides the duration exactly."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
