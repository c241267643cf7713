"""Durations, sizes and Livy time strings: what users type and what they see."""

from __future__ import annotations

import pytest

from zkjanitor.units import (
    format_duration,
    format_size,
    parse_duration,
    parse_livy_time_ms,
    parse_size,
)

DAY = 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("90m", 90 * 60),
        ("12h", 12 * 3600),
        ("1d", DAY),
        ("2w", 14 * DAY),
        ("1d12h", DAY + 12 * 3600),
        ("1D12H", DAY + 12 * 3600),
        ("  7d\n", 7 * DAY),
        ("3d 4h", 3 * DAY + 4 * 3600),
        ("0s", 0),
        ("36500d", 36500 * DAY),
    ],
)
def test_parse_duration_accepts(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "90",
        "-1d",
        "1.5h",
        "1x",
        "d",
        "1 d",
        "1d-2h",
        "1d,2h",
        "٣d",
        "forever",
        "36501d",
        "1" * 80 + "s",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_message_says_what_is_accepted() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration("1x")
    assert (
        str(raised.value)
        == "invalid duration '1x': use a whole number and a unit, e.g. 90m, 12h, 1d, 2w"
    )


def test_parse_duration_bare_number_suggests_units() -> None:
    with pytest.raises(ValueError, match="add a unit, e.g. 90s, 90m, 90h, 90d"):
        parse_duration("90")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100", 100),
        ("100B", 100),
        ("100 b", 100),
        ("50MB", 50_000_000),
        ("50mb", 50_000_000),
        ("1.5GB", 1_500_000_000),
        ("2k", 2000),
        ("1TB", 10**12),
        ("512KiB", 512 * 1024),
        ("1.5MiB", 1536 * 1024),
        ("3Gi", 3 * 1024**3),
        ("12.4 KB", 12_400),
        (" 0 ", 0),
    ],
)
def test_parse_size_accepts(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["", "-5MB", "MB", "5XB", "1.5", "1.5B", "1e6", "5 M B", "1,000", "five", "1" * 80],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.9, "0s"),
        (45, "45s"),
        (12 * 60 + 5, "12m 5s"),
        (3600, "1h"),
        (3 * DAY + 4 * 3600 + 59, "3d 4h"),
        (24 * DAY, "24d"),
        (DAY + 30, "1d"),
        (-90, "-1m 30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [45, 12 * 60 + 5, 3 * DAY + 4 * 3600])
def test_format_duration_output_is_accepted_by_parse_duration(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (181, "181 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (12_400, "12.4 KB"),
        (3_100_000, "3.1 MB"),
        (999_960, "1.0 MB"),
        (2 * 10**12, "2.0 TB"),
    ],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_format_size_output_is_accepted_by_parse_size() -> None:
    assert parse_size(format_size(12_400)) == 12_400


def test_format_size_rejects_negative() -> None:
    with pytest.raises(ValueError):
        format_size(-1)


@pytest.mark.parametrize(
    ("value", "milliseconds"),
    [
        ("600", 600),
        ("600s", 600_000),
        ("600ms", 600),
        ("1500us", 1),
        ("1m", 60_000),
        ("2min", 120_000),
        ("1h", 3_600_000),
        ("24d", 24 * DAY * 1000),
        ("  10S  ", 10_000),
        ("1H", 3_600_000),
        ("0", 0),
        ("-0", 0),
        ("9223372036854775807d", 2**63 - 1),
    ],
)
def test_parse_livy_time_ms_accepts(value: str, milliseconds: int) -> None:
    assert parse_livy_time_ms(value) == milliseconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Invalid time string: "),
        ("   ", "Invalid time string:"),
        ("1.5h", "Invalid time string: 1.5h"),
        ("1 h", "Invalid time string: 1 h"),
        ("h", "Invalid time string: h"),
        ("10 minutes", "Invalid time string: 10 minutes"),
        ("5w", 'Invalid suffix: "w"'),
        ("10sec", 'Invalid suffix: "sec"'),
        ("-5s", "Invalid value: -5"),
        ("-1", "Invalid value: -1"),
        ("99999999999999999999", "Invalid time string: 99999999999999999999"),
    ],
)
def test_parse_livy_time_ms_rejects_with_livys_message(value: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_livy_time_ms(value)
    assert str(raised.value).startswith(message)
