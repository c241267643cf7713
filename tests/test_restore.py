"""restore: a prune backup puts back exactly what was deleted, and nothing else changes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from tests.session_znodes import create_sessions, create_store, existing_ids, read_report, type_dir
from zkjanitor.backup import BackupEntry, BackupWriter, read_backup
from zkjanitor.errors import ConfigError
from zkjanitor.model import SessionReport, SessionType
from zkjanitor.prune import Outcome, apply_prune
from zkjanitor.restore import RestoreAction, restore_backup

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
        result = apply_prune(client, reports, backup)
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
    "format_version": 1,
    "zookeeper": "zk:2181",
    "prefix": "livy",
}


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
        ([dict(HEADER, format_version=2), _entry(1)], "line 1: format_version 2 is not supported"),
        ([HEADER, [1, 2]], "line 2: not a JSON object"),
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


def test_a_bad_line_that_is_not_the_torn_tail_is_still_an_error(tmp_path):
    torn = json.dumps(_entry(3))[:25]
    path = _write_lines(tmp_path / "backup.jsonl", [HEADER, torn, _entry(1)])
    with pytest.raises(ConfigError, match="line 2: not valid JSON"):
        read_backup(path)
