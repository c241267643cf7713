"""Choose stale sessions and delete their znodes, safely.

Safety rules (the contract's "Safety rules of prune --apply"):

* Only what :func:`select_for_prune` chose, and only znodes shaped like
  ``/<prefix>/v1/<batch|interactive>/<canonical decimal id>`` matching the
  session: anything else (``state``, ``0012``) is refused and reported failed.
* Every batch is in the backup, fsynced, before its deletes are sent; once
  ZooKeeper has answered, the batch's known outcomes are appended (fsynced),
  so restore re-creates only what this prune deleted, or may have deleted.
* Every delete is conditional on the znode version that was read, so a session
  Livy touched since the scan is skipped (``skipped-changed``), not deleted.
  Each batch is read again just before its deletes, so a znode Livy deleted and
  re-created meanwhile (version 0 again) is skipped too.
* A batch is one multi transaction (at most 1000 ops, well under 1 MB); if it
  fails (a changed or vanished znode rolls back the whole multi) the batch is
  retried once as individual version-checked deletes.
* On a connection loss or session expiry the run stops. Deletes whose result
  is unknown are checked with ``exists()`` once reconnected; the rest are
  reported ``failed`` with ``not attempted: <reason>``.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Callable, Collection, Dict, List, NamedTuple, Optional, Sequence, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError
from kazoo.protocol.states import ZnodeStat

from zkjanitor.backup import BackupWriter
from zkjanitor.errors import ZkJanitorError
from zkjanitor.model import SessionReport, SessionType, Verdict, Znode
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
from zkjanitor.zk.reader import read_children

Progress = Callable[[int], None]

REREAD_REQUEST_BYTES = 256 * 1024
"""Bound on one request that reads a batch again before deleting it (the server's limit is 1 MB)."""


class Outcome:
    """What happened to one selected session: the ``action`` of the prune JSON."""

    WOULD_DELETE = "would-delete"
    DELETED = "deleted"
    SKIPPED_CHANGED = "skipped-changed"
    SKIPPED_GONE = "skipped-gone"
    FAILED = "failed"
    ALL = (WOULD_DELETE, DELETED, SKIPPED_CHANGED, SKIPPED_GONE, FAILED)


class PruneOutcome(NamedTuple):
    """One selected session, its action (an :class:`Outcome` value) and why, if not plain.

    ``result_unknown`` marks a ``failed`` delete whose answer was lost with the
    connection: the znode may have been deleted. The backup records no outcome
    for it, so restore still treats it as deleted.
    """

    report: SessionReport
    action: str
    detail: Optional[str] = None
    result_unknown: bool = False


class PruneResult(NamedTuple):
    """Every selected session's outcome, in selection order.

    ``aborted`` says why the run stopped early (connection lost, backup not
    writable), else None.
    """

    outcomes: List[PruneOutcome]
    aborted: Optional[str] = None

    @property
    def counts(self) -> Dict[str, int]:
        """Number of sessions per action; every action is present, zero or not."""
        counts = dict.fromkeys(Outcome.ALL, 0)
        for outcome in self.outcomes:
            counts[outcome.action] += 1
        return counts


def select_for_prune(
    reports: Sequence[SessionReport],
    *,
    older_than_seconds: float,
    types: Collection[SessionType],
    limit: Optional[int] = None,
    include_corrupt: bool = False,
) -> List[SessionReport]:
    """The sessions to prune: oldest first, at most ``limit``.

    Stale sessions whose age is at least ``older_than_seconds``; with
    ``include_corrupt``, also corrupt znodes whose age (for them, the time since
    the znode's mtime) is at least that. Live and unknown sessions never.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    prunable = {Verdict.STALE, Verdict.CORRUPT} if include_corrupt else {Verdict.STALE}
    wanted_types = set(types)
    chosen = [
        report
        for report in reports
        if report.verdict in prunable
        and report.session.type in wanted_types
        and report.age_seconds >= older_than_seconds
    ]
    chosen.sort(
        key=lambda report: (-report.age_seconds, report.session.type.value, report.session.id)
    )
    return chosen if limit is None else chosen[:limit]


def _is_canonical_decimal(name: str) -> bool:
    return name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0"))


def _refusals(selected: Sequence[SessionReport]) -> Dict[int, str]:
    """Index -> why that selected session must not be deleted (wrong shape, or listed twice)."""
    refusals: Dict[int, str] = {}
    seen = set()
    for index, report in enumerate(selected):
        session = report.session
        parent, _, name = session.path.rpartition("/")
        type_dir = f"/v1/{session.type.value}"
        if not (
            _is_canonical_decimal(name)
            and int(name) == session.id
            and parent.startswith("/")
            and parent.endswith(type_dir)
            and len(parent) > len(type_dir)
        ):
            refusals[index] = (
                f"refused: {session.path} is not a session znode "
                f"(/<prefix>{type_dir}/<id> with id {session.id}); zkjanitor never deletes it"
            )
        elif session.path in seen:
            refusals[index] = "refused: listed twice in the selection; handled once"
        seen.add(session.path)
    return refusals


def plan_prune(selected: Sequence[SessionReport]) -> PruneResult:
    """The dry run: ``would-delete`` for each selected session that apply would try."""
    refusals = _refusals(selected)
    return PruneResult(
        [
            PruneOutcome(report, Outcome.FAILED, refusals[index])
            if index in refusals
            else PruneOutcome(report, Outcome.WOULD_DELETE)
            for index, report in enumerate(selected)
        ]
    )


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
            outcomes.append(PruneOutcome(report, Outcome.FAILED, f"not attempted: {reason}"))
    return outcomes, reason


def _as_now(client: KazooClient, reports: Sequence[SessionReport]) -> Dict[str, Optional[Znode]]:
    """Each report's znode as ZooKeeper holds it now (None: gone); unreadable ones are left out.

    Raises kazoo's connection errors (see :func:`read_children`).
    """
    names_by_parent: Dict[str, List[str]] = {}
    for report in reports:
        parent, _, name = report.session.path.rpartition("/")
        names_by_parent.setdefault(parent, []).append(name)
    # Each getData op in a multiRead request carries its full path: keep requests near 256 KB.
    longest = max(len(((client.chroot or "") + report.session.path).encode("utf-8")) for report in reports)
    per_request = max(1, min(len(reports), REREAD_REQUEST_BYTES // (longest + 16)))
    now: Dict[str, Optional[Znode]] = {}
    for parent, names in names_by_parent.items():
        result = read_children(client, parent, names, batch_size=per_request)
        now.update((znode.path, znode) for znode in result.znodes)
        now.update((path, None) for path in result.gone)
    return now


def _delete_batch(
    client: KazooClient, reports: Sequence[SessionReport]
) -> Tuple[List[PruneOutcome], Optional[str]]:
    """Read the batch again, then delete the znodes still as scanned; outcomes and an abort reason.

    A version-checked delete alone would remove a znode Livy deleted and
    re-created since the scan (a new znode starts at version 0 again): reading
    again (one multiRead) skips it, and any znode whose bytes changed.
    """
    try:
        now = _as_now(client, reports)
    except KazooException as error:
        reason = f"connection to ZooKeeper lost ({error_name(error)})"
        return [PruneOutcome(r, Outcome.FAILED, f"not attempted: {reason}") for r in reports], reason
    settled: Dict[int, PruneOutcome] = {}
    for index, report in enumerate(reports):
        session = report.session
        if session.path not in now:
            continue  # unreadable: the delete will report the server's error
        znode = now[session.path]
        if znode is None:
            settled[index] = PruneOutcome(report, Outcome.SKIPPED_GONE)
        elif (znode.version, znode.ctime_ms, znode.data) != (session.version, session.ctime_ms, session.data):
            settled[index] = PruneOutcome(report, Outcome.SKIPPED_CHANGED)
    remaining = [index for index in range(len(reports)) if index not in settled]
    aborted = None
    if remaining:
        outcomes, aborted = _delete_as_read(client, [reports[index] for index in remaining])
        settled.update(zip(remaining, outcomes))
    return [settled[index] for index in range(len(reports))], aborted


def _delete_as_read(
    client: KazooClient, reports: Sequence[SessionReport]
) -> Tuple[List[PruneOutcome], Optional[str]]:
    """Delete znodes in a multi, falling back to single deletes; outcomes and an abort reason."""
    transaction = client.transaction()
    for report in reports:
        transaction.delete(report.session.path, version=report.session.version)
    try:
        results = transaction.commit_async().get(timeout=REPLY_TIMEOUT_SECONDS)
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


def apply_prune(
    client: KazooClient,
    selected: Sequence[SessionReport],
    backup: BackupWriter,
    *,
    batch_size: int = 1000,
    pause_seconds: float = 0.0,
    progress: Optional[Progress] = None,
) -> PruneResult:
    """Delete the selected sessions' znodes, batch by batch, backing each batch up first.

    After each batch, its outcomes are recorded in the backup (see
    :mod:`zkjanitor.backup`); if that write fails the run stops there.

    Batches hold at most ``batch_size`` (capped at 1000) znodes and stay well
    under ZooKeeper's 1 MB request limit; ``pause_seconds`` is slept between
    batches to spare a busy ensemble. ``progress(n)`` is called as sessions
    are settled; its arguments add up to ``len(selected)``. The caller holds
    the prune lock and owns ``backup`` (closes it).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    settled: Dict[int, PruneOutcome] = {}
    refusals = _refusals(selected)
    for index, detail in refusals.items():
        settled[index] = PruneOutcome(selected[index], Outcome.FAILED, detail)
    if refusals and progress is not None:
        progress(len(refusals))

    chroot = client.chroot or ""
    batches = list(
        bounded_batches(
            [index for index in range(len(selected)) if index not in refusals],
            op_bytes=lambda index: delete_op_bytes(selected[index].session.path, chroot),
            max_ops=min(batch_size, MAX_TRANSACTION_OPS),
            max_bytes=MAX_TRANSACTION_BYTES,
        )
    )
    session_id = client.client_id
    aborted: Optional[str] = None
    for number, batch in enumerate(batches):
        reports = [selected[index] for index in batch]
        if aborted is None and number > 0 and pause_seconds > 0:
            time.sleep(pause_seconds)
        if aborted is None:
            aborted = _connection_problem(client, session_id)
        if aborted is None:
            try:
                backup.write(reports)
            except ZkJanitorError as error:
                aborted = f"backup write failed: {error}"
        if aborted is None:
            outcomes, aborted = _delete_batch(client, reports)
            recording_failed = _record_outcomes(backup, outcomes)
            aborted = aborted or recording_failed
        else:
            outcomes = [
                PruneOutcome(report, Outcome.FAILED, f"not attempted: {aborted}")
                for report in reports
            ]
        settled.update(zip(batch, outcomes))
        if progress is not None:
            progress(len(batch))
    return PruneResult([settled[index] for index in range(len(selected))], aborted)
