"""What Livy's own rules (livy.conf) would already have dropped, on the in-memory store."""

from __future__ import annotations

import time

from tests.support.session_znodes import livy_record
from tests.support.sources import DictSource
from zkjanitor.janitor import Janitor
from zkjanitor.livyconf import LivyConf
from zkjanitor.model import AppPhase, SessionType
from zkjanitor.retention import livy_rules
from zkjanitor.testing.memory_store import MemoryStore

BATCH, INTERACTIVE = SessionType.BATCH, SessionType.INTERACTIVE
HOUR_MS = 3_600_000


def scanned(ages_hours):
    """Batches and interactive sessions of the given ages (hours); the source knows none of their apps."""
    now = int(time.time() * 1000)
    store = MemoryStore()
    for session_id, (session_type, age) in enumerate(ages_hours):
        store.put(session_type, session_id, livy_record(session_type, session_id), ctime_ms=now - int(age * HOUR_MS))
    running = {f"application_1712345678901_{i:04d}": AppPhase.ACTIVE
               for i, (t, _) in enumerate(ages_hours) if t is INTERACTIVE}
    return Janitor(store, DictSource("toy", running)).scan()


def test_finished_sessions_past_state_retain_are_counted():
    result = scanned([(BATCH, 0.5), (BATCH, 3), (BATCH, 30), (INTERACTIVE, 30)])

    rules = livy_rules(result, LivyConf({"livy.server.session.state-retain.sec": "2h"}))

    assert (rules.state_retain_seconds, rules.finished_past_retention) == (7200.0, 2)
    assert rules.ttl_seconds is None and rules.interactive_past_ttl == 0  # ttl-check is off by default


def test_interactive_sessions_past_the_ttl_count_only_with_ttl_check_on():
    result = scanned([(INTERACTIVE, 1), (INTERACTIVE, 10), (BATCH, 10)])

    rules = livy_rules(result, LivyConf({"livy.server.session.ttl-check": "TRUE"}))

    assert (rules.ttl_seconds, rules.interactive_past_ttl) == (8 * 3600.0, 1)  # Livy's 8h default
    assert rules.state_retain_seconds == 600.0
