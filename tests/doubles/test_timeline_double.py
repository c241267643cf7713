"""The Timeline (application history) double answers as Hadoop 3's AHS REST API does.

Sources: docs/dev/spark-history-server.md section 9; Hadoop's TimelineServer.md.
"""

from __future__ import annotations

import pytest

from tests.doubles.client import fetch
from zkjanitor.testing.timeline_double import DEFAULT_MAX_APPLICATIONS, DEFAULT_TTL_MS, TimelineDouble
from zkjanitor.testing.yarn_double import YarnDouble

APPS = "/ws/v1/applicationhistory/apps"
DAY_MS = 24 * 3600 * 1000
NOW = 1_700_000_000_000


def get(ahs, path, **kwargs):
    return fetch(ahs.url + path, **kwargs)


def listed_ids(ahs, query=""):
    reply = get(ahs, f"{APPS}?{query}")
    assert reply.status == 200, reply.text
    return [app["appId"] for app in reply.json()["app"]]


def app_id(n):
    return f"application_1699990000000_{n:04d}"


@pytest.fixture
def ahs():
    with TimelineDouble(clock=lambda: NOW) as server:
        yield server


def test_the_fixture_has_hadoops_default_caps(yarn_timeline):
    assert (DEFAULT_MAX_APPLICATIONS, DEFAULT_TTL_MS) == (10_000, 7 * DAY_MS)
    assert (yarn_timeline.max_applications, yarn_timeline.ttl_ms) == (10_000, 7 * DAY_MS)
    assert get(yarn_timeline, APPS).json() == {"app": []}


# ---------------------------------------------------------------- shapes


def test_a_listing_is_an_app_array_without_a_root_element(ahs):
    reply = get(ahs, APPS)
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json() == {"app": []}
    ahs.add_app(appId=app_id(1), applicationTags=["livy-batch-7-AbCdEfGh", "etl"], appState="FAILED")
    app = get(ahs, APPS).json()["app"][0]
    assert (app["appId"], app["appState"], app["finalAppStatus"]) == (app_id(1), "FAILED", "FAILED")
    assert app["applicationTags"] == "livy-batch-7-abcdefgh,etl"  # one lowercase CSV string
    assert get(ahs, f"{APPS}/{app_id(1)}").json() == app  # one app: the bare object


def test_an_app_without_tags_has_no_application_tags_key(ahs):
    ahs.add_app(appId=app_id(1))
    assert "applicationTags" not in get(ahs, f"{APPS}/{app_id(1)}").json()


def test_app_objects_carry_the_fields_a_client_reads(ahs):
    ahs.add_app(appId=app_id(2), appState="KILLED", startedTime=NOW - 5000, finishedTime=NOW - 1000, user="alice")
    app = get(ahs, f"{APPS}/{app_id(2)}").json()
    assert app["finalAppStatus"] == "KILLED" and app["type"] == "SPARK" and app["user"] == "alice"
    assert (app["startedTime"], app["finishedTime"], app["elapsedTime"]) == (NOW - 5000, NOW - 1000, 4000)
    assert app["currentAppAttemptId"] == "appattempt_1699990000000_0002_000001"


def test_running_apps_are_listed_unfinished(ahs):
    ahs.add_app(appId=app_id(3), appState="RUNNING")
    app = get(ahs, APPS).json()["app"][0]
    assert (app["appState"], app["finalAppStatus"], app["finishedTime"]) == ("RUNNING", "UNDEFINED", 0)


def test_the_jaxb_style_wraps_every_body_in_its_root_element():
    with TimelineDouble(wrap_root=True, clock=lambda: NOW) as ahs:
        assert get(ahs, APPS).json() == {"apps": None}
        ahs.add_app(appId=app_id(1))
        assert [a["appId"] for a in get(ahs, APPS).json()["apps"]["app"]] == [app_id(1)]
        assert get(ahs, f"{APPS}/{app_id(1)}").json()["app"]["appId"] == app_id(1)
        missing = get(ahs, f"{APPS}/{app_id(9)}").json()
        assert missing["RemoteException"]["exception"] == "NotFoundException"


# ---------------------------------------------------------------- one app


def test_an_app_the_store_does_not_hold_is_404_not_found_exception(ahs):
    reply = get(ahs, f"{APPS}/{app_id(9999)}")
    assert reply.status == 404
    assert reply.json() == {
        "exception": "NotFoundException",
        "message": "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException: "
        f"The entity for application {app_id(9999)} doesn't exist in the timeline store",
        "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException",
    }


