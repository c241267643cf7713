"""What Livy itself would already have dropped, by the rules in its livy.conf, had it not restarted.

Livy keeps a finished session ``livy.server.session.state-retain.sec`` (600 s)
after it ends, then deletes it; with ``livy.server.session.ttl-check`` on it
also ends interactive sessions older than ``livy.server.session.ttl`` (8 h).
Its clocks reset at every restart, which is how a restart loop keeps dead
sessions forever (docs/dev/livy-rest.md section 6). ``prune --older-than
livy-retention`` prunes by the first rule.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from zkjanitor.livyconf import SESSION_TTL, SESSION_TTL_CHECK, LivyConf
from zkjanitor.scan import ScanResult

LIVY_RETENTION = "livy-retention"
"""The ``--older-than`` value that means livy.conf's ``livy.server.session.state-retain.sec``."""


class LivyRules(NamedTuple):
    """How many sessions of a scan Livy's own rules would have dropped already."""

    state_retain_seconds: float
    finished_past_retention: int
    """Stale sessions older than the retention (age from the finish time when known, else from creation)."""
    ttl_seconds: Optional[float]
    """``livy.server.session.ttl`` when ``ttl-check`` is on, else None."""
    interactive_past_ttl: int
    """Interactive sessions (not corrupt) created longer ago than the TTL; Livy would have ended them."""


def retention_seconds(conf: LivyConf) -> float:
    return conf.state_retain_ms / 1000.0


def livy_rules(result: ScanResult, conf: LivyConf) -> LivyRules:
    retain = retention_seconds(conf)
    ttl_check = (conf.get(SESSION_TTL_CHECK) or "").lower() == "true"  # Boolean.parseBoolean, as Livy reads it
    ttl = conf.time_ms(SESSION_TTL) / 1000.0 if ttl_check else None
    finished = sum(1 for age in result.tally.stale_ages if age > retain)
    past_ttl = 0
    if ttl is not None:
        created_before = result.now_ms - ttl * 1000.0
        past_ttl = sum(1 for created in result.tally.interactive_created if created < created_before)
    return LivyRules(retain, finished, ttl, past_ttl)
