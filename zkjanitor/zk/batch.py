"""Bounded, pipelined writes to ZooKeeper: the shared plumbing of prune and restore.

A multi (transaction) must stay under the server's ``jute.maxbuffer`` (1 MB by
default) or the server drops the connection; ZooKeeper's own ``deleteall`` sends
at most 1000 ops per multi. Pipelined single requests are sent a window at a
time, because kazoo has no in-flight cap and servers throttle beyond
``globalOutstandingLimit`` (1000 by default).
"""

from __future__ import annotations

import time
from typing import (
    Any,
    Callable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
)

from kazoo.client import KazooClient
from kazoo.exceptions import (
    ConnectionLoss,
    KazooException,
    OperationTimeoutError,
    SessionExpiredError,
)
from kazoo.protocol.states import KeeperState

MAX_TRANSACTION_OPS = 1000
MAX_TRANSACTION_BYTES = 512 * 1024
"""Half of the server's default ``jute.maxbuffer``: room for headers and a smaller server limit."""

IN_FLIGHT_LIMIT = 200
REPLY_TIMEOUT_SECONDS = 60.0
"""How long to wait for ZooKeeper to answer one request or window of requests."""

RECONNECT_TIMEOUT_SECONDS = 30.0
"""How long to wait for kazoo to reconnect before giving up on verifying unknown results."""

# Per-op framing inside a multi request: MultiHeader (type, done, err) = 9 bytes,
# plus each string's and buffer's 4-byte length prefix and the int fields.
_MULTI_HEADER_BYTES = 9
_DELETE_FIXED_BYTES = _MULTI_HEADER_BYTES + 4 + 4
# Path and data length prefixes, flags, and one world:anyone ACL
# (vector length 4, perms 4, "world" 4+5, "anyone" 4+6).
_CREATE_FIXED_BYTES = _MULTI_HEADER_BYTES + 4 + 4 + 4 + 4 + 4 + 9 + 10

T = TypeVar("T")


class Reply(NamedTuple):
    """The answer to one pipelined request: its value, or the exception kazoo reported."""

    value: Any = None
    error: Optional[BaseException] = None


def delete_op_bytes(path: str, chroot: str = "") -> int:
    """Serialized size of one delete op in a multi request (the chroot is sent too)."""
    return _DELETE_FIXED_BYTES + len((chroot + path).encode("utf-8"))


def create_op_bytes(path: str, data: bytes, chroot: str = "") -> int:
    """Serialized size of one create op with the open ACL in a multi request."""
    return _CREATE_FIXED_BYTES + len((chroot + path).encode("utf-8")) + len(data)


def bounded_batches(
    items: Sequence[T], *, op_bytes: Callable[[T], int], max_ops: int, max_bytes: int
) -> Iterator[List[T]]:
    """Split ``items``, in order, into batches of at most ``max_ops`` items and ``max_bytes``.

    An item larger than ``max_bytes`` on its own goes alone in its batch.
    """
    if max_ops < 1:
        raise ValueError(f"max_ops must be at least 1, not {max_ops}")
    batch: List[T] = []
    batch_bytes = 0
    for item in items:
        size = op_bytes(item)
        if batch and (len(batch) >= max_ops or batch_bytes + size > max_bytes):
            yield batch
            batch, batch_bytes = [], 0
        batch.append(item)
        batch_bytes += size
    if batch:
        yield batch


def connection_errors(client: KazooClient) -> Tuple[Type[BaseException], ...]:
    """Errors after which the outcome of a sent request is unknown (it may have been applied)."""
    return (
        ConnectionLoss,
        SessionExpiredError,
        OperationTimeoutError,
        client.handler.timeout_exception,
    )


def error_name(error: BaseException) -> str:
    """The exception's class name, e.g. ``NoAuthError``: short and stable for reports."""
    return type(error).__name__


def wait_connected(client: KazooClient, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the client to be connected; return whether it is.

    Returns False at once when kazoo has stopped reconnecting (its bounded
    connection retries are spent: state ``CLOSED``), as it never will again.
    """
    deadline = time.monotonic() + timeout
    while not client.connected:
        if time.monotonic() >= deadline or client.client_state == KeeperState.CLOSED:
            return False
        time.sleep(0.05)
    return True


def run_pipelined(
    client: KazooClient,
    requests: Sequence[Callable[[], Any]],
    *,
    window: int = IN_FLIGHT_LIMIT,
    timeout: float = REPLY_TIMEOUT_SECONDS,
) -> List[Reply]:
    """Send ``requests`` (each starts one kazoo ``*_async`` call) in order, ``window`` at a time.

    Returns one :class:`Reply` per request sent. After a window in which the
    connection failed, no further window is sent, so the list may be shorter
    than ``requests``: the missing tail was never sent. ZooKeeper applies one
    session's requests in order, so a later request observes earlier ones.
    """
    lost = connection_errors(client)
    replies: List[Reply] = []
    for start in range(0, len(requests), window):
        pending = [request() for request in requests[start : start + window]]
        deadline = time.monotonic() + timeout
        connection_failed = False
        for async_result in pending:
            try:
                value = async_result.get(timeout=max(0.0, deadline - time.monotonic()))
            except (KazooException, client.handler.timeout_exception) as error:
                replies.append(Reply(error=error))
                connection_failed = connection_failed or isinstance(error, lost)
            else:
                replies.append(Reply(value=value))
        if connection_failed:
            break
    return replies
