"""Limits on the state store's size and health, for CI and cron gates."""

from __future__ import annotations

from typing import List, NamedTuple, Optional

from zkjanitor.model import Verdict
from zkjanitor.scan import Summary


class Limits(NamedTuple):
    """Thresholds; None means "not checked"."""

    max_sessions: Optional[int] = None
    max_stale: Optional[int] = None
    max_bytes: Optional[int] = None

    @property
    def any(self) -> bool:
        return any(value is not None for value in self)

    @property
    def needs_source(self) -> bool:
        """Only the stale count needs the application-state source."""
        return self.max_stale is not None


class LimitResult(NamedTuple):
    """One configured limit, what was measured, and whether it was exceeded."""

    limit: str
    value: int
    threshold: int
    exceeded: bool


def evaluate(summary: Summary, limits: Limits) -> List[LimitResult]:
    """Measure each configured limit; a value strictly above its threshold is exceeded."""
    measured = {
        "max-sessions": (summary.sessions + summary.unreadable, limits.max_sessions),
        "max-stale": (summary.by_verdict[Verdict.STALE], limits.max_stale),
        "max-bytes": (summary.bytes, limits.max_bytes),
    }
    return [
        LimitResult(name, value, threshold, value > threshold)
        for name, (value, threshold) in measured.items()
        if threshold is not None
    ]
