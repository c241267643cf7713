"""`zkjanitor prune` end to end: the real CLI on a real ZooKeeper and the YARN double.

Every test proves what an operator sees (exit code, stdout, stderr, files) and
what ZooKeeper holds afterwards, compared znode by znode with a snapshot.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.helpers import closed_port
from tests.support.prune_store import (
    by_action,
    changed_paths,
    cli_env,
    data_of,
    prune,
    restore,
    seed_finished,
    seed_incident,
    session_path,
    snapshot,
    stale_older_than,
    zkjanitor_command,
)
from zkjanitor.backup import read_backup
from zkjanitor.zk import delete as delete_library
from zkjanitor.zk.lock import lock_path, prune_lock

OLDER_THAN_DAYS = 5
ALL_STALE = "12h"
"""Younger than every stale session of the incident (its applications ended 1 to 9 days ago)."""
CONTRACT_SESSION_FIELDS = {
    "type", "id", "path", "verdict", "reason", "app_id", "app_tag", "app_state",
    "created", "modified", "finished", "age_seconds", "bytes", "owner",
}


@pytest.fixture
def incident(old_zk_client, prefix, yarn_rm):
    """A mixed store whose znodes are 10 days old; YARN knows its applications."""
    return seed_incident(old_zk_client, prefix, yarn_rm)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The working directory, where a prune without --backup writes its backup."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def _json(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # nothing else on stdout


# --- dry run --------------------------------------------------------------------------------


def test_a_dry_run_lists_what_would_go_in_json_and_changes_nothing(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, workdir
):
    before = snapshot(old_zk_client, prefix)
    wanted, borderline = stale_older_than(incident, before, prefix, OLDER_THAN_DAYS)

    document = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", f"{OLDER_THAN_DAYS}d",
                           "--format", "json"))

    assert (document["mode"], document["backup"], document["deleted"]) == ("dry-run", None, 0)
    actions = by_action(document)
    assert set(actions) == {"would-delete"}
    assert wanted <= actions["would-delete"] <= wanted | borderline
    assert document["selected"] == len(document["sessions"]) == len(actions["would-delete"])
    assert all(CONTRACT_SESSION_FIELDS <= set(s) for s in document["sessions"])
    assert snapshot(old_zk_client, prefix) == before
    assert old_zk_client.exists(lock_path(prefix)) is None  # a dry run takes no lock either
    assert list(workdir.iterdir()) == []


def test_a_dry_run_table_shows_the_plan_and_changes_nothing(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, workdir
):
    before = snapshot(old_zk_client, prefix)

    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE)

    assert result.exit_code == 0, result.stderr
    stale = len(incident.keys("stale"))
    assert "would-delete" in result.stdout
    assert f"selected {stale:,} stale session(s) older than {ALL_STALE} of {len(incident.expected):,}" in (
        result.stdout
    )
    assert "dry run: nothing was deleted; add --apply to delete them" in result.stdout
    assert f"and {stale - 20:,} more (--format json lists them all)" in result.stdout
    assert snapshot(old_zk_client, prefix) == before
    assert list(workdir.iterdir()) == []


# --- apply ----------------------------------------------------------------------------------


def test_apply_deletes_exactly_the_stale_sessions_older_than_the_threshold(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path
):
    before = snapshot(old_zk_client, prefix)
    wanted, borderline = stale_older_than(incident, before, prefix, OLDER_THAN_DAYS)
    assert wanted and incident.keys("stale") - wanted - borderline, "both sides must be seeded"
    backup = tmp_path / "prune.jsonl"

    document = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", f"{OLDER_THAN_DAYS}d",
                           "--apply", "--yes", "--backup", str(backup), "--format", "json"))

    deleted = by_action(document)["deleted"]
    assert wanted <= deleted <= wanted | borderline
    assert set(by_action(document)) == {"deleted"}
    assert (document["mode"], document["backup"]) == ("apply", str(backup))
    assert document["selected"] == document["deleted"] == len(deleted)
    after = snapshot(old_zk_client, prefix)
    assert changed_paths(before, after) == {session_path(prefix, key) for key in deleted}
    # so every live, unknown and corrupt session, each `state` and non-session child is intact
    kept = incident.keys("live") | incident.keys("unknown") | incident.keys("corrupt")
    assert kept and all(after[session_path(prefix, key)] == before[session_path(prefix, key)]
                        for key in kept)
    for path in incident.not_sessions + [f"/{prefix}/v1/batch/state", f"/{prefix}/v1/interactive/state"]:
        assert after[path] == before[path]
    # the backup: private, and every deleted znode byte for byte, recorded as deleted
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    entries = {entry.path: entry for entry in read_backup(backup).entries}
    assert set(entries) == {session_path(prefix, key) for key in deleted}
    for path, entry in entries.items():
        assert (entry.data, entry.version, entry.ctime_ms, entry.mtime_ms) == tuple(before[path])
        assert entry.outcome == "deleted"


def test_include_corrupt_also_deletes_old_corrupt_znodes_and_only_then(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path
):
    corrupt = incident.keys("corrupt")
    assert corrupt
    before = snapshot(old_zk_client, prefix)

    without = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--format", "json"))
    table = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--include-corrupt")
    stale = len(incident.keys("stale"))
    assert (f"selected {stale + len(corrupt):,} session(s) ({stale:,} stale, {len(corrupt):,} corrupt) "
            f"older than {ALL_STALE}") in table.stdout
    document = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--include-corrupt",
                           "--apply", "--yes", "--backup", str(tmp_path / "b.jsonl"), "--format", "json"))

    assert not corrupt & by_action(without)["would-delete"]
    assert by_action(document)["deleted"] == incident.keys("stale") | corrupt
    after = snapshot(old_zk_client, prefix)
    assert not any(session_path(prefix, key) in after for key in corrupt)
    restorable = {entry.path: entry.data for entry in read_backup(tmp_path / "b.jsonl").entries}
    assert all(restorable[session_path(prefix, k)] == before[session_path(prefix, k)].data
               for k in corrupt)


def test_type_prunes_one_session_type_only(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path
):
    before = snapshot(old_zk_client, prefix)
    stale_interactive = {key for key in incident.keys("stale") if key[0] == "interactive"}
    assert stale_interactive and incident.keys("stale") - stale_interactive

    document = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--type", "interactive",
                           "--apply", "--yes", "--backup", str(tmp_path / "b.jsonl"), "--format", "json"))

    assert by_action(document)["deleted"] == stale_interactive
    after = snapshot(old_zk_client, prefix)
    assert changed_paths(before, after) == {session_path(prefix, key) for key in stale_interactive}


def test_limit_deletes_the_oldest_first(zk_server, zk_client, prefix, yarn_rm, tmp_path):
    seed_finished(zk_client, prefix, yarn_rm, {0: 3, 1: 30, 2: 8, 3: 20, 4: 12, 5: 0.5})

    document = _json(prune(zk_server, prefix, yarn_rm, "--older-than", "1d", "--limit", "3",
                           "--apply", "--yes", "--backup", str(tmp_path / "b.jsonl"), "--format", "json"))

    assert [s["id"] for s in document["sessions"]] == [1, 3, 4]  # 30, 20 and 12 days old
    assert {s["action"] for s in document["sessions"]} == {"deleted"}
    assert sorted(zk_client.get_children(f"/{prefix}/v1/batch")) == ["0", "2", "5", "state"]


def test_rerunning_an_applied_prune_is_a_no_op(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, workdir
):
    first = _json(prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes",
                        "--format", "json"))
    assert first["deleted"] == len(incident.keys("stale"))
    assert Path(first["backup"]).parent == workdir  # the default: a timestamped file here
    assert Path(first["backup"]).name.startswith("zkjanitor-backup-")
    between = snapshot(old_zk_client, prefix)

    again = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes", "--format", "json")

    document = _json(again)
    assert (document["mode"], document["selected"], document["deleted"], document["backup"]) == (
        "apply", 0, 0, None)
    assert document["sessions"] == []
    assert snapshot(old_zk_client, prefix) == between
    assert [p.name for p in workdir.iterdir()] == [Path(first["backup"]).name]


def test_apply_without_yes_when_stdin_is_not_a_terminal_refuses_and_writes_nothing(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, workdir
):
    before = snapshot(old_zk_client, prefix)

    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", input="y\n")

    assert result.exit_code == 2
    assert result.stderr == (
        "zkjanitor: error: refusing to --apply without confirmation: stdin is not a terminal; add --yes\n"
    )
    assert result.stdout == ""
    assert snapshot(old_zk_client, prefix) == before
    assert list(workdir.iterdir()) == []  # no backup file either
    assert yarn_rm.request_count == 0  # refused up front, before any scan
    assert old_zk_client.exists(lock_path(prefix)) is None


@pytest.mark.parametrize("answer, deleted", [("n", False), ("y", True)])
def test_apply_on_a_terminal_asks_first(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path, answer, deleted
):
    """A real terminal (a pty) on stdin: prune asks, and only "y" deletes."""
    before = snapshot(old_zk_client, prefix)
    backup = tmp_path / "b.jsonl"
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        run = subprocess.run(
            zkjanitor_command("prune", "--zk", old_zk_server.connect_string, "--prefix", prefix,
                              "--yarn", yarn_rm.url, "--older-than", ALL_STALE, "--apply",
                              "--backup", str(backup)),
            stdin=terminal, capture_output=True, env=cli_env(), timeout=60, check=False,
        )
    finally:
        os.close(controller)
        os.close(terminal)

    stale = len(incident.keys("stale"))
    stderr = run.stderr.decode()
    assert f"Delete {stale:,} session znode(s) (app-" in stderr  # what goes: by reason, ages, top owners
    assert "top owners: " in stderr
    assert f") under /{prefix} on {old_zk_server.connect_string}? (backup: {backup})" in stderr
    after = snapshot(old_zk_client, prefix)
    if deleted:
        assert run.returncode == 0, stderr
        assert len(changed_paths(before, after)) == stale
        assert len(read_backup(backup).entries) == stale
    else:
        assert run.returncode == 2
        assert "aborted; nothing was changed" in stderr
        assert after == before
        assert not backup.exists()


def test_a_session_livy_changes_or_deletes_between_read_and_delete_is_skipped(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path, monkeypatch
):
    """Livy touches two selected sessions after prune read them and before it deletes.

    How: the test wraps the library's ``delete_sessions`` as the CLI calls it, and the
    wrapper first changes one selected znode and deletes another on the test's own
    ZooKeeper connection (another client session, as Livy is), then runs the real
    ``delete_sessions``. This lands the change at a known point inside the real window
    (after the scan, the YARN answer and the confirmation; before any delete is sent)
    instead of racing a sleep, and it leaves everything that decides the outcome
    real: the version-checked multi, its rollback on the real server, the per-znode
    retry, and the backup. (A YARN delay window would also open the gap, but then
    the test would depend on timing.)
    """
    real_delete = delete_library.delete_sessions
    touched = {}

    def livy_acts_first(client, selected, backup, **kwargs):
        changed, gone = selected[3].session.path, selected[7].session.path
        old_zk_client.set(changed, b'{"id":0,"written":"by Livy"}')
        old_zk_client.delete(gone)
        touched.update(changed=changed, gone=gone)
        return real_delete(client, selected, backup, **kwargs)

    monkeypatch.setattr("zkjanitor.zk.store.delete_sessions", livy_acts_first)
    backup = tmp_path / "b.jsonl"

    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes",
                   "--batch-size", "5", "--backup", str(backup), "--format", "json")

    assert result.exit_code == 0, result.stderr  # a skip is not a failure
    document = json.loads(result.stdout)
    actions = {s["path"]: s["action"] for s in document["sessions"]}
    assert actions.pop(touched["changed"]) == "skipped-changed"
    assert actions.pop(touched["gone"]) == "skipped-gone"
    assert set(actions.values()) == {"deleted"}
    assert document["deleted"] == document["selected"] - 2
    assert old_zk_client.get(touched["changed"])[0] == b'{"id":0,"written":"by Livy"}'
    outcomes = {entry.path: entry.outcome for entry in read_backup(backup).entries}
    assert (outcomes[touched["changed"]], outcomes[touched["gone"]]) == (
        "skipped-changed", "skipped-gone")


def test_the_table_after_apply_sums_up_and_says_how_to_undo(
    zk_server, zk_client, prefix, yarn_rm, tmp_path
):
    seed_finished(zk_client, prefix, yarn_rm, {0: 3, 1: 4})
    backup = tmp_path / "b.jsonl"

    result = prune(zk_server, prefix, yarn_rm, "--older-than", "1d", "--apply", "--yes",
                   "--backup", str(backup))

    assert result.exit_code == 0, result.stderr
    assert "result: deleted 2" in result.stdout
    assert f"backup: {backup}  (undo with: zkjanitor restore {backup} --apply)" in result.stdout


# --- refusals -------------------------------------------------------------------------------


def test_a_second_prune_exits_5_and_names_the_lock_holder(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, workdir
):
    before = snapshot(old_zk_client, prefix)
    holder = "alice@edge1 pid 4242 started 2024-05-01T03:00:00Z"

    with prune_lock(old_zk_client, prefix, identifier=holder):
        result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes")

    assert result.exit_code == 5
    assert result.stderr.startswith(f"zkjanitor: error: another prune holds the lock for /{prefix} since ")
    assert f": {holder}; it is released when that run ends (if it was killed or lost ZooKeeper, " \
           "when its ZooKeeper session expires)\n" in result.stderr
    assert result.stderr.count("\n") == 1
    assert snapshot(old_zk_client, prefix) == before
    assert list(workdir.iterdir()) == []


def test_unreachable_yarn_deletes_nothing_and_exits_3(
    incident, old_zk_server, old_zk_client, prefix, workdir
):
    before = snapshot(old_zk_client, prefix)
    dead_rm = f"http://127.0.0.1:{closed_port()}"

    result = prune(old_zk_server, prefix, None, "--older-than", ALL_STALE, "--apply", "--yes",
                   "--yarn", dead_rm, "--timeout", "1", "--format", "json")

    assert result.exit_code == 3
    assert "nothing was deleted" in result.stderr.splitlines()[-1]
    assert result.stdout == ""
    assert snapshot(old_zk_client, prefix) == before
    assert list(workdir.iterdir()) == []


def test_without_yarn_prune_is_a_clear_usage_error(old_zk_server, prefix):
    result = prune(old_zk_server, prefix, None, "--older-than", ALL_STALE, "--apply", "--yes")
    assert result.exit_code == 2
    assert result.stderr == (
        "zkjanitor: error: prune needs an application-state source to know what is stale: "
        "pass --yarn http://<rm>:8088\n"
    )


def test_a_backup_path_that_exists_is_refused_before_anything_is_deleted(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path
):
    before = snapshot(old_zk_client, prefix)
    existing = tmp_path / "yesterday.jsonl"
    existing.write_text("yesterday's backup\n")

    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes",
                   "--backup", str(existing))

    assert result.exit_code == 2
    assert result.stderr == (
        f"zkjanitor: error: cannot write backup {existing}: it already exists "
        "(zkjanitor never overwrites a backup); choose another --backup path\n"
    )
    assert existing.read_text() == "yesterday's backup\n"
    assert snapshot(old_zk_client, prefix) == before
    assert yarn_rm.request_count == 0


@pytest.mark.parametrize(
    "value, message",
    [
        ("1x", "invalid duration '1x': use a whole number and a unit, e.g. 90m, 12h, 1d, 2w"),
        ("10", "invalid duration '10': add a unit, e.g. 10s, 10m, 10h, 10d"),
        ("", "invalid duration '': use a whole number and a unit"),
        ("-1d", "invalid duration '-1d'"),
    ],
)
def test_an_invalid_older_than_is_a_usage_error(old_zk_server, prefix, yarn_rm, value, message):
    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", value, "--apply", "--yes")
    assert result.exit_code == 2
    assert "Invalid value for '--older-than'" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert yarn_rm.request_count == 0


def test_older_than_is_required(old_zk_server, prefix, yarn_rm):
    result = prune(old_zk_server, prefix, yarn_rm)
    assert result.exit_code == 2
    assert result.stderr == "zkjanitor: error: prune needs --older-than DURATION (or --plan FILE)\n"


# --- pacing ---------------------------------------------------------------------------------


def test_batch_size_and_pause_pace_the_deletes(zk_server, zk_client, prefix, yarn_rm, tmp_path):
    seed_finished(zk_client, prefix, yarn_rm, {i: 2 for i in range(6)})
    started = time.monotonic()

    document = _json(prune(zk_server, prefix, yarn_rm, "--older-than", "1d", "--apply", "--yes",
                           "--batch-size", "2", "--pause", "0.3", "--backup", str(tmp_path / "b.jsonl"),
                           "--format", "json"))

    assert document["deleted"] == 6
    assert time.monotonic() - started >= 0.6  # three batches, two pauses between them
    assert zk_client.get_children(f"/{prefix}/v1/batch") == ["state"]


@pytest.mark.parametrize(
    "args", [["--batch-size", "0"], ["--batch-size", "1001"], ["--pause", "-1"], ["--pause", "61"]]
)
def test_out_of_range_pacing_is_a_usage_error(old_zk_server, prefix, yarn_rm, args):
    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, *args)
    assert result.exit_code == 2
    assert f"Invalid value for '{args[0]}'" in result.stderr


# --- a prune killed mid-run -----------------------------------------------------------------


def _wait_for_first_batch(backup: Path, batch_size: int, process: subprocess.Popen) -> None:
    """Until the backup records the outcome of a whole batch (its deletes are done)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the prune exited {process.returncode} early: {process.stderr.read().decode()}")
        try:
            recorded = [e for e in read_backup(backup).entries if e.outcome is not None]
        except Exception:  # not created yet, or caught mid-write: look again
            recorded = []
        if len(recorded) >= batch_size:
            return
        time.sleep(0.05)
    pytest.fail("the prune did not finish its first batch within 60 s")


