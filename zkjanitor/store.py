"""The interface a Livy state store implements: what :class:`zkjanitor.janitor.Janitor` reads, locks and writes.

ZooKeeper is the first implementation (:class:`zkjanitor.zk.store.ZooKeeperStore`);
:class:`zkjanitor.testing.memory_store.MemoryStore` is the second, for fast
tests of the pipeline and of prune's rules. docs/dev/architecture.md has the
recipe for adding one (Livy's filesystem state store, say).

Every record a store hands out is a :class:`~zkjanitor.model.Session`: its
identity (type, id, path), its bytes, creation and modification times and the
version a conditional delete is checked against.
"""

from __future__ import annotations

from typing import Callable, ContextManager, List, NamedTuple, Optional, Protocol, Sequence

from zkjanitor.advice import Finding
from zkjanitor.backup import BackupEntry, BackupWriter
from zkjanitor.inventory import CounterNode, Inventory
from zkjanitor.model import Session, SessionReport, SessionType
from zkjanitor.prune import PruneResult
from zkjanitor.restore import RestoreOutcome

Progress = Callable[[int], None]
"""``progress(n)``: n more items settled."""


class StoreCapabilities(NamedTuple):
    """What a store can promise; the pipeline adapts its rules to them."""

    creation_time: bool = True
    """Records carry their creation time (ZooKeeper's ctime), which Livy's restart rewrites do not change.
    Without it, ages count from the last modification (a restart makes sessions look new)."""
    conditional_delete: bool = True
    """A delete can be made conditional on the version read, so a record Livy changed since is skipped.
    ``Janitor`` refuses to prune a store without it."""


class SessionStore(Protocol):
    """A Livy state store: read every session, hold the prune lock, delete and re-create session records."""

    location: str
    """Where the store is, for people and for backups' headers (a ZooKeeper connect string)."""
    prefix: str
    """Livy's key prefix, without surrounding slashes."""
    identity: str
    """The store's absolute name (chroot and prefix): a backup restores only into the store it came from."""
    capabilities: StoreCapabilities

    def read(self, types: Sequence[SessionType], *, progress: Optional[Callable[[int, int], None]] = None,
             sink: Optional[Callable[[List[Session]], None]] = None) -> Inventory:
        """Every session record of ``types``, decoded, with what is beside them (counters, other children).

        Raises :class:`~zkjanitor.errors.StoreNotFound` when there is no Livy
        store here; ``progress(done, total)`` as records are read. With
        ``sink``, records go to it in batches (of about a thousand) as they are
        read, in (type, id) order, and ``Inventory.sessions`` is empty: a scan
        holds no more than a batch (docs/dev/architecture.md, "Streaming").
        """
        ...

    def lock(self, identifier: Optional[str] = None) -> ContextManager[object]:
        """Hold the store's prune lock for a ``with`` block (:class:`~zkjanitor.errors.LockHeld` when another has it).

        ``identifier`` says who holds it, for the message another run shows (default: user, host, pid, time).
        """
        ...

    def delete(self, selected: Sequence[SessionReport], backup: BackupWriter, *, batch_size: int,
               pause_seconds: float, progress: Optional[Progress],
               stop_requested: Callable[[], Optional[str]]) -> PruneResult:
        """Delete the selected sessions' records, each only if unchanged since it was read.

        The contract (tests/store checks it for every store): each record is in
        ``backup`` (written and synced) before its delete is sent, and each
        known outcome is recorded there after; a record changed or re-created
        since the read is skipped, never deleted; a session refused by
        :class:`zkjanitor.prune.Refusals` is reported failed, never deleted;
        when ``stop_requested()`` says why, the rest is ``not-attempted``.
        """
        ...

    def restore(self, entries: Sequence[BackupEntry], *, apply: bool,
                progress: Optional[Progress]) -> List[RestoreOutcome]:
        """Re-create the entries' records that are missing (``would-restore`` without ``apply``); never overwrite."""
        ...

    def read_counter_node(self, session_type: SessionType) -> CounterNode:
        """The type's id counter znode with its version (``exists`` False when missing)."""
        ...

    def write_counter(self, session_type: SessionType, value: int, expected_version: Optional[int]) -> None:
        """Set ``nextSessionId`` to ``value``: only if the znode's version is still ``expected_version``, or,
        with None, only if it is still missing (then it is created). The only write to a ``state`` znode
        zkjanitor makes (``zkjanitor counter --repair --apply``).

        Raises :class:`~zkjanitor.errors.CounterChanged` when it changed, appeared or went since the read,
        :class:`~zkjanitor.errors.WriteFailed` when the write is refused (e.g. NoAuth).
        """
        ...

    def check(self, types: Sequence[SessionType]) -> List[Finding]:
        """``doctor``'s findings about the store: reachable, where Livy would put it, its parents healthy."""
        ...


class SessionActuator(Protocol):
    """Deletes sessions through the server that holds them while it runs (Livy's own ``DELETE``).

    :meth:`zkjanitor.janitor.Janitor.apply` hands it the selected sessions it
    :meth:`holds`; the store deletes the rest. Its ``delete`` keeps the store's
    contract (every record in ``backup`` before its delete, every known
    outcome recorded after, ``stop_requested`` at batch boundaries) and asks
    the server again just before each delete, keeping (``skipped-live``) any
    session no longer reported ended.
    """

    name: str

    def holds(self, report: SessionReport) -> bool:
        """The server held this session when the scan asked (it decided its verdict)."""
        ...

    def delete(self, selected: Sequence[SessionReport], backup: BackupWriter, *, progress: Optional[Progress],
               stop_requested: Callable[[], Optional[str]]) -> PruneResult:
        ...
