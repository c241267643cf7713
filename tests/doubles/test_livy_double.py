"""The Livy REST double answers as Livy 0.9 does (docs: docs/dev/livy-rest.md section 4)."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from kazoo.client import KazooClient

from tests.doubles.client import fetch
from zkjanitor.testing.livy_double import (
    CSRF_MESSAGE,
    LivyDouble,
    LivyStartupError,
    znode_path,
)
from zkjanitor.testing.yarn_double import YarnDouble

CSRF = {"X-Requested-By": "zkjanitor"}


def get(livy, path, **kwargs):
    return fetch(livy.url + path, **kwargs)


def delete(livy, path, **kwargs):
    return fetch(livy.url + path, method="DELETE", **kwargs)


def batch_record(session_id, **fields):
    record = {
        "id": session_id,
        "name": None,
        "appId": f"application_1712345678901_{session_id:04d}",
        "appTag": f"livy-batch-{session_id}-abcd1234",
        "owner": "alice",
        "proxyUser": None,
        "version": 1,
    }
    record.update(fields)
    return json.dumps(record, separators=(",", ":")).encode()


def create(client, path, data=b""):
    client.create(path, data, makepath=True)


@pytest.fixture
def livy():
    with LivyDouble() as server:
        yield server


@pytest.fixture
def store(zk_client, prefix, parent):
    """This test's Livy store: ``parent`` is /<prefix>/v1/batch (removed afterwards)."""
    return zk_client, prefix


# ---------------------------------------------------------------- listing


def test_listing_uses_the_sessions_key_for_both_types_with_from_and_total(livy):
    livy.add_batch(appId="application_1_0001")
    livy.add_interactive()
    for collection in ("/batches", "/sessions"):
        reply = get(livy, collection)
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "application/json;charset=utf-8"
        body = reply.json()
        assert list(body) == ["from", "total", "sessions"]
        assert body["from"] == 0 and body["total"] == 1 and len(body["sessions"]) == 1


def test_a_listing_holds_100_sessions_by_default_and_total_counts_all(livy):
    for _ in range(105):
        livy.add_batch()
    body = get(livy, "/batches").json()
    assert len(body["sessions"]) == 100 and body["total"] == 105
    assert [s["id"] for s in get(livy, "/batches?from=100").json()["sessions"]] == [100, 101, 102, 103, 104]


@pytest.mark.parametrize(
    "query, ids, echoed_from",
    [
        ("from=1&size=2", [11, 12], 1),
        ("from=3&size=10", [13], 3),
        ("from=9", [], 9),
        ("from=-2&size=3", [10], -2),
        ("size=0", [], 0),
        ("size=-1", [], 0),
        ("from=1&size=2147483647", [], 1),  # from + size overflows a Java int: an empty page
    ],
)
def test_paging_follows_scala_view_from_until(livy, query, ids, echoed_from):
    for session_id in range(10, 14):
        livy.add_batch(id=session_id)
    body = get(livy, f"/batches?{query}").json()
    assert [s["id"] for s in body["sessions"]] == ids
    assert body["from"] == echoed_from and body["total"] == 4


@pytest.mark.parametrize("query, bad", [("from=x", "x"), ("size=", ""), ("size=99999999999", "99999999999")])
def test_non_integer_paging_is_400_with_javas_message(livy, query, bad):
    reply = get(livy, f"/batches?{query}")
    assert reply.status == 400
    assert reply.json() == {"msg": f'For input string: "{bad}"'}


def test_listing_is_in_registration_order_not_id_order(livy):
    for session_id in (7, 2, 5):
        livy.add_batch(id=session_id)
    assert [s["id"] for s in get(livy, "/batches").json()["sessions"]] == [7, 2, 5]


# ---------------------------------------------------------------- one session


def test_views_have_livys_fields_in_livys_order(livy):
    livy.add_batch(id=4, name="nightly", owner="alice", proxyUser="etl", appId="application_1_0004",
                   log=[f"line {n}" for n in range(12)])
    livy.add_interactive(id=9, kind="python", heartbeatTimeoutS=60)
    batch = get(livy, "/batches/4").json()
    assert list(batch) == ["id", "name", "owner", "proxyUser", "state", "appId", "appInfo", "log"]
    assert batch["log"] == [f"line {n}" for n in range(2, 12)]  # the last 10
    assert batch["appInfo"] == {"driverLogUrl": None, "sparkUiUrl": None, "executorLogUrls": None}
    interactive = get(livy, "/sessions/9").json()
    assert list(interactive)[:9] == ["id", "name", "appId", "owner", "proxyUser", "state", "kind", "appInfo", "log"]
    assert interactive["kind"] == "pyspark"
    assert interactive["heartbeatTimeoutInSecond"] == 60 and interactive["driverCores"] == 0


