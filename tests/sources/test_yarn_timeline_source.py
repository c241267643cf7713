"""YarnTimelineSource against the Timeline v1 double: YARN's states, tags, both JSON styles, one listing, auth."""

from __future__ import annotations

import time

import pytest

from zkjanitor.errors import SourceUnavailable
from zkjanitor.model import AppPhase
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.yarn import YarnAuth
from zkjanitor.sources.yarn_timeline import APPS_PATH, YarnTimelineSource
from zkjanitor.testing.timeline_double import TimelineDouble
from zkjanitor.testing.zkserver import free_port

NOW_MS = int(time.time() * 1000)
HOUR_MS = 3_600_000


def source(url: str, **kwargs) -> YarnTimelineSource:
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 1)
    return YarnTimelineSource(url, **kwargs)


@pytest.fixture(params=[False, True], ids=["jackson", "jaxb"])
def ahs(request, yarn_timeline):
    """The shared double (the shipped server's JSON), and one in Jersey's JAXB style: clients accept both."""
    if not request.param:
        yield yarn_timeline
        return
    with TimelineDouble(wrap_root=True) as wrapped:
        yield wrapped


@pytest.fixture
def apps(ahs):
    finished = ahs.add_app(appState="FAILED", startedTime=NOW_MS - 2 * HOUR_MS, finishedTime=NOW_MS - HOUR_MS,
                           applicationTags="livy-batch-1-abcdefgh")["appId"]
    running = ahs.add_app(appState="RUNNING", applicationTags="livy-batch-2-ijklmnop")["appId"]
    accepted = ahs.add_app(appState="ACCEPTED", applicationTags="livy-batch-3-qrstuvwx,other")["appId"]
    return finished, running, accepted


def test_yarn_states_become_phases_in_the_timeline_servers_name(ahs, apps):
    finished, running, accepted = apps
    with source(ahs.url) as timeline:
        answers = timeline.lookup_many([AppQuery(finished, "t"), AppQuery(running, "t"), AppQuery(accepted, "t")])
    assert [(a.phase, a.source) for a in answers] == [
        (AppPhase.FINISHED, "yarn-timeline"), (AppPhase.ACTIVE, "yarn-timeline"), (AppPhase.ACTIVE, "yarn-timeline")]
    record = answers[0].record
    assert (record.state, record.final_status, record.finished_ms) == ("FAILED", "FAILED", NOW_MS - HOUR_MS)


def test_an_app_it_does_not_list_is_not_found_without_vouching(ahs, apps):
    with source(ahs.url) as timeline:
        (answer,) = timeline.lookup_many([AppQuery("application_1_0001", "t")])
        assert timeline.cannot_vouch is None
    assert (answer.phase, answer.authoritative, answer.detail) == (AppPhase.NOT_FOUND, False, "timeline-cannot-vouch")


def test_null_app_ids_are_found_by_tag_whatever_its_case(ahs, apps):
    with source(ahs.url) as timeline:
        by_tag = timeline.lookup_many([AppQuery(None, "livy-batch-1-ABCDEFGH"), AppQuery(None, "livy-batch-3-qrstuvwx"),
                                       AppQuery(None, "livy-batch-9-nowhere1"), AppQuery(None, " ")])
    assert [a.phase for a in by_tag] == [AppPhase.FINISHED, AppPhase.ACTIVE, AppPhase.NOT_FOUND, AppPhase.UNKNOWN]
    assert by_tag[0].record.app_id == apps[0]


def test_a_non_yarn_app_id_is_not_asked(ahs):
    with source(ahs.url) as timeline:
        answer = timeline.lookup(AppQuery("spark-0a1b2c3d4e5f60718293a4b5c6d7e8f9", "t"))
        assert timeline.requests_made == 0
    assert (answer.phase, answer.detail) == (AppPhase.UNKNOWN, "not-a-yarn-app")


