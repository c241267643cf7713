"""prune: selection rules and the safety of ``delete_sessions`` on a real ZooKeeper."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest
from kazoo.client import KazooClient

from tests.support.paths import REPO
from tests.support.session_znodes import create_sessions, existing_ids, read_report, type_dir
from tests.support.zk_helpers import OpcodeUnknownToServer
from zkjanitor.backup import BackupWriter, read_backup
from zkjanitor.errors import ConfigError
from zkjanitor.model import Session, SessionReport, SessionType, Verdict
from zkjanitor.prune import Outcome, plan_prune, select_for_prune
from zkjanitor.restore import RestoreAction
from zkjanitor.testing.zkserver import ZooKeeperServer
from zkjanitor.zk import delete as zk_delete
from zkjanitor.zk import multiread
from zkjanitor.zk.batch import MAX_TRANSACTION_BYTES, delete_op_bytes
from zkjanitor.zk.delete import delete_sessions
from zkjanitor.zk.restore import restore_backup

DAY = 86400.0


def _report(
    session_id: int,
    verdict: Verdict,
    age_days: float,
    session_type: SessionType = SessionType.BATCH,
) -> SessionReport:
    session = Session(
        type=session_type,
        id=session_id,
        path=f"/livy/v1/{session_type.value}/{session_id}",
        data=b"{}",
        version=1,
        ctime_ms=0,
        mtime_ms=0,
    )
    return SessionReport(session, verdict, "x", age_days * DAY)


def _ids(reports: Sequence[SessionReport]) -> List[int]:
    return [report.session.id for report in reports]


def _backup(tmp_path: Path, prefix: str, name: str = "backup.jsonl") -> BackupWriter:
    return BackupWriter(tmp_path / name, zookeeper="127.0.0.1:2181", prefix=prefix)


def _backed_up_paths(path: Path) -> List[str]:
    return [entry.path for entry in read_backup(path).entries]


# --- selection ------------------------------------------------------------------------------

SCANNED = [
    _report(1, Verdict.STALE, 40),
    _report(2, Verdict.STALE, 5),
    _report(3, Verdict.LIVE, 400),
    _report(4, Verdict.UNKNOWN, 400),
    _report(5, Verdict.CORRUPT, 60),
    _report(6, Verdict.CORRUPT, 2),
    _report(7, Verdict.STALE, 90, SessionType.INTERACTIVE),
    _report(8, Verdict.STALE, 7),
]


def test_selection_takes_only_old_enough_stale_sessions_oldest_first():
    selected = select_for_prune(SCANNED, older_than_seconds=7 * DAY, types=list(SessionType))
    assert _ids(selected) == [7, 1, 8]


def test_selection_never_takes_live_or_unknown_sessions_however_old():
    selected = select_for_prune(
        SCANNED, older_than_seconds=0, types=list(SessionType), include_corrupt=True
    )
    assert {3, 4}.isdisjoint(_ids(selected))
    assert sorted(_ids(selected)) == [1, 2, 5, 6, 7, 8]


def test_selection_takes_corrupt_znodes_only_when_asked_and_old_enough():
    without = select_for_prune(SCANNED, older_than_seconds=30 * DAY, types=list(SessionType))
    with_corrupt = select_for_prune(
        SCANNED, older_than_seconds=30 * DAY, types=list(SessionType), include_corrupt=True
    )
    assert _ids(without) == [7, 1]
    assert _ids(with_corrupt) == [7, 5, 1]


def test_selection_keeps_only_the_requested_types():
    batch_only = select_for_prune(SCANNED, older_than_seconds=0, types=[SessionType.BATCH])
    interactive_only = select_for_prune(
        SCANNED, older_than_seconds=0, types=[SessionType.INTERACTIVE]
    )
    assert _ids(batch_only) == [1, 8, 2]
    assert _ids(interactive_only) == [7]


def test_selection_limit_keeps_the_oldest():
    selected = select_for_prune(SCANNED, older_than_seconds=0, types=list(SessionType), limit=2)
    assert _ids(selected) == [7, 1]
    assert select_for_prune(SCANNED, older_than_seconds=0, types=list(SessionType), limit=0) == []


# --- apply ----------------------------------------------------------------------------------


def test_apply_deletes_exactly_the_selected_znodes(zk_client, prefix, tmp_path):
    batch = create_sessions(zk_client, prefix, range(10))
    interactive = create_sessions(zk_client, prefix, range(4), SessionType.INTERACTIVE)
    chosen = batch[2:7] + interactive[:1]

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, chosen, backup, batch_size=3)

    assert [(o.report, o.action) for o in result.outcomes] == [(r, Outcome.DELETED) for r in chosen]
    assert result.counts[Outcome.DELETED] == 6 and result.aborted is None
    assert existing_ids(zk_client, prefix) == {"state", "0", "1", "7", "8", "9"}
    assert existing_ids(zk_client, prefix, SessionType.INTERACTIVE) == {"state", "1", "2", "3"}
    assert sorted(_backed_up_paths(tmp_path / "backup.jsonl")) == sorted(
        r.session.path for r in chosen
    )


def test_a_session_changed_after_the_scan_is_skipped_and_the_rest_of_its_batch_deleted(
    zk_client, prefix, tmp_path
):
    reports = create_sessions(zk_client, prefix, range(6))
    changed = reports[3].session.path
    zk_client.set(changed, b'{"id":3,"appId":"application_1_3"}')  # Livy stored an appId meanwhile

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=10)

    actions = {o.report.session.path: o.action for o in result.outcomes}
    assert actions.pop(changed) == Outcome.SKIPPED_CHANGED
    assert set(actions.values()) == {Outcome.DELETED}
    assert zk_client.get(changed)[0] == b'{"id":3,"appId":"application_1_3"}'
    assert existing_ids(zk_client, prefix) == {"state", "3"}


def test_a_session_deleted_meanwhile_is_skipped_gone(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(4))
    zk_client.delete(reports[1].session.path)

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, reports, backup)

    assert [o.action for o in result.outcomes] == [
        Outcome.DELETED,
        Outcome.SKIPPED_GONE,
        Outcome.DELETED,
        Outcome.DELETED,
    ]
    assert existing_ids(zk_client, prefix) == {"state"}


def test_the_state_node_and_odd_names_are_never_deleted(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(3))
    parent = type_dir(prefix, SessionType.BATCH)
    zk_client.create(f"{parent}/0012", b"{}")
    state = read_report(zk_client, f"{parent}/state", SessionType.BATCH, 0)
    padded = read_report(zk_client, f"{parent}/0012", SessionType.BATCH, 12)
    selected = [state, reports[0], padded, reports[1]]

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, selected, backup)

    assert [o.action for o in result.outcomes] == [
        Outcome.FAILED,
        Outcome.DELETED,
        Outcome.FAILED,
        Outcome.DELETED,
    ]
    assert "never deletes" in result.outcomes[0].detail
    assert existing_ids(zk_client, prefix) == {"state", "0012", "2"}
    assert sorted(_backed_up_paths(tmp_path / "backup.jsonl")) == [f"{parent}/0", f"{parent}/1"]
    assert plan_prune(selected).counts == {
        **dict.fromkeys(Outcome.ALL, 0),
        "would-delete": 2,
        "failed": 2,
    }


def test_the_dry_run_plan_touches_nothing(zk_client, prefix):
    reports = create_sessions(zk_client, prefix, range(3))
    plan = plan_prune(reports)
    assert [o.action for o in plan.outcomes] == [Outcome.WOULD_DELETE] * 3
    assert existing_ids(zk_client, prefix) == {"state", "0", "1", "2"}


class _RecordingBackup(BackupWriter):
    """Checks, each time a batch is written, what is on disk and what is still in ZooKeeper."""

    def __init__(self, path: Path, client: KazooClient, prefix: str) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix=prefix)
        self.client = client
        self.observations: List[tuple] = []

    def write(self, reports: Sequence[SessionReport]) -> None:
        super().write(reports)
        on_disk = set(_backed_up_paths(self.path))  # read through a separate file descriptor
        paths = [report.session.path for report in reports]
        still_there = all(self.client.exists(path) is not None for path in paths)
        self.observations.append((set(paths) <= on_disk, still_there))


def test_each_batch_is_in_the_backup_file_before_its_deletes_are_sent(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(10))
    backup = _RecordingBackup(tmp_path / "b.jsonl", zk_client, prefix)
    with backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=4)

    assert backup.observations == [(True, True)] * 3
    assert result.counts[Outcome.DELETED] == 10
    entries = {entry.path: entry for entry in read_backup(tmp_path / "b.jsonl").entries}
    for report in reports:
        entry = entries[report.session.path]
        assert (entry.data, entry.version, entry.ctime_ms) == (
            report.session.data,
            report.session.version,
            report.session.ctime_ms,
        )


class _OutcomeWatchingBackup(BackupWriter):
    """Notes, when a batch's outcomes are recorded, which of its znodes are gone from ZooKeeper."""

    def __init__(self, path: Path, client: KazooClient, prefix: str) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix=prefix)
        self.client = client
        self.recorded: List[List[tuple]] = []

    def record_outcomes(self, outcomes: Sequence[tuple]) -> None:
        self.recorded.append(
            [(path, outcome, self.client.exists(path) is None) for path, outcome, _ in outcomes]
        )
        super().record_outcomes(outcomes)


