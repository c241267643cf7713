"""The interface every evidence source implements (the ResourceManager, its Timeline server, Spark History).

Modelled on pip-audit's vulnerability service: one abstract source answers a
per-item query, and a bulk query that sources override with something cheaper
than asking item by item. Sources are chained (:mod:`zkjanitor.sources.chain`):
a Spark History Server, a YARN Timeline server, Livy or Kubernetes plugs in by
subclassing :class:`AppStateSource`, without touching the classifier.

The contract of an answer (:class:`~zkjanitor.model.Lookup`), always naming
its ``source``:

* ``ACTIVE`` or ``FINISHED`` (with the record: raw state, finish time) only
  when the source really knows the application in that phase;
* ``NOT_FOUND`` when the source, reachable and answering, has no such
  application. It makes a session stale, so it is ``authoritative`` only when
  the source can vouch that it would know the application; otherwise
  ``authoritative=False`` with the reason in ``detail``, and when that holds
  for a whole run the source says why in :attr:`AppStateSource.cannot_vouch`;
* ``UNKNOWN`` with ``detail`` (an UNKNOWN reason of ``model.REASONS``) when it
  cannot say for one item;
* raise :class:`~zkjanitor.errors.SourceUnavailable` (one actionable line, no
  credentials) when the source cannot be reached or refuses us at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Dict, List, Mapping, NamedTuple, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.model import Lookup, SessionType

if TYPE_CHECKING:
    from zkjanitor.store import SessionActuator


class AppQuery(NamedTuple):
    """What a Livy session knows about its application: the id (may be null) and the tag.

    ``created_ms`` is the session record's creation time, when known: a source
    uses it to judge whether it should know the application at all. The
    session's own identity (``session_type``, ``session_id``) lets a source that
    looks sessions up by Livy type and id (Livy's REST API) answer.
    """

    app_id: Optional[str]
    app_tag: Optional[str]
    created_ms: Optional[int] = None
    session_type: Optional[SessionType] = None
    session_id: Optional[int] = None


class AppStateSource(ABC):
    """Answers "does this session's application still exist, and in what state?"."""

    name: str
    """Short identifier in answers, the JSON's ``source`` and messages, e.g. ``"yarn"``."""

    cannot_vouch: Optional[str] = None
    """Set by :meth:`lookup_many` when the source answered but cannot vouch for its
    "not found" answers (they came back ``UNKNOWN``): one line for the operator."""

    required: bool = True
    """Its failure fails a scan (exit 3). Livy's is not required: it being down is the incident's normal state."""

    errors: Mapping[str, str] = {}
    """Per source, why it failed in the last :meth:`lookup_many` while others answered (a chain's)."""

    facts: Mapping[str, int] = {}
    """Counts the source found worth reporting from the last :meth:`lookup_many` (Livy's cross-check)."""

    notes: Sequence[str] = ()
    """What the operator should know about how the source answered, one line each
    (e.g. an HA member that hung and was passed over); shown as warnings."""

    @abstractmethod
    def lookup(self, query: AppQuery) -> Lookup:
        """The answer for one session (see the module docstring for the contract)."""

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """One answer per query, in order: one batch of the current run; sources override this with a bulk query.

        A scan asks batch by batch as it reads the store (:func:`ask_all` for a
        whole list at once); :attr:`notes`, :attr:`facts` and
        :attr:`cannot_vouch` are about every batch since :meth:`start_run`.
        """
        return [self.lookup(query) for query in queries]

    def start_run(self) -> None:
        """Begin a run (one scan's batches of :meth:`lookup_many`): forget the last run's facts, start fetching.

        The default starts :meth:`prefetch`. A source keeps what it fetched
        (a listing) for the whole run: every batch is answered from it.
        """
        self.prefetch()

    def end_run(self) -> bool:
        """The run's last batch was answered; True when its answers must not be used: ask them all again.

        For a fact only the whole run shows (the ResourceManager knows none of
        the store's applications, so none of its "not found" answers can be
        believed): the source then answers the next run accordingly. The
        default: answers never depend on the run.
        """
        return False

    def facts_by_source(self) -> Dict[str, Mapping[str, int]]:
        """:attr:`facts` under the name of the source that found them (a chain gathers its sources')."""
        return {self.name: dict(self.facts)} if self.facts else {}

    def prefetch(self) -> None:
        """Start fetching, in the background, what the next ``lookup_many`` needs; never raises.

        Callers call it before their own slow work (reading ZooKeeper), so the
        two overlap; a failure surfaces from ``lookup_many``, and only if that
        call needs the source. The default fetches nothing ahead.
        """

    def prefetch_for(self, queries: Sequence[AppQuery]) -> None:
        """Like :meth:`prefetch`, once the queries of the next ``lookup_many`` are known; never raises.

        A chain calls it on its later sources before asking the first, so their
        requests run while the first answers. A source whose request depends on
        the queries (the Spark History Server bounds its listing by the oldest
        session) overrides it; the default is :meth:`prefetch`.
        """
        self.prefetch()

    def check(self) -> List[Finding]:
        """``doctor``'s findings about this source: reachable, answering, who answers (e.g. the active RM).

        The default asks nothing and says so.
        """
        return [Finding("info", self.name, None, "configured; doctor has no check for this source", "")]

    def actuator(self) -> Optional["SessionActuator"]:
        """What deletes sessions through the server that holds them, when it answered this run (Livy); else None."""
        return None

    def close(self) -> None:
        """Release connections; the default holds none."""

    def __enter__(self) -> "AppStateSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def ask_all(source: AppStateSource, queries: Sequence[AppQuery]) -> List[Lookup]:
    """The answers to ``queries`` as one run (asked again when the source's run says so)."""
    for _ in range(2):
        source.start_run()
        answers = source.lookup_many(queries)
        if not source.end_run():
            return answers
    raise RuntimeError(f"{source.name} asked for a third run")
