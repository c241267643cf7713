"""Deleting selected sessions' znodes from ZooKeeper, safely (:meth:`zkjanitor.zk.store.ZooKeeperStore.delete`).

Safety rules (docs/contract.md, "Safety rules of prune --apply"):

* Only what :func:`zkjanitor.prune.select_for_prune` chose, and only znodes shaped like
  ``/<prefix>/v1/<batch|interactive>/<canonical decimal id>`` matching the
  session: anything else (``state``, ``0012``) is refused and reported failed.
* Every batch is in the backup, fsynced, before its deletes are sent; once
  ZooKeeper has answered, the batch's known outcomes are appended (fsynced),
  so restore re-creates only what this prune deleted, or may have deleted.
* Every delete is conditional on the znode version that was read, so a session
  Livy touched since the scan is skipped (``skipped-changed``), not deleted.
  Each batch is read again after its backup and shortly before its deletes, so
  a znode Livy deleted and re-created meanwhile (version 0 again) is skipped too.
* A batch is one multi transaction (at most 1000 ops, well under 1 MB); if it
  fails (a changed or vanished znode rolls back the whole multi) the batch is
  retried once as individual version-checked deletes.
* On a connection loss or session expiry the run stops. Deletes whose result
  is unknown are checked with ``exists()`` once reconnected; the rest are
  reported ``not-attempted`` with the reason.
* Batches overlap, with one multi in flight at a time: while a batch's deletes
  are in flight, the next batch is backed up and its re-read sent (ZooKeeper
  answers a session's requests in order, so the re-read sees those deletes).
  Its deletes are sent once the batch before is settled and its outcomes
  recorded. A run that stops there leaves that next batch in the backup, with
  ``failed`` outcomes. With ``pause_seconds``, batches do not overlap.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.states import ZnodeStat

from zkjanitor.backup import BackupWriter
from zkjanitor.errors import ZkJanitorError
from zkjanitor.model import Session, SessionReport, Znode
from zkjanitor.prune import Outcome, OutcomeList, Progress, PruneOutcome, PruneResult, Refusals
from zkjanitor.zk.batch import (
    MAX_TRANSACTION_BYTES,
    MAX_TRANSACTION_OPS,
    RECONNECT_TIMEOUT_SECONDS,
    REPLY_TIMEOUT_SECONDS,
    Reply,
    bounded_batches,
    connection_errors,
    delete_op_bytes,
    error_name,
    run_pipelined,
    wait_connected,
)
from zkjanitor.zk.multiread import ReadOutcome, multiread_async
from zkjanitor.zk.reader import ReadMethod, resolve_read_method

REREAD_REQUEST_BYTES = 256 * 1024
"""Bound on one request that reads a batch again before deleting it (the server's limit is 1 MB)."""


def _connection_problem(
    client: KazooClient, session_id: Optional[Tuple[int, bytes]]
) -> Optional[str]:
    """Why the run must stop before sending more deletes, or None."""
    if not client.connected:
        return "connection to ZooKeeper lost"
    if client.client_id != session_id:
        return "ZooKeeper session expired (the prune lock was released with it)"
    return None


def _unchanged(stat: Optional[ZnodeStat], report: SessionReport) -> bool:
    """The znode is still the one that was read (a re-created znode has a new ctime)."""
    session = report.session
    return stat is not None and stat.version == session.version and stat.ctime == session.ctime_ms


def _same_as_scanned(znode: Znode, session: Session) -> bool:
    """The znode re-read is the one scanned: same version, ctime (not re-created) and bytes."""
    return (
        znode.version == session.version
        and znode.ctime_ms == session.ctime_ms
        and znode.data == session.data
    )


def _verify_unknown(
    client: KazooClient, reports: Sequence[SessionReport], error: BaseException, *, atomic: bool
) -> Tuple[List[PruneOutcome], str]:
    """Settle deletes whose answer was lost with the connection, by looking at the znodes.

    ``atomic`` means the deletes were one multi: all or none applied, so one
    znode still unchanged proves the others were removed by someone else.
    """
    reason = f"connection to ZooKeeper lost ({error_name(error)})"
    unknown = (
        f"result unknown after {reason}; check whether the znode still exists (it is in the backup)"
    )
    if not wait_connected(client, RECONNECT_TIMEOUT_SECONDS):
        return [PruneOutcome(report, Outcome.FAILED, unknown, True) for report in reports], reason
    replies = run_pipelined(client, [partial(client.exists_async, r.session.path) for r in reports])
    applied = not atomic or not any(
        reply.error is None and _unchanged(reply.value, report)
        for report, reply in zip(reports, replies)
    )
    outcomes = []
    for index, report in enumerate(reports):
        reply = replies[index] if index < len(replies) else None
        if reply is None or reply.error is not None:
            outcomes.append(PruneOutcome(report, Outcome.FAILED, unknown, True))
        elif reply.value is None:
            outcomes.append(
                PruneOutcome(report, Outcome.DELETED, f"confirmed gone after {reason}")
                if applied
                else PruneOutcome(report, Outcome.SKIPPED_GONE)
            )
        elif _unchanged(reply.value, report):
            outcomes.append(
                PruneOutcome(report, Outcome.FAILED, f"not deleted: {reason}; the znode is intact")
            )
        else:
            outcomes.append(PruneOutcome(report, Outcome.SKIPPED_CHANGED))
    return outcomes, reason


def _settle_single(report: SessionReport, reply: Reply) -> PruneOutcome:
    """Map one version-checked delete's answer to an outcome."""
    if reply.error is None:
        return PruneOutcome(report, Outcome.DELETED)
    if isinstance(reply.error, BadVersionError):
        return PruneOutcome(report, Outcome.SKIPPED_CHANGED)
    if isinstance(reply.error, NoNodeError):
        return PruneOutcome(report, Outcome.SKIPPED_GONE)
    return PruneOutcome(report, Outcome.FAILED, error_name(reply.error))


def _delete_one_by_one(
    client: KazooClient, reports: Sequence[SessionReport]
) -> Tuple[List[PruneOutcome], Optional[str]]:
    """Pipelined single version-checked deletes; outcomes in order, and an abort reason."""
    replies = run_pipelined(
        client, [partial(client.delete_async, r.session.path, r.session.version) for r in reports]
    )
    lost = connection_errors(client)
    connection_error = next((r.error for r in replies if isinstance(r.error, lost)), None)
    if connection_error is None:
        return [_settle_single(report, reply) for report, reply in zip(reports, replies)], None
    uncertain = [index for index, reply in enumerate(replies) if isinstance(reply.error, lost)]
    verified, reason = _verify_unknown(
        client, [reports[index] for index in uncertain], connection_error, atomic=False
    )
    by_index = dict(zip(uncertain, verified))
    outcomes = []
    for index, report in enumerate(reports):
        if index in by_index:
            outcomes.append(by_index[index])
        elif index < len(replies):
            outcomes.append(_settle_single(report, replies[index]))
        else:  # never sent: run_pipelined stops after a connection failure
            outcomes.append(PruneOutcome(report, Outcome.NOT_ATTEMPTED, reason))
    return outcomes, reason


def _send_reread(client: KazooClient, paths: Sequence[str],
                 read_method: ReadMethod) -> Callable[[], List[ReadOutcome]]:
    """Send a read of ``paths``; the returned function waits for it: each path's outcome, in order.

    ZooKeeper answers one session's requests in order, so the read sees every
    delete sent before it. The function raises kazoo's connection errors.
    Without multiRead (ZooKeeper < 3.6) the function itself reads, a get per path.
    """
    if resolve_read_method(client, read_method) is not ReadMethod.MULTIREAD:
        return partial(_read_one_by_one, client, paths)
    # Each getData op carries its full path: keep requests near REREAD_REQUEST_BYTES.
    longest = max(len(((client.chroot or "") + path).encode("utf-8")) for path in paths)
    per_request = max(1, REREAD_REQUEST_BYTES // (longest + 16))
    requests = [
        multiread_async(client, paths[start : start + per_request])
        for start in range(0, len(paths), per_request)
    ]
    return lambda: [
        outcome for request in requests for outcome in request.get(timeout=REPLY_TIMEOUT_SECONDS)
    ]


def _read_one_by_one(client: KazooClient, paths: Sequence[str]) -> List[ReadOutcome]:
    """Each path's outcome, read with pipelined gets; raises kazoo's connection errors."""
    replies = run_pipelined(client, [partial(client.get_async, path) for path in paths])
    lost = connection_errors(client)
    outcomes: List[ReadOutcome] = []
    for path, reply in zip(paths, replies):
        if isinstance(reply.error, lost):
            raise reply.error
        if reply.error is not None:
            outcomes.append(reply.error)
        else:
            data, stat = reply.value
            outcomes.append(Znode.from_stat(path, data, stat))
    return outcomes


def _settle_transaction(
    client: KazooClient, reports: Sequence[SessionReport], sent: IAsyncResult
) -> Tuple[List[PruneOutcome], Optional[str]]:
    """Wait for a sent multi of deletes, falling back to single deletes; outcomes and an abort reason."""
    try:
        results = sent.get(timeout=REPLY_TIMEOUT_SECONDS)
    except connection_errors(client) as error:
        return _verify_unknown(client, reports, error, atomic=True)
    except KazooException:
        # A request-level refusal: the single deletes will name each znode's error.
        return _delete_one_by_one(client, reports)
    if len(results) == len(reports) and all(result is True for result in results):
        return [PruneOutcome(report, Outcome.DELETED) for report in reports], None
    # A multi fails as a whole (e.g. one znode changed): nothing was applied.
    return _delete_one_by_one(client, reports)


def _record_outcomes(backup: BackupWriter, outcomes: Sequence[PruneOutcome]) -> Optional[str]:
    """Append the known outcomes of a batch to the backup; why the run must stop, or None."""
    try:
        backup.record_outcomes(
            [
                (outcome.report.session.path, outcome.action, outcome.detail)
                for outcome in outcomes
                if not outcome.result_unknown
            ]
        )
    except ZkJanitorError as error:
        return f"backup write failed: {error}"
    return None


class _Batch:
    """One batch of selected sessions on its way through backup, re-read, deletes and record."""

    def __init__(self, indexes: List[int], reports: List[SessionReport]) -> None:
        self.indexes = indexes
        self.reports = reports
        self.backed_up = False
        self.reread: Optional[Callable[[], List[ReadOutcome]]] = None
        self.outcomes: Dict[int, PruneOutcome] = {}
        """Position in the batch -> outcome, as each becomes known."""
        self.deleting: List[int] = []
        """Positions of the znodes whose deletes ``deletes`` carries."""
        self.deletes: Optional[IAsyncResult] = None


class _BatchSteps:
    """What :func:`delete_sessions` does with one batch, step by step; ``aborted`` says why it stopped."""

    def __init__(self, client: KazooClient, backup: BackupWriter, progress: Optional[Progress],
                 read_method: ReadMethod) -> None:
        self.client = client
        self.read_method = read_method
        self.backup = backup
        self.progress = progress
        self.session_id = client.client_id
        self.aborted: Optional[str] = None

    def back_up_and_reread(self, batch: _Batch) -> None:
        """Append the batch to the backup (fsynced), then send its re-read; nothing once stopped."""
        self.aborted = self.aborted or _connection_problem(self.client, self.session_id)
        if self.aborted is not None:
            return
        try:
            self.backup.write(batch.reports)
        except ZkJanitorError as error:
            self.aborted = f"backup write failed: {error}"
            return
        batch.backed_up = True
        try:
            batch.reread = _send_reread(self.client, [report.session.path for report in batch.reports],
                                        self.read_method)
        except KazooException as error:
            self.aborted = f"connection to ZooKeeper lost ({error_name(error)})"

    def send_deletes(self, batch: _Batch) -> None:
        """Wait for the re-read; send one multi deleting the znodes still as scanned.

        A version-checked delete alone would remove a znode Livy deleted and
        re-created since the scan (a new znode starts at version 0 again): the
        re-read skips it, and any znode whose bytes changed.
        """
        self.aborted = self.aborted or _connection_problem(self.client, self.session_id)
        if self.aborted is not None or batch.reread is None:
            return
        try:
            now = batch.reread()
        except (KazooException, self.client.handler.timeout_exception) as error:
            self.aborted = f"connection to ZooKeeper lost ({error_name(error)})"
            return
        transaction = self.client.transaction()
        for position, (report, outcome) in enumerate(zip(batch.reports, now)):
            session = report.session
            if isinstance(outcome, NoNodeError):
                batch.outcomes[position] = PruneOutcome(report, Outcome.SKIPPED_GONE)
                continue
            if type(outcome) is Znode and not _same_as_scanned(outcome, session):
                batch.outcomes[position] = PruneOutcome(report, Outcome.SKIPPED_CHANGED)
                continue
            # As scanned, or unreadable: then the delete reports the server's error.
            batch.deleting.append(position)
            transaction.delete(session.path, version=session.version)
        if batch.deleting:
            batch.deletes = transaction.commit_async()

    def settle(self, batch: _Batch) -> List[PruneOutcome]:
        """Wait for the batch's deletes, record its known outcomes in the backup, report progress.

        Znodes not sent for deletion because the run stopped are ``not-attempted``,
        with why.
        """
        if batch.deletes is not None:
            outcomes, aborted = _settle_transaction(
                self.client, [batch.reports[position] for position in batch.deleting], batch.deletes
            )
            batch.outcomes.update(zip(batch.deleting, outcomes))
            # What this batch's deletes met explains the stop better than what preparing the next
            # batch noticed meanwhile (often the same lost connection, seen without its cause).
            self.aborted = aborted or self.aborted
        outcomes = [
            batch.outcomes.get(position)
            or PruneOutcome(report, Outcome.NOT_ATTEMPTED, self.aborted)
            for position, report in enumerate(batch.reports)
        ]
        if batch.backed_up:
            recording_failed = _record_outcomes(self.backup, outcomes)
            self.aborted = self.aborted or recording_failed
        if self.progress is not None:
            self.progress(len(batch.reports))
        return outcomes


def delete_sessions(
    client: KazooClient,
    selected: Sequence[SessionReport],
    backup: BackupWriter,
    *,
    batch_size: int = 1000,
    pause_seconds: float = 0.0,
    progress: Optional[Progress] = None,
    stop_requested: Callable[[], Optional[str]] = lambda: None,
    read_method: ReadMethod = ReadMethod.AUTO,
) -> PruneResult:
    """Delete the selected sessions' znodes, batch by batch, backing each batch up first.

    After each batch, its outcomes are recorded in the backup (see
    :mod:`zkjanitor.backup`); if that write fails the run stops there.
    While a batch's deletes are in flight, the next batch is backed up and its
    re-read sent (see the module docstring).

    Batches hold at most ``batch_size`` (capped at 1000) znodes and stay well
    under ZooKeeper's 1 MB request limit; ``pause_seconds`` is slept between
    batches to spare a busy ensemble, and then batches do not overlap.
    ``progress(n)`` is called as sessions are settled; its arguments add up to
    ``len(selected)``. ``read_method`` is how each batch is read again (the
    scan's, so a client already probed is not probed again mid-prune).
    ``stop_requested()`` is asked before each batch's deletes; when it says
    why (e.g. SIGTERM), the run stops at that batch boundary and the rest is
    ``not-attempted``. The caller holds the prune lock and owns ``backup``
    (closes it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    settled = OutcomeList(selected)
    check = Refusals()

    def deletable(index: int, report: SessionReport) -> bool:
        why = check.why(report)
        if why is None:
            return True
        settled.set(index, Outcome.FAILED, why)
        if progress is not None:
            progress(1)
        return False

    steps = _BatchSteps(client, backup, progress, read_method)
    overlap = pause_seconds <= 0
    batches = _batches(selected, deletable, min(batch_size, MAX_TRANSACTION_OPS), client.chroot or "")
    batch = next(batches, None)
    if batch is not None:
        steps.back_up_and_reread(batch)
    while batch is not None:
        following = next(batches, None)
        steps.aborted = steps.aborted or stop_requested()
        steps.send_deletes(batch)
        if following is not None and overlap:
            steps.back_up_and_reread(following)
        for index, outcome in zip(batch.indexes, steps.settle(batch)):
            settled.set(index, outcome.action, outcome.detail, outcome.result_unknown)
        if following is not None and not overlap:
            if steps.aborted is None:
                time.sleep(pause_seconds)
            steps.back_up_and_reread(following)
        batch = following
    return PruneResult(settled, steps.aborted)


def _batches(selected: Sequence[SessionReport], deletable: Callable[[int, SessionReport], bool], max_ops: int,
             chroot: str) -> Iterator[_Batch]:
    """The ``deletable`` sessions in batches of at most ``max_ops`` deletes and well under 1 MB.

    Made as they are needed, and let go once settled: a batch's re-read holds
    every znode's bytes, and each report is read once from the selection (a spool).
    """
    for start in range(0, len(selected), max_ops):
        pairs = [(index, selected[index]) for index in range(start, min(start + max_ops, len(selected)))]
        pairs = [(index, report) for index, report in pairs if deletable(index, report)]
        for chunk in bounded_batches(pairs, op_bytes=lambda pair: delete_op_bytes(pair[1].session.path, chroot),
                                     max_ops=max_ops, max_bytes=MAX_TRANSACTION_BYTES):
            yield _Batch([index for index, _ in chunk], [report for _, report in chunk])