def test_each_batch_records_its_outcomes_once_zookeeper_has_answered(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(6))
    paths = [report.session.path for report in reports]
    zk_client.delete(paths[1])  # Livy deleted it itself
    zk_client.set(paths[4], b'{"id":4,"appId":"application_1_4"}')  # Livy rewrote it
    backup = _OutcomeWatchingBackup(tmp_path / "b.jsonl", zk_client, prefix)
    with backup:
        delete_sessions(zk_client, reports, backup, batch_size=3)

    assert backup.recorded == [
        [(paths[0], "deleted", True), (paths[1], "skipped-gone", True), (paths[2], "deleted", True)],
        [(paths[3], "deleted", True), (paths[4], "skipped-changed", False), (paths[5], "deleted", True)],
    ]
    entries = read_backup(tmp_path / "b.jsonl").entries
    assert [(e.path, e.outcome) for e in entries] == [
        (path, outcome) for batch in backup.recorded for path, outcome, _ in batch
    ]


class _EventLog(BackupWriter):
    """Logs each backup write and outcome record with how many znodes of the batches are left."""

    def __init__(self, path: Path, client: KazooClient, batches: List[List[str]]) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix="livy")
        self.client = client
        self.batches = batches
        self.events: List[tuple] = []

    def _number(self, path: str) -> int:
        return next(number for number, batch in enumerate(self.batches) if path in batch)

    def _left(self, number: int) -> int:
        batch = self.batches[number] if number < len(self.batches) else []
        return sum(self.client.exists(path) is not None for path in batch)

    def write(self, reports: Sequence[SessionReport]) -> None:
        super().write(reports)
        number = self._number(reports[0].session.path)
        on_disk = set(self.batches[number]) <= set(_backed_up_paths(self.path))
        self.events.append(("backed up", number, on_disk, self._left(number)))

    def record_outcomes(self, outcomes: Sequence[tuple]) -> None:
        number = self._number(outcomes[0][0])
        self.events.append(("recorded", number, self._left(number), self._left(number + 1)))
        super().record_outcomes(outcomes)


