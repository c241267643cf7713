"""The YARN ResourceManager double behaves as the documented RM REST API does."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from typing import Any, Dict, NamedTuple, Optional, Tuple
from urllib.parse import urlsplit

import pytest

from zkjanitor.testing.yarn_double import YarnDouble

TIMEOUT = 2.0
APPS = "/ws/v1/cluster/apps"


class Reply(NamedTuple):
    """What a plain HTTP client sees: status, headers (case-insensitive) and the body as text."""

    status_code: int
    headers: http.client.HTTPMessage
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def fetch(url: str, *, method: str = "GET", headers: Optional[Dict[str, str]] = None,
          timeout: float = TIMEOUT) -> Reply:
    """One request on a new connection; raises socket.timeout or ConnectionError as the socket does."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()


def get(rm: YarnDouble, path: str, *, follow_redirects: bool = False, auth: Optional[Tuple[str, str]] = None,
        headers: Optional[Dict[str, str]] = None) -> Reply:
    """GET ``path`` from ``rm`` without following redirects (unless asked), with optional basic auth."""
    headers = dict(headers or {})
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    reply = fetch(rm.url + path, headers=headers)
    if follow_redirects and reply.status_code in (301, 302, 303, 307, 308):
        reply = fetch(reply.headers["Location"], headers=headers)
    return reply


def listed_ids(rm: YarnDouble, query: str = "") -> list:
    response = get(rm, f"{APPS}?{query}")
    assert response.status_code == 200, response.text
    apps = response.json()["apps"]
    return [] if apps is None else [app["id"] for app in apps["app"]]


@pytest.fixture
def rm():
    with YarnDouble() as double:
        yield double


# ---------------------------------------------------------------- cluster info and the apps list


def test_cluster_info_reports_ha_state_and_version(rm):
    info = get(rm, "/ws/v1/cluster/info").json()["clusterInfo"]
    assert info["haState"] == "ACTIVE"
    assert info["state"] == "STARTED"
    assert info["resourceManagerVersion"] == "3.3.6"
    assert get(rm, "/ws/v1/cluster").json() == {"clusterInfo": info}


def test_non_ha_rm_can_omit_ha_state():
    with YarnDouble(ha_state=None) as old_rm:
        assert "haState" not in get(old_rm, "/ws/v1/cluster/info").json()["clusterInfo"]


def test_empty_result_is_apps_null_not_an_empty_list(rm):
    response = get(rm, APPS)
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.text) == {"apps": None}
    rm.add_app(applicationTags="livy-batch-1-aaaaaaaa")
    assert get(rm, f"{APPS}?applicationTags=no-such-tag").json() == {"apps": None}


def test_app_objects_are_realistic_rm_apps(rm):
    running = rm.add_app(applicationTags="livy-batch-7-abcdefgh")
    finished = rm.add_app(state="KILLED", startedTime=1_000, finishedTime=5_000)
    apps = {app["id"]: app for app in get(rm, APPS).json()["apps"]["app"]}
    assert running["id"].startswith(f"application_{rm.cluster_ts}_")
    assert apps[running["id"]]["applicationType"] == "SPARK"
    assert apps[running["id"]]["finishedTime"] == 0
    assert apps[running["id"]]["finalStatus"] == "UNDEFINED"
    assert apps[running["id"]]["name"] == "livy-batch-7"
    assert apps[finished["id"]]["finalStatus"] == "KILLED"
    assert apps[finished["id"]]["elapsedTime"] == 4_000
    assert apps[finished["id"]]["trackingUI"] == "History"


# ---------------------------------------------------------------- tags


def test_tags_are_stored_lowercased_as_one_string(rm):
    app = rm.add_app(applicationTags=["livy-batch-41-Xq3kP9aZ", "Team-A", "team-a"])
    assert app["applicationTags"] == "livy-batch-41-xq3kp9az,team-a"
    listed = get(rm, APPS).json()["apps"]["app"][0]
    assert listed["applicationTags"] == "livy-batch-41-xq3kp9az,team-a"


def test_tag_query_is_case_insensitive_and_matches_any(rm):
    first = rm.add_app(applicationTags="livy-batch-1-aaaaaaaa")["id"]
    second = rm.add_app(applicationTags="livy-batch-2-bbbbbbbb,etl")["id"]
    rm.add_app(applicationTags="livy-batch-3-cccccccc")
    assert listed_ids(rm, "applicationTags=LIVY-BATCH-1-AAAAAAAA") == [first]
    assert listed_ids(rm, "applicationTags=livy-batch-1-aaaaaaaa,ETL") == [first, second]
    assert listed_ids(rm, "applicationTags=livy-batch-1-aaaaaaaa&applicationTags=etl") == [
        first,
        second,
    ]


# ---------------------------------------------------------------- query parameters


