"""Output formats. Library results in, text out; each format is one module.

``json`` builds the contract's documents (also reused by metrics and tests);
``table`` renders the same results for people with rich.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional


def iso_utc(ms: Optional[int]) -> Optional[str]:
    """Milliseconds since the epoch -> ``2026-11-23T20:14:40.123Z`` (None stays None)."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
