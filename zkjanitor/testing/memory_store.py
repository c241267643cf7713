"""A Livy state store held in a dict: the second :class:`zkjanitor.store.SessionStore`, for fast tests.

It keeps the store contract (zkjanitor/store.py) the simple way: one record at
a time, backup first, each delete checked against the version, ctime and bytes
read. Tests seed it with :meth:`MemoryStore.put` and make "Livy" act between
the read and the deletes with :attr:`MemoryStore.before_delete`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.backup import BackupEntry, BackupWriter
from zkjanitor.decoder import decode_session, encode_counter, session_id_from_name
from zkjanitor.errors import CounterChanged, LockHeld, StoreNotFound, ZkJanitorError
from zkjanitor.inventory import (
    COUNTER_NODE,
    CounterNode,
    Inventory,
    ParentInfo,
    children_reply_bytes,
    parent_path,
    store_root,
)
from zkjanitor.model import Session, SessionReport, SessionType, Znode
from zkjanitor.prune import Outcome, Progress, PruneOutcome, PruneResult, refusals
from zkjanitor.restore import REUSED_ID, RestoreAction, RestoreOutcome
from zkjanitor.store import StoreCapabilities


class Record(NamedTuple):
    data: bytes
    version: int
    ctime_ms: int
    mtime_ms: int


READ_BATCH = 1000
"""Sessions handed to a read's ``sink`` at a time, as ZooKeeper's multiRead batches are."""


class MemoryStore:
    """Records by absolute path (``/<prefix>/v1/batch/7``), with ZooKeeper's versions and times."""

    def __init__(self, prefix: str = "livy", *, location: str = "memory",
                 capabilities: StoreCapabilities = StoreCapabilities()) -> None:
        self.prefix = prefix
        self.location = location
        self.identity = store_root(prefix)
        self.capabilities = capabilities
        self.records: Dict[str, Record] = {}
        self.lock_holder: Optional[str] = None
        self.before_delete: Callable[["MemoryStore", SessionReport], None] = lambda store, report: None
        """Called just before each delete is checked: a test's "Livy" changes or removes records here."""
        self.deletes_sent: List[str] = []
        self.before_counter_write: Callable[["MemoryStore", SessionType], None] = lambda store, session_type: None
        """Called just before a counter write is checked: a test's "Livy" bumps the counter here."""
        for session_type in SessionType:
            self.put_counter(session_type, 0)

    # -- seeding ---------------------------------------------------------------------------------------------

    def put(self, session_type: SessionType, session_id: int, data: bytes, *, ctime_ms: Optional[int] = None,
            mtime_ms: Optional[int] = None, version: int = 0) -> str:
        """Create or replace a session record; returns its path. Times default to now."""
        path = f"{parent_path(self.prefix, session_type)}/{session_id}"
        return self._put(path, data, ctime_ms=ctime_ms, mtime_ms=mtime_ms, version=version)

    def put_counter(self, session_type: SessionType, next_session_id: Optional[int]) -> None:
        """Set ``nextSessionId``; None removes the counter."""
        path = f"{parent_path(self.prefix, session_type)}/{COUNTER_NODE}"
        if next_session_id is None:
            self.records.pop(path, None)
        else:
            self._put(path, b'{"nextSessionId":%d}' % next_session_id)

    def touch(self, path: str, data: Optional[bytes] = None) -> None:
        """What Livy does to a session it updates: new bytes (or the same), version + 1."""
        record = self.records[path]
        self.records[path] = Record(record.data if data is None else data, record.version + 1, record.ctime_ms,
                                    _now_ms())

    def _put(self, path: str, data: bytes, *, ctime_ms: Optional[int] = None, mtime_ms: Optional[int] = None,
             version: int = 0) -> str:
        now = _now_ms()
        created = now if ctime_ms is None else ctime_ms
        self.records[path] = Record(data, version, created, created if mtime_ms is None else mtime_ms)
        return path

    # -- SessionStore ----------------------------------------------------------------------------------------

    def read(self, types: Sequence[SessionType], *, progress: Optional[Callable[[int, int], None]] = None,
             sink: Optional[Callable[[List[Session]], None]] = None) -> Inventory:
        root = store_root(self.prefix)
        if not any(path.startswith(root + "/v1/") for path in self.records):
            raise StoreNotFound(f"no Livy state store at {root} in {self.location}")
        parents: Dict[SessionType, ParentInfo] = {}
        sessions: List[Session] = []
        for session_type in sorted(types, key=lambda t: t.value):
            path = parent_path(self.prefix, session_type)
            names = [p[len(path) + 1:] for p in self.records if p.startswith(path + "/")]
            if not names:
                parents[session_type] = ParentInfo(session_type, path, exists=False)
                continue
            ids = sorted(i for i in map(session_id_from_name, names) if i is not None)
            counter = self.read_counter_node(session_type)
            parents[session_type] = ParentInfo(
                session_type, path, exists=True, num_children=len(names),
                children_reply_bytes=children_reply_bytes(names),
                counter=counter.value,
                other_children=tuple(sorted(n for n in names if session_id_from_name(n) is None
                                            and n != COUNTER_NODE)),
                counter_problem=counter.problem,
            )
            for session_id in ids:
                record = self.records[f"{path}/{session_id}"]
                znode = Znode(f"{path}/{session_id}", record.data, record.version, record.ctime_ms, record.mtime_ms)
                sessions.append(decode_session(session_type, znode, session_id))
        if progress is not None:
            progress(len(sessions), len(sessions))
        if sink is not None:
            for start in range(0, len(sessions), READ_BATCH):
                sink(sessions[start:start + READ_BATCH])
            sessions = []
        return Inventory(self.prefix, sessions, parents, [], "memory")

    @contextlib.contextmanager
    def lock(self, identifier: Optional[str] = None) -> Iterator[None]:
        if self.lock_holder is not None:
            raise LockHeld(f"another prune holds the lock for {self.identity}: {self.lock_holder}")
        self.lock_holder = identifier or "this test"
        try:
            yield
        finally:
            self.lock_holder = None

    def delete(self, selected: Sequence[SessionReport], backup: BackupWriter, *, batch_size: int = 1000,
               pause_seconds: float = 0.0, progress: Optional[Progress] = None,
               stop_requested: Callable[[], Optional[str]] = lambda: None) -> PruneResult:
        refused = refusals(selected)
        outcomes: List[PruneOutcome] = []
        aborted: Optional[str] = None
        for start in range(0, len(selected), batch_size):
            batch = list(enumerate(selected[start:start + batch_size], start))
            to_delete = [report for index, report in batch if index not in refused]
            aborted = aborted or stop_requested()
            if aborted is None:
                try:
                    backup.write(to_delete)
                except ZkJanitorError as error:
                    aborted = f"backup write failed: {error}"
            settled = [
                PruneOutcome(report, Outcome.FAILED, refused[index]) if index in refused
                else PruneOutcome(report, Outcome.NOT_ATTEMPTED, aborted) if aborted is not None
                else self._delete_one(report)
                for index, report in batch
            ]
            if aborted is None:
                try:
                    backup.record_outcomes([(o.report.session.path, o.action, o.detail)
                                            for (index, _), o in zip(batch, settled) if index not in refused])
                except ZkJanitorError as error:
                    aborted = f"backup write failed: {error}"
            outcomes.extend(settled)
            if progress is not None:
                progress(len(batch))
        return PruneResult(outcomes, aborted)

    def _delete_one(self, report: SessionReport) -> PruneOutcome:
        self.before_delete(self, report)
        session = report.session
        record = self.records.get(session.path)
        if record is None:
            return PruneOutcome(report, Outcome.SKIPPED_GONE)
        if (record.version, record.ctime_ms, record.data) != (session.version, session.ctime_ms, session.data):
            return PruneOutcome(report, Outcome.SKIPPED_CHANGED)
        del self.records[session.path]
        self.deletes_sent.append(session.path)
        return PruneOutcome(report, Outcome.DELETED)

    def restore(self, entries: Sequence[BackupEntry], *, apply: bool,
                progress: Optional[Progress] = None) -> List[RestoreOutcome]:
        outcomes = []
        for entry in entries:
            present = self.records.get(entry.path)
            if not entry.deleted_by_prune:
                outcome = RestoreOutcome(entry, RestoreAction.NOT_DELETED,
                                         f"the prune recorded {entry.outcome}: it did not delete this znode")
            elif present is not None:
                outcome = RestoreOutcome(entry, RestoreAction.ALREADY_PRESENT,
                                         None if present.data == entry.data else REUSED_ID)
            elif apply:
                self._put(entry.path, entry.data)
                outcome = RestoreOutcome(entry, RestoreAction.RESTORED)
            else:
                outcome = RestoreOutcome(entry, RestoreAction.WOULD_RESTORE)
            outcomes.append(outcome)
        if progress is not None:
            progress(len(entries))
        return outcomes

    def read_counter_node(self, session_type: SessionType) -> CounterNode:
        path = f"{parent_path(self.prefix, session_type)}/{COUNTER_NODE}"
        record = self.records.get(path)
        if record is None:
            return CounterNode(path, exists=False, problem="missing")
        return CounterNode.from_data(path, record.data, record.version)

    def write_counter(self, session_type: SessionType, value: int, expected_version: Optional[int]) -> None:
        self.before_counter_write(self, session_type)
        path = f"{parent_path(self.prefix, session_type)}/{COUNTER_NODE}"
        record = self.records.get(path)
        if (None if record is None else record.version) != expected_version:
            raise CounterChanged(f"{path} changed since it was read: not written")
        if record is None:
            self._put(path, encode_counter(value))
        else:
            self.records[path] = Record(encode_counter(value), record.version + 1, record.ctime_ms, _now_ms())

    def check(self, types: Sequence[SessionType]) -> List[Finding]:
        return [Finding("ok", "store", self.location, f"{len(self.records):,} records in memory", "")]


def _now_ms() -> int:
    return int(time.time() * 1000)
