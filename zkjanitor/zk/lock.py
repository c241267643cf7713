"""One prune (or restore) at a time per state store: a ZooKeeper lock inside the store's root.

The lock is kazoo's Lock recipe (an ephemeral sequential contender znode), so a
run that crashes frees it as soon as its ZooKeeper session expires. It lives at
``/<prefix>/zkjanitor-lock``, beside Livy's ``v1`` (Livy reads only
``v1/<type>``). Being inside the store makes it the store's own: the same store
named ``--zk host/ch --prefix livy`` or ``--zk host --prefix ch/livy`` is one
znode, ``/ch/livy/zkjanitor-lock``, whichever chroot the client has; and taking
it needs no more rights than pruning does (a store whose ACLs let zkjanitor
delete sessions lets it create there), where a lock at ZooKeeper's root would
need a client without the chroot and rights on ``/``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import socket
from datetime import datetime, timezone
from typing import Iterator, List, Optional, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError

from zkjanitor.errors import LockHeld, ZooKeeperUnavailable
from zkjanitor.zk.batch import error_name

LOCK_NODE = "zkjanitor-lock"
ACQUIRE_TIMEOUT_SECONDS = 2.0
"""How long to wait for a held lock (a finishing run may release it) and to retry on errors.

kazoo's non-blocking acquire takes no timeout and retries connection errors
forever, so a short blocking acquire is the bounded way to try once."""

# kazoo names contenders "<uuid>__lock__<10-digit sequence>".
_CONTENDER = re.compile(r"__lock__(-?\d{10})$")


def lock_path(prefix: str) -> str:
    """The lock znode of the store with Livy key prefix ``prefix`` (relative to the client's chroot)."""
    return f"/{prefix.strip('/')}/{LOCK_NODE}"


def _store_name(client: KazooClient, prefix: str) -> str:
    """The store's absolute path: the client's chroot and the prefix, e.g. ``/ch/livy``."""
    return (client.chroot or "") + "/" + prefix.strip("/")


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def default_identifier() -> str:
    """Who is pruning: ``user@host pid N started <ISO-8601 UTC>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = f"uid{os.getuid()}"
    started = _iso_utc(datetime.now(timezone.utc))
    return f"{user}@{socket.gethostname()} pid {os.getpid()} started {started}"


def _lock_holder(client: KazooClient, path: str) -> Optional[Tuple[str, datetime]]:
    """The holder's identifier and when it took the lock, or None if the lock is free now."""
    contenders = sorted(
        (match.group(1), name)
        for name in client.get_children(path)
        for match in [_CONTENDER.search(name)]
        if match is not None
    )
    for _, name in contenders:
        try:
            data, stat = client.get(f"{path}/{name}")
        except NoNodeError:  # released while we looked; the next contender holds it
            continue
        identifier = data.decode("utf-8", "replace") or "(no identifier)"
        return identifier, datetime.fromtimestamp(stat.ctime / 1000.0, tz=timezone.utc)
    return None


def _held_message(client: KazooClient, path: str, prefix: str) -> str:
    store = _store_name(client, prefix)
    try:
        holder = _lock_holder(client, path)
    except KazooException as error:
        return (
            f"another prune holds the lock for {store} "
            f"({path}; holder unreadable: {error_name(error)})"
        )
    if holder is None:
        return f"another prune held the lock for {store} ({path}) a moment ago; try again"
    identifier, since = holder
    return (
        f"another prune holds the lock for {store} since {_iso_utc(since)}: {identifier}; "
        "it is released when that run ends (if it was killed or lost ZooKeeper, when its ZooKeeper session expires)"
    )


@contextlib.contextmanager
def prune_lock(client: KazooClient, prefix: str, *, identifier: str) -> Iterator[None]:
    """Hold the prune lock of ``prefix`` for the duration of the ``with`` block.

    Waits at most ``ACQUIRE_TIMEOUT_SECONDS`` for another holder, then raises
    :class:`LockHeld` (exit 5) naming it. The lock's znode is removed again when
    no other run waits for it, and so are the parents taking it created (under a
    wrong prefix), if still empty: the store is left as it was found. Raises :class:`ZooKeeperUnavailable`
    (exit 3) if the lock cannot be taken for another reason (connection, ACLs).
    """
    path = lock_path(prefix)
    try:
        created = _missing_ancestors(client, path)
    except KazooException as error:
        raise ZooKeeperUnavailable(f"cannot take the prune lock {path}: {error_name(error)}") from None
    for attempt in range(2):
        lock = client.Lock(path, identifier)
        try:
            acquired = lock.acquire(blocking=True, timeout=ACQUIRE_TIMEOUT_SECONDS)
        except LockTimeout:
            raise LockHeld(_held_message(client, path, prefix)) from None
        except NoNodeError:
            if attempt == 0:  # a finishing holder removed the lock's parent between our two steps
                continue
            raise ZooKeeperUnavailable(f"cannot take the prune lock {path}: NoNodeError") from None
        except KazooException as error:
            raise ZooKeeperUnavailable(
                f"cannot take the prune lock {path}: {error_name(error)}"
            ) from None
        break
    if not acquired:  # kazoo gave up retrying connection errors within the timeout
        raise ZooKeeperUnavailable(
            f"cannot take the prune lock {path}: the connection to ZooKeeper failed"
        )
    try:
        yield
    finally:
        # If the connection is gone, the ephemeral contender goes with the session.
        with contextlib.suppress(KazooException):
            lock.release()
            client.delete(path)  # leave the store as it was found; fails while another run waits
            for ancestor in created:  # made for the lock (a wrong --prefix): gone again unless something is in it
                client.delete(ancestor)


def _missing_ancestors(client: KazooClient, path: str) -> List[str]:
    """The ancestors of ``path`` that do not exist (taking the lock creates them), deepest first."""
    parts = path.strip("/").split("/")[:-1]
    ancestors = ["/" + "/".join(parts[:depth]) for depth in range(1, len(parts) + 1)]
    missing = [ancestor for ancestor in ancestors if client.exists(ancestor) is None]
    return missing[::-1]
