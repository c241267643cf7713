"""Which stale sessions a prune takes, and what became of each (docs/prune-and-restore.md).

:func:`select_for_prune` chooses, :func:`refusals` vets the choice (only
``/<prefix>/v1/<batch|interactive>/<canonical decimal id>`` paths that match
their session, each once), :func:`plan_prune` is the dry run. Deleting is a
store's job (:meth:`zkjanitor.store.SessionStore.delete`; for ZooKeeper,
:mod:`zkjanitor.zk.delete`), driven by :class:`zkjanitor.janitor.Janitor`,
which holds every rule of a prune together.
"""

from __future__ import annotations

from typing import Callable, Collection, Dict, List, NamedTuple, Optional, Sequence

from zkjanitor.model import SessionReport, SessionType, Verdict

Progress = Callable[[int], None]


class Outcome:
    """What happened to one selected session: the ``action`` of the prune JSON."""

    WOULD_DELETE = "would-delete"
    DELETED = "deleted"
    DELETED_VIA_LIVY = "deleted-via-livy"
    """Livy's own DELETE removed it (from Livy's memory and its znode), Livy having said it ended."""
    SKIPPED_LIVE = "skipped-live"
    """Asked again just before the delete, the evidence no longer says it ended (Livy: not terminal): kept."""
    SKIPPED_CHANGED = "skipped-changed"
    SKIPPED_GONE = "skipped-gone"
    FAILED = "failed"
    NOT_ATTEMPTED = "not-attempted"
    """The run stopped (connection lost, backup not writable, SIGTERM) before trying this one: it is intact."""
    ALL = (WOULD_DELETE, DELETED, DELETED_VIA_LIVY, SKIPPED_CHANGED, SKIPPED_GONE, SKIPPED_LIVE, FAILED, NOT_ATTEMPTED)


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
    created_before_ms: Optional[int] = None,
) -> List[SessionReport]:
    """The sessions to prune: oldest first (ties by type, then numeric id), at most ``limit``.

    Stale sessions whose age is at least ``older_than_seconds``; with
    ``include_corrupt``, also corrupt znodes whose age (for them, the time since
    the znode's creation) is at least that. Live and unknown sessions never.
    With ``created_before_ms``, a session stale by absence (no application
    found) is chosen only if its znode was created before then: younger than
    Livy's own app-lookup wait, it may still be being submitted. An ended
    application is evidence whatever the session's age.
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
        and (created_before_ms is None or report.app is not None or report.verdict is not Verdict.STALE
             or report.session.ctime_ms < created_before_ms)
    ]
    chosen.sort(
        key=lambda report: (-report.age_seconds, report.session.type.value, report.session.id)
    )
    return chosen if limit is None else chosen[:limit]


def _is_canonical_decimal(name: str) -> bool:
    return name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0"))


def refusals(selected: Sequence[SessionReport]) -> Dict[int, str]:
    """Index -> why that selected session must not be deleted (wrong shape, or listed twice)."""
    refused: Dict[int, str] = {}
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
            refused[index] = (
                f"refused: {session.path} is not a session znode "
                f"(/<prefix>{type_dir}/<id> with id {session.id}); zkjanitor never deletes it"
            )
        elif session.path in seen:
            refused[index] = "refused: listed twice in the selection; handled once"
        seen.add(session.path)
    return refused


def plan_prune(selected: Sequence[SessionReport]) -> PruneResult:
    """The dry run: ``would-delete`` for each selected session that apply would try."""
    refused = refusals(selected)
    return PruneResult(
        [
            PruneOutcome(report, Outcome.FAILED, refused[index])
            if index in refused
            else PruneOutcome(report, Outcome.WOULD_DELETE)
            for index, report in enumerate(selected)
        ]
    )
