"""Everything prune --apply will write is checked before its first delete; one store is one lock."""

from __future__ import annotations

import os

import pytest

from tests.support.helpers import run_cli
from tests.support.prune_store import snapshot
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed
from zkjanitor.zk.lock import prune_lock

BATCH = SessionType.BATCH


@pytest.fixture
def stale_store(old_zk_client, prefix, yarn_rm):
    """Ten-day-old sessions: one RUNNING (so the RM vouches), four forgotten."""
    known = yarn_rm.add_app(state="RUNNING")["id"]
    app_ids = [known] + [f"application_{yarn_rm.cluster_ts - 86_400_000}_{n:04d}" for n in range(1, 5)]
    seed(old_zk_client, prefix, [
        SeedZnode(BATCH, str(n), encode_record(livy_record(BATCH, n, livy_version="0.7", app_id=app_id,
                                                           app_tag=f"livy-batch-{n}-writes{n:02d}")))
        for n, app_id in enumerate(app_ids)
    ], counters={BATCH: 5})
    return prefix


def prune(server, prefix, yarn_rm, *extra):
    return run_cli(["prune", "--older-than", "1d", "--apply", "--yes", "--zk", server.connect_string,
                    "--prefix", prefix, "--yarn", yarn_rm.url, *extra])


def test_a_metrics_file_that_cannot_be_written_stops_prune_before_any_delete(
        old_zk_server, old_zk_client, stale_store, yarn_rm, tmp_path):
    metrics = tmp_path / "nowhere" / "m.prom"
    before = snapshot(old_zk_client, stale_store)
    result = prune(old_zk_server, stale_store, yarn_rm, "--metrics-file", str(metrics),
                   "--backup", str(tmp_path / "b.jsonl"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"zkjanitor: error: cannot write metrics file {metrics}")
    assert snapshot(old_zk_client, stale_store) == before  # before: deleted, then exit 2
    assert not (tmp_path / "b.jsonl").exists()


def test_a_backup_directory_without_write_permission_is_refused_up_front(
        old_zk_server, old_zk_client, stale_store, yarn_rm, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # a directory this user cannot write (CI is root)
    before = snapshot(old_zk_client, stale_store)
    result = prune(old_zk_server, stale_store, yarn_rm, "--backup", str(tmp_path / "b.jsonl"))
    assert result.exit_code == 2
    assert f"cannot write backup {tmp_path / 'b.jsonl'}: directory {tmp_path} is not writable" in result.stderr
    assert snapshot(old_zk_client, stale_store) == before


def test_the_same_store_named_two_ways_is_locked_once(old_zk_server, old_zk_client, stale_store, yarn_rm,
                                                      tmp_path):
    chroot, inner = stale_store.split("/", 1)
    named_with_chroot = ["--zk", f"{old_zk_server.connect_string}/{chroot}", "--prefix", inner]
    with prune_lock(old_zk_client, stale_store, identifier="a prune named without the chroot"):
        result = run_cli(["prune", "--older-than", "1d", "--apply", "--yes", "--yarn", yarn_rm.url,
                          "--backup", str(tmp_path / "b.jsonl"), *named_with_chroot])
    assert result.exit_code == 5
    assert f"another prune holds the lock for /{stale_store}" in result.stderr
    assert "a prune named without the chroot" in result.stderr


def test_the_table_says_why_a_delete_failed(old_zk_server, old_zk_client, stale_store, yarn_rm, tmp_path):
    from kazoo.security import ACL, ANYONE_ID_UNSAFE, Permissions

    parent = f"/{stale_store}/v1/batch"
    old_zk_client.set_acls(parent, [ACL(Permissions.READ | Permissions.ADMIN, ANYONE_ID_UNSAFE)])  # no DELETE
    try:
        result = prune(old_zk_server, stale_store, yarn_rm, "--backup", str(tmp_path / "b.jsonl"))
    finally:
        old_zk_client.set_acls(parent, [ACL(Permissions.ALL, ANYONE_ID_UNSAFE)])
    assert result.exit_code == 4
    failed_rows = [line for line in result.stdout.splitlines() if line.startswith("failed")]
    assert len(failed_rows) == 4 and all("failed: NoAuth" in row for row in failed_rows), result.stdout
