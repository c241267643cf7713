"""A live Livy server writing to its state store while ``zkjanitor prune --apply`` runs.

The CLI runs in a subprocess with small batches and a pause between them; the
test acts as Livy in between (docs/dev/livy-state-store.md section 3): it stores an
``appId`` (setData), deletes a session itself, re-creates a znode (Livy's
``save`` after a delete: a "zombie"), and keeps creating sessions and bumping
``nextSessionId`` in a background thread, as ``POST /batches`` does.

What must hold: a znode Livy changed or re-created after the scan is skipped,
never deleted; the ``state`` counters are never written; every deleted znode is
in the backup; and ``restore`` brings back exactly what the prune deleted,
without touching or resurrecting what Livy wrote or removed meanwhile.
"""

from __future__ import annotations

import json
import threading
from typing import Dict

from kazoo.client import KazooClient

from tests.support.fault_support import (
    check_backup_lines,
    close_client,
    fault_client,
    read_tree,
    restore_args,
    run_cli_process,
    seed_store,
    start_prune_until_backed_up,
    store_root,
)
from tests.support.session_znodes import create_sessions, existing_ids
from zkjanitor.backup import BackupWriter, read_backup
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import counter_record, encode_record, livy_record, store_path
from zkjanitor.zk.delete import delete_sessions

STALE = 10
LIVE = 3
NEW_SESSIONS_MAX = 200
"""Bound on the sessions the background 'Livy' creates (one every 20 ms while prune runs)."""


class LivySessionCreator(threading.Thread):
    """Creates new batch sessions and bumps ``state`` until stopped, as Livy's POST /batches does."""

    def __init__(self, client: KazooClient, prefix: str, first_id: int) -> None:
        super().__init__(name="livy-post-batches", daemon=True)
        self.client = client
        self.prefix = prefix
        self.next_id = first_id
        self.created: Dict[str, bytes] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        state = store_path(self.prefix, SessionType.BATCH, "state")
        while not self.stopping.is_set() and len(self.created) < NEW_SESSIONS_MAX:
            session_id = self.next_id
            self.next_id += 1
            self.client.set(state, encode_record(counter_record(self.next_id)))
            path = store_path(self.prefix, SessionType.BATCH, str(session_id))
            data = encode_record(livy_record(SessionType.BATCH, session_id, livy_version="0.7",
                                             app_tag=f"livy-batch-{session_id}-newnewnw"))
            self.client.create(path, data)
            self.created[path] = data
            self.stopping.wait(0.02)


def test_prune_skips_what_livy_changes_during_the_run_and_never_touches_the_counter(
    zk_server, prefix, yarn_rm, tmp_path
):
    client = fault_client(zk_server.connect_string)
    livy = LivySessionCreator(client, prefix, first_id=STALE + LIVE)
    try:
        # Sessions 0-9 are stale, oldest first; 8 still has version 0 (Livy never rewrote it).
        store = seed_store(client, prefix, yarn_rm, stale=STALE, live=LIVE,
                           rewritten=[i for i in range(STALE + LIVE) if i != 8])
        before = read_tree(client, store_root(prefix))
        # Once batches (0,1) and (2,3) are in the backup: (0,1) is deleted, (4,5) onwards untouched.
        run, backup = start_prune_until_backed_up(zk_server.connect_string, prefix, yarn_rm.url, tmp_path,
                                                  "--batch-size", "2", "--pause", "0.5", backed_up=4)
        livy.start()
        path = {i: store.stale[i] if i < STALE else store.live[i - STALE] for i in range(STALE + LIVE)}
        zombie_0 = b'{"id":0,"appId":"application_1_1","appTag":"livy-batch-0-zombie00","version":1}'
        client.create(path[0], zombie_0)  # Livy saves a session zkjanitor just deleted
        changed_7 = before[path[7]].replace(b'"owner":"alice"', b'"owner":"alice2"')
        client.set(path[7], changed_7)  # Livy stores new metadata (appIdKnown)
        client.delete(path[8])
        zombie_8 = b'{"id":8,"appId":"application_1_8","appTag":"livy-batch-8-zombie00","version":1}'
        client.create(path[8], zombie_8)  # deleted and re-created: a new znode, version 0 again
        client.delete(path[9])  # Livy's own DELETE /batches/9
        outcome = run.finish(timeout=60)
        livy.stopping.set()
        livy.join(timeout=10)
        assert not livy.is_alive()

        assert outcome.code == 0, outcome.stderr
        actions = {session["path"]: session["action"] for session in outcome.json()["sessions"]}
        assert actions == {
            **{path[i]: "deleted" for i in range(7)},
            path[7]: "skipped-changed",
            path[8]: "skipped-changed",
            path[9]: "skipped-gone",
        }
        after = read_tree(client, store_root(prefix))
        # What Livy wrote is there, byte for byte; what zkjanitor deleted is gone.
        assert after[path[0]] == zombie_0
        assert after[path[7]] == changed_7
        assert after[path[8]] == zombie_8
        assert path[9] not in after
        assert all(path[i] not in after for i in range(1, 7))
        assert all(after[path[i]] == before[path[i]] for i in range(STALE, STALE + LIVE))
        for created, data in livy.created.items():
            assert after[created] == data
        # The counter holds Livy's last value and was written only by Livy.
        state_data, state_stat = client.get(store.state)
        assert json.loads(state_data) == {"nextSessionId": livy.next_id}
        assert state_stat.version == len(livy.created)
        assert store.state not in {entry.path for entry in read_backup(backup).entries}
        check_backup_lines(backup)

        restored = run_cli_process(restore_args(zk_server.connect_string, prefix, backup), cwd=tmp_path)
        assert restored.code == 0, restored.stderr
        final = read_tree(client, store_root(prefix))
        expected: Dict[str, bytes] = {**after, **{path[i]: before[path[i]] for i in range(1, 7)}}
        assert final == expected  # 1-6 are back; Livy's 0, 7, 8, deletion of 9 and new sessions stand
    finally:
        livy.stopping.set()
        close_client(client)



def test_a_znode_deleted_and_re_created_since_the_scan_is_skipped_even_at_the_same_version(
    zk_server, zk_client, prefix, tmp_path
):
    """A re-created znode starts again at version 0, so a version-checked delete alone would take it."""
    reports = create_sessions(zk_client, prefix, range(4))
    assert {report.session.version for report in reports} == {0}
    zombie = reports[2].session.path
    zk_client.delete(zombie)
    zk_client.create(zombie, b'{"id":2,"appId":"application_1_2","appTag":"livy-batch-2-zombie00"}')

    with BackupWriter(tmp_path / "b.jsonl", zookeeper=zk_server.connect_string, prefix=prefix) as backup:
        result = delete_sessions(zk_client, reports, backup, batch_size=10)

    assert [outcome.action for outcome in result.outcomes] == ["deleted", "deleted", "skipped-changed", "deleted"]
    assert zk_client.get(zombie)[0] == b'{"id":2,"appId":"application_1_2","appTag":"livy-batch-2-zombie00"}'
    assert existing_ids(zk_client, prefix) == {"state", "2"}

