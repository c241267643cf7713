"""Re-creating a backup's znodes in ZooKeeper (:meth:`zkjanitor.zk.store.ZooKeeperStore.restore`).

Existence is read with one ``get_children`` per parent; missing znodes are
created with their original bytes in multi transactions (bounded in ops and
bytes), after any missing parents, which get empty data as Curator gives them.
If a transaction fails (say Livy created one of the znodes meanwhile) its
creates are retried one by one, and an existing znode is reported
``already-present``. ZooKeeper stamps restored znodes with a new ctime, mtime
and version 0: those cannot be restored. Which entries may be restored at all
is :mod:`zkjanitor.restore`'s business.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from zkjanitor.backup import BackupEntry
from zkjanitor.restore import REUSED_ID, Progress, RestoreAction, RestoreOutcome
from zkjanitor.zk.batch import (
    MAX_TRANSACTION_BYTES,
    MAX_TRANSACTION_OPS,
    REPLY_TIMEOUT_SECONDS,
    bounded_batches,
    connection_errors,
    create_op_bytes,
    error_name,
    run_pipelined,
)


class _Create(NamedTuple):
    """One znode to create: a backup entry (``entry`` is its index) or a missing parent."""

    path: str
    data: bytes
    entry: Optional[int]


class _ConnectionLost(Exception):
    """ZooKeeper went away mid-restore; the message names the kazoo error."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error_name(error))


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "/"


