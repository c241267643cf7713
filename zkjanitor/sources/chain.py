"""Several evidence sources asked in turn, each only about what the ones before it could not settle.

Order matters: the first source that says an application is active or
finished settles it (put the most authoritative first: Livy, then YARN's
ResourceManager, then its Timeline server, then the Spark History Server).
When none settles a session, its answer is the first authoritative "not
found", else the first that gives a reason (YARN's ``rm-cannot-vouch``, say),
else the first: a source with nothing to say (Livy, about a session it does
not hold) says no reason.

A source that fails is reported in :attr:`ChainSource.notes` (and, when it
is ``required``, in :attr:`ChainSource.errors`); the others' answers stand, and the sessions it
would have been asked about stay as the others left them. Only when every
source fails does the chain raise :class:`~zkjanitor.errors.SourceUnavailable`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.errors import SourceUnavailable
from zkjanitor.model import AppPhase, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource, ask_all

if TYPE_CHECKING:
    from zkjanitor.store import SessionActuator


def _rank(answer: Lookup) -> int:
    """Lower is better among answers that settle nothing: an authoritative "not found", then one with a reason."""
    if answer.phase is AppPhase.NOT_FOUND and answer.authoritative:
        return 0
    return 1 if answer.detail else 2


def _better(current: Optional[Lookup], candidate: Lookup) -> Lookup:
    """The answer to keep for one session: settled beats all; else the best ranked, the first of equals."""
    if current is None or candidate.settled or _rank(candidate) < _rank(current):
        return candidate
    return current


class ChainSource(AppStateSource):
    """Asks ``sources`` in order (see the module docstring)."""

    name = "chain"

    def __init__(self, sources: Sequence[AppStateSource]) -> None:
        if not sources:
            raise ValueError("a chain needs at least one source")
        self.sources = list(sources)
        self.errors: Dict[str, str] = {}
        """Source name -> why it failed in this run (a required source's failure)."""
        self._failed: Dict[str, str] = {}
        """Source name -> why it failed in this run: it is not asked again until the next run."""

    def lookup(self, query: AppQuery) -> Lookup:
        return ask_all(self, [query])[0]

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        answers: List[Optional[Lookup]] = [None] * len(queries)
        pending = list(range(len(queries)))
        working = [source for source in self.sources if source.name not in self._failed]
        for later in working[1:]:  # their requests run while the first source answers
            later.prefetch_for(queries)
        for source in working:
            if not pending:
                break
            try:
                got = source.lookup_many([queries[index] for index in pending])
            except SourceUnavailable as exc:
                self._failed[source.name] = str(exc)
                if source.required:
                    self.errors[source.name] = str(exc)
                continue
            for index, answer in zip(pending, got):
                answers[index] = _better(answers[index], answer)
            pending = [index for index in pending if not answers[index].settled]  # type: ignore[union-attr]
        if len(self._failed) == len(self.sources):
            raise SourceUnavailable("; ".join(self._failed.values()))
        unanswered = Lookup(AppPhase.UNKNOWN, detail="source-unreachable")
        return [answer or unanswered for answer in answers]

    def start_run(self) -> None:
        self.errors = {}
        self._failed = {}
        for source in self.sources:
            source.start_run()

    def end_run(self) -> bool:
        again = [source.end_run() for source in self.sources if source.name not in self._failed]
        return any(again)

    @property
    def cannot_vouch(self) -> Optional[str]:  # type: ignore[override]
        return next((s.cannot_vouch for s in self.sources if s.name not in self._failed and s.cannot_vouch), None)

    @property
    def notes(self) -> Sequence[str]:  # type: ignore[override]
        return [note for source in self.sources
                for note in ([f"{source.name}: {self._failed[source.name]}; the other sources' answers stand"]
                             if source.name in self._failed else source.notes)]

    def facts_by_source(self) -> Dict[str, Mapping[str, int]]:
        found: Dict[str, Mapping[str, int]] = {}
        for source in self.sources:
            if source.name not in self._failed:
                found.update(source.facts_by_source())
        return found

    def actuator(self) -> Optional["SessionActuator"]:
        return next((a for a in (source.actuator() for source in self.sources) if a is not None), None)

    def prefetch(self) -> None:
        for source in self.sources:
            source.prefetch()

    def check(self) -> List[Finding]:
        return [finding for source in self.sources for finding in source.check()]

    def close(self) -> None:
        for source in self.sources:
            source.close()
