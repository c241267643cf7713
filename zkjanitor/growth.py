"""The growth picture: sessions by creation day and by who created them, each split by verdict.

By day uses the znode's creation time (ctime), which Livy's rewrites at each
restart leave alone, so the day the build-up began shows. By owner names the
client that never deletes its sessions; when one service account owns them
all, session names with their digits replaced by ``#`` tell the clients apart.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timezone
from operator import attrgetter
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.model import SessionReport, Verdict

TOP_GROUPS = 50
"""Owners or name patterns listed one by one; the rest are added up in one ``others`` row."""

_DIGITS = re.compile(r"\d+")


class Row(NamedTuple):
    """One day, owner or name pattern: its sessions by verdict."""

    key: Tuple[Optional[str], ...]
    counts: Dict[Verdict, int]

    @property
    def sessions(self) -> int:
        return sum(self.counts.values())

    @property
    def stale(self) -> int:
        return self.counts[Verdict.STALE]


class Groups(NamedTuple):
    rows: List[Row]
    """The top :data:`TOP_GROUPS`, most stale first."""
    others: Optional[Row]
    """Everything past them added up (key ``("others", groups)``), None when nothing was left out."""


class Growth(NamedTuple):
    by_day: List[Row]
    """Days (UTC, ``YYYY-MM-DD``) with sessions, oldest first."""
    by_owner: Groups
    """By (owner, proxy user)."""
    by_name: Groups
    """By name pattern (digits as ``#``; ``None`` for sessions without a name)."""
    one_owner: bool
    """Every session has the same (owner, proxy user): ``by_name`` is what tells clients apart."""

    @property
    def first_stale_day(self) -> Optional[str]:
        return next((row.key[0] for row in self.by_day if row.stale), None)

    @property
    def top_leaker(self) -> Optional[Row]:
        """The group with the most stale sessions: by name when one owner has them all, else by owner."""
        groups = self.by_name if self.one_owner else self.by_owner
        return groups.rows[0] if groups.rows and groups.rows[0].stale else None


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def name_pattern(name: Optional[str]) -> Optional[str]:
    """``etl-20261103-0042`` -> ``etl-#-#``: the client behind a generated name."""
    return None if name is None else _DIGITS.sub("#", name)


Key = Tuple[Optional[str], ...]


def _count(pairs: Iterable[Tuple[Key, Verdict]]) -> Dict[Key, Dict[Verdict, int]]:
    """(key, verdict) pairs -> counts per verdict, per key (the counting itself is Counter's, in C)."""
    table: Dict[Key, Dict[Verdict, int]] = {}
    for (key, verdict), n in Counter(pairs).items():
        counts = table.get(key)
        if counts is None:
            counts = table[key] = dict.fromkeys(Verdict, 0)
        counts[verdict] += n
    return table


def _top(table: Dict[Key, Dict[Verdict, int]], top: int) -> Groups:
    rows = sorted((Row(key, counts) for key, counts in table.items()),
                  key=lambda row: (-row.stale, -row.sessions, tuple(part or "" for part in row.key)))
    if len(rows) <= top:
        return Groups(rows, None)
    rest = dict.fromkeys(Verdict, 0)
    for row in rows[top:]:
        for verdict, n in row.counts.items():
            rest[verdict] += n
    return Groups(rows[:top], Row(("others", str(len(rows) - top)), rest))


def compute_growth(reports: Sequence[SessionReport], *, top: int = TOP_GROUPS) -> Growth:
    """Both pictures of a scan's reports."""
    sessions = [report.session for report in reports]
    verdicts = [report.verdict for report in reports]
    day_numbers = [s.ctime_ms // 86_400_000 for s in sessions]
    day_texts = {day: utc_day(day * 86_400_000) for day in set(day_numbers)}  # each distinct day formatted once
    names = [s.name for s in sessions]
    patterns = {name: name_pattern(name) for name in set(names)}
    by_day = _count(zip([(day_texts[day],) for day in day_numbers], verdicts))
    by_owner = _count(zip(map(attrgetter("owner", "proxy_user"), sessions), verdicts))
    by_name = _count(zip([(patterns[name],) for name in names], verdicts))
    return Growth(
        by_day=[Row(key, counts) for key, counts in sorted(by_day.items(), key=lambda item: item[0][0] or "")],
        by_owner=_top(by_owner, top),
        by_name=_top(by_name, top),
        one_owner=len(by_owner) == 1,
    )

