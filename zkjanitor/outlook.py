"""The on-call verdict line: what a Livy restart would face, and what a prune would change.

Computed from a scan's verdicts only (:class:`zkjanitor.scan.Tally`) (no store, no source): Livy recovers every
session record at start (one monitor thread each), so the count of decodable
records is the load a restart faces; a prune removes stale ones. The suggested
``--older-than`` is the largest round duration of :data:`LADDER` that still
selects most stale sessions, so the command an operator copies selects something.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.model import SessionReport, Verdict

if TYPE_CHECKING:
    from zkjanitor.scan import Tally

LADDER: Tuple[Tuple[str, float], ...] = (
    ("30d", 30 * 86400.0),
    ("14d", 14 * 86400.0),
    ("7d", 7 * 86400.0),
    ("3d", 3 * 86400.0),
    ("1d", 86400.0),
    ("12h", 12 * 3600.0),
    ("1h", 3600.0),
)
"""Round ``--older-than`` values, largest first."""

MOST = 0.9
"""A rung selects "most" stale sessions when it selects at least this share of them."""


class Suggestion(NamedTuple):
    older_than: str
    """A ``--older-than`` value of :data:`LADDER`, e.g. ``1d``."""
    older_than_seconds: float
    selects: int
    """Stale sessions at least that old."""


class Outlook(NamedTuple):
    """What a restart would recover now, and after the suggested (or planned) prune."""

    recoverable: int
    """Session records Livy would recover (all but corrupt ones)."""
    stale: int
    unknown: int
    corrupt: int
    suggestion: Optional[Suggestion]
    """The prune to run; None when nothing stale is at least an hour old."""
    recoverable_after: int
    """``recoverable`` minus what the suggestion (or the planned prune) would delete."""
    planned: Optional[Suggestion] = None
    """For a prune's dry run: its own ``--older-than`` and what it selected."""
    text: str = ""


def suggest_older_than(stale_ages: Sequence[float], *, most: float = MOST) -> Optional[Suggestion]:
    """The largest rung of :data:`LADDER` selecting at least ``most`` of ``stale_ages``.

    When no rung selects that many, the rung selecting the most (the smallest one
    that selects anything); None when no stale session is as old as the smallest rung.
    """
    if not stale_ages:
        return None
    ordered = sorted(stale_ages)
    best: Optional[Suggestion] = None
    for text, seconds in LADDER:
        selects = len(ordered) - bisect_left(ordered, seconds)
        if selects and selects >= most * len(stale_ages):
            return Suggestion(text, seconds, selects)
        if selects and (best is None or selects > best.selects):
            best = Suggestion(text, seconds, selects)
    return best


def compute_outlook(tally: "Tally", *, planned: Optional[Suggestion] = None) -> Outlook:
    """The outlook of a scan's verdicts (:class:`~zkjanitor.scan.Tally`); ``planned`` is a prune's own selection."""
    counts = {verdict: tally.count(verdict) for verdict in Verdict}
    recoverable = counts[Verdict.LIVE] + counts[Verdict.STALE] + counts[Verdict.UNKNOWN]
    suggestion = suggest_older_than(tally.stale_ages)
    removed = planned.selects if planned is not None else (suggestion.selects if suggestion else 0)
    outlook = Outlook(recoverable, counts[Verdict.STALE], counts[Verdict.UNKNOWN], counts[Verdict.CORRUPT],
                      suggestion, max(recoverable - removed, 0), planned)
    return outlook._replace(text=outlook_text(outlook))


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def outlook_text(outlook: Outlook) -> str:
    """One line: the restart's load, what is stale, and what a prune would leave."""
    head = f"Livy would recover {_n(outlook.recoverable, 'session')} (one monitor thread each)"
    if outlook.corrupt:
        head += f" and fail on {outlook.corrupt:,} corrupt record(s)"
    if outlook.planned is not None:
        planned = outlook.planned
        return (f"{head}; {outlook.stale:,} stale; after this prune (--older-than {planned.older_than}, "
                f"{planned.selects:,} selected) it would recover {outlook.recoverable_after:,}.")
    if outlook.stale == 0:
        if outlook.unknown:
            return f"{head}; none is known stale ({outlook.unknown:,} unknown: no source could say): nothing to prune."
        return f"{head}; none is stale: nothing to prune."
    if outlook.suggestion is None:
        return (f"{head}; {outlook.stale:,} stale, all younger than {LADDER[-1][0]}: nothing worth pruning yet.")
    return (f"{head}; {outlook.stale:,} stale; after `zkjanitor prune --older-than {outlook.suggestion.older_than}` "
            f"it would recover {outlook.recoverable_after:,}.")


def planned_outlook(tally: "Tally", selected: Sequence[SessionReport], older_than_seconds: float) -> Outlook:
    """The outlook of a prune's dry run: what its own selection would leave."""
    from zkjanitor.units import format_duration

    stale_selected = sum(1 for report in selected if report.verdict is Verdict.STALE)
    planned = Suggestion(format_duration(older_than_seconds), older_than_seconds, stale_selected)
    return compute_outlook(tally, planned=planned)