@pytest.mark.parametrize(
    "pause_seconds, expected",
    [
        # The next batch is backed up while a batch's deletes are in flight, and its deletes
        # wait until the batch before is recorded.
        (0.0, ["b0", "b1", "r0", "b2", "r1", "b3", "r2", "r3"]),
        (0.01, ["b0", "r0", "b1", "r1", "b2", "r2", "b3", "r3"]),
    ],
    ids=["overlapping", "paced"],
)
def test_batches_overlap_yet_each_is_backed_up_before_its_deletes_and_recorded_before_the_next_batch_deletes(
    zk_client, prefix, tmp_path, pause_seconds, expected
):
    reports = create_sessions(zk_client, prefix, range(12))
    batches = [[r.session.path for r in reports[start : start + 3]] for start in range(0, 12, 3)]
    backup = _EventLog(tmp_path / "b.jsonl", zk_client, batches)
    with backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=3, pause_seconds=pause_seconds)

    assert result.counts[Outcome.DELETED] == 12 and result.aborted is None
    assert [f"{kind[0]}{number}" for kind, number, *_ in backup.events] == expected
    for kind, number, *seen in backup.events:
        if kind == "backed up":  # on disk, and not one of the batch's znodes deleted yet
            assert seen == [True, 3], (kind, number)
        else:  # the batch deleted, the next one untouched
            assert seen == [0, 3 if number < 3 else 0], (kind, number)