def test_a_prune_killed_after_its_first_batch_can_be_undone_byte_for_byte(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path
):
    """SIGKILL (no cleanup) while the prune pauses after its first batch; then restore."""
    before = snapshot(old_zk_client, prefix)
    backup = tmp_path / "killed.jsonl"
    process = subprocess.Popen(
        zkjanitor_command("prune", "--zk", old_zk_server.connect_string, "--prefix", prefix,
                          "--yarn", yarn_rm.url, "--older-than", ALL_STALE, "--apply", "--yes",
                          "--batch-size", "5", "--pause", "30", "--backup", str(backup),
                          "--timeout", "4"),  # the shortest ZooKeeper session zkjanitor asks for
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=cli_env(),
    )
    try:
        _wait_for_first_batch(backup, 5, process)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        process.stderr.close()

    after_kill = snapshot(old_zk_client, prefix)
    deleted = set(before) - set(after_kill)
    held_lock = {path for path in after_kill if path.startswith(lock_path(prefix))}  # until the session expires
    assert len(deleted) == 5 and changed_paths(before, after_kill) == deleted | held_lock
    entries = {entry.path: entry for entry in read_backup(backup).entries}
    assert all(entries[path].data == before[path].data for path in deleted)

    # The killed run's lock lives until ZooKeeper expires its session (a few seconds).
    deadline = time.monotonic() + 30
    while True:
        result = restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json")
        if result.exit_code != 5 or time.monotonic() > deadline:
            break
        # it names the dead prune, unless its session expired just as restore looked
        assert f"pid {process.pid} " in result.stderr or "a moment ago; try again" in result.stderr
        time.sleep(0.5)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["restored"] == 5
    assert data_of(snapshot(old_zk_client, prefix)) == data_of(before)
