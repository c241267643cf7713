"""``--livy``: Livy's own view decides first, the cross-check is reported, and Livy being down is only a warning.

A real ZooKeeper (ten days in the past), the YARN double and the Livy REST double.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.helpers import run_cli
from tests.support.session_znodes import create_store, livy_record
from zkjanitor.model import SessionType
from zkjanitor.testing.livy_double import LivyDouble

BATCH = SessionType.BATCH


def app(session_id: int) -> str:
    return f"application_1712345678901_{session_id:04d}"


@pytest.fixture
def store(old_zk_client, prefix, yarn_rm):
    """Batches 0-3, ten days old. YARN knows 1 and 2 (finished), forgot 0 and 3; Livy holds 0 (running),
    1 (success) and 7 (a session the store lacks), not 2 or 3."""
    create_store(old_zk_client, prefix, BATCH, {i: livy_record(BATCH, i) for i in range(4)})
    finished = int(time.time() * 1000) - 86_400_000
    for session_id in (1, 2):
        yarn_rm.add_app(id=app(session_id), state="FINISHED", finalStatus="SUCCEEDED", finishedTime=finished)
    with LivyDouble(zk_client=old_zk_client, zk_prefix=prefix) as livy:
        livy.add_batch(id=0, appId=app(0), state="running")
        livy.add_batch(id=1, appId=app(1), state="success")
        livy.add_batch(id=7, appId=app(7), state="dead")
        yield livy


def scan(old_zk_server, prefix, yarn_rm, *extra):
    return run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                    *extra])


def test_livy_decides_what_it_holds_and_yarn_the_rest(old_zk_server, prefix, yarn_rm, store):
    result = scan(old_zk_server, prefix, yarn_rm, "--livy", store.url, "--format", "json")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    got = {s["id"]: (s["verdict"], s["reason"], s["source"]) for s in document["sessions"]}
    assert got == {
        0: ("live", "livy-active", "livy"),  # YARN forgot it, but Livy says it runs: never stale
        1: ("stale", "livy-finished", "livy"),
        2: ("stale", "app-finished", "yarn"),
        3: ("stale", "app-forgotten", "yarn"),
    }
    assert document["sources"] == {"livy": {"held": 2, "only_in_store": 2, "only_in_livy": 1, "unconfirmed": 0}}
    assert "does not hold 2 of the store's sessions" in result.stderr
    assert "holds 1 session(s) the store does not have" in result.stderr
    assert store.count("GET", "/batches") == 2  # the probe, then one page


def test_the_table_names_the_deciding_source_and_shows_the_cross_check(old_zk_server, prefix, yarn_rm, store,
                                                                        tmp_path):
    metrics = tmp_path / "scan.prom"
    result = scan(old_zk_server, prefix, yarn_rm, "--livy", store.url, "--metrics-file", str(metrics))

    assert result.exit_code == 0, result.stderr
    assert "livy-active (livy)" in result.stdout and "app-forgotten (yarn)" in result.stdout
    assert "Livy holds 2 of the store's sessions; 2 only in the store" in result.stdout
    written = metrics.read_text()
    for kind, count in (("held", 2), ("only_in_store", 2), ("only_in_livy", 1)):
        assert f'zkjanitor_source_sessions{{command="scan",kind="{kind}",source="livy"}} {count}' in written


def test_prune_never_deletes_a_session_livy_reports_running(old_zk_server, old_zk_client, prefix, yarn_rm, store,
                                                           tmp_path):
    result = run_cli(["prune", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--livy", store.url, "--older-than", "1h", "--apply", "--yes",
                      "--backup", str(tmp_path / "b.jsonl"), "--format", "json"])

    assert result.exit_code == 0, result.stderr
    actions = {s["id"]: s["action"] for s in json.loads(result.stdout)["sessions"]}
    assert actions == {1: "deleted-via-livy", 2: "deleted", 3: "deleted"}  # Livy held 1: its own DELETE
    assert sorted(old_zk_client.get_children(f"/{prefix}/v1/batch")) == ["0", "state"]


def test_livy_down_is_one_warning_and_yarn_decides_alone(old_zk_server, prefix, yarn_rm, store, tmp_path):
    url = store.url
    store.stop()

    result = scan(old_zk_server, prefix, yarn_rm, "--livy", url, "--format", "json", "--timeout", "2")

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {s["source"] for s in document["sessions"]} == {"yarn"}
    assert document["source_error"] is None and document["source_errors"] == {}
    warnings = [line for line in result.stderr.splitlines() if "livy:" in line]
    assert len(warnings) == 1 and "no active Livy server" in warnings[0], result.stderr
    pruned = run_cli(["prune", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--livy", url, "--timeout", "2", "--older-than", "1h", "--format", "json"])
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["selected"] == 4  # 0 too: YARN forgot it (it never forgets a running app)


def test_livy_conf_names_the_livy_server(old_zk_server, prefix, yarn_rm, store, tmp_path):
    host, port = store.url.rsplit("/", 1)[-1].split(":")
    conf = tmp_path / "livy.conf"
    conf.write_text(f"livy.server.host = {host}\nlivy.server.port = {port}\n")

    result = scan(old_zk_server, prefix, yarn_rm, "--livy-conf", str(conf), "--format", "json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sources"]["livy"]["held"] == 2


def test_livy_alone_decides_what_it_holds_and_says_nothing_of_the_rest(old_zk_server, prefix, store):
    result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--livy", store.url,
                      "--format", "json"])

    assert result.exit_code == 0, result.stderr
    got = {s["id"]: (s["verdict"], s["reason"]) for s in json.loads(result.stdout)["sessions"]}
    assert got == {0: ("live", "livy-active"), 1: ("stale", "livy-finished"),
                   2: ("unknown", "no-evidence"), 3: ("unknown", "no-evidence")}


def test_a_livy_conf_naming_no_usable_livy_url_is_one_line(old_zk_server, prefix, yarn_rm, tmp_path):
    conf = tmp_path / "livy.conf"
    conf.write_text("livy.server.host = livy1\nlivy.server.port = abc\n")

    result = scan(old_zk_server, prefix, yarn_rm, "--livy-conf", str(conf))

    assert result.exit_code == 2
    assert result.stderr.startswith("zkjanitor: error: livy.conf's livy.server.host and livy.server.port: ")
    assert len(result.stderr.strip().splitlines()) == 1
