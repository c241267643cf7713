"""`zkjanitor restore` end to end: undo a real prune on a real ZooKeeper.

Each test prunes a store through the CLI, then restores from the backup that
prune wrote, and compares ZooKeeper znode by znode with a snapshot.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.support.helpers import run_cli
from tests.support.prune_store import (
    changed_paths,
    data_of,
    prune,
    restore,
    seed_finished,
    seed_incident,
    session_path,
    snapshot,
)
from zkjanitor.zk import delete as delete_library
from zkjanitor.zk.lock import prune_lock

ALL_STALE = "12h"


@pytest.fixture
def incident(old_zk_client, prefix, yarn_rm):
    return seed_incident(old_zk_client, prefix, yarn_rm)


@pytest.fixture
def pruned(incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    """The store before, the backup, and the store after a prune of every stale session."""
    before = snapshot(old_zk_client, prefix)
    backup = tmp_path / "backup.jsonl"
    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes",
                   "--backup", str(backup), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deleted"] == len(incident.keys("stale"))
    return before, backup, snapshot(old_zk_client, prefix)


def _document(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_prune_then_restore_gives_every_znode_back_byte_for_byte(
    pruned, incident, old_zk_server, old_zk_client, prefix
):
    before, backup, after_prune = pruned
    stale = len(incident.keys("stale"))

    document = _document(restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json"))

    assert (document["mode"], document["entries"]) == ("apply", stale)
    assert document["counts"] == {"would-restore": 0, "restored": stale, "already-present": 0,
                                  "not-deleted": 0, "failed": 0}
    assert {z["action"] for z in document["znodes"]} == {"restored"}
    restored = snapshot(old_zk_client, prefix)
    assert data_of(restored) == data_of(before)
    # what restore cannot give back: ZooKeeper stamps re-created znodes anew
    for path in set(before) - set(after_prune):
        assert restored[path].version == 0
        assert restored[path].ctime_ms > before[path].ctime_ms


def test_a_restore_dry_run_says_what_it_would_do_and_changes_nothing(
    pruned, incident, old_zk_server, old_zk_client, prefix
):
    _, backup, after_prune = pruned

    # A dry run takes no lock (it writes nothing), so it works while a prune runs.
    with prune_lock(old_zk_client, prefix, identifier="a running prune"):
        document = _document(restore(old_zk_server, prefix, backup, "--format", "json"))

    assert document["mode"] == "dry-run"
    assert document["counts"]["would-restore"] == len(incident.keys("stale")) == document["entries"]
    assert {z["action"] for z in document["znodes"]} == {"would-restore"}
    assert snapshot(old_zk_client, prefix) == after_prune

    table = restore(old_zk_server, prefix, backup)
    assert table.exit_code == 0, table.stderr
    assert f"{document['entries']:,} znode(s) in {backup}: would-restore {document['entries']:,}" in table.stdout
    assert "dry run: nothing was written; add --apply to restore" in table.stdout


def test_restore_never_overwrites_a_znode_that_exists(
    pruned, old_zk_server, old_zk_client, prefix
):
    before, backup, after_prune = pruned
    recreated = sorted(set(before) - set(after_prune))[0]
    old_zk_client.create(recreated, b'{"written":"by Livy after the prune"}')

    document = _document(restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json"))

    actions = {z["path"]: z["action"] for z in document["znodes"]}
    assert actions.pop(recreated) == "already-present"
    assert set(actions.values()) == {"restored"}
    assert old_zk_client.get(recreated)[0] == b'{"written":"by Livy after the prune"}'

    again = _document(restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json"))
    assert again["counts"]["already-present"] == again["entries"]  # a second run changes nothing


def test_sessions_livy_removed_itself_during_the_prune_are_not_brought_back(
    incident, old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path, monkeypatch
):
    """Livy deletes one selected session and rewrites another after prune read them.

    The prune skips both (see test_cli_prune for how the test gets inside that
    window) and records it in the backup; restore then re-creates only what the
    prune deleted, so the session Livy deleted stays deleted.
    """
    real_delete = delete_library.delete_sessions
    touched = {}

    def livy_acts_first(client, selected, backup, **kwargs):
        touched.update(gone=selected[2].session.path, changed=selected[6].session.path)
        old_zk_client.delete(touched["gone"])
        old_zk_client.set(touched["changed"], b'{"written":"by Livy"}')
        return real_delete(client, selected, backup, **kwargs)

    monkeypatch.setattr("zkjanitor.zk.store.delete_sessions", livy_acts_first)
    backup = tmp_path / "b.jsonl"
    pruned = prune(old_zk_server, prefix, yarn_rm, "--older-than", ALL_STALE, "--apply", "--yes",
                   "--batch-size", "4", "--backup", str(backup))
    assert pruned.exit_code == 0, pruned.stderr
    assert "skipped-changed 1, skipped-gone 1" in pruned.stdout
    livy_view = snapshot(old_zk_client, prefix)  # what Livy left, minus what prune deleted

    dry_run = _document(restore(old_zk_server, prefix, backup, "--format", "json"))
    document = _document(restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json"))

    for result in (dry_run, document):
        actions = {z["path"]: (z["action"], z.get("detail")) for z in result["znodes"]}
        assert actions[touched["gone"]] == (
            "not-deleted", "the prune recorded skipped-gone: it did not delete this znode")
        assert actions[touched["changed"]] == (
            "not-deleted", "the prune recorded skipped-changed: it did not delete this znode")
    assert document["counts"]["not-deleted"] == 2
    assert document["counts"]["restored"] == document["entries"] - 2
    after = snapshot(old_zk_client, prefix)
    assert old_zk_client.exists(touched["gone"]) is None
    assert after[touched["changed"]] == livy_view[touched["changed"]]
    assert changed_paths(livy_view, after) == {
        session_path(prefix, key) for key in incident.keys("stale")
    } - {touched["gone"], touched["changed"]}


def test_restore_apply_without_yes_when_stdin_is_not_a_terminal_refuses(
    pruned, old_zk_server, old_zk_client, prefix
):
    _, backup, after_prune = pruned

    # refused up front: before it connects, so a running prune's lock does not even matter
    with prune_lock(old_zk_client, prefix, identifier="a running prune"):
        result = restore(old_zk_server, prefix, backup, "--apply", input="y\n")

    assert result.exit_code == 2
    assert "refusing to --apply without confirmation: stdin is not a terminal; add --yes" in result.stderr
    assert snapshot(old_zk_client, prefix) == after_prune


def test_restore_waits_for_no_prune_it_exits_5_while_one_holds_the_lock(
    pruned, old_zk_server, old_zk_client, prefix
):
    _, backup, after_prune = pruned

    with prune_lock(old_zk_client, prefix, identifier="cron@edge2 pid 99 started 2024-05-01T03:00:00Z"):
        result = restore(old_zk_server, prefix, backup, "--apply", "--yes")

    assert result.exit_code == 5
    assert "cron@edge2 pid 99" in result.stderr
    assert snapshot(old_zk_client, prefix) == after_prune


def _valid_backup(tmp_path: Path) -> list:
    header = {"format": "zkjanitor-backup", "format_version": 2, "zookeeper": "zk:2181", "prefix": "p"}
    entry = {"path": "/p/v1/batch/1", "data_b64": base64.b64encode(b"{}").decode(),
             "ctime": 1, "mtime": 1, "version": 0}
    return [json.dumps(header), json.dumps(entry)]


@pytest.mark.parametrize(
    "name, lines, message",
    [
        ("missing.jsonl", None, "cannot read backup {path}: No such file or directory"),
        ("empty.jsonl", [], "{path} is empty: not a zkjanitor backup"),
        ("notes.txt", ["just some notes"],
         "{path} line 1: not valid JSON (Expecting value: line 1 column 1 (char 0))"),
        ("other.jsonl", ['{"format": "something-else"}'],
         '{path} line 1: not a zkjanitor backup header (expected "format": "zkjanitor-backup")'),
        ("base64.jsonl", "bad-base64", "{path} line 2: data_b64 is not valid base64"),
        ("truncated.jsonl", "missing-field", "{path} line 2: missing field version"),
    ],
)
def test_a_malformed_or_missing_backup_is_a_one_line_error(
    zk_server, zk_client, prefix, tmp_path, name, lines, message
):
    path = tmp_path / name
    if lines == "bad-base64":
        header, entry = _valid_backup(tmp_path)
        lines = [header, json.dumps(dict(json.loads(entry), data_b64="%%%"))]
    elif lines == "missing-field":
        header, entry = _valid_backup(tmp_path)
        lines = [header, json.dumps({k: v for k, v in json.loads(entry).items() if k != "version"})]
    if lines is not None:
        path.write_text("".join(line + "\n" for line in lines))

    result = restore(zk_server, prefix, path, "--apply", "--yes")

    assert result.exit_code == 2
    assert result.stderr == f"zkjanitor: error: {message.format(path=path)}\n"
    assert result.stdout == ""
    assert zk_client.exists(f"/{prefix.split('/')[0]}") is None


def test_restore_into_another_ensemble_warns_but_works(
    zk_server, zk_client, old_zk_server, prefix, yarn_rm, tmp_path
):
    seed_finished(zk_client, prefix, yarn_rm, {0: 2, 1: 3})
    before = snapshot(zk_client, prefix)
    backup = tmp_path / "b.jsonl"
    assert prune(zk_server, prefix, yarn_rm, "--older-than", "1d", "--apply", "--yes",
                 "--backup", str(backup)).exit_code == 0

    elsewhere = restore(old_zk_server, prefix, backup, "--format", "json")

    assert elsewhere.exit_code == 0, elsewhere.stderr
    assert (f"warning: the backup was taken from {zk_server.connect_string}; "
            f"restoring into {old_zk_server.connect_string}") in " ".join(elsewhere.stderr.split())
    assert _document(restore(zk_server, prefix, backup, "--apply", "--yes", "--format", "json"))[
        "counts"]["restored"] == 2
    assert data_of(snapshot(zk_client, prefix)) == data_of(before)


def test_help_leaves_out_the_session_options_restore_ignores_but_still_accepts_them(tmp_path):
    shown = run_cli(["restore", "--help"]).stdout
    assert "--zk " in shown and "--metrics-file" in shown
    for ignored in ("--yarn", "--yarn-auth", "--yarn-user", "--type", "--grace", "--read-method"):
        assert ignored not in shown
    assert "YARN" not in shown  # restore never asks it: not even --timeout mentions it
    # The contract has every command accept the shared options: they parse, and change nothing.
    result = run_cli(["restore", str(tmp_path / "missing.jsonl"), "--yarn", "http://127.0.0.1:1", "--type", "batch",
                      "--grace", "1m", "--read-method", "pipelined", "--yarn-auth", "simple", "--yarn-user", "u"])
    assert result.exit_code == 2
    assert "cannot read backup" in result.stderr


# ---------------------------------------------------------------- restore writes only its own store's sessions


def _hand_edited(backup: Path, extra_paths, tmp_path: Path) -> Path:
    """The prune's backup with entries for ``extra_paths`` appended, as a careless or hostile edit would."""
    edited = tmp_path / "edited.jsonl"
    lines = backup.read_text().splitlines()
    lines += [json.dumps({"path": path, "data_b64": base64.b64encode(b'{"nextSessionId":0}').decode(),
                          "ctime": 1, "mtime": 1, "version": 0}) for path in extra_paths]
    edited.write_text("\n".join(lines) + "\n")
    return edited


