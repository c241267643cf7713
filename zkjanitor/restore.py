"""Re-create znodes from a prune backup, never touching a znode that exists.

Only entries the prune deleted, or may have deleted, are restored: an entry
whose recorded outcome says the prune left it alone (Livy changed or deleted
the session itself, or the delete failed) is reported ``not-deleted`` and not
looked at, so restore never resurrects a session Livy removed on its own.

Existence is read with one ``get_children`` per parent; missing znodes are
created with their original bytes in multi transactions (bounded in ops and
bytes), after any missing parents, which get empty data as Curator gives them.
If a transaction fails (say Livy created one of the znodes meanwhile) its
creates are retried one by one, and an existing znode is reported
``already-present``. ZooKeeper stamps restored znodes with a new ctime, mtime
and version 0: those cannot be restored.

Restore writes only where the backup came from (:func:`confine`): session
znodes ``/<prefix>/v1/<batch|interactive>/<id>`` of the backup's own store,
never a ``state`` counter or any other path, and never into another store
unless the caller says so. An ``already-present`` znode whose data differs
from the backup's says so: Livy has reused the id.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError

from zkjanitor.backup import Backup, BackupEntry, store_of
from zkjanitor.decoder import decode_counter
from zkjanitor.errors import ConfigError
from zkjanitor.inventory import COUNTER_NODE, normalise_prefix
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

Progress = Callable[[int], None]

REUSED_ID = "the id was reused: the znode holds other data now (left as it is)"
SCALA_INT_MAX = 2**31 - 1
SHOWN_REFUSALS = 3


def confine(backup: Backup, *, target_store: str, target_prefix: str, into_other_store: bool) -> List[BackupEntry]:
    """The backup's entries, checked to be session znodes of its own store, with paths for the target store.

    ``target_store`` is the absolute path restore would write into (chroot and
    prefix), ``target_prefix`` its prefix as the client sees it. Raises
    :class:`ConfigError` when the backup is of another store (unless
    ``into_other_store``: then the paths are moved under ``target_prefix``),
    when its store cannot be told, or when any line is not a session znode of
    it (a ``state`` counter, ``/zookeeper/...``): a backup zkjanitor wrote
    never holds one, so a hand-edited or foreign file is refused whole.
    """
    header = backup.header
    prefix = header.get("prefix")
    if not isinstance(prefix, str) or not isinstance(header.get("zookeeper", ""), str):
        raise ConfigError("the backup's header names no prefix, so its store cannot be told: refusing to restore")
    try:
        prefix = normalise_prefix(prefix)
    except ConfigError as error:
        raise ConfigError(f"the backup's header has an {error}: refusing to restore") from None
    store = header.get("store") or store_of(header.get("zookeeper", ""), prefix)
    if store != target_store and not into_other_store:
        raise ConfigError(
            f"the backup is of the store {store}; restoring into {target_store} would write into another "
            "store: check --zk (its chroot) and --prefix, or pass --into-other-store to do that deliberately"
        )
    session_path = re.compile(rf"/{re.escape(prefix)}/v1/(batch|interactive)/(0|[1-9][0-9]{{0,9}})")
    outside = [entry.path for entry in backup.entries
               if not (match := session_path.fullmatch(entry.path)) or int(match.group(2)) > SCALA_INT_MAX]
    if outside:
        shown = ", ".join(outside[:SHOWN_REFUSALS]) + (f" and {len(outside) - SHOWN_REFUSALS} more"
                                                       if len(outside) > SHOWN_REFUSALS else "")
        raise ConfigError(
            f"refusing to restore: {len(outside)} line(s) of the backup are not session znodes of its store "
            f"{store} (/{prefix}/v1/<batch|interactive>/<id>): {shown}; a backup zkjanitor wrote never holds them"
        )
    if prefix == target_prefix:
        return list(backup.entries)
    cut = len(prefix) + 1
    return [entry._replace(path=f"/{target_prefix}{entry.path[cut:]}") for entry in backup.entries]


def counter_warnings(client: KazooClient, prefix: str, entries: Sequence[BackupEntry],
                     recorded: Dict[str, Optional[int]]) -> List[str]:
    """Where the target's id counter would make Livy reuse a restored session's id (restore never writes it)."""
    highest: Dict[str, int] = {}
    for entry in entries:
        if entry.deleted_by_prune:
            _, kind, name = entry.path.rsplit("/", 2)
            highest[kind] = max(highest.get(kind, -1), int(name))
    warnings = []
    for kind, top in sorted(highest.items()):
        path = f"/{prefix}/v1/{kind}/{COUNTER_NODE}"
        then = recorded.get(kind)
        was = f" (it was {then} when the backup was taken)" if isinstance(then, int) else ""
        try:
            counter = decode_counter(client.get(path)[0])
        except NoNodeError:
            warnings.append(f"{path} (Livy's id counter) is missing{was}: Livy would start at 0 and overwrite "
                            f"restored sessions; set it above {top} (never done by restore)")
            continue
        if counter is not None and counter <= top:
            warnings.append(f"{path} (Livy's id counter) is {counter}{was}, not above the restored id {top}: Livy "
                            f"would reuse ids and overwrite restored sessions; set it above {top}")
    return warnings


class RestoreAction:
    """What restore did, or would do, with one backup entry."""

    WOULD_RESTORE = "would-restore"
    RESTORED = "restored"
    ALREADY_PRESENT = "already-present"
    NOT_DELETED = "not-deleted"
    FAILED = "failed"
    ALL = (WOULD_RESTORE, RESTORED, ALREADY_PRESENT, NOT_DELETED, FAILED)


class RestoreOutcome(NamedTuple):
    """One backup entry, its action (a :class:`RestoreAction` value) and why, if not plain."""

    entry: BackupEntry
    action: str
    detail: Optional[str] = None


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
