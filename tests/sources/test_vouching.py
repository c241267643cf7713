"""A ResourceManager's "not found" makes a session stale only when that RM can vouch for it.

Scenarios through the CLI against a real ZooKeeper and the YARN double
(docs/dev/platform-facts.md 3.x): the wrong cluster's RM deletes nothing; an RM
restarted since, which remembers Livy's recent applications, still vouches
for the old forgotten ones; an application of any type is judged by its own
record; an appId newer than every RM's start is nobody's here.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.helpers import run_cli
from tests.support.prune_store import snapshot
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed
from zkjanitor.testing.yarn_double import YarnDouble

BATCH = SessionType.BATCH
DAY_MS = 86_400_000


def session(session_id: int, app_id: str) -> SeedZnode:
    tag = f"livy-batch-{session_id}-tag{session_id:05d}"
    return SeedZnode(BATCH, str(session_id), encode_record(
        livy_record(BATCH, session_id, livy_version="0.7", app_tag=tag, app_id=app_id)))


def cli(command, server, prefix, *args, yarn=()):
    yarn_args = [arg for url in yarn for arg in ("--yarn", url)]
    return run_cli([*command, "--zk", server.connect_string, "--prefix", prefix, *yarn_args, *args])


@pytest.fixture
def cluster_a():
    """The cluster Livy submits to: its RM started 30 days ago."""
    with YarnDouble(cluster_timestamp=int(time.time() * 1000) - 30 * DAY_MS) as rm:
        yield rm


@pytest.fixture
def cluster_b():
    """Another cluster's healthy, ACTIVE RM, which knows applications of its own."""
    with YarnDouble(cluster_timestamp=int(time.time() * 1000) - 20 * DAY_MS) as rm:
        for _ in range(3):
            rm.add_app(state="RUNNING")
        yield rm


@pytest.fixture
def store_on_a(old_zk_client, prefix, cluster_a):
    """Ten-day-old sessions of cluster A: two apps RUNNING, one FINISHED, the rest forgotten by A's RM."""
    running = [cluster_a.add_app(state="RUNNING")["id"] for _ in range(2)]
    finished = cluster_a.add_app(state="FINISHED", finishedTime=int(time.time() * 1000) - 5 * DAY_MS)["id"]
    forgotten = [f"application_{cluster_a.cluster_ts}_{9000 + n}" for n in range(6)]
    app_ids = running + [finished] + forgotten
    seed(old_zk_client, prefix, [session(n, app_id) for n, app_id in enumerate(app_ids)], counters={BATCH: 10})
    return {"running": running, "finished": finished, "forgotten": forgotten}


def test_the_wrong_clusters_rm_makes_prune_delete_nothing_and_exit_3(old_zk_server, old_zk_client, prefix,
                                                                      store_on_a, cluster_b):
    before = snapshot(old_zk_client, prefix)
    result = cli(["prune", "--older-than", "1d", "--apply", "--yes"], old_zk_server, prefix, yarn=[cluster_b.url])
    assert result.exit_code == 3
    assert snapshot(old_zk_client, prefix) == before
    lines = [line for line in result.stderr.splitlines() if "knows 0 of the store's" in line]
    assert len(lines) == 1, result.stderr
    assert f"YARN ResourceManager {cluster_b.url} knows 0 of the store's 9 applications" in lines[0]
    assert "is this the cluster Livy submits to?" in lines[0] and lines[0].endswith("nothing was deleted")


def test_the_wrong_clusters_rm_is_said_by_scan_check_and_doctor(old_zk_server, prefix, store_on_a, cluster_b):
    scan = cli(["scan", "--format", "json"], old_zk_server, prefix, yarn=[cluster_b.url])
    assert scan.exit_code == 3
    document = json.loads(scan.stdout)
    assert {(s["verdict"], s["reason"]) for s in document["sessions"]} == {("unknown", "rm-cannot-vouch")}
    assert "knows 0 of the store's 9 applications" in document["source_error"]

    check = cli(["check", "--max-stale", "0"], old_zk_server, prefix, yarn=[cluster_b.url])
    assert check.exit_code == 3
    assert "knows 0 of the store's 9 applications" in check.stderr

    doctor = cli(["doctor", "--format", "json"], old_zk_server, prefix, yarn=[cluster_b.url])
    assert doctor.exit_code == 1
    errors = [f for f in json.loads(doctor.stdout)["findings"] if f["severity"] == "error"]
    assert [f["setting"] for f in errors] == ["yarn"]
    assert "knows 0 of the store's 9 applications" in errors[0]["problem"]


def test_the_right_cluster_is_trusted_by_doctor(old_zk_server, prefix, store_on_a, cluster_a):
    doctor = cli(["doctor", "--format", "json"], old_zk_server, prefix, yarn=[cluster_a.url])
    findings = json.loads(doctor.stdout)["findings"]
    assert any(f["setting"] == "yarn" and f["severity"] == "ok" and "knows 3 of the store's 9" in f["problem"]
               for f in findings)


def test_sessions_created_after_the_wrong_rm_started_are_counted_in_the_line(zk_server, zk_client, prefix,
                                                                            cluster_a, cluster_b):
    seed(zk_client, prefix, [session(n, cluster_a.add_app()["id"]) for n in range(4)], counters={BATCH: 4})
    result = cli(["scan"], zk_server, prefix, "--grace", "0s", yarn=[cluster_b.url])
    assert result.exit_code == 3
    assert "knows 0 of the store's 4 applications, although 4 session(s) were created after it started" \
        in result.stderr


