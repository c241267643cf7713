"""The Livy source against the Livy REST double: paging, states as evidence, HA, auth, the cross-check."""

from __future__ import annotations

import pytest

from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppPhase, SessionType
from zkjanitor.sources import livy as livy_module
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.livy import NOT_HELD, LivyAuth, LivySource
from zkjanitor.testing.livy_double import LivyDouble

BATCH, INTERACTIVE = SessionType.BATCH, SessionType.INTERACTIVE


def app_id(session_id: int) -> str:
    return f"application_1_{session_id:04d}"


def query(session_type: SessionType, session_id: int) -> AppQuery:
    return AppQuery(app_id(session_id), None, None, session_type, session_id)


@pytest.fixture
def livy():
    with LivyDouble() as double:
        yield double


def test_livys_state_is_the_evidence_terminal_is_finished_anything_else_live(livy):
    livy.add_batch(id=1, appId=app_id(1), state="success")
    livy.add_batch(id=2, appId=app_id(2), state="dead")
    livy.add_batch(id=3, appId=app_id(3), state="running")
    livy.add_interactive(id=1, appId=app_id(1), state="idle")
    livy.add_interactive(id=2, appId=app_id(2), state="killed")
    asked = [query(BATCH, 1), query(BATCH, 2), query(BATCH, 3), query(INTERACTIVE, 1), query(INTERACTIVE, 2),
             query(BATCH, 9)]

    with LivySource([livy.url]) as source:
        answers = source.lookup_many(asked)

    assert [(a.phase, a.detail, a.source) for a in answers] == [
        (AppPhase.FINISHED, "livy-finished", "livy"),
        (AppPhase.FINISHED, "livy-finished", "livy"),
        (AppPhase.ACTIVE, "livy-active", "livy"),
        (AppPhase.ACTIVE, "livy-active", "livy"),
        (AppPhase.FINISHED, "livy-finished", "livy"),
        (AppPhase.NOT_FOUND, None, "livy"),
    ]
    assert answers[-1] is NOT_HELD and not NOT_HELD.authoritative  # Livy not holding it says nothing
    assert answers[2].record.state == "running"


def test_one_paged_listing_per_type_across_several_pages(livy, monkeypatch):
    monkeypatch.setattr(livy_module, "PAGE_SIZE", 7)
    for session_id in range(30):
        livy.add_batch(id=session_id, appId=app_id(session_id), state="success" if session_id % 2 else "running")

    with LivySource([livy.url]) as source:
        answers = source.lookup_many([query(BATCH, i) for i in range(30)])

    assert [a.phase for a in answers] == [AppPhase.FINISHED if i % 2 else AppPhase.ACTIVE for i in range(30)]
    pages = [r.query for r in livy.requests if r.path == "/batches" and r.query.get("size") == "7"]
    assert [p["from"] for p in pages] == ["0", "7", "14", "21", "28"]
    assert livy.count("GET", "/sessions") == 0  # no interactive session was asked about


def test_the_cross_check_counts_what_only_the_store_or_only_livy_holds(livy):
    for session_id in (1, 2, 3):
        livy.add_batch(id=session_id, appId=app_id(session_id), state="success")

    with LivySource([livy.url]) as source:
        source.lookup_many([query(BATCH, 2), query(BATCH, 3), query(BATCH, 4), query(BATCH, 5)])

    assert source.facts == {"held": 2, "only_in_store": 2, "only_in_livy": 1, "unconfirmed": 0}
    assert any("does not hold 2 of the store's sessions" in note for note in source.notes)
    assert any("holds 1 session(s) the store does not have" in note for note in source.notes)


