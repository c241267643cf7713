"""Every rule of docs/prune-and-restore.md, on :class:`Janitor` with the in-memory store: no server, milliseconds.

The same rules are tested through the CLI against a real ZooKeeper in
tests/cli/test_cli_prune.py and tests/cli/test_cli_restore.py; these show that they
live in the library, where any store and any caller gets them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.session_znodes import livy_record
from tests.support.sources import DictSource, KnowsAllOrNothing
from zkjanitor.backup import read_backup
from zkjanitor.check import Limits
from zkjanitor.classify import Policy
from zkjanitor.errors import ConfigError, LockHeld, SourceUnavailable, ZooKeeperUnavailable
from zkjanitor.janitor import Janitor, PruneCriteria
from zkjanitor.model import AppPhase, SessionType, Verdict
from zkjanitor.prune import Outcome
from zkjanitor.restore import RestoreAction
from zkjanitor.scan import Kept
from zkjanitor.sources.chain import ChainSource
from zkjanitor.store import StoreCapabilities
from zkjanitor.testing.memory_store import MemoryStore

BATCH = SessionType.BATCH
DAY_MS = 86_400_000
ALL_STALE = PruneCriteria(older_than_seconds=0)


def now_ms() -> int:
    return int(time.time() * 1000)


def app(session_id: int) -> str:
    """The appId tests/session_znodes.livy_record gives a session."""
    return f"application_1712345678901_{session_id:04d}"


def store_of(count: int, *, age_days: float = 10, prefix: str = "livy") -> MemoryStore:
    store = MemoryStore(prefix)
    for session_id in range(count):
        store.put(BATCH, session_id, livy_record(BATCH, session_id), ctime_ms=now_ms() - int(age_days * DAY_MS))
    store.put_counter(BATCH, count)
    return store


def paths(store: MemoryStore) -> set:
    return {path for path in store.records if not path.endswith("/state")}


def test_scan_gives_each_session_a_verdict_and_says_which_source_decided():
    store = store_of(3)
    store.put(BATCH, 3, b"{not json", ctime_ms=now_ms() - DAY_MS)
    source = DictSource("toy", {app(0): AppPhase.ACTIVE, app(1): AppPhase.FINISHED})

    result = Janitor(store, source).scan()

    got = {r.session.id: (r.verdict, r.reason, r.source) for r in result.reports}
    assert got == {
        0: (Verdict.LIVE, "app-active", "toy"),
        1: (Verdict.STALE, "app-finished", "toy"),
        2: (Verdict.STALE, "app-forgotten", "toy"),
        3: (Verdict.CORRUPT, "bad-json", None),
    }


def test_a_scan_streams_batches_to_its_sink_and_counts_every_verdict_it_does_not_keep():
    store = store_of(2500)  # three batches of the store's read
    source = DictSource("toy", {app(0): AppPhase.ACTIVE, app(1): AppPhase.FINISHED})
    everything = Janitor(store, source).scan()
    batches = []

    class Batches(list):
        def extend(self, reports):
            batches.append(len(reports))
            super().extend(report for report in reports if report.verdict is Verdict.LIVE)

    kept = Batches()
    janitor = Janitor(store, source)
    result = janitor.scan(sink=kept)

    assert batches == [1000, 1000, 500]
    assert result.reports == [] and result.inventory.sessions == []
    assert [report.session.id for report in kept] == [0]
    ages_aside = dict(oldest_stale_seconds=None)  # the two scans ran a few ms apart
    assert janitor.summarize(result)._replace(**ages_aside) == janitor.summarize(everything)._replace(**ages_aside)
    assert janitor.summarize(result).by_verdict[Verdict.STALE] == 2499


def test_a_source_that_finds_none_of_the_store_asks_for_a_second_read_and_the_first_is_forgotten():
    store = store_of(2500)
    source = KnowsAllOrNothing("rm-like", {})
    reads = []
    read = store.read
    store.read = lambda *args, **kwargs: reads.append(1) or read(*args, **kwargs)  # type: ignore[method-assign]
    kept = Kept(lambda report: True)

    result = Janitor(store, source).scan(sink=kept)

    assert (len(reads), source.runs) == (2, 2)
    assert len(kept) == 2500 and {report.verdict for report in kept} == {Verdict.UNKNOWN}
    assert result.tally.sessions == 2500 and result.tally.count(Verdict.STALE) == 0
    assert result.source_error == "rm-like cannot vouch that the applications it does not know are gone"


def test_a_source_that_finds_one_app_in_the_last_batch_vouches_for_the_first_batches():
    store = store_of(2500)
    source = KnowsAllOrNothing("rm-like", {app(2499): AppPhase.ACTIVE})

    result = Janitor(store, source).scan(sink=Kept(lambda report: False))

    assert source.runs == 1
    assert (result.tally.count(Verdict.STALE), result.tally.count(Verdict.LIVE)) == (2499, 1)
    assert result.source_error is None


def test_prune_deletes_only_stale_sessions_each_in_the_backup_first(tmp_path):
    store = store_of(6)
    source = DictSource("toy", {app(0): AppPhase.ACTIVE, app(1): AppPhase.FINISHED, app(2): AppPhase.ACTIVE})
    backup = tmp_path / "b.jsonl"
    janitor = Janitor(store, source)

    with janitor.locked():
        plan = janitor.plan_prune(ALL_STALE)
        result = janitor.apply(plan, backup)

    assert result.counts[Outcome.DELETED] == 4
    assert paths(store) == {"/livy/v1/batch/0", "/livy/v1/batch/2"}
    assert "/livy/v1/batch/state" in store.records  # the id counter is never touched
    saved = read_backup(backup)
    assert sorted(e.path for e in saved.entries) == [f"/livy/v1/batch/{i}" for i in (1, 3, 4, 5)]
    assert all(e.outcome == Outcome.DELETED for e in saved.entries)
    assert saved.header["counters"] == {"batch": 6, "interactive": 0}


def test_older_than_and_limit_take_the_oldest_first(tmp_path):
    store = MemoryStore()
    for session_id, age_days in enumerate([1, 5, 3, 9, 0.5]):
        store.put(BATCH, session_id, livy_record(BATCH, session_id), ctime_ms=now_ms() - int(age_days * DAY_MS))
    janitor = Janitor(store, DictSource("toy", {}))

    plan = janitor.plan_prune(PruneCriteria(older_than_seconds=2 * 86400, limit=2))

    assert [r.session.id for r in plan.selected] == [3, 1]
    assert [o.action for o in plan.dry_run.outcomes] == [Outcome.WOULD_DELETE] * 2


def test_corrupt_records_go_only_when_asked():
    store = store_of(1)
    store.put(BATCH, 1, b"", ctime_ms=now_ms() - 3 * DAY_MS)
    janitor = Janitor(store, DictSource("toy", {app(0): AppPhase.ACTIVE}))

    assert list(janitor.plan_prune(ALL_STALE).selected) == []
    with_corrupt = janitor.plan_prune(ALL_STALE._replace(include_corrupt=True)).selected
    assert [(r.session.id, r.verdict) for r in with_corrupt] == [(1, Verdict.CORRUPT)]


def test_prune_needs_a_source():
    janitor = Janitor(store_of(2), None)

    with pytest.raises(ConfigError, match="needs an application-state source"):
        janitor.plan_prune(ALL_STALE)
    assert all(r.reason == "no-source" for r in janitor.scan().reports)


def test_a_source_that_fails_deletes_nothing():
    store = store_of(3)
    janitor = Janitor(store, DictSource("toy", {}, down="toy is down"))

    with pytest.raises(SourceUnavailable, match="toy is down; nothing was deleted"):
        janitor.plan_prune(ALL_STALE)
    assert len(paths(store)) == 3


def test_a_source_that_cannot_vouch_for_absence_deletes_nothing():
    store = store_of(3)
    janitor = Janitor(store, DictSource("toy", {}, vouches=False))

    with pytest.raises(SourceUnavailable, match="toy cannot vouch"):
        janitor.plan_prune(ALL_STALE)
    assert {r.verdict for r in janitor.scan().reports} == {Verdict.UNKNOWN}


def test_sessions_stale_by_absence_younger_than_livys_own_wait_are_kept():
    store = store_of(2, age_days=60 / 86400)  # one minute old: Livy may still be looking for the app
    janitor = Janitor(store, DictSource("toy", {}), Policy(grace_seconds=0))

    assert {r.verdict for r in janitor.scan().reports} == {Verdict.STALE}
    assert list(janitor.plan_prune(ALL_STALE).selected) == []
    assert len(janitor.plan_prune(ALL_STALE._replace(allow_young_sessions=True)).selected) == 2


def test_a_finished_application_is_evidence_at_any_age():
    store = store_of(1, age_days=60 / 86400)
    janitor = Janitor(store, DictSource("toy", {app(0): AppPhase.FINISHED}), Policy(grace_seconds=0))

    assert len(janitor.plan_prune(ALL_STALE).selected) == 1


def test_a_plan_is_applied_only_under_the_lock_it_was_made_under(tmp_path):
    store = store_of(2)
    janitor = Janitor(store, DictSource("toy", {}))
    unlocked = janitor.plan_prune(ALL_STALE)

    with janitor.locked():
        with pytest.raises(ConfigError, match="under the lock it was made under"):
            janitor.apply(unlocked, tmp_path / "a.jsonl")
        earlier = janitor.plan_prune(ALL_STALE)
    with janitor.locked():
        with pytest.raises(ConfigError, match="under the lock it was made under"):
            janitor.apply(earlier, tmp_path / "b.jsonl")
    assert len(paths(store)) == 2
    assert not (tmp_path / "a.jsonl").exists() and not (tmp_path / "b.jsonl").exists()


def test_another_prune_holding_the_lock_stops_this_one():
    store = store_of(2)
    store.lock_holder = "alice@host pid 7"

    with pytest.raises(LockHeld, match="alice@host pid 7"):
        with Janitor(store, DictSource("toy", {})).locked():
            pass


def test_a_session_livy_changed_or_deleted_after_the_scan_is_skipped(tmp_path):
    store = store_of(4)
    janitor = Janitor(store, DictSource("toy", {}))

    def livy(store: MemoryStore, report) -> None:
        if report.session.id == 1:
            store.touch(report.session.path)
        if report.session.id == 2:
            del store.records[report.session.path]

    store.before_delete = livy
    with janitor.locked():
        result = janitor.apply(janitor.plan_prune(ALL_STALE), tmp_path / "b.jsonl")

    actions = {o.report.session.id: o.action for o in result.outcomes}
    assert actions == {0: Outcome.DELETED, 1: Outcome.SKIPPED_CHANGED, 2: Outcome.SKIPPED_GONE, 3: Outcome.DELETED}
    assert paths(store) == {"/livy/v1/batch/1"}


def test_a_session_re_created_with_the_same_version_is_skipped(tmp_path):
    store = store_of(1)
    janitor = Janitor(store, DictSource("toy", {}))

    def livy_recreates(store: MemoryStore, report) -> None:  # Livy reused the id: version 0 again, new ctime
        store.put(BATCH, 0, livy_record(BATCH, 0))

    store.before_delete = livy_recreates
    with janitor.locked():
        result = janitor.apply(janitor.plan_prune(ALL_STALE), tmp_path / "b.jsonl")

    assert [o.action for o in result.outcomes] == [Outcome.SKIPPED_CHANGED]


def test_an_existing_backup_file_is_never_overwritten_and_nothing_is_deleted(tmp_path):
    store = store_of(2)
    backup = tmp_path / "b.jsonl"
    backup.write_text("precious\n")
    janitor = Janitor(store, DictSource("toy", {}))

    with janitor.locked(), pytest.raises(ConfigError, match="already exists"):
        janitor.apply(janitor.plan_prune(ALL_STALE), backup)
    assert backup.read_text() == "precious\n"
    assert len(paths(store)) == 2


def test_a_stop_request_leaves_the_rest_intact_and_not_attempted(tmp_path):
    store = store_of(6)
    janitor = Janitor(store, DictSource("toy", {}))
    batches = []

    def stop_after_first_batch():
        batches.append(1)
        return "stopped by SIGTERM" if len(batches) > 1 else None

    with janitor.locked():
        result = janitor.apply(janitor.plan_prune(ALL_STALE), tmp_path / "b.jsonl", batch_size=2,
                               stop_requested=stop_after_first_batch)

    assert result.aborted == "stopped by SIGTERM"
    assert [o.action for o in result.outcomes] == [Outcome.DELETED] * 2 + [Outcome.NOT_ATTEMPTED] * 4
    assert len(paths(store)) == 4


def test_a_store_that_cannot_delete_conditionally_is_never_pruned():
    store = store_of(1)
    store.capabilities = StoreCapabilities(conditional_delete=False)

    with pytest.raises(ConfigError, match="never prunes such a store"):
        Janitor(store, DictSource("toy", {})).plan_prune(ALL_STALE)


def _pruned(tmp_path: Path):
    store = store_of(3)
    janitor = Janitor(store, DictSource("toy", {}))
    backup = tmp_path / "b.jsonl"
    with janitor.locked():
        janitor.apply(janitor.plan_prune(ALL_STALE), backup)
    return store, janitor, read_backup(backup)


def test_restore_re_creates_what_prune_deleted_and_never_overwrites(tmp_path):
    store, janitor, backup = _pruned(tmp_path)
    store.put(BATCH, 1, b'{"id":1,"appTag":"reused"}')  # Livy reused id 1 meanwhile

    dry = janitor.restore(backup, apply=False)
    assert [o.action for o in dry.outcomes] == [RestoreAction.WOULD_RESTORE, RestoreAction.ALREADY_PRESENT,
                                                RestoreAction.WOULD_RESTORE]
    asked = []
    done = janitor.restore(backup, apply=True, confirm=asked.append)

    assert asked == [3]
    assert [o.action for o in done.outcomes] == [RestoreAction.RESTORED, RestoreAction.ALREADY_PRESENT,
                                                 RestoreAction.RESTORED]
    assert "reused" in (done.outcomes[1].detail or "")
    assert json.loads(store.records["/livy/v1/batch/1"].data) == {"id": 1, "appTag": "reused"}


def test_restore_with_apply_holds_the_lock(tmp_path):
    store, janitor, backup = _pruned(tmp_path)
    store.lock_holder = "another prune"

    with pytest.raises(LockHeld):
        janitor.restore(backup, apply=True)
    assert paths(store) == set()


def test_restore_writes_only_into_the_store_the_backup_came_from(tmp_path):
    _, _, backup = _pruned(tmp_path)
    other = MemoryStore("other")
    janitor = Janitor(other, None)

    with pytest.raises(ConfigError, match="another store"):
        janitor.restore(backup, apply=True)
    assert paths(other) == set()
    moved = janitor.restore(backup, apply=True, into_other_store=True)
    assert {o.entry.path for o in moved.outcomes} == {f"/other/v1/batch/{i}" for i in range(3)}


def test_restore_warns_when_the_counter_would_make_livy_reuse_a_restored_id(tmp_path):
    store, janitor, backup = _pruned(tmp_path)
    store.put_counter(BATCH, 1)

    warnings = janitor.restore(backup, apply=True).warnings

    assert len(warnings) == 1
    assert "is 1 (it was 3 when the backup was taken), not above the restored id 2" in warnings[0]


def test_check_judges_limits_and_refuses_to_judge_without_the_evidence():
    store = store_of(4)
    janitor = Janitor(store, DictSource("toy", {app(0): AppPhase.ACTIVE}))

    result = janitor.check(Limits(max_sessions=10, max_stale=2))

    assert [(v.limit, v.value) for v in result.violations] == [("max-stale", 3)]
    with pytest.raises(SourceUnavailable):
        Janitor(store, DictSource("toy", {}, down="down")).check(Limits(max_stale=2))
    with pytest.raises(ConfigError):
        Janitor(store, None).check(Limits(max_stale=2))


def test_check_refuses_to_judge_a_store_it_could_not_read_whole(monkeypatch):
    store = store_of(2)
    janitor = Janitor(store, None)
    scanned = janitor.scan()
    scanned.inventory.unreadable.append(("/livy/v1/batch/9", "NoAuthError"))

    with pytest.raises(ZooKeeperUnavailable, match="could not be read"):
        janitor.check(Limits(max_sessions=10), scanned=scanned)
    assert janitor.check(Limits(max_sessions=10), scanned=scanned, allow_unreadable=True).violations == []


# -- the evidence chain ---------------------------------------------------------------------------------------


def test_a_second_source_settles_what_the_first_could_not_and_says_so():
    store = store_of(3)
    rm = DictSource("rm", {app(0): AppPhase.ACTIVE}, vouches=False)  # knows app 0 only, cannot vouch for absence
    finished = now_ms() - DAY_MS
    history = DictSource("history", {app(1): AppPhase.FINISHED}, finished_ms=finished, vouches=False)

    reports = Janitor(store, ChainSource([rm, history])).scan().reports

    assert [(r.verdict, r.reason, r.source) for r in reports] == [
        (Verdict.LIVE, "app-active", "rm"),
        (Verdict.STALE, "app-finished", "history"),
        (Verdict.UNKNOWN, "rm-cannot-vouch", "rm"),
    ]
    assert reports[1].finished_ms == finished
    assert [q.app_id for q in history.asked] == [app(1), app(2)]  # only what the first left open


def test_a_failing_source_in_the_chain_leaves_the_others_answers_standing():
    store = store_of(2)
    rm = DictSource("rm", {app(0): AppPhase.FINISHED})
    history = DictSource("history", {}, down="history server down")
    chain = ChainSource([rm, history])

    result = Janitor(store, chain).scan()

    assert [(r.verdict, r.reason, r.source) for r in result.reports] == [
        (Verdict.STALE, "app-finished", "rm"),
        (Verdict.STALE, "app-forgotten", "rm"),
    ]
    assert result.source_errors == {"history": "history server down"}
    assert result.source_error is None  # pruning may go on: nothing rests on the failed source's word


def test_when_every_source_fails_the_run_cannot_prune():
    chain = ChainSource([DictSource("a", {}, down="a down"), DictSource("b", {}, down="b down")])
    janitor = Janitor(store_of(1), chain)

    with pytest.raises(SourceUnavailable, match="a down"):
        janitor.plan_prune(ALL_STALE)