@pytest.fixture
def mixed(rm):
    """Four apps that differ in every filterable field."""
    ids = {
        "running": rm.add_app(state="RUNNING", user="alice", queue="etl", startedTime=1_000)["id"],
        "accepted": rm.add_app(state="ACCEPTED", user="bob", startedTime=2_000)["id"],
        "finished": rm.add_app(
            state="FINISHED", user="alice", startedTime=3_000, finishedTime=10_000
        )["id"],
        "failed": rm.add_app(
            state="FAILED", applicationType="MAPREDUCE", startedTime=4_000, finishedTime=20_000
        )["id"],
    }
    return rm, ids


@pytest.mark.parametrize(
    "query, expected",
    [
        ("states=running,Accepted", ["running", "accepted"]),
        ("states=running&states=FINISHED", ["running", "finished"]),
        ("state=finished", ["finished"]),
        ("finalStatus=succeeded", ["finished"]),
        ("user=alice", ["running", "finished"]),
        ("queue=etl", ["running"]),
        ("limit=2", ["running", "accepted"]),
        ("startedTimeBegin=2000&startedTimeEnd=3000", ["accepted", "finished"]),
        ("finishedTimeBegin=15000", ["failed"]),
        ("finishedTimeEnd=15000", ["running", "accepted", "finished"]),
        ("applicationTypes=spark", ["running", "accepted", "finished"]),
        ("applicationTypes=MapReduce", ["failed"]),
        ("unknownParameter=ignored", ["running", "accepted", "finished", "failed"]),
    ],
)
def test_list_filters(mixed, query, expected):
    rm, ids = mixed
    assert listed_ids(rm, query) == [ids[name] for name in expected]


@pytest.mark.parametrize(
    "query, message",
    [
        ("states=DONE", "Invalid application-state done specified"),
        ("limit=0", "limit value must be greater then 0"),
        ("limit=ten", "limit value must be a number"),
        ("startedTimeBegin=-1", "startedTimeBegin must be greater than 0"),
        (
            "finishedTimeBegin=5&finishedTimeEnd=4",
            "finishedTimeEnd must be greater than finishedTimeBegin",
        ),
    ],
)
def test_invalid_query_parameters_are_400_remote_exceptions(rm, query, message):
    response = get(rm, f"{APPS}?{query}")
    assert response.status_code == 400
    error = response.json()["RemoteException"]
    assert error["exception"] == "BadRequestException"
    assert message in error["message"]


def test_deselects_drops_fields_and_rejects_unknown_values(rm):
    rm.add_app()
    full = get(rm, APPS).json()["apps"]["app"][0]
    assert "resourceRequests" in full and "timeouts" in full
    slim = get(rm, f"{APPS}?deSelects=resourceRequests,TIMEOUTS").json()["apps"]["app"][0]
    assert "resourceRequests" not in slim and "timeouts" not in slim
    assert slim["id"] == full["id"]

    response = get(rm, f"{APPS}?deSelects=resourceRequests,everything")
    assert response.status_code == 400
    assert response.json() == {
        "RemoteException": {
            "exception": "BadRequestException",
            "message": "java.lang.Exception: Invalid deSelects string everything specified. "
            "It should be one of [resourceRequests, timeouts, appNodeLabelExpression, "
            "amNodeLabelExpression, resourceInfo]",
            "javaClassName": "org.apache.hadoop.yarn.webapp.BadRequestException",
        }
    }


# ---------------------------------------------------------------- one app


def test_single_app_found_missing_and_malformed(rm):
    app = rm.add_app(applicationTags="livy-session-3-zzzzzzzz")
    assert (
        get(rm, f"{APPS}/{app['id']}").json()["app"]["applicationTags"] == "livy-session-3-zzzzzzzz"
    )

    missing = get(rm, f"{APPS}/application_1_0001")
    assert missing.status_code == 404
    assert missing.json() == {
        "RemoteException": {
            "exception": "NotFoundException",
            "message": "java.lang.Exception: app with id: application_1_0001 not found",
            "javaClassName": "org.apache.hadoop.yarn.webapp.NotFoundException",
        }
    }

    for bad_id in (
        "spark-0123456789abcdef0123456789abcdef",
        "application_x_1",
        "application_1_99999999999",
    ):
        malformed = get(rm, f"{APPS}/{bad_id}")
        assert malformed.status_code == 400, bad_id
        assert malformed.json()["RemoteException"]["exception"] == "BadRequestException"


def test_only_get_is_allowed(rm):
    assert fetch(rm.url + APPS, method="DELETE").status_code == 405


# ---------------------------------------------------------------- HA


def test_standby_serves_cluster_info_but_redirects_the_rest(rm):
    rm.add_app()
    with YarnDouble(ha_state="STANDBY") as standby:
        standby.set_active(rm)
        assert get(standby, "/ws/v1/cluster/info").json()["clusterInfo"]["haState"] == "STANDBY"

        response = get(standby, f"{APPS}?states=RUNNING&applicationTypes=SPARK")
        expected = f"{rm.url}{APPS}?states=RUNNING&applicationTypes=SPARK"
        assert response.status_code == 307
        assert response.headers["Location"] == expected
        assert response.text.strip() == f"This is standby RM. The redirect url is: {expected}"

        followed = get(standby, APPS, follow_redirects=True)
        assert followed.status_code == 200 and len(followed.json()["apps"]["app"]) == 1