def test_one_listing_per_run_and_a_prefetch_is_used_once(ahs, apps):
    queries = [AppQuery(f"application_1_{n:04d}", f"livy-batch-{n}-x") for n in range(3000)] + [AppQuery(apps[0], "")]
    with source(ahs.url) as timeline:
        timeline.prefetch()
        assert timeline.lookup_many(queries)[-1].phase is AppPhase.FINISHED
        assert timeline.requests_made == 1
    assert ahs.count("GET", APPS_PATH) == 1
    assert ahs.requests[0].query == {}  # no filter: the tag and state filters would hide what we look for


def test_single_lookups_by_id_and_the_404_of_an_app_it_does_not_hold(ahs, apps):
    with source(ahs.url) as timeline:
        assert timeline.lookup(AppQuery(apps[0], "t")).phase is AppPhase.FINISHED
        missing = timeline.lookup(AppQuery("application_1_0404", "t"))
    assert (missing.phase, missing.authoritative) == (AppPhase.NOT_FOUND, False)
    assert ahs.count("GET", f"{APPS_PATH}/application_1_0404") == 1


def test_what_the_cap_leaves_out_is_never_proof():
    with TimelineDouble(max_applications=2) as ahs:
        oldest = ahs.add_app(startedTime=NOW_MS - 3 * HOUR_MS)["appId"]
        ahs.add_app(startedTime=NOW_MS - 2 * HOUR_MS)
        ahs.add_app(startedTime=NOW_MS - HOUR_MS)
        with source(ahs.url) as timeline:
            listed = timeline.lookup_many([AppQuery(oldest, "t")])[0]
            single = timeline.lookup(AppQuery(oldest, "t"))
    assert (listed.phase, listed.authoritative) == (AppPhase.NOT_FOUND, False)
    assert single.phase is AppPhase.FINISHED  # a single app is read directly, not capped


def test_simple_auth_sends_user_name_and_without_it_names_the_yarn_auth_option():
    with TimelineDouble(user_name_required=True) as ahs:
        ahs.add_app(appState="FINISHED")
        with source(ahs.url, auth=YarnAuth("simple", "livy")) as timeline:
            timeline.lookup_many([AppQuery("application_1_0001", "t")])
        assert ahs.requests[-1].query == {"user.name": "livy"}
        with source(ahs.url) as timeline, pytest.raises(SourceUnavailable) as caught:
            timeline.lookup_many([AppQuery("application_1_0001", "t")])
    assert str(caught.value) == (f"the YARN Timeline server requires authentication (HTTP 403) at {ahs.url}: "
                                 "pass --yarn-auth simple|basic|kerberos (it is used for the Timeline server too)")


def test_basic_auth_through_a_gateway():
    with TimelineDouble(basic_auth=("admin", "s3cret")) as ahs:
        with source(ahs.url, auth=YarnAuth("basic", "admin", "s3cret")) as timeline:
            assert timeline.lookup_many([AppQuery("application_1_0001", "t")])[0].phase is AppPhase.NOT_FOUND


def test_down_and_malformed_are_one_line_each(ahs):
    down = f"http://127.0.0.1:{free_port()}"
    with source(down) as timeline, pytest.raises(SourceUnavailable) as caught:
        timeline.lookup_many([AppQuery("application_1_0001", "t")])
    assert str(caught.value) == (f"YARN Timeline server {down} did not answer {APPS_PATH} "
                                 "(connection refused, 2 attempts); check --yarn-timeline")
    ahs.fail_next(1, 200, path=APPS_PATH, body="[1, 2]")
    with source(ahs.url) as timeline, pytest.raises(SourceUnavailable) as caught:
        timeline.lookup_many([AppQuery("application_1_0001", "t")])
    assert "sent a malformed reply" in str(caught.value) and "is --yarn-timeline a Timeline server URL?" in str(
        caught.value)


def test_check_names_the_hadoop_version_or_the_failure(ahs):
    with source(ahs.url) as timeline:
        (finding,) = timeline.check()
    assert (finding.severity, finding.setting, finding.problem) == ("ok", "yarn-timeline",
                                                                    "YARN Timeline server (Hadoop 3.3.6) answers")
    with source(f"http://127.0.0.1:{free_port()}", retries=0) as timeline:
        (finding,) = timeline.check()
    assert finding.severity == "error" and "yarn.timeline-service.webapp.address" in finding.recommendation
