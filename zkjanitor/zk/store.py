"""Livy's ZooKeeper state store as a :class:`zkjanitor.store.SessionStore`.

Everything kazoo-specific lives in this package: reading (:mod:`.inventory`,
:mod:`.reader`, :mod:`.multiread`), deleting (:mod:`.delete`), re-creating
(:mod:`.restore`) and the lock (:mod:`.lock`).
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager, Iterator, List, Optional, Sequence

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NoAuthError, NodeExistsError, NoNodeError

from zkjanitor.advice import Finding
from zkjanitor.backup import BackupEntry, BackupWriter, store_of
from zkjanitor.decoder import encode_counter
from zkjanitor.errors import CounterChanged, WriteFailed
from zkjanitor.inventory import (
    COUNTER_NODE,
    CounterNode,
    Inventory,
    children_reply_bytes,
    no_store_here,
    parent_path,
    store_root,
)
from zkjanitor.model import Session, SessionReport, SessionType
from zkjanitor.prune import Progress, PruneResult
from zkjanitor.restore import RestoreOutcome
from zkjanitor.scan import CHILDREN_REPLY_WARN_BYTES
from zkjanitor.store import StoreCapabilities
from zkjanitor.zk.client import ZkOptions, connected
from zkjanitor.zk.delete import delete_sessions
from zkjanitor.zk.inventory import read_counter_node, read_inventory
from zkjanitor.zk.lock import default_identifier, prune_lock
from zkjanitor.zk.multiread import server_supports_multiread
from zkjanitor.zk.reader import ReadMethod
from zkjanitor.zk.restore import restore_backup


class ZooKeeperStore:
    """The store under ``/<prefix>`` of a connected kazoo client (see :meth:`open` to connect too)."""

    capabilities = StoreCapabilities(creation_time=True, conditional_delete=True)

    def __init__(self, client: KazooClient, location: str, prefix: str, *, read_method: str = "auto") -> None:
        self.client = client
        self.location = location
        self.prefix = prefix
        self.identity = store_of(location, prefix)
        self.read_method = read_method

    @classmethod
    @contextlib.contextmanager
    def open(cls, options: ZkOptions, prefix: str, *, read_method: str = "auto") -> Iterator["ZooKeeperStore"]:
        """``with ZooKeeperStore.open(options, "livy") as store:`` connects, and always disconnects."""
        with connected(options) as client:
            yield cls(client, options.connect, prefix, read_method=read_method)

    def read(self, types: Sequence[SessionType], *, progress: Optional[Callable[[int, int], None]] = None,
             sink: Optional[Callable[[List[Session]], None]] = None) -> Inventory:
        return read_inventory(self.client, self.prefix, types, read_method=self.read_method, progress=progress,
                              sink=sink)

    def lock(self, identifier: Optional[str] = None) -> ContextManager[None]:
        return prune_lock(self.client, self.prefix, identifier=identifier or default_identifier())

    def delete(self, selected: Sequence[SessionReport], backup: BackupWriter, *, batch_size: int = 1000,
               pause_seconds: float = 0.0, progress: Optional[Progress] = None,
               stop_requested: Callable[[], Optional[str]] = lambda: None) -> PruneResult:
        return delete_sessions(self.client, selected, backup, batch_size=batch_size, pause_seconds=pause_seconds,
                               progress=progress, stop_requested=stop_requested,
                               read_method=ReadMethod(self.read_method))

    def restore(self, entries: Sequence[BackupEntry], *, apply: bool,
                progress: Optional[Progress] = None) -> List[RestoreOutcome]:
        return restore_backup(self.client, entries, apply=apply, progress=progress)

    def read_counter_node(self, session_type: SessionType) -> CounterNode:
        return read_counter_node(self.client, f"{parent_path(self.prefix, session_type)}/{COUNTER_NODE}")

    def write_counter(self, session_type: SessionType, value: int, expected_version: Optional[int]) -> None:
        path = f"{parent_path(self.prefix, session_type)}/{COUNTER_NODE}"
        try:
            if expected_version is None:
                self.client.create(path, encode_counter(value))
            else:
                self.client.set(path, encode_counter(value), version=expected_version)
        except BadVersionError:
            raise CounterChanged(f"{path} changed since it was read (Livy created a session?): not written; "
                                 "run the repair again") from None
        except NodeExistsError:
            raise CounterChanged(f"{path} was created since it was read (by Livy?): not written; "
                                 "run the repair again") from None
        except NoNodeError:
            raise CounterChanged(f"{path} (or its parent) was deleted since it was read: not written; "
                                 "run the repair again") from None
        except NoAuthError:
            raise WriteFailed(f"ZooKeeper refused to write {path} (NoAuth): "
                              "check the ACL and --zk-auth or --zk-sasl") from None

    def check(self, types: Sequence[SessionType]) -> List[Finding]:
        client = self.client
        findings = [Finding("ok", "zookeeper", self.location, "connected", "")]
        if not server_supports_multiread(client):
            findings.append(Finding(
                "info", "zookeeper", self.location,
                "the server does not support multiRead (ZooKeeper < 3.6): scans use pipelined reads, "
                "about 20x slower", "upgrade ZooKeeper to 3.6 or later for fast scans"))
        root = store_root(self.prefix)
        fix = "check --prefix (Livy's livy.server.recovery.zk-state-store.key-prefix) and the chroot in --zk"
        if client.exists(root) is None:
            return findings + [Finding("error", "prefix", root, f"no Livy state store at {root}", fix)]
        if not any(client.exists(parent_path(self.prefix, t)) for t in SessionType):
            return findings + [Finding("error", "prefix", root, no_store_here(root, client.get_children(root)), fix)]
        for session_type in types:
            findings.extend(self._check_parent(parent_path(self.prefix, session_type)))
        return findings

    def _check_parent(self, path: str) -> List[Finding]:
        if self.client.exists(path) is None:
            return [Finding("ok", "store", path, "absent: Livy has not stored a session of this type yet", "")]
        names = self.client.get_children(path)
        reply = children_reply_bytes(names)
        if reply >= CHILDREN_REPLY_WARN_BYTES:
            findings = [Finding(
                "warning", "store", path,
                f"{len(names):,} children; the getChildren reply is {reply / 1e6:.2f} MB and Java clients "
                "(Livy itself, zkCli) fail at 1 MB (jute.maxbuffer)",
                "prune stale sessions: zkjanitor prune --older-than 1d")]
        else:
            findings = [Finding("ok", "store", path, f"{len(names):,} children, getChildren reply {reply:,} bytes", "")]
        if COUNTER_NODE not in names:
            findings.append(Finding(
                "warning", "store", f"{path}/{COUNTER_NODE}",
                "the id counter is missing: Livy restarts ids at 0 and overwrites existing sessions",
                "never delete the state node; recreate it above the highest session id: zkjanitor counter --repair"))
        return findings
