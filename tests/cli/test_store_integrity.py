"""The store is what it claims to be: unreadable sessions are counted, a znode without a Livy store is no
store, a corrupt counter is named, and znodes Livy cannot have written (ephemeral, with children) are never
sessions to delete. Through the CLI against a real ZooKeeper."""

from __future__ import annotations

import json

import pytest
from kazoo.security import make_digest_acl

from tests.support.helpers import run_cli
from tests.support.prune_store import snapshot
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed

BATCH = SessionType.BATCH
OWNER_ONLY = [make_digest_acl("owner", "secret", all=True)]


def session(session_id: int, app_id=None) -> SeedZnode:
    tag = f"livy-batch-{session_id}-int{session_id:05d}"
    return SeedZnode(BATCH, str(session_id), encode_record(
        livy_record(BATCH, session_id, livy_version="0.7", app_tag=tag, app_id=app_id)))


def cli(*args, server, prefix):
    return run_cli([*args, "--zk", server.connect_string, "--prefix", prefix])


@pytest.fixture
def unreadable_store(zk_client, prefix):
    """Two readable sessions and 12 that only another user may read."""
    seed(zk_client, prefix, [session(n) for n in range(2)], counters={BATCH: 14, SessionType.INTERACTIVE: 0})
    for n in range(2, 14):
        zk_client.create(f"/{prefix}/v1/batch/{n}", session(n).data, acl=OWNER_ONLY)
    return prefix


def test_check_does_not_pass_when_session_znodes_cannot_be_read(zk_server, unreadable_store, tmp_path):
    result = cli("check", "--max-sessions", "10", server=zk_server, prefix=unreadable_store)
    assert result.exit_code == 3
    assert "12 session znode(s) could not be read" in result.stderr and "--allow-unreadable" in result.stderr

    allowed = cli("check", "--max-sessions", "10", "--allow-unreadable", "--format", "json",
                  "--metrics-file", str(tmp_path / "m.prom"), server=zk_server, prefix=unreadable_store)
    assert allowed.exit_code == 1  # 2 readable + 12 unreadable session znodes are over 10
    document = json.loads(allowed.stdout)
    assert document["summary"]["unreadable"] == 12 and document["summary"]["sessions"] == 2
    assert document["violations"] == [{"limit": "max-sessions", "value": 14, "threshold": 10}]
    assert 'zkjanitor_unreadable_session_znodes{command="check"} 12' in (tmp_path / "m.prom").read_text()


def test_scan_and_doctor_report_unreadable_session_znodes(zk_server, unreadable_store):
    scan = cli("scan", server=zk_server, prefix=unreadable_store)
    assert scan.exit_code == 0
    assert "and 12 session znode(s) that could not be read (ACL)" in scan.stdout
    doctor = cli("doctor", "--format", "json", server=zk_server, prefix=unreadable_store)
    assert doctor.exit_code == 1
    errors = [f for f in json.loads(doctor.stdout)["findings"] if f["severity"] == "error"]
    assert ["12 session znode(s) could not be read (NoAuth)"] == [f["problem"] for f in errors]


@pytest.mark.parametrize("inside", ["zookeeper", "{prefix}/v1", "{prefix}/v1/batch", "{prefix}/other"])
def test_a_prefix_that_holds_no_livy_store_is_no_store(zk_server, zk_client, prefix, inside):
    seed(zk_client, prefix, [session(1)], counters={BATCH: 2})
    zk_client.ensure_path(f"/{prefix}/other")
    wrong = inside.format(prefix=prefix)
    for command in (["scan"], ["check", "--max-sessions", "5"]):
        result = cli(*command, server=zk_server, prefix=wrong)
        assert result.exit_code == 2, result.stdout
        assert result.stderr.startswith(f"zkjanitor: error: no Livy state store at /{wrong}: it exists but has "
                                        "neither v1/batch nor v1/interactive")
        assert result.stderr.count("\n") == 1
    doctor = cli("doctor", "--format", "json", server=zk_server, prefix=wrong)
    assert any(f["setting"] == "prefix" and f["severity"] == "error" and "neither v1/batch nor v1/interactive"
               in f["problem"] for f in json.loads(doctor.stdout)["findings"])


def test_a_store_with_only_one_of_the_two_types_is_a_store(zk_server, zk_client, prefix):
    zk_client.create(f"/{prefix}/v1/interactive/state", b'{"nextSessionId":0}', makepath=True)
    result = cli("scan", "--format", "json", server=zk_server, prefix=prefix)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["sessions"] == 0


@pytest.mark.parametrize("data, said", [
    (b"not json{", "corrupt: not JSON"),
    (b'"13"', "corrupt: not a JSON object but a string"),
    (b'{"nextSessionId":"13"}', "corrupt: nextSessionId is a string, not an integer"),
    (b'{"nextSessionId":-5}', "corrupt: nextSessionId is negative (-5)"),
])
def test_a_corrupt_counter_is_named_and_doctor_errors(zk_server, zk_client, prefix, data, said):
    seed(zk_client, prefix, [session(1)], counters={SessionType.INTERACTIVE: 0})
    zk_client.create(f"/{prefix}/v1/batch/state", data)
    scan = cli("scan", server=zk_server, prefix=prefix)
    assert f"/{prefix}/v1/batch/state (Livy's id counter) is {said}: Livy fails every new session" in scan.stderr
    assert "missing or unreadable" not in scan.stderr
    doctor = cli("doctor", "--format", "json", server=zk_server, prefix=prefix)
    assert doctor.exit_code == 1
    errors = [f for f in json.loads(doctor.stdout)["findings"] if f["severity"] == "error"]
    assert [(f["value"], f["problem"]) for f in errors] == [(f"/{prefix}/v1/batch/state",
                                                           f"the id counter is {said}")]


def test_ephemeral_and_parent_znodes_are_never_sessions_to_delete(old_zk_server, old_zk_client, prefix,
                                                                  yarn_rm, tmp_path):
    known = yarn_rm.add_app(state="RUNNING")["id"]
    forgotten = f"application_{yarn_rm.cluster_ts - 86_400_000}_0001"
    seed(old_zk_client, prefix, [session(0, known), session(1, forgotten), session(2, forgotten)],
         counters={BATCH: 5})
    old_zk_client.create(f"/{prefix}/v1/batch/2/child", b"x")
    old_zk_client.create(f"/{prefix}/v1/batch/3", session(3, forgotten).data, ephemeral=True)
    before = snapshot(old_zk_client, prefix)
    args = ["--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url]

    scan = run_cli(["scan", "--format", "json", *args])
    document = json.loads(scan.stdout)
    assert [s["id"] for s in document["sessions"]] == [0, 1]
    assert document["anomalies"] == [{"path": f"/{prefix}/v1/batch/2", "why": "has-children"},
                                     {"path": f"/{prefix}/v1/batch/3", "why": "ephemeral"}]
    assert "2 session-named znode(s) Livy cannot have written are left alone" in scan.stderr

    prune = run_cli(["prune", "--older-than", "0s", "--include-corrupt", "--apply", "--yes", "--format", "json",
                     "--backup", str(tmp_path / "b.jsonl"), *args])
    assert prune.exit_code == 0, prune.stderr  # before: exit 4 for ever on the znode with a child
    assert [(s["id"], s["action"]) for s in json.loads(prune.stdout)["sessions"]] == [(1, "deleted")]
    after = snapshot(old_zk_client, prefix)
    assert set(before) - set(after) == {f"/{prefix}/v1/batch/1"}
    # the ephemeral znode belongs to this test's client: still there
    assert old_zk_client.exists(f"/{prefix}/v1/batch/3") is not None
