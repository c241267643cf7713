"""Parse and format the human quantities zkjanitor reads and prints.

Two families live here:

* zkjanitor's own option syntax: durations such as ``90m`` or ``1d12h``
  (:func:`parse_duration`) and sizes such as ``50MB`` or ``512KiB``
  (:func:`parse_size`), with matching formatters for reports.
* Livy's time strings as Livy itself reads them from ``livy.conf``
  (:func:`parse_livy_time_ms`), where a value without a unit means milliseconds.

Parsers raise ``ValueError`` with a one-line message that says what is accepted.
"""

from __future__ import annotations

import re
from decimal import Decimal

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 60 * SECONDS_PER_MINUTE
SECONDS_PER_DAY = 24 * SECONDS_PER_HOUR
SECONDS_PER_WEEK = 7 * SECONDS_PER_DAY

MAX_DURATION_SECONDS = 100 * 365 * SECONDS_PER_DAY
"""Longest accepted duration (about 100 years): anything above is a typo."""

_MAX_INPUT_LENGTH = 64
"""Longer option values are rejected before any number is converted."""

_DURATION_UNITS = {
    "s": 1,
    "m": SECONDS_PER_MINUTE,
    "h": SECONDS_PER_HOUR,
    "d": SECONDS_PER_DAY,
    "w": SECONDS_PER_WEEK,
}
_DURATION_PART = re.compile(r"([0-9]+)([smhdw])\s*", re.ASCII | re.IGNORECASE)
_DURATION_HINT = "use a whole number and a unit, e.g. 90m, 12h, 1d, 2w"

_SIZE_MULTIPLIERS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE_PATTERN = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)", re.ASCII | re.IGNORECASE)
_SIZE_HINT = "use bytes or a number and a unit, e.g. 100, 512KiB, 50MB, 1.5GB"

_FORMAT_DURATION_UNITS = (
    ("d", SECONDS_PER_DAY),
    ("h", SECONDS_PER_HOUR),
    ("m", SECONDS_PER_MINUTE),
    ("s", 1),
)
_FORMAT_SIZE_UNITS = ("KB", "MB", "GB", "TB", "PB", "EB")

# Livy's ClientConf.getTimeAsMs (0.8 and later): Java's String.trim() strips
# every character up to U+0020, then the lowercased value must fully match.
_JAVA_TRIM_CHARACTERS = "".join(chr(code) for code in range(0x21))
_LIVY_TIME_PATTERN = re.compile(r"(-?[0-9]+)([a-z]+)?")
_LIVY_TIME_SUFFIX_MICROSECONDS = {
    "us": 1,
    "ms": 1000,
    "s": 1000 * 1000,
    "m": 60 * 1000 * 1000,
    "min": 60 * 1000 * 1000,
    "h": 3600 * 1000 * 1000,
    "d": 86400 * 1000 * 1000,
}
_JAVA_LONG_MIN = -(2**63)
_JAVA_LONG_MAX = 2**63 - 1
_JAVA_LONG_MAX_DIGITS = 19


def parse_duration(text: str) -> float:
    """Return the seconds in a duration such as ``90m``, ``12h``, ``1d12h`` or ``3d 4h``.

    Each part is a whole number followed by ``s``, ``m``, ``h``, ``d`` or ``w``
    (any case); parts may be separated by spaces, so :func:`format_duration`
    output is accepted. A bare number is rejected because its unit is ambiguous.
    """
    stripped = text.strip()
    if not stripped or len(stripped) > _MAX_INPUT_LENGTH:
        raise ValueError(f"invalid duration {text!r}: {_DURATION_HINT}")
    if re.fullmatch(r"[0-9]+", stripped, re.ASCII):
        examples = ", ".join(stripped + unit for unit in "smhd")
        raise ValueError(f"invalid duration {text!r}: add a unit, e.g. {examples}")
    position = 0
    total = 0
    while position < len(stripped):
        part = _DURATION_PART.match(stripped, position)
        if part is None:
            raise ValueError(f"invalid duration {text!r}: {_DURATION_HINT}")
        total += int(part.group(1)) * _DURATION_UNITS[part.group(2).lower()]
        position = part.end()
    if total > MAX_DURATION_SECONDS:
        raise ValueError(f"invalid duration {text!r}: longer than 100 years")
    return float(total)


