"""One prune at a time per state store: a ZooKeeper lock outside Livy's tree.

The lock is kazoo's Lock recipe (an ephemeral sequential contender znode), so a
run that crashes frees it as soon as its ZooKeeper session expires. It lives at
``/zkjanitor/locks/<prefix>`` (relative to the connect string's chroot, like
Livy's own tree), with ``/`` in the prefix percent-encoded.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import socket
from datetime import datetime, timezone
from typing import Iterator, Optional, Tuple
from urllib.parse import quote

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError

from zkjanitor.errors import LockHeld, ZooKeeperUnavailable
from zkjanitor.zk.batch import error_name

LOCK_ROOT = "/zkjanitor/locks"
ACQUIRE_TIMEOUT_SECONDS = 2.0
"""How long to wait for a held lock (a finishing run may release it) and to retry on errors.

kazoo's non-blocking acquire takes no timeout and retries connection errors
forever, so a short blocking acquire is the bounded way to try once."""

# kazoo names contenders "<uuid>__lock__<10-digit sequence>".
_CONTENDER = re.compile(r"__lock__(-?\d{10})$")


def lock_path(prefix: str) -> str:
    """The lock znode for Livy key prefix ``prefix``: ``/zkjanitor/locks/a%2Fb`` for ``a/b``."""
    return f"{LOCK_ROOT}/{quote(prefix.strip('/'), safe='')}"


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
    store = "/" + prefix.strip("/")
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
    :class:`LockHeld` (exit 5) naming it. Raises :class:`ZooKeeperUnavailable`
    (exit 3) if the lock cannot be taken for another reason (connection, ACLs).
    """
    path = lock_path(prefix)
    lock = client.Lock(path, identifier)
    try:
        acquired = lock.acquire(blocking=True, timeout=ACQUIRE_TIMEOUT_SECONDS)
    except LockTimeout:
        raise LockHeld(_held_message(client, path, prefix)) from None
    except KazooException as error:
        raise ZooKeeperUnavailable(
            f"cannot take the prune lock {path}: {error_name(error)}"
        ) from None
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
