"""`zkjanitor counter` end to end on a real ZooKeeper: each counter judged, the dry run, apply, refusals."""

from __future__ import annotations

import json

import pytest

from tests.support.helpers import run_cli
from tests.support.session_znodes import create_store, livy_record, type_dir
from zkjanitor.model import SessionType
from zkjanitor.zk.lock import prune_lock

BATCH = SessionType.BATCH


@pytest.fixture
def store(zk_client, prefix):
    """Batch sessions 0, 4 and 9, counter 10; no interactive sessions."""
    create_store(zk_client, prefix, BATCH, {i: livy_record(BATCH, i) for i in (0, 4, 9)})
    return f"{type_dir(prefix, BATCH)}/state"


def counter(zk_server, prefix, *args, input=None):
    return run_cli(["counter", "--zk", zk_server.connect_string, "--prefix", prefix, *args], input=input)


def as_json(result):
    document = json.loads(result.stdout)
    return {c["type"]: c for c in document["counters"]}, document


def next_id(zk_client, path):
    return json.loads(zk_client.get(path)[0])["nextSessionId"]


def test_a_fine_counter_exits_0(zk_server, zk_client, prefix, store):
    result = counter(zk_server, prefix, "--format", "json")
    assert result.exit_code == 0, result.stderr
    counters, document = as_json(result)
    assert document["ok"] is True
    assert (counters["batch"]["next_session_id"], counters["batch"]["highest_session_id"]) == (10, 9)
    assert counters["batch"]["problem"] is None


@pytest.mark.parametrize("data, problem", [
    (b'{"nextSessionId":9}', "at-highest"), (b'{"nextSessionId":3}', "below-highest"),
    (b'{"nextSessionId":"ten"}', "corrupt"), (None, "missing")])
def test_each_problem_is_named_and_explained_exit_1(zk_server, zk_client, prefix, store, data, problem):
    if data is None:
        zk_client.delete(store)
    else:
        zk_client.set(store, data)
    result = counter(zk_server, prefix, "--format", "json")
    assert result.exit_code == 1, result.stderr
    counters, document = as_json(result)
    assert counters["batch"]["problem"] == problem and counters["batch"]["repair_to"] == 10
    assert document["ok"] is False
    table = counter(zk_server, prefix)
    assert table.exit_code == 1
    assert problem in table.stdout and "zkjanitor counter --repair" in table.stdout
    if problem.endswith("highest"):
        assert "Livy would reuse ids" in table.stdout


def test_the_repair_dry_run_changes_nothing_and_apply_writes_with_a_backup(zk_server, zk_client, prefix, store,
                                                                           tmp_path):
    zk_client.set(store, b'{"nextSessionId":3}')
    version = zk_client.exists(store).version
    dry = counter(zk_server, prefix, "--repair")
    assert dry.exit_code == 1, dry.stderr
    assert "would-set 10" in dry.stdout and "dry run" in dry.stdout
    assert zk_client.exists(store).version == version
    backup = tmp_path / "counters.json"
    applied = counter(zk_server, prefix, "--repair", "--apply", "--yes", "--backup", str(backup), "--format", "json")
    assert applied.exit_code == 0, applied.stderr
    counters, document = as_json(applied)
    assert counters["batch"]["action"] == "set" and document["backup"] == str(backup)
    assert next_id(zk_client, store) == 10
    assert json.loads(backup.read_text())["counters"][0]["next_session_id"] == 3
    again = counter(zk_server, prefix, "--repair", "--apply", "--yes", "--backup", str(tmp_path / "2.json"))
    assert again.exit_code == 0 and not (tmp_path / "2.json").exists()  # nothing to write, no backup


def test_a_missing_counter_is_recreated(zk_server, zk_client, prefix, store, tmp_path):
    zk_client.delete(store)
    result = counter(zk_server, prefix, "--repair", "--apply", "--yes", "--backup", str(tmp_path / "b.json"))
    assert result.exit_code == 0, result.stderr
    assert next_id(zk_client, store) == 10


def test_a_counter_livy_moves_meanwhile_is_not_overwritten_exit_4(zk_server, zk_client, prefix, store, tmp_path,
                                                                   monkeypatch):
    zk_client.set(store, b'{"nextSessionId":3}')

    def livy_creates_a_session(prompt, yes):  # while the operator reads the prompt
        zk_client.set(store, b'{"nextSessionId":4}')

    monkeypatch.setattr("zkjanitor.cli.counter.abort_if_not_confirmed", livy_creates_a_session)
    result = counter(zk_server, prefix, "--repair", "--apply", "--yes", "--backup", str(tmp_path / "b.json"))
    assert result.exit_code == 4, result.stderr
    assert "changed since it was read" in result.stdout
    assert next_id(zk_client, store) == 4


def test_a_held_lock_refuses_the_repair_exit_5(zk_server, zk_client, prefix, store, tmp_path):
    zk_client.set(store, b'{"nextSessionId":3}')
    with prune_lock(zk_client, prefix, identifier="a running prune"):
        result = counter(zk_server, prefix, "--repair", "--apply", "--yes", "--backup", str(tmp_path / "b.json"))
    assert result.exit_code == 5, result.stderr
    assert "a running prune" in result.stderr and result.stderr.count("\n") == 1
    assert next_id(zk_client, store) == 3


def test_bad_input_is_one_line_and_exit_2(zk_server, prefix, store):
    result = counter(zk_server, prefix, "--apply")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--repair" in result.stderr
    unattended = counter(zk_server, prefix, "--repair", "--apply", input="")
    assert unattended.exit_code == 2 and "--yes" in unattended.stderr