def test_a_passive_livy_of_an_ha_group_is_passed_over_for_the_active_one(livy):
    livy.set_ha_role("active")
    livy.add_batch(id=1, appId=app_id(1), state="success")
    with LivyDouble(ha_role="passive") as passive:
        passive.set_active(livy)
        with LivySource([passive.url, livy.url]) as source:
            assert source.lookup_many([query(BATCH, 1)])[0].phase is AppPhase.FINISHED
        with LivySource([passive.url]) as source, pytest.raises(SourceUnavailable) as caught:
            source.lookup_many([query(BATCH, 1)])
    assert f"passive; it redirects to {livy.url}" in str(caught.value)
    assert "give every server of an HA group" in str(caught.value)


def test_basic_auth_and_what_a_refusal_says():
    with LivyDouble(basic_auth=("ops", "s3cret")) as livy:
        livy.add_batch(id=1, appId=app_id(1), state="dead")
        with LivySource([livy.url]) as source, pytest.raises(SourceUnavailable, match="pass --livy-auth"):
            source.lookup_many([query(BATCH, 1)])
        wrong = LivyAuth("basic", "ops", "nope")
        with LivySource([livy.url], auth=wrong) as source, pytest.raises(SourceUnavailable, match="refused"):
            source.lookup_many([query(BATCH, 1)])
        right = LivyAuth("basic", "ops", "s3cret")
        with LivySource([livy.url], auth=right) as source:
            assert source.lookup_many([query(BATCH, 1)])[0].phase is AppPhase.FINISHED


def test_a_livy_that_is_down_or_not_livy_is_one_line(livy):
    url = livy.url
    livy.stop()
    with LivySource([url], retries=0, timeout=2) as source, pytest.raises(SourceUnavailable, match="no active Livy"):
        source.lookup_many([query(BATCH, 1)])
    livy.start()
    livy.fail_next(1, status=200, path="/batches", body="<html>not livy</html>")
    with LivySource([url], retries=0) as source, pytest.raises(SourceUnavailable, match="not as Livy does"):
        source.lookup_many([query(BATCH, 1)])
    livy.add_batch(id=1, appId=app_id(1))
    with LivySource([url], retries=0) as source:
        source.find_active()  # the probe passes; the listing that follows is malformed
        livy.fail_next(1, status=200, path="/batches", body='{"sessions": [{"no": "id"}], "total": 1}')
        with pytest.raises(SourceUnavailable, match="malformed reply"):
            source.lookup_many([query(BATCH, 1)])


@pytest.mark.parametrize("url", ["ftp://livy:8998", "http://user:pw@livy:8998", "http://livy:8998/?x=1"])
def test_bad_urls_are_refused_before_anything_is_asked(url):
    with pytest.raises(ConfigError):
        LivySource([url])


def test_through_a_knox_gateway_the_path_prefix_is_kept(livy):
    livy.gateway_prefix = "/gateway/default/livy/v1"
    livy.add_batch(id=1, appId=app_id(1), state="success")

    with LivySource([livy.url]) as source:
        assert source.lookup_many([query(BATCH, 1)])[0].phase is AppPhase.FINISHED

    assert livy.url.endswith("/gateway/default/livy/v1")
    assert {r.path for r in livy.requests} == {"/batches"}  # the double saw the API path behind the gateway


def test_a_livy_whose_session_names_another_application_is_not_believed(livy):
    """Another store's Livy (or a session Livy re-used the id of) says nothing of the store's record, and a
    terminal state without the record's appId is no reason to send Livy a DELETE."""
    livy.add_batch(id=1, appId="application_9_0001", state="dead")  # not the store's application
    livy.add_batch(id=2, state="dead")  # no appId to confirm it
    livy.add_batch(id=3, appId=app_id(3), state="dead")  # confirmed

    with LivySource([livy.url]) as source:
        answers = source.lookup_many([query(BATCH, 1), query(BATCH, 2), query(BATCH, 3)])

    assert [a.phase for a in answers] == [AppPhase.NOT_FOUND, AppPhase.NOT_FOUND, AppPhase.FINISHED]
    assert answers[0] is NOT_HELD and answers[1] is NOT_HELD
    assert source.facts["unconfirmed"] == 2
    assert any("is it the Livy of this store?" in note for note in source.notes)