def test_sessions_are_found_by_id_or_by_name(livy):
    livy.add_batch(id=3, name="nightly-etl")
    assert get(livy, "/batches/3").json()["name"] == "nightly-etl"
    assert get(livy, "/batches/nightly-etl").json()["id"] == 3
    assert get(livy, "/batches/3/state").json() == {"id": 3, "state": "running"}


@pytest.mark.parametrize("asked", ["42", "007", "no-such-name"])
def test_a_session_not_held_is_404_naming_what_was_asked(livy, asked):
    livy.add_batch(id=7)
    reply = get(livy, f"/batches/{asked}")
    if asked == "007":  # all digits: looked up as the int 7
        assert reply.status == 200
        return
    assert reply.status == 404
    assert reply.json() == {"msg": f"Session '{asked}' not found."}
    assert get(livy, f"/sessions/{asked}/state").json() == {"msg": f"Session '{asked}' not found."}


def test_an_all_digit_id_beyond_an_int_is_400(livy):
    reply = get(livy, "/batches/99999999999")
    assert reply.status == 400 and reply.json() == {"msg": 'For input string: "99999999999"'}


def test_log_endpoint_pages_like_livy(livy):
    livy.add_batch(id=1, log=[str(n) for n in range(150)])
    body = get(livy, "/batches/1/log").json()
    assert (body["from"], body["total"], len(body["log"])) == (50, 150, 100)
    assert get(livy, "/batches/1/log?from=2&size=3").json()["log"] == ["2", "3", "4"]


# ---------------------------------------------------------------- states


def test_each_type_reports_only_its_own_states(livy):
    livy.add_batch(id=1)
    livy.add_interactive(id=1)
    livy.set_state("batch", 1, "success")
    livy.set_state("interactive", 1, "busy")
    assert get(livy, "/batches/1/state").json()["state"] == "success"
    assert get(livy, "/sessions/1/state").json()["state"] == "busy"
    with pytest.raises(ValueError):
        livy.set_state("batch", 1, "idle")  # a batch never reports a REPL state
    with pytest.raises(ValueError):
        livy.set_state("interactive", 1, "running")  # the REPL state stands in for running


def test_a_session_can_change_state_between_two_requests(livy):
    livy.add_batch(id=5, state="running")
    livy.transition_after("batch", 5, "success", requests=1, method="GET", path="/batches")
    assert get(livy, "/batches").json()["sessions"][0]["state"] == "running"
    assert get(livy, "/batches/5/state").json()["state"] == "success"


# ---------------------------------------------------------------- DELETE and the store


def test_delete_removes_the_znode_before_answering_and_forgets_the_session(livy_server, store):
    client, prefix = store
    for session_id in (1, 2):
        create(client, znode_path(prefix, "batch", session_id), batch_record(session_id))
    assert sorted(livy_server.recover()["batch"]) == [1, 2]

    reply = delete(livy_server, "/batches/1")
    assert reply.status == 200 and reply.json() == {"msg": "deleted"}
    assert client.exists(znode_path(prefix, "batch", 1)) is None  # already gone when the 200 arrives
    assert client.exists(znode_path(prefix, "batch", 2)) is not None
    assert get(livy_server, "/batches/1").status == 404
    assert get(livy_server, "/batches").json()["total"] == 1


def test_delete_of_a_session_whose_znode_is_already_gone_still_succeeds(livy_server, store):
    livy_server.add_batch(id=8)
    assert delete(livy_server, "/batches/8").status == 200
    assert livy_server.session_ids("batch") == []


def test_delete_answers_200_but_keeps_the_session_when_zookeeper_fails(zk_server, store):
    client, prefix = store
    create(client, znode_path(prefix, "batch", 3), batch_record(3))
    closed = KazooClient(hosts=zk_server.connect_string, timeout=5)
    closed.start(timeout=10)
    closed.stop()  # ZooKeeper unreachable for this Livy
    with LivyDouble(zk_client=closed, zk_prefix=prefix) as livy:
        livy.add_batch(id=3)
        assert delete(livy, "/batches/3").json() == {"msg": "deleted"}
        assert get(livy, "/batches/3").status == 200
        assert [path for path, _ in livy.failed_removals] == [znode_path(prefix, "batch", 3)]
    assert client.exists(znode_path(prefix, "batch", 3)) is not None
    closed.close()


def test_delete_of_an_unknown_session_is_404(livy):
    reply = delete(livy, "/sessions/12")
    assert reply.status == 404 and reply.json() == {"msg": "Session '12' not found."}


