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
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from zkjanitor.model import Verdict

if TYPE_CHECKING:
    from zkjanitor.scan import Tally

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


def _count(pairs: "Counter[Tuple[Any, Verdict]]", key: Callable[[Any], Key]) -> Dict[Key, Dict[Verdict, int]]:
    """Counts of (value, verdict) -> counts per verdict, per ``key(value)``."""
    table: Dict[Key, Dict[Verdict, int]] = {}
    for (value, verdict), n in pairs.items():
        row = key(value)
        counts = table.get(row)
        if counts is None:
            counts = table[row] = dict.fromkeys(Verdict, 0)
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


def compute_growth(tally: "Tally", *, top: int = TOP_GROUPS) -> Growth:
    """Both pictures of a scan's verdicts, from its :class:`~zkjanitor.scan.Tally`."""
    by_day = _count(tally.by_day, lambda day: (utc_day(day * 86_400_000),))
    by_owner = _count(tally.by_owner, lambda owner: owner)
    return Growth(
        by_day=[Row(key, counts) for key, counts in sorted(by_day.items(), key=lambda item: item[0][0] or "")],
        by_owner=_top(by_owner, top),
        by_name=_top(_count(tally.by_name, lambda pattern: (pattern,)), top),
        one_owner=len(by_owner) == 1,
    )