def parse_size(text: str) -> int:
    """Return the bytes in a size such as ``100``, ``100B``, ``50MB``, ``1.5GB`` or ``512KiB``.

    ``k``/``KB``, ``M``/``MB``, ``G``/``GB``, ``T``/``TB`` are powers of 1000;
    ``Ki``/``KiB`` … ``Ti``/``TiB`` are powers of 1024 (letters in any case).
    A fraction needs a unit above bytes; the result is rounded to a whole byte.
    """
    stripped = text.strip()
    match = _SIZE_PATTERN.fullmatch(stripped) if len(stripped) <= _MAX_INPUT_LENGTH else None
    if match is None:
        raise ValueError(f"invalid size {text!r}: {_SIZE_HINT}")
    number, unit = match.group(1), match.group(2).lower()
    multiplier = _SIZE_MULTIPLIERS.get(unit)
    if multiplier is None:
        raise ValueError(f"invalid size {text!r}: unknown unit {match.group(2)!r}; {_SIZE_HINT}")
    if "." in number and multiplier == 1:
        raise ValueError(f"invalid size {text!r}: bytes must be a whole number")
    return int((Decimal(number) * multiplier).to_integral_value())


def format_duration(seconds: float) -> str:
    """Return a compact form using the two largest units, e.g. ``3d 4h``, ``12m 5s``, ``0s``.

    Fractions of a second are dropped; the second unit is left out when it is zero.
    """
    sign = "-" if seconds < 0 else ""
    whole_seconds = int(abs(seconds))
    units = _FORMAT_DURATION_UNITS
    index = next(
        (position for position, (_, size) in enumerate(units) if whole_seconds >= size),
        len(units) - 1,
    )
    unit, size = units[index]
    major, remainder = divmod(whole_seconds, size)
    text = f"{sign}{major}{unit}"
    if index + 1 < len(units):
        minor_unit, minor_size = units[index + 1]
        minor = remainder // minor_size
        if minor:
            text += f" {minor}{minor_unit}"
    return text


def format_size(size: int) -> str:
    """Return a byte count in decimal units: ``181 B``, ``12.4 KB``, ``3.1 MB``."""
    if size < 0:
        raise ValueError(f"a size cannot be negative: {size}")
    if size < 1000:
        return f"{size} B"
    exponent = 1
    shown = f"{size / 1000:.1f}"
    while float(shown) >= 1000 and exponent < len(_FORMAT_SIZE_UNITS):
        exponent += 1
        shown = f"{size / 1000**exponent:.1f}"
    return f"{shown} {_FORMAT_SIZE_UNITS[exponent - 1]}"


def parse_livy_time_ms(value: str) -> int:
    """Return milliseconds exactly as Livy 0.8+ ``ClientConf.getTimeAsMs`` reads ``value``.

    The value is trimmed and lowercased, then must be an integer with an
    optional suffix ``us``, ``ms``, ``s``, ``m``, ``min``, ``h`` or ``d``.
    **No suffix means milliseconds.** Negative numbers and fractions are
    rejected; a result beyond Java's ``Long.MAX_VALUE`` saturates as
    ``TimeUnit.convert`` does. Error messages repeat Livy's own wording.
    """
    normalized = value.strip(_JAVA_TRIM_CHARACTERS).lower()
    match = _LIVY_TIME_PATTERN.fullmatch(normalized) if normalized else None
    if match is None:
        raise ValueError(f"Invalid time string: {value}")
    digits, suffix = match.group(1), match.group(2)
    number = int(digits) if len(digits.lstrip("-0")) <= _JAVA_LONG_MAX_DIGITS else None
    if number is None or not _JAVA_LONG_MIN <= number <= _JAVA_LONG_MAX:
        raise ValueError(f"Invalid time string: {value} (the number is out of range)")
    if suffix is not None and suffix not in _LIVY_TIME_SUFFIX_MICROSECONDS:
        raise ValueError(f'Invalid suffix: "{suffix}"')
    if number < 0:
        raise ValueError(f"Invalid value: {number}")
    milliseconds = number * _LIVY_TIME_SUFFIX_MICROSECONDS[suffix or "ms"] // 1000
    return min(milliseconds, _JAVA_LONG_MAX)
