"""The prune backup file: created safely, durable, and read back strictly."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

import zkjanitor
from zkjanitor.backup import (
    DELETED,
    RECORDED_OUTCOMES,
    BackupWriter,
    check_new_backup_path,
    default_backup_path,
    read_backup,
)
from zkjanitor.errors import EXIT_USAGE, ConfigError
from zkjanitor.model import Session, SessionReport, SessionType, Verdict
from zkjanitor.prune import Outcome

BINARY = bytes(range(256))


def _report(session_id: int, data: bytes = b'{"id":1}') -> SessionReport:
    session = Session(
        type=SessionType.INTERACTIVE,
        id=session_id,
        path=f"/livy/v1/interactive/{session_id}",
        data=data,
        version=3,
        ctime_ms=1_700_000_000_000,
        mtime_ms=1_700_000_500_123,
    )
    return SessionReport(session, Verdict.STALE, "app-forgotten", 86400.0)


@pytest.fixture
def permissive_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_the_backup_is_private_whatever_the_umask(tmp_path, permissive_umask):
    with BackupWriter(tmp_path / "b.jsonl", zookeeper="zk:2181", prefix="livy"):
        pass
    assert stat.S_IMODE((tmp_path / "b.jsonl").stat().st_mode) == 0o600


def test_an_existing_file_is_never_overwritten(tmp_path):
    target = tmp_path / "b.jsonl"
    target.write_text("precious\n")
    with pytest.raises(ConfigError) as raised:
        BackupWriter(target, zookeeper="zk:2181", prefix="livy")
    assert target.read_text() == "precious\n"
    assert "already exists" in str(raised.value) and "choose another --backup path" in str(
        raised.value
    )


def test_an_unwritable_location_is_a_one_line_configuration_error(tmp_path):
    target = tmp_path / "missing-dir" / "b.jsonl"
    with pytest.raises(ConfigError) as raised:
        BackupWriter(target, zookeeper="zk:2181", prefix="livy")
    message = str(raised.value)
    assert (
        message
        == f"cannot write backup {target}: No such file or directory; choose another --backup path"
    )
    assert raised.value.exit_code == EXIT_USAGE


def test_the_header_names_the_store_without_credentials(tmp_path):
    path = tmp_path / "b.jsonl"
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with BackupWriter(path, zookeeper="bob:s3cret@zk1:2181,zk2:2181/apps", prefix="a/livy",
                      counters={"batch": 37, "interactive": None}):
        pass
    header = json.loads(path.read_text().splitlines()[0])
    created = datetime.strptime(header.pop("created"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc
    )
    assert before <= created <= datetime.now(timezone.utc)
    assert header == {
        "format": "zkjanitor-backup",
        "format_version": 2,
        "zookeeper": "zk1:2181,zk2:2181/apps",
        "prefix": "a/livy",
        "store": "/apps/a/livy",
        "counters": {"batch": 37, "interactive": None},
        "tool_version": zkjanitor.__version__,
    }
    assert "s3cret" not in path.read_text()


def test_written_znodes_read_back_byte_for_byte(tmp_path):
    path = tmp_path / "b.jsonl"
    reports = [_report(1), _report(2, BINARY), _report(3, b"")]
    with BackupWriter(path, zookeeper="zk:2181", prefix="livy") as writer:
        writer.write(reports[:2])
        writer.write(reports[2:])

    backup = read_backup(path)
    assert backup.warnings == []
    assert [(e.path, e.data, e.version, e.ctime_ms, e.mtime_ms) for e in backup.entries] == [
        (r.session.path, r.session.data, 3, 1_700_000_000_000, 1_700_000_500_123) for r in reports
    ]
    first = backup.entries[0]
    assert (first.type, first.id, first.verdict, first.reason) == (
        "interactive",
        1,
        "stale",
        "app-forgotten",
    )
    line = json.loads(path.read_text().splitlines()[1])
    assert (line["created"], line["modified"]) == (
        "2023-11-14T22:13:20.000Z",
        "2023-11-14T22:21:40.123Z",
    )


def test_lines_are_the_compact_json_of_each_entry_and_outcome(tmp_path):
    odd = _report(5, BINARY)._replace(reason='odd "reason" \\ é \udc80')
    odd = odd._replace(session=odd.session._replace(path="/lívy/v1/interactive/5"))
    path = tmp_path / "backup.jsonl"
    with BackupWriter(path, zookeeper="zk1:2181", prefix="lívy") as writer:
        writer.write([_report(1), odd])
        writer.record_outcomes([("/lívy/v1/interactive/5", "failed", 'NoAuth "é"'), ("/a", DELETED, None)])

    lines = path.read_bytes().splitlines()[1:]
    records = [json.loads(line) for line in lines]
    assert all(line.isascii() for line in lines)
    assert [json.dumps(record, separators=(",", ":")).encode() for record in records] == lines
    assert records[1]["path"] == "/lívy/v1/interactive/5" and records[1]["reason"] == odd.reason
    assert records[2] == {"path": "/lívy/v1/interactive/5", "outcome": "failed", "detail": 'NoAuth "é"'}
    assert records[3] == {"path": "/a", "outcome": DELETED}


def test_the_default_name_is_a_utc_timestamp_with_milliseconds_and_the_pid(tmp_path):
    now = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert (
        default_backup_path(tmp_path, now)
        == tmp_path / f"zkjanitor-backup-20240305T050809.123Z-{os.getpid()}.jsonl"
    )


def test_two_prunes_in_the_same_second_get_different_default_backups(tmp_path, monkeypatch):
    now = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=timezone.utc)
    first = default_backup_path(tmp_path, now)
    monkeypatch.setattr(os, "getpid", lambda: 999_999)  # another process, the same millisecond
    assert default_backup_path(tmp_path, now) != first


def test_written_lines_are_on_disk_before_write_returns(tmp_path):
    path = tmp_path / "b.jsonl"
    with BackupWriter(path, zookeeper="zk:2181", prefix="livy") as writer:
        writer.write([_report(7)])
        assert [entry.path for entry in read_backup(path).entries] == ["/livy/v1/interactive/7"]


def test_outcomes_recorded_after_the_entries_are_read_back_with_them(tmp_path):
    path = tmp_path / "b.jsonl"
    with BackupWriter(path, zookeeper="zk:2181", prefix="livy") as writer:
        writer.write([_report(1), _report(2), _report(3), _report(4)])
        writer.record_outcomes(
            [
                ("/livy/v1/interactive/1", "deleted", None),
                ("/livy/v1/interactive/2", "skipped-gone", None),
                ("/livy/v1/interactive/3", "failed", "NoAuthError"),
            ]
        )
        # an outcome is on disk when record_outcomes returns, as an entry is when write returns
        assert read_backup(path).entries[1].outcome == "skipped-gone"

    entries = read_backup(path).entries
    assert [(e.outcome, e.deleted_by_prune) for e in entries] == [
        ("deleted", True),
        ("skipped-gone", False),
        ("failed", False),
        (None, True),  # no outcome: the prune may have deleted it before it could say
    ]
    assert json.loads(path.read_text().splitlines()[7]) == {
        "path": "/livy/v1/interactive/3",
        "outcome": "failed",
        "detail": "NoAuthError",
    }


def test_only_settled_prune_actions_can_be_recorded(tmp_path):
    with BackupWriter(tmp_path / "b.jsonl", zookeeper="zk:2181", prefix="livy") as writer:
        writer.write([_report(1)])
        with pytest.raises(ValueError, match="would-delete"):
            writer.record_outcomes([("/livy/v1/interactive/1", "would-delete", None)])
    assert read_backup(tmp_path / "b.jsonl").entries[0].outcome is None


def test_the_recordable_outcomes_are_the_prune_actions_that_settle_a_znode():
    assert set(RECORDED_OUTCOMES) == set(Outcome.ALL) - {Outcome.WOULD_DELETE}
    assert DELETED == Outcome.DELETED


def test_a_version_1_backup_is_still_read_and_every_entry_counts_as_deleted(tmp_path):
    path = tmp_path / "v1.jsonl"
    header = {"format": "zkjanitor-backup", "format_version": 1, "zookeeper": "zk:2181",
              "prefix": "livy", "created": "2024-01-01T00:00:00.000Z", "tool_version": "0.1.0"}
    entry = {"path": "/livy/v1/batch/7", "data_b64": "e30=", "ctime": 1, "mtime": 2, "version": 0}
    path.write_text(json.dumps(header) + "\n" + json.dumps(entry) + "\n")

    backup = read_backup(path)

    assert backup.header["format_version"] == 1
    assert [(e.path, e.data, e.outcome, e.deleted_by_prune) for e in backup.entries] == [
        ("/livy/v1/batch/7", b"{}", None, True)
    ]


def test_a_backup_path_is_checked_before_anything_is_done(tmp_path):
    check_new_backup_path(tmp_path / "new.jsonl")  # fine: nothing there, directory exists
    (tmp_path / "old.jsonl").write_text("precious\n")
    with pytest.raises(ConfigError, match="old.jsonl: it already exists"):
        check_new_backup_path(tmp_path / "old.jsonl")
    with pytest.raises(ConfigError, match="directory .*missing does not exist"):
        check_new_backup_path(tmp_path / "missing" / "b.jsonl")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.jsonl"]
