"""The AppStateSource interface: per-item answers, the default bulk query, the context manager."""

from __future__ import annotations

from typing import List

from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource


class DictSource(AppStateSource):
    """A source that knows apps by id and records how it was used."""

    name = "dict"

    def __init__(self, states: dict) -> None:
        self.states = states
        self.asked: List[AppQuery] = []
        self.closed = False

    def lookup(self, query: AppQuery) -> Lookup:
        self.asked.append(query)
        if query.app_id in self.states:
            return Lookup(AppPhase.ACTIVE, AppRecord(query.app_id, self.states[query.app_id]), source=self.name)
        return Lookup(AppPhase.NOT_FOUND, source=self.name)

    def close(self) -> None:
        self.closed = True


def test_default_lookup_many_answers_each_query_in_order():
    source = DictSource({"a": "RUNNING"})
    queries = [AppQuery("b", "tag-b"), AppQuery("a", "tag-a"), AppQuery(None, "tag-c")]
    answers = source.lookup_many(queries)
    assert [answer.phase for answer in answers] == [AppPhase.NOT_FOUND, AppPhase.ACTIVE, AppPhase.NOT_FOUND]
    assert answers[1].record.state == "RUNNING"
    assert source.asked == queries


def test_context_manager_closes_the_source():
    with DictSource({}) as source:
        assert not source.closed
    assert source.closed