def test_an_interactive_session_reports_shutting_down_while_it_stops(store):
    client, prefix = store
    create(client, znode_path(prefix, "interactive", 4), b'{"id":4,"kind":"spark","appTag":"livy-session-4-x"}')
    with LivyDouble(zk_client=client, zk_prefix=prefix, stop_seconds=0.6) as livy:
        livy.recover(state="recovering")
        livy.set_state("interactive", 4, "idle")
        worker = threading.Thread(target=delete, args=(livy, "/sessions/4"), kwargs={"timeout": 5})
        worker.start()
        deadline = time.monotonic() + 3
        seen = None
        while time.monotonic() < deadline and seen != "shutting_down":
            seen = get(livy, "/sessions/4/state").json().get("state")
            time.sleep(0.02)
        assert seen == "shutting_down"
        assert client.exists(znode_path(prefix, "interactive", 4)) is None
        worker.join(timeout=5)
        assert get(livy, "/sessions/4").status == 404


def test_deleting_a_running_batch_kills_its_yarn_application(livy):
    with YarnDouble() as rm:
        app = rm.add_app(applicationTags="livy-batch-1-abcdefgh")
        done = rm.add_app(state="FINISHED")
        livy.yarn = rm
        livy.add_batch(id=1, appId=app["id"], state="running")
        livy.add_batch(id=2, appId=done["id"], state="success")
        assert delete(livy, "/batches/1").status == 200
        assert delete(livy, "/batches/2").status == 200
        states = {a["id"]: a["state"] for a in fetch(rm.url + "/ws/v1/cluster/apps").json()["apps"]["app"]}
        assert states == {app["id"]: "KILLED", done["id"]: "FINISHED"}


def test_livy_gc_can_expire_a_session_and_its_znode(livy_server, store):
    client, prefix = store
    create(client, znode_path(prefix, "batch", 6), batch_record(6))
    livy_server.recover()
    livy_server.expire("batch", 6)
    assert client.exists(znode_path(prefix, "batch", 6)) is None
    assert get(livy_server, "/batches/6").status == 404


# ---------------------------------------------------------------- recovery


def test_recovery_holds_what_livy_would_recover(livy_server, store):
    client, prefix = store
    batch = f"/{prefix}/v1/batch"
    create(client, f"{batch}/state", b'{"nextSessionId":40}')
    create(client, f"{batch}/5", batch_record(5, name="nightly", proxyUser="etl"))
    create(client, f"{batch}/6", b"{not json")
    create(client, f"{batch}/0012", batch_record(99))  # Livy reads /12, which does not exist
    create(client, f"{batch}/13", batch_record(31))  # the id inside the record wins
    create(client, f"{batch}/lock", b"ignored: not an int")
    interactive = f"/{prefix}/v1/interactive"
    create(client, f"{interactive}/1", b'{"id":1,"kind":"pyspark3","appTag":"livy-session-1-x"}')
    create(client, f"{interactive}/2", b'{"id":2,"kind":"shared","appTag":"livy-session-2-x"}')

    recovered = livy_server.recover()
    assert sorted(recovered["batch"]) == [5, 31] and recovered["interactive"] == [2]
    assert sorted(path for path, _ in livy_server.recovery_failures) == [f"{batch}/6", f"{interactive}/1"]
    assert get(livy_server, "/batches/nightly").json()["proxyUser"] == "etl"
    assert get(livy_server, "/batches/31/state").json()["state"] == "recovering"
    assert get(livy_server, "/sessions/2").json()["conf"] is None  # a pre-0.8 record has no conf
    listed = [s["id"] for s in get(livy_server, "/batches").json()["sessions"]]
    assert listed == recovered["batch"]  # ZooKeeper's listing order
    assert livy_server.add_batch()["id"] == 40  # ids continue from the state node

    assert delete(livy_server, "/batches/31").status == 200
    assert client.exists(f"{batch}/13") is not None  # Livy removes /<id>, not the node it read
    assert client.exists(f"{batch}/31") is None


def test_two_recovered_sessions_with_one_name_stop_livy_from_starting(livy_server, store):
    client, prefix = store
    create(client, znode_path(prefix, "batch", 1), batch_record(1, name="dup"))
    create(client, znode_path(prefix, "batch", 2), batch_record(2, name="dup"))
    with pytest.raises(LivyStartupError):
        livy_server.recover()


def test_a_double_that_owns_its_zookeeper_client(zk_server, store):
    client, prefix = store
    create(client, znode_path(prefix, "batch", 1), batch_record(1))
    with LivyDouble(zk_hosts=zk_server.connect_string, zk_prefix=prefix) as livy:
        assert livy.recover()["batch"] == [1]
        assert delete(livy, "/batches/1").status == 200
    assert client.exists(znode_path(prefix, "batch", 1)) is None


# ---------------------------------------------------------------- CSRF, auth, access control


