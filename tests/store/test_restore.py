"""restore: a prune backup puts back exactly what was deleted, and nothing else changes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from tests.support.session_znodes import create_sessions, create_store, existing_ids, read_report, type_dir
from zkjanitor.backup import BackupEntry, BackupWriter, read_backup
from zkjanitor.errors import ConfigError
from zkjanitor.model import SessionReport, SessionType
from zkjanitor.prune import Outcome
from zkjanitor.restore import RestoreAction
from zkjanitor.zk.delete import delete_sessions
from zkjanitor.zk.restore import restore_backup

ODD_DATA = {
    0: b"",
    1: bytes(range(256)),
    2: '{"owner":"\u00e9l\u00e8ve"}'.encode("utf-8"),
    3: b"\xff\xfe not json",
    4: b"x" * 200_000,
}


def _prune_to_backup(
    client, reports: Sequence[SessionReport], path: Path, prefix: str
) -> List[BackupEntry]:
    with BackupWriter(path, zookeeper="127.0.0.1:2181", prefix=prefix) as backup:
        result = delete_sessions(client, reports, backup)
    assert result.counts[Outcome.DELETED] == len(reports)
    return read_backup(path).entries


def _actions(outcomes) -> Dict[str, str]:
    return {outcome.entry.path: outcome.action for outcome in outcomes}


def test_prune_then_restore_gives_back_every_znode_byte_for_byte(zk_client, prefix, tmp_path):
    create_store(zk_client, prefix, SessionType.BATCH, ODD_DATA)
    parent = type_dir(prefix, SessionType.BATCH)
    reports = [read_report(zk_client, f"{parent}/{i}", SessionType.BATCH, i) for i in ODD_DATA]
    interactive = create_sessions(zk_client, prefix, range(3), SessionType.INTERACTIVE)
    entries = _prune_to_backup(zk_client, reports + interactive, tmp_path / "b.jsonl", prefix)
    assert existing_ids(zk_client, prefix) == {"state"}

    progress: List[int] = []
    outcomes = restore_backup(zk_client, entries, apply=True, progress=progress.append)

    assert [o.action for o in outcomes] == [RestoreAction.RESTORED] * 8
    assert sum(progress) == 8
    for report in reports + interactive:
        assert zk_client.get(report.session.path)[0] == report.session.data


def test_restore_never_overwrites_an_existing_znode(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(4))
    entries = _prune_to_backup(zk_client, reports, tmp_path / "b.jsonl", prefix)
    recreated = reports[2].session.path
    zk_client.create(recreated, b'{"id":2,"written":"by Livy after the prune"}')

    outcomes = restore_backup(zk_client, entries, apply=True)

    assert _actions(outcomes)[recreated] == RestoreAction.ALREADY_PRESENT
    assert zk_client.get(recreated)[0] == b'{"id":2,"written":"by Livy after the prune"}'
    assert (
        sorted(_actions(outcomes).values())
        == [RestoreAction.ALREADY_PRESENT] + [RestoreAction.RESTORED] * 3
    )


def test_sessions_the_prune_did_not_delete_are_never_restored(zk_client, prefix, tmp_path):
    """Livy deleted one session and rewrote another between the scan and the delete.

    The prune skips both and records it; restore must not bring the deleted one
    back (Livy would recover a session it already removed) nor touch the other.
    """
    reports = create_sessions(zk_client, prefix, range(5))
    gone, changed = reports[1].session.path, reports[3].session.path
    zk_client.delete(gone)
    zk_client.set(changed, b'{"id":3,"written":"by Livy"}')
    path = tmp_path / "b.jsonl"
    with BackupWriter(path, zookeeper="127.0.0.1:2181", prefix=prefix) as backup:
        result = delete_sessions(zk_client, reports, backup)
    assert [o.action for o in result.outcomes] == [
        Outcome.DELETED,
        Outcome.SKIPPED_GONE,
        Outcome.DELETED,
        Outcome.SKIPPED_CHANGED,
        Outcome.DELETED,
    ]
    entries = read_backup(path).entries
    assert len(entries) == 5  # every znode was backed up before its delete was sent

    dry_run = restore_backup(zk_client, entries, apply=False)
    outcomes = restore_backup(zk_client, entries, apply=True)

    expected = {
        reports[0].session.path: RestoreAction.RESTORED,
        gone: RestoreAction.NOT_DELETED,
        reports[2].session.path: RestoreAction.RESTORED,
        changed: RestoreAction.NOT_DELETED,
        reports[4].session.path: RestoreAction.RESTORED,
    }
    assert _actions(outcomes) == expected
    assert _actions(dry_run) == {
        path: RestoreAction.WOULD_RESTORE if action == RestoreAction.RESTORED else action
        for path, action in expected.items()
    }
    assert outcomes[1].detail == "the prune recorded skipped-gone: it did not delete this znode"
    assert existing_ids(zk_client, prefix) == {"state", "0", "2", "3", "4"}
    assert zk_client.get(changed)[0] == b'{"id":3,"written":"by Livy"}'


def test_entries_without_a_recorded_outcome_are_restored(zk_client, prefix, tmp_path):
    """A prune killed between its deletes and their outcome records: the deletes happened."""
    reports = create_sessions(zk_client, prefix, range(3))
    path = tmp_path / "b.jsonl"
    with BackupWriter(path, zookeeper="127.0.0.1:2181", prefix=prefix) as backup:
        backup.write(reports)
    for report in reports:
        zk_client.delete(report.session.path, version=report.session.version)

    outcomes = restore_backup(zk_client, read_backup(path).entries, apply=True)

    assert [o.action for o in outcomes] == [RestoreAction.RESTORED] * 3
    assert all(zk_client.get(r.session.path)[0] == r.session.data for r in reports)


def test_a_dry_run_changes_nothing(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(3))
    entries = _prune_to_backup(zk_client, reports[:2], tmp_path / "b.jsonl", prefix)
    zk_client.create(reports[0].session.path, b"new")

    outcomes = restore_backup(zk_client, entries, apply=False)

    assert [o.action for o in outcomes] == [
        RestoreAction.ALREADY_PRESENT,
        RestoreAction.WOULD_RESTORE,
    ]
    assert existing_ids(zk_client, prefix) == {"state", "0", "2"}
    assert zk_client.get(reports[0].session.path)[0] == b"new"


def test_missing_parents_are_recreated_with_empty_data_as_curator_does(zk_client, prefix, tmp_path):
    reports = create_sessions(zk_client, prefix, range(3))
    entries = _prune_to_backup(zk_client, reports, tmp_path / "b.jsonl", prefix)
    store_root = "/" + prefix.split("/")[0]
    zk_client.delete(store_root, recursive=True)

    outcomes = restore_backup(zk_client, entries, apply=True)

    assert [o.action for o in outcomes] == [RestoreAction.RESTORED] * 3
    for parent in (f"/{prefix}", f"/{prefix}/v1", type_dir(prefix, SessionType.BATCH)):
        assert zk_client.get(parent)[0] == b""
    assert existing_ids(zk_client, prefix) == {"0", "1", "2"}  # the state node was never backed up


def test_large_restores_are_split_into_transactions_under_the_size_limit(
    zk_client, prefix, tmp_path
):
    # 400 znodes of ~10 KB: 4 MB in all, far over the server's 1 MB request limit as one multi.
    reports = create_sessions(zk_client, prefix, range(400), padding=10_000)
    entries = _prune_to_backup(zk_client, reports, tmp_path / "b.jsonl", prefix)

    outcomes = restore_backup(zk_client, entries, apply=True)

    assert {o.action for o in outcomes} == {RestoreAction.RESTORED}
    assert all(zk_client.get(r.session.path)[0] == r.session.data for r in reports)


def test_when_zookeeper_drops_the_connection_the_report_matches_reality(zk_client, prefix):
    parent = type_dir(prefix, SessionType.BATCH)
    zk_client.ensure_path(parent)
    oversized = b"x" * (
        1024 * 1024 + 10
    )  # over the server's request limit: it drops the connection
    entries = [
        BackupEntry(f"{parent}/1", b"small", 0, 0, 0),
        BackupEntry(f"{parent}/5", oversized, 0, 0, 0),
        BackupEntry(f"{parent}/9", b"small", 0, 0, 0),
    ]

    outcomes = restore_backup(zk_client, entries, apply=True)

    assert [o.action for o in outcomes] == [
        RestoreAction.RESTORED,
        RestoreAction.FAILED,
        RestoreAction.FAILED,
    ]
    assert "connection to ZooKeeper lost (ConnectionLoss); rerun the restore" in outcomes[1].detail
    assert existing_ids(zk_client, prefix) == {"1"}


# --- malformed backups ----------------------------------------------------------------------

HEADER = {
    "format": "zkjanitor-backup",
    "format_version": 2,
    "zookeeper": "zk:2181",
    "prefix": "livy",
}
V1_HEADER = dict(HEADER, format_version=1)


def _entry(session_id: int, **changes) -> dict:
    entry = {
        "path": f"/livy/v1/batch/{session_id}",
        "data_b64": base64.b64encode(b'{"id":%d}' % session_id).decode(),
        "ctime": 1,
        "mtime": 2,
        "version": 0,
    }
    entry.update(changes)
    return entry


def _write_lines(path: Path, lines: Sequence[object], end: str = "\n") -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + end
    )
    return path


@pytest.mark.parametrize(
    "lines, message",
    [
        ([HEADER, _entry(1), "{not json"], "line 3: not valid JSON"),
        ([HEADER, _entry(1, data_b64="@@not base64@@")], "line 2: data_b64 is not valid base64"),
        (
            [HEADER, _entry(1), {"path": "/livy/v1/batch/2"}],
            "line 3: missing fields data_b64, ctime, mtime, version",
        ),
        (
            [HEADER, _entry(1, path="livy/v1/batch/1")],
            "line 2: path 'livy/v1/batch/1' is not an absolute",
        ),
        (
            [HEADER, _entry(1, path="/livy/v1/../1")],
            "line 2: path '/livy/v1/../1' is not an absolute",
        ),
        ([HEADER, _entry(1, version="3")], "line 2: version is not a non-negative integer"),
        (
            [HEADER, _entry(1), _entry(2), _entry(1)],
            "line 4: duplicate path /livy/v1/batch/1 (first on line 2)",
        ),
        ([_entry(1)], "line 1: not a zkjanitor backup header"),
        (
            [dict(HEADER, format_version=3), _entry(1)],
            "line 1: format_version 3 is not supported (this zkjanitor reads versions 1 and 2)",
        ),
        ([dict(HEADER, format_version=True)], "line 1: format_version True is not supported"),
        ([HEADER, [1, 2]], "line 2: not a JSON object"),
        (
            [HEADER, {"path": "/livy/v1/batch/1", "outcome": "deleted"}, _entry(1)],
            "line 2: outcome for /livy/v1/batch/1, which has no entry before it",
        ),
        (
            [HEADER, _entry(1), {"path": "/livy/v1/batch/1", "outcome": "would-delete"}],
            "line 3: outcome 'would-delete' is not one of deleted, deleted-via-livy, skipped-changed, "
            "skipped-gone, skipped-live, failed",
        ),
        (
            [
                HEADER,
                _entry(1),
                {"path": "/livy/v1/batch/1", "outcome": "deleted"},
                {"path": "/livy/v1/batch/1", "outcome": "skipped-gone"},
            ],
            "line 4: second outcome for /livy/v1/batch/1 (first on line 3)",
        ),
        ([HEADER, _entry(1), {"outcome": "deleted"}], "line 3: path is not a string"),
        (
            [HEADER, _entry(1), {"path": "/livy/v1/batch/1", "outcome": "failed", "detail": 5}],
            "line 3: detail is not a str",
        ),
        # version 1 has no outcome records: such a line is an entry with fields missing
        (
            [V1_HEADER, _entry(1), {"path": "/livy/v1/batch/1", "outcome": "deleted"}],
            "line 3: missing fields data_b64, ctime, mtime, version",
        ),
    ],
)
def test_malformed_backups_are_rejected_with_the_line_number(tmp_path, lines, message):
    path = _write_lines(tmp_path / "backup.jsonl", lines)
    with pytest.raises(ConfigError) as raised:
        read_backup(path)
    assert str(raised.value).startswith(f"{path} {message}"), str(raised.value)


def test_a_missing_or_empty_backup_is_rejected(tmp_path):
    with pytest.raises(
        ConfigError, match="cannot read backup .*nope.jsonl: No such file or directory"
    ):
        read_backup(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match="empty.jsonl is empty: not a zkjanitor backup"):
        read_backup(tmp_path / "empty.jsonl")


def test_a_torn_last_line_from_a_killed_prune_is_ignored_with_a_warning(tmp_path):
    torn = json.dumps(_entry(3))[:25]
    path = _write_lines(tmp_path / "backup.jsonl", [HEADER, _entry(1), _entry(2), torn], end="")

    backup = read_backup(path)

    assert [entry.path for entry in backup.entries] == ["/livy/v1/batch/1", "/livy/v1/batch/2"]
    assert backup.warnings == [
        (
            f"{path} line 4 is incomplete (a prune was interrupted while writing it); "
            "ignored: prune never deletes a znode before its backup line is complete"
        )
    ]


def test_a_torn_outcome_record_leaves_its_entry_restorable(tmp_path):
    torn = json.dumps({"path": "/livy/v1/batch/2", "outcome": "skipped-gone"})[:30]
    lines = [HEADER, _entry(1), _entry(2), {"path": "/livy/v1/batch/1", "outcome": "deleted"}, torn]
    path = _write_lines(tmp_path / "backup.jsonl", lines, end="")

    backup = read_backup(path)

    assert [(e.outcome, e.deleted_by_prune) for e in backup.entries] == [
        ("deleted", True),
        (None, True),
    ]
    assert len(backup.warnings) == 1 and "line 5 is incomplete" in backup.warnings[0]


def test_a_bad_line_that_is_not_the_torn_tail_is_still_an_error(tmp_path):
    torn = json.dumps(_entry(3))[:25]
    path = _write_lines(tmp_path / "backup.jsonl", [HEADER, torn, _entry(1)])
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        read_backup(path)
