"""Output formats. Library results in, text out; each format is one module.

``json`` builds the contract's documents (also reused by metrics and tests);
``table`` renders the same results for people with rich.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, NamedTuple, Optional, Sequence

if TYPE_CHECKING:
    from zkjanitor.backup import Backup
    from zkjanitor.janitor import PrunePlan
    from zkjanitor.model import SessionReport
    from zkjanitor.prune import PruneResult
    from zkjanitor.restore import RestoreOutcome
    from zkjanitor.scan import Summary

_MS_PER_DAY = 86_400_000
_EPOCH_DAY = date(1970, 1, 1)
_MAX_CACHED_DAYS = 100_000


class _DayPrefixes(Dict[int, str]):
    """``"2026-11-23T"`` for the day ``days`` after 1970-01-01, each made once (a store spans few days)."""

    def __missing__(self, days: int) -> str:
        text = (_EPOCH_DAY + timedelta(days=days)).isoformat() + "T"
        if len(self) < _MAX_CACHED_DAYS:
            self[days] = text
        return text


class _Clocks(Dict[int, str]):
    """``"20:14:40"`` for a second of the day (86,400 at most), each made once."""

    def __missing__(self, second: int) -> str:
        minutes, seconds = divmod(second, 60)
        text = "%02d:%02d:%02d" % (minutes // 60, minutes % 60, seconds)
        self[second] = text
        return text


_DAYS = _DayPrefixes()
_CLOCKS = _Clocks()
_MILLIS = [f".{millis:03d}Z" for millis in range(1000)]


def iso_utc(ms: Optional[int]) -> Optional[str]:
    """Milliseconds since the epoch -> ``2026-11-23T20:14:40.123Z`` (None stays None).

    Integer arithmetic over cached day, clock and millisecond texts: several
    times faster than datetime's formatting, which matters with two or three
    timestamps per session in a scan of 100k sessions.
    """
    if ms is None:
        return None
    days, rest = divmod(ms, _MS_PER_DAY)
    return f"{_DAYS[days]}{_CLOCKS[rest // 1000]}{_MILLIS[rest % 1000]}"


def describe_selection(selected: Sequence["SessionReport"], owners_shown: int = 3) -> str:
    """What a prune would delete, in one line: how many, by reason, the age range, the top owners."""
    from collections import Counter

    from zkjanitor.units import format_duration

    reasons: Counter = Counter()
    owners: Counter = Counter()
    oldest, youngest = 0.0, float("inf")
    for report in selected:  # once: a million reports are read back from prune's spool
        reasons[report.reason] += 1
        owners[report.session.proxy_user or report.session.owner or "(no owner)"] += 1
        oldest, youngest = max(oldest, report.age_seconds), min(youngest, report.age_seconds)
    by_reason = ", ".join(f"{reason} {count:,}" for reason, count in reasons.most_common())
    top = ", ".join(f"{owner} {count:,}" for owner, count in owners.most_common(owners_shown))
    return (f"{len(selected):,} session znode(s) ({by_reason}; oldest {format_duration(oldest)}, "
            f"youngest {format_duration(youngest)}; top owners: {top})")


class PruneReport(NamedTuple):
    """What a ``prune`` renderer shows: the plan, what became of it, and where."""

    plan: "PrunePlan"
    result: "PruneResult"
    summary: "Summary"
    mode: str
    """``dry-run`` or ``apply``."""
    zookeeper: str
    prefix: str
    backup: Optional[Path]


class RestoreReport(NamedTuple):
    """What a ``restore`` renderer shows."""

    backup_file: Path
    backup: "Backup"
    outcomes: List["RestoreOutcome"]
    apply: bool
    zookeeper: str

    @property
    def counts(self) -> Dict[str, int]:
        from zkjanitor.restore import RestoreAction

        counts = dict.fromkeys(RestoreAction.ALL, 0)
        for outcome in self.outcomes:
            counts[outcome.action] += 1
        return counts
