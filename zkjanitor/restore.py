"""Restoring a prune's backup: which entries may be written where, and what restore did.

Only entries the prune deleted, or may have deleted, are restored: an entry
whose recorded outcome says the prune left it alone (Livy changed or deleted
the session itself, or the delete failed) is reported ``not-deleted`` and not
looked at, so restore never resurrects a session Livy removed on its own. A
store re-creates the rest (:meth:`zkjanitor.store.SessionStore.restore`; for
ZooKeeper, :mod:`zkjanitor.zk.restore`) and never touches a record that exists.

Restore writes only where the backup came from (:func:`confine`): session
records ``/<prefix>/v1/<batch|interactive>/<id>`` of the backup's own store,
never a ``state`` counter or any other path, and never into another store
unless the caller says so. An ``already-present`` record whose data differs
from the backup's says so: Livy has reused the id.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.backup import Backup, BackupEntry, store_of
from zkjanitor.errors import ConfigError
from zkjanitor.inventory import COUNTER_NODE, normalise_prefix

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


def restored_ids(entries: Sequence[BackupEntry]) -> Dict[str, int]:
    """The highest id restore re-creates (or would), per type directory name (``batch``, ``interactive``)."""
    highest: Dict[str, int] = {}
    for entry in entries:
        if entry.deleted_by_prune:
            _, kind, name = entry.path.rsplit("/", 2)
            highest[kind] = max(highest.get(kind, -1), int(name))
    return highest


def counter_warnings(prefix: str, highest: Mapping[str, int],
                     counters: Mapping[str, Tuple[Optional[int], Optional[str]]],
                     recorded: Mapping[str, Optional[int]]) -> List[str]:
    """Where the target's id counter would make Livy reuse a restored session's id (restore never writes it).

    ``highest`` is :func:`restored_ids`; ``counters`` each type's counter now,
    as ``(nextSessionId or None, problem or None)`` (:attr:`zkjanitor.inventory.ParentInfo.counter_problem`);
    ``recorded`` the counters the backup's header holds.
    """
    warnings = []
    for kind, top in sorted(highest.items()):
        path = f"/{prefix}/v1/{kind}/{COUNTER_NODE}"
        then = recorded.get(kind)
        was = f" (it was {then} when the backup was taken)" if isinstance(then, int) else ""
        counter, problem = counters.get(kind, (None, "missing"))
        if problem == "missing":
            warnings.append(f"{path} (Livy's id counter) is missing{was}: Livy would start at 0 and overwrite "
                            f"restored sessions; set it above {top} (never done by restore)")
        elif counter is not None and counter <= top:
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