class _LivyRecreatesDuringSecondBackup(BackupWriter):
    """While batch 1 is backed up (batch 0's deletes are in flight), Livy re-creates one of its znodes."""

    def __init__(self, path: Path, client: KazooClient, zombie: str) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix="livy")
        self.client = client
        self.zombie = zombie
        self.writes = 0

    def write(self, reports: Sequence[SessionReport]) -> None:
        self.writes += 1
        if self.writes == 2:
            data = self.client.get(self.zombie)[0]
            time.sleep(0.01)  # a later ctime for certain
            self.client.delete(self.zombie)
            self.client.create(self.zombie, data)  # the same bytes at version 0: only the ctime differs
        super().write(reports)


def test_a_znode_re_created_while_the_batch_before_is_deleted_is_skipped(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(6))
    zombie = reports[4].session.path
    backup = _LivyRecreatesDuringSecondBackup(tmp_path / "b.jsonl", zk_client, zombie)
    with backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=3)

    actions = [o.action for o in result.outcomes]
    assert actions == [Outcome.DELETED] * 4 + [Outcome.SKIPPED_CHANGED, Outcome.DELETED]
    stat = zk_client.exists(zombie)
    assert stat.version == 0 and stat.ctime != reports[4].session.ctime_ms
    assert existing_ids(zk_client, prefix) == {"state", "4"}


def test_without_multiread_the_batches_are_read_again_with_single_gets(
    zk_server, prefix, tmp_path, monkeypatch
):
    monkeypatch.setattr(multiread, "MultiRead", OpcodeUnknownToServer)  # as ZooKeeper < 3.6
    client = KazooClient(hosts=zk_server.connect_string, timeout=10)
    client.start(timeout=15)
    try:
        reports = create_sessions(client, prefix, range(6))
        client.set(reports[1].session.path, b'{"id":1,"appId":"application_1_1"}')
        client.delete(reports[3].session.path)
        with _backup(tmp_path, prefix) as backup:
            result = delete_sessions(client, reports, backup, batch_size=2)
        remaining = existing_ids(client, prefix)
    finally:
        client.stop()
        client.close()

    assert [o.action for o in result.outcomes] == [
        Outcome.DELETED,
        Outcome.SKIPPED_CHANGED,
        Outcome.DELETED,
        Outcome.SKIPPED_GONE,
        Outcome.DELETED,
        Outcome.DELETED,
    ]
    assert result.aborted is None and remaining == {"state", "1"}


def test_a_delete_whose_result_is_unknown_gets_no_outcome_so_restore_keeps_it(
    zk_client, prefix, tmp_path, monkeypatch
):
    # An oversized multi makes the server drop the connection mid-request (see above), and
    # ZooKeeper is taken not to come back within the reconnect timeout: nobody can tell whether
    # the deletes were applied, so the backup must not say they were not.
    monkeypatch.setattr(zk_delete, "MAX_TRANSACTION_BYTES", 8 * 1024 * 1024)
    monkeypatch.setattr(zk_delete, "wait_connected", lambda client, timeout: False)
    long_prefix = f"{prefix}/{'p' * 2000}"
    reports = create_sessions(zk_client, long_prefix, range(600))

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=600)

    assert {(o.action, o.result_unknown) for o in result.outcomes} == {(Outcome.FAILED, True)}
    assert result.outcomes[0].detail.startswith("result unknown after connection to ZooKeeper lost")
    entries = read_backup(tmp_path / "backup.jsonl").entries
    assert len(entries) == 600
    assert all(entry.outcome is None and entry.deleted_by_prune for entry in entries)


def test_batches_stay_within_the_op_count_limit(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(2300))
    sizes: List[int] = []
    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=5000, progress=sizes.append)
    assert sizes == [1000, 1000, 300]
    assert result.counts[Outcome.DELETED] == 2300