@pytest.mark.parametrize("bad_id", ["spark-0123456789abcdef0123456789abcdef", "application_x_1", "application_1"])
def test_a_malformed_app_id_is_400(ahs, bad_id):
    reply = get(ahs, f"{APPS}/{bad_id}")
    assert reply.status == 400
    assert reply.json()["exception"] == "BadRequestException"
    assert reply.json()["message"].startswith("java.lang.IllegalArgumentException: Invalid ApplicationId")


# ---------------------------------------------------------------- caps and retention


def test_listings_are_newest_first_and_capped_but_single_apps_are_not():
    with TimelineDouble(max_applications=3, clock=lambda: NOW) as ahs:
        ahs.add_apps({"appId": app_id(n), "startedTime": NOW - 10_000 + n} for n in range(1, 6))
        assert listed_ids(ahs) == [app_id(5), app_id(4), app_id(3)]
        assert get(ahs, f"{APPS}/{app_id(1)}").status == 200  # beyond the cap, still there per id
        assert len(listed_ids(ahs, "limit=5")) == 5  # an explicit limit replaces the cap
        assert listed_ids(ahs, "limit=2") == [app_id(5), app_id(4)]


def test_limit_is_taken_before_the_other_filters(ahs):
    ahs.add_apps(
        [
            {"appId": app_id(1), "appState": "FAILED", "startedTime": NOW - 3000},
            {"appId": app_id(2), "appState": "FINISHED", "startedTime": NOW - 2000},
            {"appId": app_id(3), "appState": "FINISHED", "startedTime": NOW - 1000},
        ]
    )
    assert listed_ids(ahs, "states=FAILED&limit=2") == []  # the two newest are not FAILED
    assert listed_ids(ahs, "states=FAILED&limit=3") == [app_id(1)]


def test_apps_older_than_the_ttl_are_gone():
    now = [NOW]
    with TimelineDouble(clock=lambda: now[0]) as ahs:
        ahs.add_app(appId=app_id(1), startedTime=NOW - 8 * DAY_MS)
        ahs.add_app(appId=app_id(2), startedTime=NOW - 1 * DAY_MS)
        assert listed_ids(ahs) == [app_id(2)]
        assert get(ahs, f"{APPS}/{app_id(1)}").status == 404
        now[0] += 7 * DAY_MS
        assert listed_ids(ahs) == []
    with TimelineDouble(ttl_ms=None, clock=lambda: NOW) as keeps_all:
        keeps_all.add_app(appId=app_id(1), startedTime=NOW - 30 * DAY_MS)
        assert listed_ids(keeps_all) == [app_id(1)]


def test_what_the_rm_forgot_the_timeline_server_still_answers(ahs):
    with YarnDouble(max_completed_apps=1) as rm:
        old = rm.add_app(state="FAILED", applicationTags="livy-batch-3-zzzzzzzz", finishedTime=NOW - 9000,
                         startedTime=NOW - 10_000)
        ahs.add_rm_app(old)
        ahs.add_rm_app(rm.add_app(state="FINISHED", finishedTime=NOW - 100, startedTime=NOW - 500))
        assert fetch(f"{rm.url}/ws/v1/cluster/apps/{old['id']}").status == 404
        app = get(ahs, f"{APPS}/{old['id']}").json()
        assert (app["appState"], app["finalAppStatus"], app["applicationTags"]) == (
            "FAILED",
            "FAILED",
            "livy-batch-3-zzzzzzzz",
        )


# ---------------------------------------------------------------- query parameters


@pytest.fixture
def mixed():
    """Five apps started at 1 s .. 5 s (no TTL), newest first: 5 running, 4 finished (alice, queue etl),
    3 failed (MAPREDUCE), 2 killed (bob), 1 finished with a Livy tag."""
    with TimelineDouble(ttl_ms=None, clock=lambda: NOW) as ahs:
        yield _add_mixed(ahs)


