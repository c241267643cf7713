"""Livy's id counters (zkjanitor/counter.py) on the in-memory store: the check, the dry run, the repair's rules."""

from __future__ import annotations

import json

import pytest

from tests.support.session_znodes import livy_record
from zkjanitor.counter import check_only, repair
from zkjanitor.errors import LockHeld
from zkjanitor.model import SessionType
from zkjanitor.testing.memory_store import MemoryStore

BATCH, INTERACTIVE = SessionType.BATCH, SessionType.INTERACTIVE
TYPES = (BATCH, INTERACTIVE)
STATE = "/livy/v1/batch/state"


def store_with(ids, counter) -> MemoryStore:
    store = MemoryStore()
    for session_id in ids:
        store.put(BATCH, session_id, livy_record(BATCH, session_id))
    store.put_counter(BATCH, counter)
    store.put_counter(INTERACTIVE, None)
    return store


def batch(report):
    return next(c for c in report.counters if c.type is BATCH)


@pytest.mark.parametrize("counter, problem, repair_to", [
    (8, None, None), (5, "at-highest", 6), (2, "below-highest", 6), (None, "missing", 6)])
def test_each_counter_is_judged_against_the_highest_session_id(counter, problem, repair_to):
    status = batch(check_only(store_with([0, 3, 5], counter), TYPES))
    assert (status.problem, status.highest_id, status.repair_to) == (problem, 5, repair_to)
    if problem in ("at-highest", "below-highest"):
        assert "Livy would reuse ids" in status.explanation


def test_a_corrupt_counter_is_repaired_above_the_highest_id():
    store = store_with([4], 0)
    store.records[STATE] = store.records[STATE]._replace(data=b'{"nextSessionId": "x"}')
    status = batch(check_only(store, TYPES))
    assert status.problem == "corrupt" and status.repair_to == 5


def test_a_missing_counter_without_sessions_is_no_problem():
    report = check_only(store_with([1], 2), TYPES)
    interactive = next(c for c in report.counters if c.type is INTERACTIVE)
    assert interactive.problem is None and report.ok


def test_the_dry_run_writes_nothing_and_apply_writes_with_a_backup(tmp_path):
    store = store_with([0, 7], 3)
    before = dict(store.records)
    dry = repair(store, TYPES, apply=False, backup=None, now_ms=0)
    assert batch(dry).action == "would-set" and store.records == before and not dry.ok
    backup = tmp_path / "counters.json"
    done = repair(store, TYPES, apply=True, backup=backup, now_ms=0)
    assert batch(done).action == "set" and done.ok
    assert json.loads(store.records[STATE].data) == {"nextSessionId": 8}
    saved = json.loads(backup.read_text())
    assert saved["counters"][0]["next_session_id"] == 3 and saved["counters"][0]["repair_to"] == 8


def test_a_missing_counter_is_created(tmp_path):
    store = store_with([2], None)
    repair(store, TYPES, apply=True, backup=tmp_path / "b.json", now_ms=0)
    assert json.loads(store.records[STATE].data) == {"nextSessionId": 3}


def test_a_counter_livy_moves_between_the_read_and_the_write_is_not_overwritten(tmp_path):
    store = store_with([0, 7], 3)
    store.before_counter_write = lambda s, t: s.put_counter(BATCH, 9) or s.touch(STATE)
    done = repair(store, TYPES, apply=True, backup=tmp_path / "b.json", now_ms=0)
    assert batch(done).action == "failed" and "changed since it was read" in batch(done).detail
    assert json.loads(store.records[STATE].data) == {"nextSessionId": 9}


def test_the_repair_holds_the_prune_lock(tmp_path):
    store = store_with([0, 7], 3)
    with store.lock("another prune"):
        with pytest.raises(LockHeld):
            repair(store, TYPES, apply=True, backup=tmp_path / "b.json", now_ms=0)
    assert json.loads(store.records[STATE].data) == {"nextSessionId": 3}
    assert not (tmp_path / "b.json").exists()