def test_batches_stay_well_under_one_megabyte_with_long_paths(zk_client, prefix, tmp_path):
    # A delete op carries the path, not the data: long paths are what make a multi big.
    long_prefix = f"{prefix}/{'p' * 2000}"
    reports = create_sessions(zk_client, long_prefix, range(600), padding=4000)
    op_bytes = delete_op_bytes(reports[0].session.path)
    sizes: List[int] = []
    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=1000, progress=sizes.append)

    assert result.aborted is None and result.counts[Outcome.DELETED] == 600
    assert sum(sizes) == 600 and len(sizes) >= 3
    assert max(sizes) * op_bytes <= MAX_TRANSACTION_BYTES <= 512 * 1024
    assert existing_ids(zk_client, long_prefix) == {"state"}


@pytest.mark.parametrize("next_batch_sees_the_drop_first", [False, True])
def test_an_unanswered_transaction_is_verified_and_the_run_stops(
    zk_client, prefix, tmp_path, monkeypatch, next_batch_sees_the_drop_first
):
    # Without the size bound, this multi is over the server's 1 MB limit: the server drops the
    # connection, so the client never learns the outcome and must look before reporting.
    monkeypatch.setattr(zk_delete, "MAX_TRANSACTION_BYTES", 8 * 1024 * 1024)
    if next_batch_sees_the_drop_first:
        # The race seen under load: preparing the next batch notices the lost connection before
        # the in-flight transaction is settled. The reported cause must still be the transaction's.
        checks = []
        real_check = zk_delete._connection_problem

        def check_after_the_drop(client, session_id):
            checks.append(client)
            deadline = time.monotonic() + 10
            while len(checks) > 2 and client.connected and time.monotonic() < deadline:
                time.sleep(0.01)
            return real_check(client, session_id)

        monkeypatch.setattr(zk_delete, "_connection_problem", check_after_the_drop)
    long_prefix = f"{prefix}/{'p' * 2000}"
    big = create_sessions(zk_client, long_prefix, range(600))
    small = create_sessions(zk_client, prefix, range(5))

    with _backup(tmp_path, prefix) as backup:
        result = delete_sessions(zk_client, big + small, backup, batch_size=600)

    assert result.aborted is not None and "ConnectionLoss" in result.aborted
    assert {(o.action, o.detail) for o in result.outcomes[:600]} == {
        (
            Outcome.FAILED,
            "not deleted: connection to ZooKeeper lost (ConnectionLoss); the znode is intact",
        )
    }
    assert {(o.action, o.detail) for o in result.outcomes[600:]} == {(Outcome.NOT_ATTEMPTED, result.aborted)}
    assert len(existing_ids(zk_client, long_prefix)) == 601
    assert len(existing_ids(zk_client, prefix)) == 6


def test_rerunning_the_same_prune_deletes_nothing_more(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(5))
    with _backup(tmp_path, prefix, "first.jsonl") as backup:
        delete_sessions(zk_client, reports[:3], backup)
    with _backup(tmp_path, prefix, "second.jsonl") as backup:
        again = delete_sessions(zk_client, reports[:3], backup)
    assert [o.action for o in again.outcomes] == [Outcome.SKIPPED_GONE] * 3
    assert existing_ids(zk_client, prefix) == {"state", "3", "4"}


def test_pause_seconds_paces_the_batches(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(6))
    started = time.monotonic()
    with _backup(tmp_path, prefix) as backup:
        delete_sessions(zk_client, reports, backup, batch_size=2, pause_seconds=0.4)
    assert time.monotonic() - started >= 0.8


class _BackupThatFailsOnSecondBatch(BackupWriter):
    def __init__(self, path: Path) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix="livy")
        self.batches = 0

    def write(self, reports: Sequence[SessionReport]) -> None:
        self.batches += 1
        if self.batches == 2:
            raise ConfigError(f"cannot write backup {self.path}: No space left on device")
        super().write(reports)


def test_a_backup_that_cannot_be_written_stops_the_deletes(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(6))
    with _BackupThatFailsOnSecondBatch(tmp_path / "b.jsonl") as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=2)

    assert result.aborted.startswith("backup write failed: cannot write backup")
    assert [o.action for o in result.outcomes] == [Outcome.DELETED] * 2 + [Outcome.NOT_ATTEMPTED] * 4
    assert existing_ids(zk_client, prefix) == {"state", "2", "3", "4", "5"}


class _BackupThatFailsToRecordOutcomes(BackupWriter):
    def __init__(self, path: Path) -> None:
        super().__init__(path, zookeeper="127.0.0.1:2181", prefix="livy")

    def record_outcomes(self, outcomes: Sequence[tuple]) -> None:
        raise ConfigError(f"cannot write backup {self.path}: No space left on device")


