"""Evidence sources for tests: a toy source that answers from a dict, as a second source would."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from zkjanitor.errors import SourceUnavailable
from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource


class DictSource(AppStateSource):
    """Knows the applications in ``apps`` (appId -> phase); says not-found of any other.

    ``vouches``: its "not found" is authoritative (it would know any application).
    ``down``: every call raises SourceUnavailable with this message.
    """

    def __init__(self, name: str, apps: Dict[str, AppPhase], *, finished_ms: Optional[int] = None,
                 vouches: bool = True, down: Optional[str] = None) -> None:
        self.name = name
        self.apps = dict(apps)
        self.finished_ms = finished_ms
        self.vouches = vouches
        self.down = down
        self.asked: List[AppQuery] = []

    def lookup(self, query: AppQuery) -> Lookup:
        if self.down:
            raise SourceUnavailable(self.down)
        self.asked.append(query)
        phase = self.apps.get(query.app_id or "")
        if phase is None:
            return Lookup(AppPhase.NOT_FOUND, source=self.name, authoritative=self.vouches,
                          detail=None if self.vouches else "rm-cannot-vouch")
        finished = self.finished_ms if phase is AppPhase.FINISHED else None
        record = AppRecord(query.app_id or "", phase.value.upper(), finished_ms=finished)
        return Lookup(phase, record, source=self.name)

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        answers = [self.lookup(query) for query in queries]
        if any(answer.phase is AppPhase.NOT_FOUND for answer in answers) and not self.vouches:
            self.cannot_vouch = f"{self.name} cannot vouch that the applications it does not know are gone"
        return answers

    def start_run(self) -> None:
        self.cannot_vouch = None


class KnowsAllOrNothing(DictSource):
    """Like the ResourceManager: its "not found" is believed only when it knows one of the run's applications.

    A run that found none is asked again (:meth:`end_run`), and then every "not found" is unvouched.
    """

    def __init__(self, name: str, apps: Dict[str, AppPhase]) -> None:
        super().__init__(name, apps)
        self.runs = 0
        self.found_any = False
        self.asked_again = False

    def start_run(self) -> None:
        super().start_run()
        self.runs += 1
        self.found_any = False
        self.vouches = not self.asked_again

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        answers = super().lookup_many(queries)
        self.found_any = self.found_any or any(answer.record is not None for answer in answers)
        return answers

    def end_run(self) -> bool:
        if self.asked_again:  # the second run: its answers stand
            self.asked_again = False
            return False
        self.asked_again = not self.found_any
        return self.asked_again