def _add_mixed(ahs):
    ahs.add_apps(
        [
            {"appId": app_id(1), "appState": "FINISHED", "startedTime": 1000, "finishedTime": 1500,
             "applicationTags": "livy-batch-1-aaaaaaaa"},
            {"appId": app_id(2), "appState": "KILLED", "startedTime": 2000, "finishedTime": 9000, "user": "bob"},
            {"appId": app_id(3), "appState": "FAILED", "startedTime": 3000, "finishedTime": 4000,
             "type": "MAPREDUCE"},
            {"appId": app_id(4), "appState": "FINISHED", "startedTime": 4000, "finishedTime": 5000,
             "user": "alice", "queue": "etl"},
            {"appId": app_id(5), "appState": "RUNNING", "startedTime": 5000},
        ]
    )
    return ahs


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", [5, 4, 3, 2, 1]),
        ("states=finished,Killed", [4, 2, 1]),
        ("states=FAILED&states=killed", [3, 2]),
        ("state=FAILED", [3]),
        ("finalStatus=SUCCEEDED", [4, 1]),
        ("user=alice", [4]),
        ("queue=etl", [4]),
        ("applicationTypes=mapreduce", [3]),
        ("applicationTypes=SPARK", [5, 4, 2, 1]),
        ("startedTimeBegin=2000&startedTimeEnd=4000", [4, 3]),  # begin exclusive, end inclusive
        ("finishedTimeBegin=4000&finishedTimeEnd=9000", [4, 3, 2]),  # both inclusive
        ("applicationTags=livy-batch-1-aaaaaaaa", [5, 4, 3, 2, 1]),  # no tag filter
    ],
)
def test_list_filters(mixed, query, expected):
    assert listed_ids(mixed, query) == [app_id(n) for n in expected]


@pytest.mark.parametrize(
    "query, exception, message",
    [
        ("states=RUNNING", "BadRequestException",
         "java.lang.Exception: Invalid application-state running specified. It should be a final state"),
        ("states=DONE", "BadRequestException",
         "java.lang.Exception: Invalid application-state DONE specified. It should be one of "
         "[NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED]"),
        ("limit=0", "BadRequestException", "java.lang.Exception: limit value must be greater then 0"),
        ("limit=ten", "NumberFormatException", 'For input string: "ten"'),
        ("startedTimeBegin=-1", "BadRequestException", "java.lang.Exception: startedTimeBegin must be greater than 0"),
        ("startedTimeBegin=5&startedTimeEnd=4", "BadRequestException",
         "java.lang.Exception: startedTimeEnd must be greater than startTimeBegin"),
        ("finishedTimeBegin=5&finishedTimeEnd=4", "BadRequestException",
         "java.lang.Exception: finishTimeEnd must be greater than finishTimeBegin"),
        ("finalStatus=succeeded", "IllegalArgumentException",
         "No enum constant org.apache.hadoop.yarn.api.records.FinalApplicationStatus.succeeded"),
    ],
)
def test_invalid_parameters_are_400_with_hadoops_messages(mixed, query, exception, message):
    reply = get(mixed, f"{APPS}?{query}")
    assert reply.status == 400
    assert reply.json()["exception"] == exception
    assert reply.json()["message"] == message


def test_a_bad_final_status_only_fails_once_an_app_is_checked(ahs):
    assert get(ahs, f"{APPS}?finalStatus=succeeded").json() == {"app": []}


# ---------------------------------------------------------------- identity, auth, faults


def test_identity_endpoints(ahs):
    about = get(ahs, "/ws/v1/applicationhistory/about").json()
    assert about["About"] == "Generic History Service API" and "hadoop-version" in about
    assert get(ahs, "/ws/v1/timeline/").json()["About"] == "Timeline API"


def test_only_get_is_served(ahs):
    assert fetch(ahs.url + APPS, method="DELETE").status == 405


def test_simple_auth_without_anonymous_and_basic_auth():
    with TimelineDouble(user_name_required=True) as ahs:
        refused = get(ahs, APPS)
        assert refused.status == 403 and refused.headers["WWW-Authenticate"] == "PseudoAuth"
        assert get(ahs, f"{APPS}?user.name=livy").status == 200
    with TimelineDouble(basic_auth=("svc", "pw")) as ahs:
        assert get(ahs, APPS).status == 401
        assert get(ahs, APPS, auth=("svc", "pw")).status == 200


def test_requests_faults_and_restarts_work_as_for_every_double(ahs):
    ahs.add_app(appId=app_id(1))
    ahs.fail_next(1, 503, path=APPS)
    assert get(ahs, APPS).status == 503
    assert get(ahs, f"{APPS}?limit=1").status == 200
    assert ahs.count("GET", APPS) == 2 and ahs.requests[1].query == {"limit": "1"}
    url = ahs.url
    ahs.stop()
    with pytest.raises(ConnectionError):
        fetch(url + APPS)
    ahs.start()
    assert listed_ids(ahs) == [app_id(1)]
