"""Read every child of a parent znode at ZooKeeper's speed, with bounded requests in flight.

Two ways to read, same results:

* ``multiread``: ZooKeeper's multiRead (>= 3.6), ``batch_size`` getData ops
  per request, a few requests pipelined: ~0.25 s for 40k znodes, ~3.5 s for 400k.
* ``pipelined``: one kazoo ``get_async`` per znode in a sliding window, for
  servers older than 3.6; kazoo's per-request Python cost makes it ~15x slower
  (~4.5 s for 40k, with zkjanitor's handler: zk/handler.py).

A znode deleted between listing and reading is *gone*, not an error; a znode
the server refuses (e.g. ``NoAuth``) is reported in ``errors``. Losing the
connection or the session raises a kazoo exception at once: the read is
incomplete and must not be mistaken for a full one.
"""

from __future__ import annotations

import weakref
from collections import deque
from enum import Enum
from typing import Any, Callable, Deque, List, NamedTuple, Optional, Sequence, Tuple, Union

from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionLoss,
    KazooException,
    NoNodeError,
    OperationTimeoutError,
    SessionExpiredError,
    UnimplementedError,
    ZookeeperError,
)
from kazoo.interfaces import IAsyncResult, IHandler

from zkjanitor.errors import ZooKeeperUnavailable
from zkjanitor.model import Znode
from zkjanitor.zk.multiread import ReadOutcome, multiread_async, server_supports_multiread

# Tuning, measured with 40k children of ~330 B on loopback (ZooKeeper 3.8 with its
# default globalOutstandingLimit, kazoo 2.11, 2 busy cores; medians of 7 runs):
# multiRead batch x in flight: 500x4 0.31 s, 1000x1 0.37 s, 1000x2 0.28 s,
# 1000x4 0.24 s, 1000x8 0.26 s, 2000x4 0.27 s, 3000x4 0.28 s. 1000 ops (~45 kB
# request, ~380 kB response) with 4 in flight is the best spot and keeps what the
# server buffers for this client near 1.5 MB. Pipelined gets (kazoo's own handler):
# 500 in flight 7.3 s, 2000 in flight 6.0 s; a sequential get loop 17 s. More pipelined gets in flight
# are a little faster, but once all clients together have more than
# globalOutstandingLimit (default 1000) requests outstanding, ZooKeeper throttles
# every client, Livy included: stay at 500.
DEFAULT_BATCH_SIZE = 1000
DEFAULT_MULTIREAD_IN_FLIGHT = 4
DEFAULT_PIPELINED_IN_FLIGHT = 500
PIPELINED_SETTLE_FRACTION = 5
"""Pipelined answers are collected 1/5 of the window (100 gets) at a time."""

RESPONSE_TIMEOUT_S = 30.0
"""Longest wait for one response. kazoo fails in-flight requests as soon as it
notices a lost connection (within 2/3 of the session timeout); this only guards
against a request kazoo never answers."""

# Failures of the connection or session, not of one znode: the read cannot go on.
_FATAL_ERRORS = (ConnectionLoss, SessionExpiredError, AuthFailedError, OperationTimeoutError)


class ReadMethod(str, Enum):
    """How :func:`read_children` reads; ``AUTO`` uses multiRead when the server has it."""

    AUTO = "auto"
    MULTIREAD = "multiread"
    PIPELINED = "pipelined"


class ReadResult(NamedTuple):
    """The outcome of reading a parent's children.

    ``znodes`` keeps the input order; ``gone`` lists paths deleted since they
    were listed; ``errors`` pairs a path with the server's short error name
    (e.g. ``"NoAuth"``); ``method`` is ``"multiread"`` or ``"pipelined"``.
    """

    znodes: List[Znode]
    gone: List[str]
    errors: List[Tuple[str, str]]
    method: str


ProgressCallback = Callable[[int], None]
ZnodeSink = Callable[[List[Znode]], None]