@pytest.mark.parametrize("extra", [
    ["/other/app/x"], ["/zookeeper/quota/evil"], ["/{prefix}/v1/batch/state"], ["/{prefix}/v1/batch/0012"],
    ["/{prefix}/v1/batch/99999999999"], ["/{prefix}/other/1"],
], ids=["other-app", "zookeeper-quota", "state-counter", "non-canonical-id", "beyond-int", "outside-v1"])
def test_a_backup_with_any_line_outside_its_stores_sessions_is_refused_whole(
    pruned, old_zk_server, old_zk_client, prefix, tmp_path, extra
):
    _, backup, after_prune = pruned
    edited = _hand_edited(backup, [path.format(prefix=prefix) for path in extra], tmp_path)
    result = restore(old_zk_server, prefix, edited, "--apply", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("zkjanitor: error: refusing to restore: 1 line(s) of the backup are not "
                                    f"session znodes of its store /{prefix}")
    assert extra[0].format(prefix=prefix) in result.stderr and result.stderr.count("\n") == 1
    assert snapshot(old_zk_client, prefix) == after_prune
    assert old_zk_client.exists("/other/app/x") is None and old_zk_client.exists("/zookeeper/quota/evil") is None


def test_a_backup_of_another_store_is_refused_unless_asked(pruned, old_zk_server, old_zk_client, prefix,
                                                           tmp_path):
    _, backup, after_prune = pruned
    chroot, inner = prefix.split("/", 1)
    other_prefix = f"{chroot}/other-livy"
    refused = restore(old_zk_server, other_prefix, backup, "--apply", "--yes")
    assert refused.exit_code == 2
    assert (f"the backup is of the store /{prefix}; restoring into /{other_prefix} would write into another store"
            in refused.stderr)
    # The same store named through its chroot is the same store: no refusal.
    same = run_cli(["restore", str(backup), "--zk", f"{old_zk_server.connect_string}/{chroot}", "--prefix", inner,
                    "--format", "json"])
    assert same.exit_code == 0, same.stderr
    assert snapshot(old_zk_client, prefix) == after_prune

    moved = restore(old_zk_server, other_prefix, backup, "--apply", "--yes", "--into-other-store", "--format", "json")
    assert moved.exit_code == 0, moved.stderr
    paths = [z["path"] for z in json.loads(moved.stdout)["znodes"] if z["action"] == "restored"]
    assert paths and all(path.startswith(f"/{other_prefix}/v1/") for path in paths)
    own = {path: znode for path, znode in snapshot(old_zk_client, prefix).items() if path.startswith(f"/{prefix}")}
    assert own == {path: znode for path, znode in after_prune.items() if path.startswith(f"/{prefix}")}


def test_restore_warns_about_a_missing_or_low_counter_and_a_reused_id(pruned, old_zk_server, old_zk_client,
                                                                      prefix):
    before, backup, _ = pruned
    restored_ids = sorted(int(path.rsplit("/", 1)[1]) for path in set(before) - set(snapshot(old_zk_client, prefix))
                          if "/v1/batch/" in path)
    old_zk_client.delete(f"/{prefix}/v1/batch/state")
    reused = f"/{prefix}/v1/batch/{restored_ids[0]}"
    old_zk_client.create(reused, b'{"id": "a new session with a reused id"}')
    old_zk_client.set(f"/{prefix}/v1/interactive/state", b'{"nextSessionId":0}')

    result = restore(old_zk_server, prefix, backup, "--apply", "--yes", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert f"/{prefix}/v1/batch/state (Livy's id counter) is missing (it was " in result.stderr
    assert f"/{prefix}/v1/interactive/state (Livy's id counter) is 0 (it was " in result.stderr
    assert "would reuse ids and overwrite restored sessions" in result.stderr
    by_path = {z["path"]: z for z in json.loads(result.stdout)["znodes"]}
    assert by_path[reused]["action"] == "already-present"
    assert by_path[reused]["detail"] == "the id was reused: the znode holds other data now (left as it is)"
    assert old_zk_client.get(reused)[0] == b'{"id": "a new session with a reused id"}'
    assert old_zk_client.exists(f"/{prefix}/v1/batch/state") is None  # restore never writes a counter