def test_outcomes_that_cannot_be_recorded_stop_the_deletes(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(6))
    with _BackupThatFailsToRecordOutcomes(tmp_path / "b.jsonl") as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=2)

    assert result.aborted.startswith("backup write failed: cannot write backup")
    assert [o.action for o in result.outcomes] == [Outcome.DELETED] * 2 + [Outcome.NOT_ATTEMPTED] * 4
    assert existing_ids(zk_client, prefix) == {"state", "2", "3", "4", "5"}
    # The deleted pair has no recorded outcome, so a restore still brings it back. The next pair
    # was backed up while the first was being deleted; it was never deleted, and restore never
    # touches a znode that exists.
    entries = read_backup(tmp_path / "b.jsonl").entries
    assert [(e.path, e.deleted_by_prune) for e in entries] == [
        (r.session.path, True) for r in reports[:4]
    ]
    restored = restore_backup(zk_client, entries, apply=True)
    assert sorted(o.entry.path for o in restored if o.action == RestoreAction.RESTORED) == [
        r.session.path for r in reports[:2]
    ]


# --- interruptions --------------------------------------------------------------------------

KILLED_PRUNE = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from kazoo.client import KazooClient
    from tests.support.session_znodes import read_report
    from zkjanitor.backup import BackupWriter
    from zkjanitor.model import SessionType
    from zkjanitor.zk.delete import delete_sessions

    connect, parent, backup_path, kill_point = sys.argv[1:5]
    retry = {"max_tries": 3}
    client = KazooClient(hosts=connect, connection_retry=retry, command_retry=retry)
    client.start(timeout=15)
    ids = sorted(int(name) for name in client.get_children(parent) if name.isdigit())
    reports = [read_report(client, f"{parent}/{i}", SessionType.BATCH, i) for i in ids]

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no close(): as a crash or kill -9

    class Backup(BackupWriter):
        def record_outcomes(self, outcomes):
            if kill_point == "before-outcomes":
                die()
            super().record_outcomes(outcomes)

    backup = Backup(Path(backup_path), zookeeper=connect, prefix="livy")
    delete_sessions(client, reports, backup, batch_size=7, progress=die)
    """
)


@pytest.mark.parametrize("kill_point", ["before-outcomes", "after-outcomes"])
def test_a_prune_killed_after_its_first_batch_left_every_deleted_znode_in_the_backup(
    zk_server, zk_client, prefix, tmp_path, kill_point
):
    """Killed with the first batch deleted, before or after its outcomes reached the backup.

    Either way every deleted znode is in the backup and counts as deleted, so a
    restore puts back exactly what was there.
    """
    reports = create_sessions(zk_client, prefix, range(20), padding=300)
    parent = type_dir(prefix, SessionType.BATCH)
    backup_path = tmp_path / "killed.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_PRUNE,
            zk_server.connect_string,
            parent,
            str(backup_path),
            kill_point,
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()

    remaining = existing_ids(zk_client, prefix) - {"state"}
    deleted = {r.session.path: r for r in reports if str(r.session.id) not in remaining}
    assert len(deleted) == 7
    backup = read_backup(backup_path)
    entries = {entry.path: entry for entry in backup.entries}
    assert set(deleted) <= set(entries)
    assert all(entries[path].data == report.session.data for path, report in deleted.items())
    assert all(entries[path].deleted_by_prune for path in deleted)
    assert backup.warnings == []
    recorded = {entries[path].outcome for path in deleted}
    assert recorded == ({None} if kill_point == "before-outcomes" else {"deleted"})

    restored = restore_backup(zk_client, backup.entries, apply=True)

    assert sorted(o.entry.path for o in restored if o.action == RestoreAction.RESTORED) == sorted(
        deleted
    )
    assert all(zk_client.get(r.session.path)[0] == r.session.data for r in reports)


@pytest.fixture
def own_server() -> Iterator[ZooKeeperServer]:
    """A server this test may stop and restart without disturbing the shared one."""
    with ZooKeeperServer() as server:
        yield server


def _client(server: ZooKeeperServer) -> KazooClient:
    client = KazooClient(
        hosts=server.connect_string,
        timeout=4,
        connection_retry={"max_tries": 2, "delay": 0.1, "max_delay": 0.5},
        command_retry={"max_tries": 2, "delay": 0.1, "max_delay": 0.5},
    )
    client.start(timeout=15)
    return client


def _wait_disconnected(client: KazooClient, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.connected


def test_losing_zookeeper_between_batches_stops_and_reports_the_rest_not_attempted(
    own_server, prefix, tmp_path
):
    client = _client(own_server)
    try:
        reports = create_sessions(client, prefix, range(9))

        def stop_server_after_first_batch(done: int) -> None:
            if own_server.running:
                own_server.stop()
                _wait_disconnected(client)

        with _backup(tmp_path, prefix) as backup:
            result = delete_sessions(
                client, reports, backup, batch_size=3, progress=stop_server_after_first_batch
            )
    finally:
        client.stop()
        client.close()

    assert result.aborted == "connection to ZooKeeper lost"
    assert [o.action for o in result.outcomes] == [Outcome.DELETED] * 3 + [Outcome.NOT_ATTEMPTED] * 6
    assert {o.detail for o in result.outcomes[3:]} == {"connection to ZooKeeper lost"}
    # The second batch was backed up while the first was being deleted; its outcome says it was not.
    entries = read_backup(tmp_path / "backup.jsonl").entries
    assert [(e.path, e.outcome) for e in entries] == [
        (r.session.path, "deleted" if r in reports[:3] else "not-attempted") for r in reports[:6]
    ]

    own_server.start()
    checker = _client(own_server)
    try:
        assert existing_ids(checker, prefix) == {"state", "3", "4", "5", "6", "7", "8"}
    finally:
        checker.stop()
        checker.close()


class _BackupThatKillsZooKeeper(BackupWriter):
    """Kills ZooKeeper as the third batch is backed up, with the second batch's deletes in flight."""

    def __init__(self, path: Path, server: ZooKeeperServer) -> None:
        super().__init__(path, zookeeper=server.connect_string, prefix="livy")
        self.server = server
        self.writes = 0

    def write(self, reports: Sequence[SessionReport]) -> None:
        self.writes += 1
        if self.writes == 3:
            self.server.kill()
        super().write(reports)