_multiread_support: "weakref.WeakKeyDictionary[KazooClient, bool]" = weakref.WeakKeyDictionary()


def read_children(
    client: KazooClient,
    parent: str,
    names: Sequence[Union[str, int]],
    *,
    method: str = ReadMethod.AUTO,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_in_flight: Optional[int] = None,
    progress: Optional[ProgressCallback] = None,
    sink: Optional[ZnodeSink] = None,
) -> ReadResult:
    """Read the data and stat of ``parent + "/" + name`` for every name (an int: a session id, its decimal name).

    Paths are made a batch at a time: a million of them would hold 80 MB.

    ``method`` is a :class:`ReadMethod` value; ``auto`` probes the server once
    per client object and remembers the answer. ``batch_size`` is the number
    of getData ops per multiRead request (and how often ``progress`` is called
    in pipelined mode). ``max_in_flight`` bounds the requests sent and not yet
    answered, as ZooKeeper's throttle counts them: multiRead requests, or
    single gets in pipelined mode; None means :data:`DEFAULT_MULTIREAD_IN_FLIGHT`
    or :data:`DEFAULT_PIPELINED_IN_FLIGHT`. ``progress(n)`` receives the number
    of znodes finished so far, about once per batch, and finally the total.
    ``sink(znodes)``, if given, receives the znodes as they are answered, in
    order, a batch at a time, instead of ``ReadResult.znodes`` (then empty):
    the caller works on one batch while the next ones are in flight.

    Raises a kazoo exception (``ConnectionLoss``, ``SessionExpiredError``, ...)
    if the connection or session fails before every znode is read,
    :class:`ZooKeeperUnavailable` for ``multiread`` on a server without it, and
    ``ValueError`` for an unknown method or a non-positive size.
    """
    if batch_size < 1 or (max_in_flight is not None and max_in_flight < 1):
        raise ValueError("batch_size and max_in_flight must be at least 1")
    chosen = resolve_read_method(client, ReadMethod(method))
    base = parent.rstrip("/")
    sorter = _OutcomeSorter(progress, sink)
    if chosen is ReadMethod.MULTIREAD:
        requests = max_in_flight or DEFAULT_MULTIREAD_IN_FLIGHT
        try:
            _read_by_multiread(client, base, names, batch_size, requests, sorter)
        except UnimplementedError:
            raise ZooKeeperUnavailable("this ZooKeeper server does not support multiRead (it is older than 3.6): "
                                       "use --read-method auto or pipelined") from None
    else:
        requests = max_in_flight or DEFAULT_PIPELINED_IN_FLIGHT
        _read_pipelined(client, base, names, requests, batch_size, sorter)
    sorter.report()
    return ReadResult(sorter.znodes, sorter.gone, sorter.errors, chosen.value)


def resolve_read_method(client: KazooClient, method: ReadMethod) -> ReadMethod:
    """``AUTO`` becomes ``MULTIREAD`` or ``PIPELINED``, probing the server once per client."""
    if method is not ReadMethod.AUTO:
        return method
    supported = _multiread_support.get(client)
    if supported is None:
        supported = server_supports_multiread(client)
        _multiread_support[client] = supported
    return ReadMethod.MULTIREAD if supported else ReadMethod.PIPELINED


