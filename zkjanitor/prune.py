"""Which stale sessions a prune takes, and what became of each (docs/prune-and-restore.md).

:func:`select_for_prune` chooses, :func:`refusals` vets the choice (only
``/<prefix>/v1/<batch|interactive>/<canonical decimal id>`` paths that match
their session, each once), :func:`plan_prune` is the dry run. Deleting is a
store's job (:meth:`zkjanitor.store.SessionStore.delete`; for ZooKeeper,
:mod:`zkjanitor.zk.delete`), driven by :class:`zkjanitor.janitor.Janitor`,
which holds every rule of a prune together.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import (
    Callable,
    Collection,
    Dict,
    Iterator,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
)

from zkjanitor.model import SessionReport, SessionType, Verdict
from zkjanitor.spool import LazySequence, keys_of, subset

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


class OutcomeList(LazySequence[PruneOutcome]):
    """The outcomes of a selection, in its order, kept as an action code each (and the few details).

    Each :class:`PruneOutcome` is made when asked for, with its report read from
    ``selected`` (a :class:`~zkjanitor.spool.ReportSpool`'s view, at a million
    sessions): the outcomes of a prune never hold its reports. Every session
    starts as ``default``; :meth:`set` records what became of it.
    """

    def __init__(self, selected: Sequence[SessionReport], default: str = Outcome.NOT_ATTEMPTED) -> None:
        self.selected = selected
        self._actions = array("b", [_ACTION_CODES[default]]) * len(selected)
        self._details: Dict[int, Tuple[Optional[str], bool]] = {}

    def set(self, index: int, action: str, detail: Optional[str] = None, result_unknown: bool = False) -> None:
        self._actions[index] = _ACTION_CODES[action]
        if detail is not None or result_unknown:
            self._details[index] = (detail, result_unknown)
        else:
            self._details.pop(index, None)

    def entry(self, index: int) -> Tuple[str, Optional[str], bool]:
        """``(action, detail, result_unknown)`` of one session, without reading its report."""
        detail, unknown = self._details.get(index, (None, False))
        return Outcome.ALL[self._actions[index]], detail, unknown

    def __len__(self) -> int:
        return len(self._actions)

    def _item(self, index: int) -> PruneOutcome:
        return PruneOutcome(self.selected[index], *self.entry(index))

    def counts(self) -> Dict[str, int]:
        counts = dict.fromkeys(Outcome.ALL, 0)
        for code, n in Counter(self._actions).items():
            counts[Outcome.ALL[code]] += n
        return counts


_ACTION_CODES = {action: code for code, action in enumerate(Outcome.ALL)}


class PruneResult(NamedTuple):
    """Every selected session's outcome, in selection order (a list, or an :class:`OutcomeList`).

    ``aborted`` says why the run stopped early (connection lost, backup not
    writable), else None.
    """

    outcomes: Sequence[PruneOutcome]
    aborted: Optional[str] = None

    @property
    def counts(self) -> Dict[str, int]:
        """Number of sessions per action; every action is present, zero or not."""
        if isinstance(self.outcomes, OutcomeList):
            return self.outcomes.counts()
        counts = dict.fromkeys(Outcome.ALL, 0)
        for outcome in self.outcomes:
            counts[outcome.action] += 1
        return counts


def entries(outcomes: Sequence[PruneOutcome]) -> Iterator[Tuple[str, Optional[str], bool]]:
    """Each outcome's ``(action, detail, result_unknown)``, in order, reading no report of an :class:`OutcomeList`."""
    if isinstance(outcomes, OutcomeList):
        return map(outcomes.entry, range(len(outcomes)))
    return ((outcome.action, outcome.detail, outcome.result_unknown) for outcome in outcomes)


def select_for_prune(
    reports: Sequence[SessionReport],
    *,
    older_than_seconds: float,
    types: Collection[SessionType],
    limit: Optional[int] = None,
    include_corrupt: bool = False,
    created_before_ms: Optional[int] = None,
) -> Sequence[SessionReport]:
    """The sessions to prune: oldest first (ties by type, then numeric id), at most ``limit``.

    Stale sessions whose age is at least ``older_than_seconds``; with
    ``include_corrupt``, also corrupt znodes whose age (for them, the time since
    the znode's creation) is at least that. Live and unknown sessions never.
    With ``created_before_ms``, a session stale by absence (no application
    found) is chosen only if its znode was created before then: younger than
    Livy's own app-lookup wait, it may still be being submitted. An ended
    application is evidence whatever the session's age. From a
    :class:`~zkjanitor.spool.ReportSpool`, a view of it (no report is read back).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    prunable = {Verdict.STALE, Verdict.CORRUPT} if include_corrupt else {Verdict.STALE}
    wanted_types = set(types)
    # One number per chosen session and sort key (a tuple each would hold 150 MB at a million).
    chosen, ages, type_ranks, ids = array("q"), array("d"), array("b"), array("q")
    for index, key in enumerate(keys_of(reports)):
        if (key.verdict in prunable
                and key.type in wanted_types
                and key.age_seconds >= older_than_seconds
                and (created_before_ms is None or key.has_app or key.verdict is not Verdict.STALE
                     or key.ctime_ms < created_before_ms)):
            chosen.append(index)
            ages.append(-key.age_seconds)
            type_ranks.append(_TYPE_RANK[key.type])
            ids.append(key.session_id)
    order = list(range(len(chosen)))
    for column in (ids, type_ranks, ages):  # stable sorts, the least significant key first
        order.sort(key=column.__getitem__)
    if limit is not None:
        del order[limit:]
    return subset(reports, (chosen[at] for at in order))


_TYPE_RANK = {session_type: rank for rank, session_type in enumerate(sorted(SessionType, key=lambda t: t.value))}


def _is_canonical_decimal(name: str) -> bool:
    return name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0"))


class Refusals:
    """Why a selected session must not be deleted: not shaped like a session znode, or listed twice.

    Asked about each session in turn (:meth:`why`); it remembers the paths it
    passed by their hash (a million paths would hold 100 MB): a collision
    refuses a session, never deletes one.
    """

    def __init__(self) -> None:
        self._seen: Set[int] = set()

    def why(self, report: SessionReport) -> Optional[str]:
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
            return (f"refused: {session.path} is not a session znode "
                    f"(/<prefix>{type_dir}/<id> with id {session.id}); zkjanitor never deletes it")
        key = hash(session.path)
        if key in self._seen:
            return "refused: listed twice in the selection; handled once"
        self._seen.add(key)
        return None


def refusals(selected: Sequence[SessionReport]) -> Dict[int, str]:
    """Index -> why that selected session must not be deleted (:class:`Refusals`)."""
    check = Refusals()
    refused: Dict[int, str] = {}
    for index, report in enumerate(selected):
        why = check.why(report)
        if why is not None:
            refused[index] = why
    return refused


def plan_prune(selected: Sequence[SessionReport]) -> PruneResult:
    """The dry run: ``would-delete`` for each selected session that apply would try."""
    outcomes = OutcomeList(selected, Outcome.WOULD_DELETE)
    for index, detail in refusals(selected).items():
        outcomes.set(index, Outcome.FAILED, detail)
    return PruneResult(outcomes)