def test_zookeeper_killed_while_a_batch_is_deleted_and_the_next_backed_up_leaves_a_true_account(
    own_server, prefix, tmp_path
):
    client = _client(own_server)
    try:
        reports = create_sessions(client, prefix, range(12))
        with _BackupThatKillsZooKeeper(tmp_path / "b.jsonl", own_server) as backup:
            result = delete_sessions(client, reports, backup, batch_size=3)
    finally:
        client.stop()
        client.close()
    own_server.start()
    checker = _client(own_server)
    try:
        gone = {r.session.path for r in reports} - {
            f"{type_dir(prefix, SessionType.BATCH)}/{name}" for name in existing_ids(checker, prefix)
        }
        entries = read_backup(tmp_path / "b.jsonl").entries
        restored = restore_backup(checker, entries, apply=True)
    finally:
        checker.stop()
        checker.close()

    assert result.aborted.startswith("connection to ZooKeeper lost")
    first, second, rest = result.outcomes[:3], result.outcomes[3:6], result.outcomes[6:]
    first_paths = {o.report.session.path for o in first}
    second_paths = {o.report.session.path for o in second}
    assert [o.action for o in first] == [Outcome.DELETED] * 3
    # The multi in flight was applied as a whole or not at all; the account says which, or that
    # it cannot tell.
    assert gone in (first_paths, first_paths | second_paths)
    assert {(o.action, o.result_unknown) for o in second} in (
        {(Outcome.DELETED, False)},
        {(Outcome.FAILED, True)},
    )
    if second[0].action == Outcome.DELETED:
        assert second_paths <= gone
    assert {(o.action, o.detail) for o in rest} == {(Outcome.NOT_ATTEMPTED, result.aborted)}
    # The third batch was backed up as ZooKeeper died: its outcome says it was not deleted.
    recorded = {entry.path: entry.outcome for entry in entries}
    assert [recorded[r.session.path] for r in reports[6:9]] == ["not-attempted"] * 3
    assert not {r.session.path for r in reports[9:]} & set(recorded)
    assert {o.entry.path for o in restored if o.action == RestoreAction.RESTORED} == gone