def test_csrf_protection_needs_x_requested_by_on_delete_and_post():
    with LivyDouble(csrf_protection=True) as livy:
        livy.add_batch(id=1)
        for method, path in (("DELETE", "/batches/1"), ("POST", "/batches")):
            refused = fetch(livy.url + path, method=method)
            assert refused.status == 400
            assert refused.reason == CSRF_MESSAGE
            assert CSRF_MESSAGE in refused.text and refused.headers["Content-Type"].startswith("text/html")
        assert get(livy, "/batches/1").status == 200
        assert delete(livy, "/batches/1", headers={"x-requested-by": ""}).status == 200  # presence is enough
        assert livy.count("DELETE", "/batches/1") == 2


def test_without_csrf_protection_delete_needs_no_header(livy):
    livy.add_batch(id=1)
    assert delete(livy, "/batches/1").status == 200


def test_basic_auth_refuses_missing_or_wrong_credentials():
    with LivyDouble(basic_auth=("livy", "s3cret")) as livy:
        for auth in (None, ("livy", "wrong")):
            refused = get(livy, "/batches", auth=auth)
            assert refused.status == 401
            assert refused.headers["WWW-Authenticate"] == "Basic"
        assert get(livy, "/batches", auth=("livy", "s3cret")).status == 200


def test_with_access_control_only_owner_proxy_user_or_modify_users_may_delete():
    users = {"alice": "a", "etl": "e", "mallory": "m", "admin": "x"}
    with LivyDouble(basic_auth=users, modify_users={"admin"}) as livy:
        for session_id in (1, 2, 3):
            livy.add_batch(id=session_id, owner="alice", proxyUser="etl")
        refused = delete(livy, "/batches/1", auth=("mallory", "m"))
        assert refused.status == 403 and refused.text == ""
        assert delete(livy, "/batches/1", auth=("alice", "a")).status == 200
        assert delete(livy, "/batches/2", auth=("etl", "e")).status == 200
        assert delete(livy, "/batches/3", auth=("admin", "x")).status == 200
        assert get(livy, "/batches", auth=("mallory", "m")).json()["total"] == 0


# ---------------------------------------------------------------- HA (Cloudera)


def test_a_passive_instance_redirects_every_method_to_the_active_one(livy):
    livy.set_ha_role("active")
    livy.add_batch(id=2)
    with LivyDouble(ha_role="passive") as passive:
        passive.set_active(livy)
        reply = get(passive, "/batches?from=0&size=5")
        assert reply.status == 307
        assert reply.headers["Location"] == f"{livy.url}/batches?from=0&size=5"
        assert get(passive, "/batches", follow_redirects=True).json()["total"] == 1
        assert delete(passive, "/batches/2", follow_redirects=True).json() == {"msg": "deleted"}
        assert livy.count("DELETE", "/batches/2") == 1 and passive.count("DELETE", "/batches/2") == 1


def test_ha_status_is_unauthenticated_and_tells_leader_from_follower():
    with LivyDouble(ha_role="active", ha_status_enabled=True, basic_auth=("u", "p")) as active, LivyDouble(
        ha_role="passive", ha_status_enabled=True, basic_auth=("u", "p")
    ) as passive:
        passive.set_active(active)
        assert (get(active, "/ha-status").status, get(active, "/ha-status").json()) == (200, {"status": "leader"})
        assert (get(passive, "/ha-status").status, get(passive, "/ha-status").json()) == (
            503,
            {"status": "follower"},
        )
        assert get(active, "/batches").status == 401


# ---------------------------------------------------------------- instrumentation and faults


def test_requests_are_recorded_so_tests_can_count_listings_and_headers(livy):
    livy.add_batch(id=1)
    get(livy, "/batches?from=0&size=100")
    delete(livy, "/batches/1", headers=CSRF)
    assert livy.request_counts() == {("GET", "/batches"): 1, ("DELETE", "/batches/1"): 1}
    method, path, query, headers = livy.requests[0]
    assert (method, path, query) == ("GET", "/batches", {"from": "0", "size": "100"})
    assert livy.requests[1].headers["X-Requested-By"] == "zkjanitor"


def test_a_stopped_livy_refuses_connections_and_comes_back_on_the_same_port(livy):
    url = livy.url
    livy.add_batch(id=1)
    livy.stop()
    with pytest.raises(ConnectionError):
        fetch(url + "/batches")
    livy.start()
    assert livy.url == url and get(livy, "/batches").json()["total"] == 1


def test_slow_responses_make_clients_time_out(livy):
    livy.delay_seconds = 1.0
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        fetch(livy.url + "/batches", timeout=0.2)
    assert time.monotonic() - started < 1.0


def test_fail_next_by_method(livy):
    livy.add_batch(id=1)
    livy.fail_next(1, 502, method="DELETE")
    assert get(livy, "/batches/1").status == 200
    assert delete(livy, "/batches/1").status == 502
    assert delete(livy, "/batches/1").status == 200


def test_serving_prints_nothing(livy, capfd):
    get(livy, "/batches/nope")
    get(livy, "/nowhere")
    assert capfd.readouterr() == ("", "")
