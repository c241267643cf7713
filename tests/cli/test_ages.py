"""A session's age survives Livy's restarts: it counts from the znode's creation, never its last rewrite.

Every Livy start rewrites each session it recovers (``appIdKnown`` saves the
record again), so after an out-of-memory restart loop every dead session's
mtime is minutes old. The scenario runs a real ZooKeeper whose clock is moved
(libfaketime) to create sessions days and hours in the past.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from kazoo.client import KazooClient

from tests.support.helpers import run_cli
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import ZooKeeperServer

BATCH = SessionType.BATCH
DAY_MS = 86_400_000
PREFIX = "livy"


def session(session_id: int, app_id) -> SeedZnode:
    tag = f"livy-batch-{session_id}-age{session_id:05d}"
    return SeedZnode(BATCH, str(session_id), encode_record(
        livy_record(BATCH, session_id, livy_version="0.7", app_tag=tag, app_id=app_id)))


def connect(server: ZooKeeperServer) -> KazooClient:
    client = KazooClient(hosts=server.connect_string, timeout=10,
                         connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1})
    client.start(timeout=30)
    return client


@pytest.fixture(scope="module")
def rewritten_store():
    """A store made ten days ago (ids 0-6) and twelve hours ago (ids 10-12), on a server now on the real clock."""
    with YarnDouble(cluster_timestamp=int(time.time() * 1000) - 30 * DAY_MS) as rm, \
            ZooKeeperServer(faketime="-10d") as server:
        running = rm.add_app(state="RUNNING")["id"]
        forgotten = [f"application_{rm.cluster_ts}_{9000 + n}" for n in range(20)]
        client = connect(server)
        seed(client, PREFIX, [session(0, running)] + [session(n, forgotten[n]) for n in range(1, 6)]
             + [session(6, None)], counters={BATCH: 13})
        client.stop()
        server.restart(faketime="-12h")
        client = connect(server)
        seed(client, PREFIX, [session(n, forgotten[n]) for n in range(10, 13)])
        client.stop()
        server.restart(faketime=None)
        client = connect(server)
        try:
            yield server, client, rm
        finally:
            client.stop()
            client.close()


def prune_dry_run(server, rm):
    result = run_cli(["prune", "--older-than", "1d", "--format", "json", "--zk", server.connect_string,
                      "--prefix", PREFIX, "--yarn", rm.url])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["sessions"]


def test_a_livy_restart_rewriting_every_session_does_not_change_what_prune_selects(rewritten_store):
    server, client, rm = rewritten_store
    before = prune_dry_run(server, rm)
    assert [(s["id"], s["reason"]) for s in before] == [(n, "app-forgotten") for n in range(1, 6)] + [
        (6, "never-submitted")]

    # Livy restarts and recovers every session: each znode is written again with its own bytes.
    parent = f"/{PREFIX}/v1/batch"
    for name in client.get_children(parent):
        if name != "state":
            client.set(f"{parent}/{name}", client.get(f"{parent}/{name}")[0])

    after = prune_dry_run(server, rm)
    assert [(s["id"], s["reason"]) for s in after] == [(s["id"], s["reason"]) for s in before]
    assert [s["age_seconds"] >= 10 * 86_400 - 60 for s in after] == [True] * len(after)
    now = datetime.now(timezone.utc)
    for shown in after:  # both times are shown: created ten days ago, modified just now
        created = datetime.fromisoformat(shown["created"].replace("Z", "+00:00"))
        modified = datetime.fromisoformat(shown["modified"].replace("Z", "+00:00"))
        assert (now - created).days >= 9 and (now - modified).total_seconds() < 300


def test_prune_never_deletes_a_session_younger_than_livys_own_wait_for_yarn(zk_server, zk_client, prefix, yarn_rm):
    known = yarn_rm.add_app(state="RUNNING")["id"]
    forgotten = [f"application_{yarn_rm.cluster_ts - DAY_MS}_{n:04d}" for n in range(1, 4)]
    seed(zk_client, prefix, [session(0, known)] + [session(n, forgotten[n - 1]) for n in range(1, 4)],
         counters={BATCH: 4})
    args = ["prune", "--older-than", "0s", "--grace", "0s", "--format", "json", "--zk", zk_server.connect_string,
            "--prefix", prefix, "--yarn", yarn_rm.url]
    careful = run_cli(args)
    assert careful.exit_code == 0, careful.stderr
    assert json.loads(careful.stdout)["sessions"] == []  # before: the three seconds-old sessions were selected
    assert "--grace 0s is below Livy's livy.server.yarn.app-lookup-timeout (2m)" in careful.stderr
    overridden = run_cli([*args, "--allow-young-sessions"])
    assert [s["id"] for s in json.loads(overridden.stdout)["sessions"]] == [1, 2, 3]


def test_limit_breaks_age_ties_by_numeric_id(old_zk_server, old_zk_client, prefix, yarn_rm):
    finished = int(time.time() * 1000) - 3 * DAY_MS
    app_ids = [yarn_rm.add_app(state="FINISHED", finishedTime=finished)["id"] for _ in range(13)]
    seed(old_zk_client, prefix, [session(n, app_ids[n]) for n in range(13)], counters={BATCH: 13})
    result = run_cli(["prune", "--older-than", "1d", "--limit", "5", "--format", "json",
                      "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url])
    assert [s["id"] for s in json.loads(result.stdout)["sessions"]] == [0, 1, 2, 3, 4]


def test_prune_waits_as_long_as_livy_conf_says_livy_looks_for_an_application(
        old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    known = yarn_rm.add_app(state="RUNNING")["id"]
    forgotten = [f"application_{yarn_rm.cluster_ts - DAY_MS}_{n:04d}" for n in range(1, 4)]
    seed(old_zk_client, prefix, [session(0, known)] + [session(n, forgotten[n - 1]) for n in range(1, 4)],
         counters={BATCH: 4})
    livy_conf = tmp_path / "livy.conf"
    livy_conf.write_text("livy.server.yarn.app-lookup-timeout = 30d\n")
    args = ["prune", "--older-than", "1d", "--format", "json", "--livy-conf", str(livy_conf),
            "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url]
    careful = run_cli(args)  # the sessions are ten days old: past the default 2m, within livy.conf's 30d
    assert careful.exit_code == 0, careful.stderr
    assert json.loads(careful.stdout)["sessions"] == []
    assert "--grace 10m is below Livy's livy.server.yarn.app-lookup-timeout (30d)" in careful.stderr
    overridden = run_cli([*args, "--allow-young-sessions"])
    assert [s["id"] for s in json.loads(overridden.stdout)["sessions"]] == [1, 2, 3]