def test_standby_without_an_active_rm_asks_to_refresh():
    with YarnDouble(ha_state="STANDBY") as standby:
        response = get(standby, f"{APPS}/application_1_0001")
        assert response.status_code == 307
        assert "Location" not in response.headers
        assert response.headers["Refresh"].startswith(
            f"5;url={standby.url}{APPS}/application_1_0001"
        )
        assert response.text.startswith("Can not find any active RM. Will retry in next 5 seconds.")


def test_ha_state_can_change_at_runtime(rm):
    rm.set_ha_state("STANDBY")
    assert get(rm, APPS).status_code == 307
    rm.set_ha_state("ACTIVE")
    assert get(rm, APPS).status_code == 200
    with pytest.raises(ValueError):
        rm.set_ha_state("PRIMARY")


# ---------------------------------------------------------------- retention


def test_only_the_most_recently_finished_apps_are_remembered():
    with YarnDouble(max_completed_apps=2) as rm:
        rm.add_apps(
            [
                {"id": "application_1_0001", "state": "FINISHED", "finishedTime": 3_000},
                {"id": "application_1_0002", "state": "FAILED", "finishedTime": 1_000},
                {"id": "application_1_0003", "state": "RUNNING"},
                {"id": "application_1_0004", "state": "KILLED", "finishedTime": 2_000},
            ]
        )
        assert sorted(listed_ids(rm)) == [
            "application_1_0001",
            "application_1_0003",
            "application_1_0004",
        ]
        assert get(rm, f"{APPS}/application_1_0002").status_code == 404

        rm.finish_app("application_1_0003", finished_time=4_000)
        assert sorted(listed_ids(rm)) == ["application_1_0001", "application_1_0003"]
        rm.add_app(id="application_1_0005", state="FINISHED", finishedTime=500)
        assert "application_1_0005" not in rm.app_ids()


def test_remove_and_clear(rm):
    kept = rm.add_app()["id"]
    removed = rm.add_app()["id"]
    rm.remove_app(removed)
    assert listed_ids(rm) == [kept]
    rm.clear()
    assert get(rm, APPS).json() == {"apps": None}


# ---------------------------------------------------------------- auth


def test_simple_auth_without_anonymous_refuses_requests_without_user_name():
    with YarnDouble(user_name_required=True) as rm:
        refused = get(rm, "/ws/v1/cluster/info")
        assert refused.status_code == 403
        assert refused.headers["WWW-Authenticate"] == "PseudoAuth"
        assert get(rm, "/ws/v1/cluster/info?user.name=livy").status_code == 200


def test_basic_auth_challenges_missing_or_wrong_credentials():
    with YarnDouble(basic_auth=("admin", "s3cret")) as rm:
        missing = get(rm, APPS)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith('Basic realm="')
        assert get(rm, APPS, auth=("admin", "wrong")).status_code == 401
        garbage = {"Authorization": "Basic !!!not-base64"}
        assert get(rm, APPS, headers=garbage).status_code == 401
        assert get(rm, APPS, auth=("admin", "s3cret")).status_code == 200


# ---------------------------------------------------------------- instrumentation and faults


def test_requests_are_recorded_with_query_and_headers(rm):
    get(
        rm,
        f"{APPS}?applicationTypes=SPARK&deSelects=resourceRequests",
        headers={"Authorization": "Basic " + base64.b64encode(b"a:b").decode()},
    )
    get(rm, "/ws/v1/cluster/info")
    assert rm.request_count == 2
    method, path, query, headers = rm.requests[0]
    assert (method, path) == ("GET", APPS)
    assert query == {"applicationTypes": "SPARK", "deSelects": "resourceRequests"}
    assert headers["Authorization"].startswith("Basic ")
    rm.reset_requests()
    assert rm.request_count == 0 and rm.requests == []


def test_fail_next_injects_failures_then_recovers(rm):
    rm.fail_next(2, status=503)
    assert [get(rm, APPS).status_code for _ in range(3)] == [503, 503, 200]

    rm.fail_next(1, status=500, path=APPS)
    assert get(rm, "/ws/v1/cluster/info").status_code == 200
    assert get(rm, APPS).status_code == 500

    rm.fail_next(1, status=200, path=APPS, body="<html>login</html>")
    assert get(rm, APPS).text.strip() == "<html>login</html>"


def test_delay_makes_clients_time_out(rm):
    rm.delay_seconds = 1.0
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        fetch(rm.url + APPS, timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_stopped_rm_refuses_connections_and_can_come_back(rm):
    url = rm.url
    rm.add_app()
    rm.stop()
    with pytest.raises(ConnectionError):
        fetch(url + APPS)
    rm.start()
    assert rm.url == url
    assert len(get(rm, APPS).json()["apps"]["app"]) == 1


def test_serving_prints_nothing(rm, capfd):
    get(rm, APPS)
    get(rm, f"{APPS}/nonsense")
    rm.delay_seconds = 0.5
    with pytest.raises(socket.timeout):
        fetch(rm.url + APPS, timeout=0.1)
    time.sleep(0.6)  # let the handler write to the closed connection
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
