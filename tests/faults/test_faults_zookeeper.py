"""ZooKeeper faults in the middle of ``zkjanitor prune --apply``, on real servers.

Each test runs the real CLI in a subprocess (small batches and ``--pause`` make a
window), breaks ZooKeeper while it deletes, and then checks what an operator
relies on: the exit code, that the JSON account matches what ZooKeeper holds,
that every deleted znode is in the backup with its exact bytes, and that
``restore --apply`` brings the store back byte for byte.

The ensemble tests start three ZooKeeper processes each and are marked slow.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Iterator, List

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.states import KeeperState

from tests.support.fault_support import (
    SESSION_EXPORTING_CLI,
    SESSION_FILE_ENV,
    CliProcess,
    backup_lines_on_disk,
    check_backup_lines,
    check_prune_account,
    check_restored,
    close_client,
    fault_client,
    prune_args,
    read_tree,
    restore_args,
    run_cli_process,
    seed_store,
    start_prune_until_backed_up,
    store_root,
    wait_until,
)
from tests.support.helpers import closed_port
from zkjanitor.backup import read_backup
from zkjanitor.testing.ensemble import QuorumPeer, ZooKeeperEnsemble
from zkjanitor.testing.zkserver import ZooKeeperServer
from zkjanitor.zk.batch import wait_connected
from zkjanitor.zk.lock import lock_path

BATCH_WINDOW = ("--batch-size", "1", "--pause", "0.4")
"""One znode per transaction and 0.4 s between them: a 12-session prune takes about 5 s."""


SHORT_SESSIONS = {"tickTime": "1000", "maxSessionTimeout": "3000"}
"""zkjanitor asks for a 10 s session; this server grants 3 s, so a dead run's session (and
with it its prune lock) expires about 3 s after the server can tell."""


@pytest.fixture
def own_server() -> Iterator[ZooKeeperServer]:
    """A standalone server this test may kill and restart."""
    with ZooKeeperServer(extra_config=SHORT_SESSIONS) as server:
        yield server


def _wait_lock_free(client: KazooClient, prefix: str) -> None:
    """Until the session of a run that could not say goodbye expires, its prune lock stands."""
    wait_until(lambda: _lock_free(client, prefix), timeout=30,
               what="the dead run's prune lock to expire with its session")


def _lock_free(client: KazooClient, prefix: str) -> bool:
    """No contender holds the prune lock (a run that ends cleanly also removes the lock's znode)."""
    return client.exists(lock_path(prefix)) is None or not client.get_children(lock_path(prefix))


def _expire_session(connect: str, session_id: int, password: bytes) -> None:
    """End another client's session, as ZooKeeper does when a session times out.

    Attaching to the session and closing it is the documented way to force an
    expiry (ZooKeeper FAQ); the original client then hears SESSION_EXPIRED.
    """
    hijacker = KazooClient(hosts=connect, client_id=(session_id, password), timeout=10)
    hijacker.start(timeout=15)
    hijacker.stop()
    hijacker.close()


def test_session_expiry_mid_prune_stops_the_run_with_exit_4_and_a_true_account(own_server, prefix, yarn_rm,
                                                                                  tmp_path):
    client = fault_client(own_server.connect_string)
    try:
        store = seed_store(client, prefix, yarn_rm, stale=12)
        before = read_tree(client, store_root(prefix))
        backup = tmp_path / "backup.jsonl"
        session_file = tmp_path / "session.json"
        run = CliProcess(prune_args(own_server.connect_string, prefix, yarn_rm.url, backup, *BATCH_WINDOW),
                         cwd=tmp_path, env={SESSION_FILE_ENV: str(session_file)}, script=SESSION_EXPORTING_CLI)
        wait_until(lambda: backup_lines_on_disk(backup) >= 3, timeout=60, what="3 backed-up znodes", process=run)
        session = json.loads(session_file.read_text())
        _expire_session(own_server.connect_string, session["session_id"], bytes.fromhex(session["password"]))
        outcome = run.finish(timeout=90)

        assert outcome.code == 4, outcome.stderr
        assert outcome.seconds < 60
        assert "prune stopped early" in outcome.stderr
        assert "session expired" in outcome.stderr or "connection to ZooKeeper lost" in outcome.stderr
        document = outcome.json()
        assert document["aborted"]
        actions = check_prune_account(document, before, read_tree(client, store_root(prefix)), backup)
        assert 2 <= list(actions.values()).count("deleted") < len(store.stale)
        assert actions[store.stale[-1]] in ("not-attempted", "failed")
        check_backup_lines(backup)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


def test_zookeeper_dying_mid_prune_ends_the_run_in_bounded_time_with_a_true_account(own_server, prefix, yarn_rm,
                                                                                     tmp_path):
    client = fault_client(own_server.connect_string)
    store = seed_store(client, prefix, yarn_rm, stale=12)
    before = read_tree(client, store_root(prefix))
    close_client(client)
    run, backup = start_prune_until_backed_up(own_server.connect_string, prefix, yarn_rm.url, tmp_path,
                                              *BATCH_WINDOW, backed_up=3)
    own_server.kill()
    outcome = run.finish(timeout=120)

    assert outcome.code == 4, outcome.stderr
    assert outcome.seconds < 20
    assert "prune stopped early: connection to ZooKeeper lost" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    document = outcome.json()
    check_backup_lines(backup)
    own_server.start()
    client = fault_client(own_server.connect_string)
    try:
        actions = check_prune_account(document, before, read_tree(client, store_root(prefix)), backup)
        assert "deleted" in actions.values() and actions[store.stale[-1]] in ("not-attempted", "failed")
        _wait_lock_free(client, prefix)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


def test_a_zookeeper_restart_mid_prune_leaves_a_true_account(own_server, prefix, yarn_rm, tmp_path):
    client = fault_client(own_server.connect_string)
    try:
        seed_store(client, prefix, yarn_rm, stale=12)
        before = read_tree(client, store_root(prefix))
        run, backup = start_prune_until_backed_up(own_server.connect_string, prefix, yarn_rm.url, tmp_path,
                                                  *BATCH_WINDOW, backed_up=3)
        own_server.restart()  # well within the 10 s session timeout: the session survives
        outcome = run.finish(timeout=120)

        assert outcome.code in (0, 4), outcome.stderr
        document = outcome.json()
        check_prune_account(document, before, read_tree(client, store_root(prefix)), backup)
        check_backup_lines(backup)
        _wait_lock_free(client, prefix)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


def test_prune_with_zookeeper_down_exits_3_quickly_and_writes_no_backup(tmp_path, yarn_rm):
    backup = tmp_path / "backup.jsonl"
    outcome = run_cli_process(
        prune_args(f"127.0.0.1:{closed_port()}", "livy", yarn_rm.url, backup, "--timeout", "2"), cwd=tmp_path)
    assert outcome.code == 3
    assert outcome.seconds < 20
    assert outcome.stderr.count("\n") == 1 and "cannot connect to ZooKeeper" in outcome.stderr
    assert outcome.stdout == "" and not backup.exists()


def test_a_prune_killed_mid_run_holds_the_lock_until_its_session_expires_and_can_be_undone(
    own_server, prefix, yarn_rm, tmp_path
):
    client = fault_client(own_server.connect_string)
    try:
        seed_store(client, prefix, yarn_rm, stale=12)
        before = read_tree(client, store_root(prefix))
        run, backup = start_prune_until_backed_up(own_server.connect_string, prefix, yarn_rm.url, tmp_path,
                                                  *BATCH_WINDOW, backed_up=4)
        run.signal(signal.SIGKILL)
        assert run.finish(timeout=30).code == -signal.SIGKILL

        after = read_tree(client, store_root(prefix))
        gone = set(before) - set(after)
        assert len(gone) >= 3 and all(after[path] == before[path] for path in after)
        check_backup_lines(backup)
        # Until ZooKeeper expires the dead run's session, its lock stands: exit 5, holder named.
        locked = run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path)
        assert locked.code == 5 and "another prune holds the lock" in locked.stderr
        _wait_lock_free(client, prefix)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_prune_left_every_deleted_znode_in_the_backup(own_server, prefix, yarn_rm, tmp_path, signum):
    """Ctrl-C, or a service manager's stop (SIGTERM) mid-run: the backup is named even with -q, nothing is lost.

    SIGTERM stops at a batch boundary, with an account (the rest not-attempted) and exit 143; either way the
    ZooKeeper session is closed, so the lock goes at once.
    """
    client = fault_client(own_server.connect_string)
    try:
        seed_store(client, prefix, yarn_rm, stale=12)
        before = read_tree(client, store_root(prefix))
        metrics = tmp_path / "prune.prom"
        run, backup = start_prune_until_backed_up(own_server.connect_string, prefix, yarn_rm.url, tmp_path,
                                                  *BATCH_WINDOW, "-q", "--metrics-file", str(metrics), backed_up=3)
        run.signal(signum)
        outcome = run.finish(timeout=30)

        assert "Traceback" not in outcome.stderr
        assert f'zkjanitor_last_run_exit_code{{command="prune"}} {outcome.code}' in metrics.read_text()
        if signum == signal.SIGINT:
            assert outcome.code == 130
            assert f"every znode deleted so far is in {backup}" in outcome.stderr
        else:
            assert outcome.code == 143, outcome.stderr
            assert f"stopped by SIGTERM at a batch boundary: every znode deleted is in {backup}" in outcome.stderr
            document = outcome.json()
            assert document["counts"]["not-attempted"] > 0 and document["aborted"] == "stopped by SIGTERM"
        assert _lock_free(client, prefix)  # no waiting for a session to expire
        after = read_tree(client, store_root(prefix))
        gone = set(before) - set(after)
        assert 2 <= len(gone) < 12 and all(after[path] == before[path] for path in after)
        check_backup_lines(backup)
        entries = {entry.path: entry.data for entry in read_backup(backup).entries}
        assert all(entries[path] == before[path] for path in gone)
        _wait_lock_free(client, prefix)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(own_server.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


# --------------------------------------------------------------------------- a 3-node ensemble


@pytest.fixture
def ensemble() -> Iterator[ZooKeeperEnsemble]:
    with ZooKeeperEnsemble(3) as members:
        yield members


def _member_serving_a_client(ensemble: ZooKeeperEnsemble) -> QuorumPeer:
    """The member the CLI is connected to: the only client of the ensemble during the run."""
    holders: List[QuorumPeer] = []

    def found() -> bool:
        holders[:] = [node for node in ensemble.running_nodes() if node.sessions]
        return bool(holders)

    wait_until(found, timeout=20, what="the CLI's ZooKeeper connection")
    return holders[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "victims",
    [("follower", "leader"), ("leader",), ("client's member",)],
    ids=["follower-then-leader", "leader", "the-clients-member"],
)
def test_ensemble_members_killed_mid_prune(ensemble, prefix, yarn_rm, tmp_path, victims):
    client = fault_client(ensemble.connect_string)
    store = seed_store(client, prefix, yarn_rm, stale=24)
    before = read_tree(client, store_root(prefix))
    close_client(client)  # the CLI is the ensemble's only client while it runs
    backup = tmp_path / "backup.jsonl"
    run = CliProcess(prune_args(ensemble.connect_string, prefix, yarn_rm.url, backup,
                                "--batch-size", "2", "--pause", "0.3"), cwd=tmp_path)
    killed: List[QuorumPeer] = []
    for number, victim in enumerate(victims, start=1):
        wait_until(lambda n=number: backup_lines_on_disk(backup) >= 4 * n, timeout=60,
                   what=f"{4 * number} backed-up znodes", process=run)
        if victim == "leader":
            node = ensemble.leader()
        elif victim == "follower":
            node = ensemble.followers()[0]
        else:
            node = _member_serving_a_client(ensemble)
        ensemble.kill(node)
        killed.append(node)
    outcome = run.finish(timeout=150)

    assert outcome.code in (0, 4), outcome.stderr
    assert "Traceback" not in outcome.stderr
    document = outcome.json()
    if outcome.code == 0:
        assert document["deleted"] == len(store.stale) and document["aborted"] is None
    else:
        assert "prune stopped early" in outcome.stderr or document["counts"]["failed"]
    check_backup_lines(backup)
    for node in killed:
        ensemble.start(node)
    ensemble.wait_serving()
    client = fault_client(ensemble.connect_string)
    try:
        actions = check_prune_account(document, before, read_tree(client, store_root(prefix)), backup)
        assert set(actions) <= set(store.stale)
        _wait_lock_free(client, prefix)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(ensemble.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)


def test_waiting_for_a_reconnect_ends_as_soon_as_kazoo_gives_up(own_server):
    """After kazoo's bounded connection retries are spent it never reconnects: do not wait on."""
    client = KazooClient(hosts=own_server.connect_string, timeout=4,
                         connection_retry={"max_tries": 2, "delay": 0.1, "max_delay": 0.5})
    client.start(timeout=15)
    try:
        own_server.kill()
        wait_until(lambda: client.client_state == KeeperState.CLOSED, timeout=20, what="kazoo to give up")
        started = time.monotonic()
        assert wait_connected(client, 30) is False
        assert time.monotonic() - started < 2
    finally:
        client.stop()
        client.close()