def test_the_incident_an_rm_restarted_since_still_vouches_for_the_old_forgotten_sessions(
        old_zk_server, old_zk_client, prefix, store_on_a, tmp_path):
    # The RM restarted today (a new cluster timestamp) and recovered what it remembered of Livy's apps.
    with YarnDouble(cluster_timestamp=int(time.time() * 1000)) as restarted:
        for app_id in store_on_a["running"]:
            restarted.add_app(id=app_id, state="RUNNING")
        result = cli(["prune", "--older-than", "1d", "--apply", "--yes", "--format", "json",
                      "--backup", str(tmp_path / "backup.jsonl")],
                     old_zk_server, prefix, yarn=[restarted.url])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    deleted = {s["app_id"] for s in document["sessions"] if s["action"] == "deleted"}
    assert deleted == set(store_on_a["forgotten"]) | {store_on_a["finished"]}
    assert \
        sorted(old_zk_client.get_children(f"/{prefix}/v1/batch")) == ["0", "1", "state"]  # the RUNNING ones stay


def test_trust_yarn_absence_overrides_with_a_warning(old_zk_server, prefix, store_on_a, cluster_b):
    result = cli(["scan", "--format", "json", "--trust-yarn-absence"], old_zk_server, prefix, yarn=[cluster_b.url])
    assert result.exit_code == 0, result.stderr
    assert "--trust-yarn-absence: an application the ResourceManager does not list counts as gone" in result.stderr
    reasons = {s["reason"] for s in json.loads(result.stdout)["sessions"]}
    assert reasons == {"app-forgotten"}


@pytest.mark.parametrize("app_type", ["SPARK-STREAMING", "MAPREDUCE"])
def test_a_running_app_of_another_type_is_live_and_never_selected(old_zk_server, old_zk_client, prefix,
                                                                  cluster_a, app_type):
    running = cluster_a.add_app(state="RUNNING", applicationType=app_type)["id"]
    finished = cluster_a.add_app(state="FINISHED", applicationType=app_type,
                                 finishedTime=int(time.time() * 1000) - 3 * DAY_MS)["id"]
    seed(old_zk_client, prefix, [session(0, running), session(1, finished)], counters={BATCH: 2})
    result = cli(["prune", "--older-than", "1d", "--format", "json"], old_zk_server, prefix, yarn=[cluster_a.url])
    assert result.exit_code == 0, result.stderr
    selected = json.loads(result.stdout)["sessions"]
    assert [(s["id"], s["reason"], s["app_state"]) for s in selected] == [(1, "app-finished", "FINISHED")]


def test_an_app_id_newer_than_every_rm_start_stays_unknown(old_zk_server, old_zk_client, prefix, cluster_a):
    known = cluster_a.add_app(state="RUNNING")["id"]
    from_elsewhere = f"application_{int(time.time() * 1000) - DAY_MS}_0001"  # after A's RM started
    seed(old_zk_client, prefix, [session(0, known), session(1, from_elsewhere)], counters={BATCH: 2})
    result = cli(["scan", "--format", "json"], old_zk_server, prefix, yarn=[cluster_a.url])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(s["verdict"], s["reason"]) for s in document["sessions"]] == [
        ("live", "app-active"), ("unknown", "app-newer-than-rm")]
    assert any("1 session(s) have an appId newer than the start of every ResourceManager given" in w
               for w in document["warnings"])


@pytest.mark.parametrize("fault", ["hangs", "refuses-the-credentials", "is-standby"])
def test_an_rm_passed_over_for_the_active_one_is_named_on_stderr(old_zk_server, prefix, store_on_a, cluster_a,
                                                                  fault):
    with YarnDouble(basic_auth=("admin", "pw") if fault == "refuses-the-credentials" else None,
                    ha_state="STANDBY" if fault == "is-standby" else "ACTIVE") as first:
        first.delay_seconds = 5.0 if fault == "hangs" else 0.0
        started = time.monotonic()
        result = cli(["scan", "--format", "json", "--timeout", "1"], old_zk_server, prefix,
                     yarn=[first.url, cluster_a.url])
        elapsed = time.monotonic() - started
        first.delay_seconds = 0.0
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["stale"] == 7
    said = {"hangs": "no answer within 1s", "refuses-the-credentials": "refused the credentials"}.get(fault)
    named = [line for line in result.stderr.splitlines() if first.url in line]
    if said is None:  # a standby is what an HA pair has: nothing to warn about
        assert named == []
    else:
        assert named == [f"warning: YARN ResourceManager {first.url} ({said}); using {cluster_a.url}"]
    assert elapsed < 5.0  # one timeout for the hanging RM, not 3 attempts of it before the second is asked


def test_doctor_warns_about_an_rm_passed_over_for_the_active_one(old_zk_server, prefix, store_on_a, cluster_a):
    with YarnDouble(basic_auth=("admin", "pw")) as refusing:
        doctor = cli(["doctor", "--format", "json"], old_zk_server, prefix, yarn=[refusing.url, cluster_a.url])
    findings = [f for f in json.loads(doctor.stdout)["findings"] if f["setting"] == "yarn"]
    assert [f["problem"] for f in findings if f["severity"] == "warning"] == [
        f"YARN ResourceManager {refusing.url} (refused the credentials); using {cluster_a.url}"]
