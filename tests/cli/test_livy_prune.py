"""``prune --apply --livy``: Livy's own DELETE for what Livy holds, ZooKeeper for the rest.

A real ZooKeeper (ten days in the past), the YARN double and the Livy REST double,
whose DELETE removes the znode from that ZooKeeper before answering, as Livy does.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.helpers import run_cli
from tests.support.session_znodes import create_store, livy_record
from zkjanitor.backup import read_backup
from zkjanitor.model import SessionType
from zkjanitor.testing.livy_double import LivyDouble

BATCH, INTERACTIVE = SessionType.BATCH, SessionType.INTERACTIVE


def app(session_id: int) -> str:
    return f"application_1712345678901_{session_id:04d}"


@pytest.fixture
def livy_store(old_zk_client, prefix, yarn_rm):
    """Batches 0-5 and interactive 0, ten days old. YARN knows batch 5's app (finished): it vouches for the rest.

    Livy (CSRF protection on) holds batch 0 running, batches 1 and 4 ended, interactive 0 dead; not 2, 3, 5."""
    create_store(old_zk_client, prefix, BATCH, {i: livy_record(BATCH, i) for i in range(6)})
    create_store(old_zk_client, prefix, INTERACTIVE, {0: livy_record(INTERACTIVE, 0)})
    yarn_rm.add_app(id=app(5), state="FINISHED", finishedTime=int(time.time() * 1000) - 86_400_000)
    with LivyDouble(zk_client=old_zk_client, zk_prefix=prefix, csrf_protection=True) as livy:
        livy.add_batch(id=0, appId=app(0), state="running")
        livy.add_batch(id=1, appId=app(1), state="success")
        livy.add_batch(id=4, appId=app(4), state="killed")
        livy.add_interactive(id=0, appId=app(0), state="dead")
        yield livy


def prune(server, prefix, yarn_rm, livy, tmp_path, *extra):
    return run_cli(["prune", "--zk", server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                    "--livy", livy.url, "--older-than", "1h", "--apply", "--yes", "--backup",
                    str(tmp_path / "b.jsonl"), "--format", "json", *extra])


def actions(result) -> dict:
    return {(s["type"], s["id"]): s["action"] for s in json.loads(result.stdout)["sessions"]}


def test_what_livy_holds_goes_through_livys_delete_the_rest_through_zookeeper(
        old_zk_server, old_zk_client, prefix, yarn_rm, livy_store, tmp_path):
    result = prune(old_zk_server, prefix, yarn_rm, livy_store, tmp_path)

    assert result.exit_code == 0, result.stderr
    assert actions(result) == {
        ("batch", 1): "deleted-via-livy", ("batch", 4): "deleted-via-livy", ("interactive", 0): "deleted-via-livy",
        ("batch", 2): "deleted", ("batch", 3): "deleted", ("batch", 5): "deleted",
    }
    assert sorted(old_zk_client.get_children(f"/{prefix}/v1/batch")) == ["0", "state"]  # the running one stays
    assert old_zk_client.get_children(f"/{prefix}/v1/interactive") == ["state"]
    assert livy_store.session_ids("batch") == [0] and livy_store.session_ids("interactive") == []
    deletes = [r for r in livy_store.requests if r.method == "DELETE"]
    assert sorted(r.path for r in deletes) == ["/batches/1", "/batches/4", "/sessions/0"]
    assert all(r.headers.get("X-Requested-By") for r in deletes)  # CSRF protection is on
    outcomes = {e.path.rsplit("/", 2)[-2:][0] + "/" + e.path.rsplit("/", 1)[1]: e.outcome
                for e in read_backup(tmp_path / "b.jsonl").entries}
    assert outcomes == {"batch/1": "deleted-via-livy", "batch/4": "deleted-via-livy",
                        "interactive/0": "deleted-via-livy", "batch/2": "deleted", "batch/3": "deleted",
                        "batch/5": "deleted"}


def test_a_session_livy_reports_running_again_before_its_delete_is_kept(
        old_zk_server, old_zk_client, prefix, yarn_rm, livy_store, tmp_path):
    # After the scan's listing (the probe and one page), Livy reports batch 1 running again.
    livy_store.transition_after("batch", 1, "running", requests=2, method="GET", path="/batches")

    result = prune(old_zk_server, prefix, yarn_rm, livy_store, tmp_path)

    assert result.exit_code == 0, result.stderr
    assert actions(result)[("batch", 1)] == "skipped-live"
    assert "1" in old_zk_client.get_children(f"/{prefix}/v1/batch")
    assert livy_store.count("DELETE", "/batches/1") == 0  # DELETE would have killed it


def test_livy_failing_mid_prune_stops_with_an_honest_account(
        old_zk_server, old_zk_client, prefix, yarn_rm, livy_store, tmp_path):
    livy_store.fail_next(100, status=503, method="DELETE")

    result = prune(old_zk_server, prefix, yarn_rm, livy_store, tmp_path, "--timeout", "2")

    assert result.exit_code == 4, result.stderr
    document = json.loads(result.stdout)
    assert document["aborted"] and "Livy stopped answering" in document["aborted"]
    got = actions(result)
    assert {got[k] for k in (("batch", 1), ("batch", 4), ("interactive", 0))} == {"failed"}
    assert {got[k] for k in (("batch", 2), ("batch", 3), ("batch", 5))} == {"deleted"}
    entries = {e.path: e for e in read_backup(tmp_path / "b.jsonl").entries}
    assert entries[f"/{prefix}/v1/batch/1"].deleted_by_prune  # result unknown: restore would bring it back
    assert "1" in old_zk_client.get_children(f"/{prefix}/v1/batch")


def test_a_dry_run_sends_livy_no_delete(old_zk_server, prefix, yarn_rm, livy_store):
    result = run_cli(["prune", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--livy", livy_store.url, "--older-than", "1h", "--format", "json"])

    assert result.exit_code == 0, result.stderr
    assert set(actions(result).values()) == {"would-delete"}
    assert not [r for r in livy_store.requests if r.method == "DELETE"]


def test_with_an_ha_pair_the_deletes_go_to_the_active_livy(old_zk_server, prefix, yarn_rm, livy_store, tmp_path):
    livy_store.set_ha_role("active")
    with LivyDouble(ha_role="passive") as passive:
        passive.set_active(livy_store)
        result = run_cli(["prune", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                          "--livy", passive.url, "--livy", livy_store.url, "--older-than", "1h", "--apply", "--yes",
                          "--backup", str(tmp_path / "b.jsonl"), "--format", "json"])

        assert result.exit_code == 0, result.stderr
        assert sorted(k for k, v in actions(result).items() if v == "deleted-via-livy") == [
            ("batch", 1), ("batch", 4), ("interactive", 0)]
        assert not [r for r in passive.requests if r.method == "DELETE"]  # credentials only where they were given


def test_a_state_answer_that_is_not_one_keeps_that_session_and_the_rest_goes_on(
        old_zk_server, old_zk_client, prefix, yarn_rm, livy_store, tmp_path):
    livy_store.fail_next(1, status=200, path="/batches/1/state", method="GET", body="<html>login page</html>")

    result = prune(old_zk_server, prefix, yarn_rm, livy_store, tmp_path)

    assert result.exit_code == 4, result.stderr  # one failed, nothing stopped
    got = actions(result)
    assert got[("batch", 1)] == "failed" and got[("batch", 4)] == "deleted-via-livy"
    assert json.loads(result.stdout)["aborted"] is None
    assert "1" in old_zk_client.get_children(f"/{prefix}/v1/batch")
    assert livy_store.count("DELETE", "/batches/1") == 0


def test_livy_not_answering_before_a_delete_leaves_the_rest_intact_and_not_attempted(
        old_zk_server, old_zk_client, prefix, yarn_rm, livy_store, tmp_path):
    livy_store.fail_next(100, status=503, path="/batches/1/state", method="GET")

    result = prune(old_zk_server, prefix, yarn_rm, livy_store, tmp_path, "--timeout", "2")

    assert result.exit_code == 4, result.stderr
    document = json.loads(result.stdout)
    assert "Livy stopped answering" in document["aborted"]
    assert actions(result)[("batch", 1)] == "not-attempted"
    entries = {e.path: e for e in read_backup(tmp_path / "b.jsonl").entries}
    assert not entries[f"/{prefix}/v1/batch/1"].deleted_by_prune  # intact: restore leaves it alone
    assert "1" in old_zk_client.get_children(f"/{prefix}/v1/batch")