class _OutcomeSorter:
    """Sorts each path's outcome into znodes, gone or errors, and reports progress."""

    def __init__(self, progress: Optional[ProgressCallback], sink: Optional[ZnodeSink] = None) -> None:
        self.znodes: List[Znode] = []
        self.gone: List[str] = []
        self.errors: List[Tuple[str, str]] = []
        self.finished = 0
        self._progress = progress
        self._reported = -1
        self._sink = sink

    def add(self, path: str, outcome: ReadOutcome) -> None:
        """File one path's outcome: its Znode or the server's exception for it."""
        self.finished += 1
        if type(outcome) is Znode:
            self.znodes.append(outcome)
        else:
            self._add_failure(path, outcome)

    def add_all(self, paths: Sequence[str], outcomes: Sequence[ReadOutcome]) -> None:
        """File the outcomes of ``paths``, in order (a whole multiRead answer at once)."""
        self.finished += len(outcomes)
        znodes = [outcome for outcome in outcomes if type(outcome) is Znode]
        if len(znodes) < len(outcomes):
            for path, outcome in zip(paths, outcomes):
                if type(outcome) is not Znode:
                    self._add_failure(path, outcome)
        self.znodes += znodes

    def _add_failure(self, path: str, error: KazooException) -> None:
        if isinstance(error, NoNodeError):
            self.gone.append(path)
        else:
            self.errors.append((path, _short_error_name(error)))

    def report(self) -> None:
        """Hand the znodes read so far to the sink; tell the progress callback how many are finished."""
        if self._sink is not None and self.znodes:
            znodes, self.znodes = self.znodes, []
            self._sink(znodes)
        if self._progress is not None and self.finished != self._reported:
            self._reported = self.finished
            self._progress(self.finished)


def _short_error_name(error: KazooException) -> str:
    """``NoAuthError()`` -> ``"NoAuth"``."""
    return type(error).__name__.removesuffix("Error")


def _await(async_result: IAsyncResult, handler: IHandler) -> Any:
    """The result's value within :data:`RESPONSE_TIMEOUT_S`, else ``ConnectionLoss``."""
    try:
        return async_result.get(timeout=RESPONSE_TIMEOUT_S)
    except handler.timeout_exception as exc:
        raise ConnectionLoss(f"no answer from ZooKeeper within {RESPONSE_TIMEOUT_S:g} s") from exc


def _read_by_multiread(
    client: KazooClient,
    base: str,
    names: Sequence[Union[str, int]],
    batch_size: int,
    max_requests: int,
    sorter: _OutcomeSorter,
) -> None:
    """Read ``base/name`` for each name in multiRead batches, at most ``max_requests`` unanswered at a time."""
    in_flight: Deque[Tuple[List[str], IAsyncResult]] = deque()

    def finish_oldest() -> None:
        batch, async_result = in_flight.popleft()
        sorter.add_all(batch, _await(async_result, client.handler))
        sorter.report()

    for start in range(0, len(names), batch_size):
        if len(in_flight) >= max_requests:
            finish_oldest()
        batch = [f"{base}/{name}" for name in names[start : start + batch_size]]
        in_flight.append((batch, multiread_async(client, batch)))
    while in_flight:
        finish_oldest()


def _read_pipelined(
    client: KazooClient,
    base: str,
    names: Sequence[Union[str, int]],
    window: int,
    report_every: int,
    sorter: _OutcomeSorter,
) -> None:
    """Read ``base/name`` for each name with one ``get_async`` each, at most ``window`` unanswered at a time.

    Answers are collected a fraction of the window at a time: ZooKeeper answers
    a session's requests in order, so once the youngest of them is answered
    the older ones are too, and one wait serves them all. Waiting for each
    answer in turn costs a thread hand-off per znode, a quarter of the time.
    """
    in_flight: Deque[Tuple[str, IAsyncResult]] = deque()
    settle_count = max(1, window // PIPELINED_SETTLE_FRACTION)

    def settle_oldest(count: int) -> None:
        in_flight[count - 1][1].wait(RESPONSE_TIMEOUT_S)
        for _ in range(count):
            path, async_result = in_flight.popleft()
            try:
                data, stat = _await(async_result, client.handler)
            except _FATAL_ERRORS:
                raise
            except ZookeeperError as error:
                sorter.add(path, error)
            else:
                sorter.add(path, Znode.from_stat(path, data, stat))
            if sorter.finished % report_every == 0:
                sorter.report()

    for name in names:
        path = f"{base}/{name}"
        if len(in_flight) >= window:
            settle_oldest(settle_count)
        in_flight.append((path, client.get_async(path)))
    while in_flight:
        settle_oldest(min(settle_count, len(in_flight)))
