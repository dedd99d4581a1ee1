"""DynamoDB numbers: 38 significant digits, magnitudes 1E-130 .. 9.99..E+125.

Every number is canonicalised on the way in, so ``1``, ``1.0`` and ``10E-1`` are one
value everywhere: in stored items, in keys and in comparisons.
"""

from __future__ import annotations

import re
from decimal import Context, Decimal

from dynovault.errors import ValidationException

MAX_DIGITS = 38
MAX_ADJUSTED_EXPONENT = 125
MIN_ADJUSTED_EXPONENT = -130

# Wide enough that canonicalising or adding two in-range numbers never rounds silently.
DECIMAL_CONTEXT = Context(prec=MAX_DIGITS, Emax=999, Emin=-999)
# ASCII digits only: Python's \d would also admit other scripts' digits, which Decimal reads.
_NUMBER_SYNTAX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?")
# DynamoDB reads an exponent as a 64-bit integer: past that a literal is no number at all.
_MAX_EXPONENT_MAGNITUDE = 2**63 - 1
_FAR_OUT_OF_RANGE = 10**15
# A number already written as DynamoDB writes it back (plain notation, no leading or
# trailing zeros) needs no Decimal: most numbers clients send, embeddings' among them.
_CANONICAL_PLAIN = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*[1-9])?")
# Short enough that its digits fit the 38 allowed and its magnitude the range.
_SHORT_PLAIN = MAX_DIGITS
OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"
UNDERFLOW = "Number underflow. Attempting to store a number with magnitude smaller than supported range"


def parse_number(text: str) -> Decimal:
    """Parse and range-check a number as DynamoDB does; the result is canonical."""
    match = _NUMBER_SYNTAX.fullmatch(text) if isinstance(text, str) else None
    exponent = int(match.group(1)) if match is not None and match.group(1) is not None else 0
    if match is None or abs(exponent) > _MAX_EXPONENT_MAGNITUDE:
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {text}")
    if abs(exponent) > _FAR_OUT_OF_RANGE:
        # Beyond what Decimal can hold, and beyond any digits that could bring it back.
        raise ValidationException(OVERFLOW if exponent > 0 else UNDERFLOW)
    return check_number(Decimal(text))


def canonical_number(text: str) -> tuple[str, int]:
    """A number's canonical text and its size (``format_number`` and ``number_size`` of
    ``parse_number``), without a Decimal when the text is already canonical."""
    if isinstance(text, str) and len(text) <= _SHORT_PLAIN and text != "-0" and _CANONICAL_PLAIN.fullmatch(text):
        return text, _plain_size(text)
    number = parse_number(text)
    return format_number(number), number_size(number)


def _plain_size(text: str) -> int:
    """``number_size`` of a canonical plain number, read off its text."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return 1
    exponent = -len(fraction)
    if not fraction:
        trimmed = digits.rstrip("0")
        exponent = len(digits) - len(trimmed)
        digits = trimmed
    length = len(digits) + exponent % 2
    return 1 + (length + 1) // 2 + negative


def check_number(value: Decimal) -> Decimal:
    """Enforce DynamoDB's range, then its precision (the order DynamoDB reports them in),
    on a computed or parsed number. Zero too is range-checked, by the exponent it is
    written with (``0e126`` overflows)."""
    adjusted = value.adjusted()
    if adjusted > MAX_ADJUSTED_EXPONENT:
        raise ValidationException(OVERFLOW)
    if adjusted < MIN_ADJUSTED_EXPONENT:
        raise ValidationException(UNDERFLOW)
    if not value:
        return Decimal(0)
    if significant_digits(value) > MAX_DIGITS:
        raise ValidationException(
            "Attempting to store more than 38 significant digits in a Number"
        )
    return value.normalize(DECIMAL_CONTEXT)


def significant_digits(value: Decimal) -> int:
    return len("".join(map(str, value.as_tuple().digits)).strip("0"))


def format_number(value: Decimal) -> str:
    """The text DynamoDB returns for a number: plain notation, no trailing zeros."""
    if not value:
        return "0"
    return format(value, "f")


def number_size(value: Decimal) -> int:
    """Bytes a number counts for in DynamoDB's item-size rules: one, plus one per pair of
    digits aligned on the decimal point (so ``1.5`` costs a pair more than ``15``), plus
    one for a negative sign. Measured against DynamoDB's 400 KB limit, this fits where
    the developer guide's approximation (a byte per two digits) does not."""
    if not value:
        return 1
    sign, digits, exponent = value.normalize(DECIMAL_CONTEXT).as_tuple()
    length = len(digits) + exponent % 2  # a digit's worth of padding puts the exponent on a pair boundary
    pairs = (length + 1) // 2
    return 1 + pairs + sign