def _ancestors(path: str) -> List[str]:
    """Proper ancestors of ``path`` below the root, shallowest first: ``/a/b/c`` -> /a, /a/b."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: depth + 1]) for depth in range(len(parts))]


def _find_present(
    client: KazooClient,
    entries: Sequence[BackupEntry],
    wanted: Sequence[int],
    outcomes: Dict[int, RestoreOutcome],
) -> Set[str]:
    """Look up the ``wanted`` entries; record ``already-present`` and lookup failures.

    Returns the parents that exist. Raises :class:`_ConnectionLost` if the
    connection fails while looking.
    """
    by_parent: Dict[str, List[int]] = {}
    for index in wanted:
        by_parent.setdefault(_parent(entries[index].path), []).append(index)
    parents = list(by_parent)
    replies = run_pipelined(
        client, [partial(client.get_children_async, parent) for parent in parents]
    )
    lost = connection_errors(client)
    existing_parents: Set[str] = set()
    for parent, reply in zip(parents, replies):
        if isinstance(reply.error, lost):
            raise _ConnectionLost(reply.error)
        if isinstance(reply.error, NoNodeError):
            continue
        if reply.error is not None:
            for index in by_parent[parent]:
                outcomes[index] = RestoreOutcome(
                    entries[index],
                    RestoreAction.FAILED,
                    f"cannot list {parent}: {error_name(reply.error)}",
                )
            continue
        existing_parents.add(parent)
        children = set(reply.value)
        for index in by_parent[parent]:
            if entries[index].path.rpartition("/")[2] in children:
                outcomes[index] = RestoreOutcome(entries[index], RestoreAction.ALREADY_PRESENT)
    return existing_parents


def _missing_ancestors(
    client: KazooClient, wanted: Set[str], known_existing: Set[str]
) -> List[str]:
    """Those of ``wanted`` that do not exist. Raises :class:`_ConnectionLost`."""
    implied = {
        ancestor for path in known_existing for ancestor in _ancestors(path)
    } | known_existing
    to_check = sorted(wanted - implied)
    replies = run_pipelined(client, [partial(client.exists_async, path) for path in to_check])
    lost = connection_errors(client)
    missing = []
    for path, reply in zip(to_check, replies):
        if isinstance(reply.error, lost):
            raise _ConnectionLost(reply.error)
        # Any other error: try to create it; the create will report the real problem.
        if reply.error is not None or reply.value is None:
            missing.append(path)
    return missing


def _create_batch(
    client: KazooClient,
    batch: Sequence[_Create],
    entries: Sequence[BackupEntry],
    outcomes: Dict[int, RestoreOutcome],
) -> None:
    """Create one batch in a multi, else one by one, recording entry outcomes.

    Raises :class:`_ConnectionLost`.
    """
    lost = connection_errors(client)
    transaction = client.transaction()
    for create in batch:
        transaction.create(create.path, create.data)
    try:
        results = transaction.commit_async().get(timeout=REPLY_TIMEOUT_SECONDS)
    except lost as error:
        raise _ConnectionLost(error) from None
    except KazooException:
        results = []
    if len(results) == len(batch) and not any(isinstance(result, Exception) for result in results):
        for create in batch:
            if create.entry is not None:
                outcomes[create.entry] = RestoreOutcome(
                    entries[create.entry], RestoreAction.RESTORED
                )
        return
    replies = run_pipelined(client, [partial(client.create_async, c.path, c.data) for c in batch])
    connection_error: Optional[BaseException] = None
    for create, reply in zip(batch, replies):
        if isinstance(reply.error, lost):
            connection_error = connection_error or reply.error
        elif create.entry is None:
            continue  # a parent: if it failed, its children report why
        elif reply.error is None:
            outcomes[create.entry] = RestoreOutcome(entries[create.entry], RestoreAction.RESTORED)
        elif isinstance(reply.error, NodeExistsError):
            outcomes[create.entry] = RestoreOutcome(
                entries[create.entry], RestoreAction.ALREADY_PRESENT
            )
        else:
            detail = error_name(reply.error)
            if isinstance(reply.error, NoNodeError):
                detail += f": parent {_parent(create.path)} is missing"
            outcomes[create.entry] = RestoreOutcome(
                entries[create.entry], RestoreAction.FAILED, detail
            )
    if connection_error is not None:
        raise _ConnectionLost(connection_error)


def restore_backup(
    client: KazooClient,
    entries: Sequence[BackupEntry],
    *,
    apply: bool,
    progress: Optional[Progress] = None,
) -> List[RestoreOutcome]:
    """Restore every missing znode of ``entries`` (or, without ``apply``, say which would be).

    Returns one outcome per entry, in order. An entry the prune did not delete
    (:attr:`BackupEntry.deleted_by_prune` is false) is ``not-deleted``; an
    existing znode is never modified, whatever its data. ``progress(n)`` is
    called as entries are settled; its arguments add up to ``len(entries)``. If
    the connection to ZooKeeper fails, the unsettled entries are reported
    ``failed``: rerunning the restore is safe, as it skips the znodes that exist.
    """
    outcomes: Dict[int, RestoreOutcome] = {}
    for index, entry in enumerate(entries):
        if not entry.deleted_by_prune:
            outcomes[index] = RestoreOutcome(
                entry,
                RestoreAction.NOT_DELETED,
                f"the prune recorded {entry.outcome}: it did not delete this znode",
            )
    wanted = [index for index in range(len(entries)) if index not in outcomes]
    reported = 0

    def report_progress() -> None:
        nonlocal reported
        if progress is not None and len(outcomes) > reported:
            progress(len(outcomes) - reported)
        reported = len(outcomes)

    try:
        existing_parents = _find_present(client, entries, wanted, outcomes)
        _say_reused_ids(client, entries, outcomes)
        missing = [index for index in wanted if index not in outcomes]
        if not apply:
            for index in missing:
                outcomes[index] = RestoreOutcome(entries[index], RestoreAction.WOULD_RESTORE)
        report_progress()
        if apply and missing:
            _restore_missing(client, entries, missing, existing_parents, outcomes, report_progress)
    except _ConnectionLost as lost:
        detail = (
            f"not restored or result unknown: connection to ZooKeeper lost ({lost}); "
            "rerun the restore (it skips znodes that exist)"
        )
        for index in range(len(entries)):
            outcomes.setdefault(index, RestoreOutcome(entries[index], RestoreAction.FAILED, detail))
        report_progress()
    return [outcomes[index] for index in range(len(entries))]


def _say_reused_ids(client: KazooClient, entries: Sequence[BackupEntry], outcomes: Dict[int, RestoreOutcome]) -> None:
    """Mark the ``already-present`` entries whose znode holds other data now. Raises :class:`_ConnectionLost`."""
    present = [index for index, outcome in outcomes.items() if outcome.action == RestoreAction.ALREADY_PRESENT]
    replies = run_pipelined(client, [partial(client.get_async, entries[index].path) for index in present])
    lost = connection_errors(client)
    for index, reply in zip(present, replies):
        if isinstance(reply.error, lost):
            raise _ConnectionLost(reply.error)
        if reply.error is None and (reply.value[0] or b"") != entries[index].data:
            outcomes[index] = RestoreOutcome(entries[index], RestoreAction.ALREADY_PRESENT, REUSED_ID)


def _restore_missing(
    client: KazooClient,
    entries: Sequence[BackupEntry],
    missing: Sequence[int],
    existing_parents: Set[str],
    outcomes: Dict[int, RestoreOutcome],
    report_progress: Callable[[], None],
) -> None:
    """Create the ``missing`` entries and the parents they lack, parents first."""
    entry_paths = {entries[index].path for index in missing}
    wanted_ancestors = {
        ancestor for index in missing for ancestor in _ancestors(entries[index].path)
    } - entry_paths
    creates = [
        _Create(path, b"", None)
        for path in _missing_ancestors(client, wanted_ancestors, existing_parents)
    ]
    creates += [_Create(entries[index].path, entries[index].data, index) for index in missing]
    creates.sort(key=lambda create: (create.path.count("/"), create.path))
    chroot = client.chroot or ""
    for batch in bounded_batches(
        creates,
        op_bytes=lambda create: create_op_bytes(create.path, create.data, chroot),
        max_ops=MAX_TRANSACTION_OPS,
        max_bytes=MAX_TRANSACTION_BYTES,
    ):
        _create_batch(client, batch, entries, outcomes)
        report_progress()
