"""YarnSource against the RM double: HA, failures, retention, tags, auth, request counts."""

from __future__ import annotations

import sys
import time

import pytest

from zkjanitor.errors import EXIT_UNREACHABLE, ConfigError, SourceUnavailable
from zkjanitor.model import AppRecord, Lookup, LookupStatus
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.yarn import YarnAuth, YarnSource
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import free_port

APPS = "/ws/v1/cluster/apps"
K8S_APP_ID = "spark-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
FOUND, NOT_FOUND, UNKNOWN = LookupStatus.FOUND, LookupStatus.NOT_FOUND, LookupStatus.UNKNOWN


def source(*urls: str, **kwargs) -> YarnSource:
    """A source with test-sized timeouts."""
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 1)
    return YarnSource(list(urls), **kwargs)


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def statuses(lookups):
    return [lookup.status for lookup in lookups]


@pytest.fixture
def rm(yarn_rm):
    """The shared ACTIVE ResourceManager double (see conftest), under a short name."""
    return yarn_rm


@pytest.fixture
def apps(rm):
    """A running app, a finished app, and a running app found only by its tag."""
    running = rm.add_app(applicationTags="livy-batch-1-aaaaaaaa")["id"]
    finished = rm.add_app(
        applicationTags="livy-batch-2-bbbbbbbb",
        state="FINISHED",
        finalStatus="SUCCEEDED",
        startedTime=1_000,
        finishedTime=9_000,
    )["id"]
    rm.add_app(applicationTags="livy-batch-3-cccccccc")
    return running, finished


# ---------------------------------------------------------------- answers


def test_bulk_answers_by_id_and_by_tag(rm, apps):
    running, finished = apps
    queries = [
        AppQuery(running, "livy-batch-1-aaaaaaaa"),
        AppQuery(finished, "livy-batch-2-bbbbbbbb"),
        AppQuery(None, "livy-batch-3-cccccccc"),
        AppQuery("application_1_0404", "livy-batch-4-dddddddd"),
        AppQuery(None, "livy-batch-5-never000"),
    ]
    with source(rm.url) as yarn:
        answers = yarn.lookup_many(queries)
    assert statuses(answers) == [FOUND, FOUND, FOUND, NOT_FOUND, NOT_FOUND]
    assert answers[0].record.state == "RUNNING"
    assert answers[1].record == AppRecord(
        finished, "FINISHED", "SUCCEEDED", ("livy-batch-2-bbbbbbbb",), 1_000, 9_000
    )


def test_app_record_fields(rm):
    app_id = rm.add_app(
        applicationTags="livy-session-9-Q1w2E3r4,Team-A", state="RUNNING", startedTime=5_000
    )["id"]
    with source(rm.url) as yarn:
        record = yarn.lookup(AppQuery(app_id, "livy-session-9-Q1w2E3r4")).record
    assert record == AppRecord(
        app_id, "RUNNING", "UNDEFINED", ("livy-session-9-q1w2e3r4", "team-a"), 5_000, None
    )


def test_per_item_lookup_by_id_and_by_tag(rm, apps):
    running, finished = apps
    with source(rm.url) as yarn:
        assert yarn.lookup(AppQuery(finished, "x")).record.finished_ms == 9_000
        assert yarn.lookup(AppQuery("application_1_0404", "x")) == Lookup(NOT_FOUND)
        assert yarn.lookup(AppQuery(None, "livy-batch-1-aaaaaaaa")).record.app_id == running
        assert yarn.lookup(AppQuery(None, "livy-batch-9-nothing0")) == Lookup(NOT_FOUND)
    paths = [(path, query.get("applicationTags")) for _, path, query, _ in rm.requests]
    assert (f"{APPS}/{finished}", None) in paths
    assert (APPS, "livy-batch-1-aaaaaaaa") in paths


def test_mixed_case_livy_tag_matches_the_lowercase_rm_tag(rm):
    app_id = rm.add_app(applicationTags="livy-batch-41-Xq3kP9aZ")["id"]
    query = AppQuery(None, "livy-batch-41-Xq3kP9aZ")
    with source(rm.url) as yarn:
        assert yarn.lookup_many([query])[0].record.app_id == app_id
        assert yarn.lookup(query).record.app_id == app_id


def test_a_running_app_wins_over_a_finished_one_with_the_same_tag(rm):
    rm.add_app(applicationTags="livy-batch-6-ffffffff", state="FAILED", finishedTime=50_000)
    retry = rm.add_app(applicationTags="livy-batch-6-ffffffff", state="RUNNING")["id"]
    rm.add_app(applicationTags="livy-batch-6-ffffffff", state="KILLED", finishedTime=60_000)
    with source(rm.url) as yarn:
        assert yarn.lookup_many([AppQuery(None, "livy-batch-6-ffffffff")])[0].record.app_id == retry
        assert yarn.lookup(AppQuery(None, "livy-batch-6-ffffffff")).record.app_id == retry


def test_kubernetes_ids_are_unknown_without_asking_yarn(rm):
    with source(rm.url) as yarn:
        answers = yarn.lookup_many([AppQuery(K8S_APP_ID, "livy-batch-1-aaaaaaaa")] * 3)
        assert answers == [Lookup(UNKNOWN, detail="not-a-yarn-app")] * 3
        assert yarn.lookup(AppQuery(K8S_APP_ID, "x")) == Lookup(UNKNOWN, detail="not-a-yarn-app")
        assert yarn.requests_made == 0
    assert rm.request_count == 0


def test_a_query_with_neither_id_nor_tag_is_unknown(rm):
    with source(rm.url) as yarn:
        assert yarn.lookup_many([AppQuery(None, None), AppQuery(None, " ")])[0].status is UNKNOWN


def test_empty_rm_answers_apps_null_and_everything_is_not_found(rm):
    with source(rm.url) as yarn:
        answers = yarn.lookup_many([AppQuery("application_1_0001", "t1"), AppQuery(None, "t2")])
    assert statuses(answers) == [NOT_FOUND, NOT_FOUND]


def test_apps_forgotten_by_retention_are_not_found():
    with YarnDouble(max_completed_apps=2) as rm:
        oldest, middle, newest = (
            rm.add_app(state="FINISHED", finishedTime=finished)["id"]
            for finished in (1_000, 2_000, 3_000)
        )
        with source(rm.url) as yarn:
            answers = yarn.lookup_many(
                [AppQuery(app_id, "t") for app_id in (oldest, middle, newest)]
            )
            assert statuses(answers) == [NOT_FOUND, FOUND, FOUND]
            assert yarn.lookup(AppQuery(oldest, "t")).status is NOT_FOUND


def test_request_count_is_constant_whatever_the_number_of_queries(rm):
    for n in range(50):
        rm.add_app(applicationTags=f"livy-batch-{n}-abcdefgh")
    counts = []
    for size in (10, 5000):
        queries = [
            AppQuery(None if n % 2 else f"application_1_{n:04d}", f"livy-batch-{n}-abcdefgh")
            for n in range(size)
        ]
        rm.reset_requests()
        with source(rm.url) as yarn:
            assert len(yarn.lookup_many(queries)) == size
            counts.append((yarn.requests_made, rm.request_count))
    assert counts == [(2, 2), (2, 2)]
    info, listing = rm.requests
    assert info.path == "/ws/v1/cluster/info"
    assert listing.query == {"applicationTypes": "SPARK", "deSelects": "resourceRequests"}


def wait_for_requests(rm, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while rm.request_count < count:
        assert time.monotonic() < deadline, f"the RM saw {rm.request_count} of {count} requests"
        time.sleep(0.01)


def test_prefetch_lists_the_apps_before_lookup_many_asks_and_lookup_many_reuses_it(rm, apps):
    running, finished = apps
    with source(rm.url) as yarn:
        yarn.prefetch()
        yarn.prefetch()  # a second call starts nothing more
        wait_for_requests(rm, 2)
        answers = yarn.lookup_many([AppQuery(running, "x"), AppQuery(finished, "y"), AppQuery(None, "nope")])
        assert statuses(answers) == [FOUND, FOUND, NOT_FOUND]
        assert (yarn.requests_made, rm.request_count) == (2, 2)
        rm.finish_app(running, finished_time=9_000)
        # The prefetched listing serves one lookup_many: the next one asks the RM again.
        assert yarn.lookup_many([AppQuery(running, "x")])[0].record.state == "FINISHED"


def test_a_failed_prefetch_surfaces_from_lookup_many_only_when_yarn_is_needed():
    with source(closed_url()) as yarn:
        yarn.prefetch()
        assert yarn.lookup_many([AppQuery(K8S_APP_ID, "t")]) == [Lookup(UNKNOWN, detail="not-a-yarn-app")]
    with source(closed_url()) as yarn:
        yarn.prefetch()
        with pytest.raises(SourceUnavailable, match="no active YARN ResourceManager"):
            yarn.lookup_many([AppQuery("application_1_0001", "t")])


def test_lookup_many_of_nothing_asks_nothing(rm):
    with source(rm.url) as yarn:
        assert yarn.lookup_many([]) == []
    assert rm.request_count == 0


# ---------------------------------------------------------------- HA


def test_standby_listed_first_is_skipped_without_following_its_redirect(rm, apps):
    with YarnDouble(ha_state="STANDBY") as standby:
        standby.set_active(rm)
        with source(standby.url, rm.url) as yarn:
            answers = yarn.lookup_many([AppQuery(apps[0], "t")])
        assert statuses(answers) == [FOUND]
        assert [request.path for request in standby.requests] == ["/ws/v1/cluster/info"]


def test_non_ha_rm_without_ha_state_counts_as_active():
    with YarnDouble(ha_state=None) as rm:
        app_id = rm.add_app()["id"]
        with source(rm.url) as yarn:
            assert yarn.lookup_many([AppQuery(app_id, "t")])[0].status is FOUND


def test_all_standby_is_unavailable_naming_each_rm():
    with YarnDouble(ha_state="STANDBY") as first, YarnDouble(ha_state="STANDBY") as second:
        with source(first.url, second.url) as yarn, pytest.raises(SourceUnavailable) as caught:
            yarn.lookup_many([AppQuery("application_1_0001", "t")])
    message = str(caught.value)
    assert message == (
        f"no active YARN ResourceManager: {first.url} (STANDBY), {second.url} (STANDBY); "
        "check --yarn"
    )
    assert caught.value.exit_code == EXIT_UNREACHABLE


def test_unreachable_rm_is_unavailable_quickly(rm):
    dead = closed_url()
    started = time.monotonic()
    with source(dead, retries=2) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery("application_1_0001", "t")])
    assert time.monotonic() - started < 5
    assert f"{dead} (connection refused, 3 attempts)" in str(caught.value)
    assert "\n" not in str(caught.value)

    rm.set_ha_state("STANDBY")
    with source(dead, rm.url) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery("application_1_0001", "t")])
    assert f"{dead} (connection refused, 2 attempts), {rm.url} (STANDBY)" in str(caught.value)


def test_server_errors_are_retried_until_recovery(rm, apps):
    rm.fail_next(2, status=500)
    with source(rm.url, retries=2) as yarn:
        assert yarn.lookup_many([AppQuery(apps[0], "t")])[0].status is FOUND
        assert yarn.requests_made == 4  # 2 failed probes, 1 good probe, the listing


def test_server_errors_beyond_the_retries_are_unavailable(rm):
    rm.fail_next(10, status=503)
    with source(rm.url, retries=1) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery("application_1_0001", "t")])
    assert f"{rm.url} (HTTP 503, 2 attempts)" in str(caught.value)


def test_slow_rm_times_out(rm):
    rm.delay_seconds = 1.5
    started = time.monotonic()
    with source(rm.url, timeout=0.3, retries=0) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery("application_1_0001", "t")])
    assert time.monotonic() - started < 1.4
    assert "timed out" in str(caught.value)


def test_failing_active_is_re_probed_once_before_giving_up(rm, apps):
    rm.fail_next(2, status=502, path=APPS)  # the listing fails on both tries of the first round
    with source(rm.url, retries=1) as yarn:
        assert yarn.lookup_many([AppQuery(apps[0], "t")])[0].status is FOUND
    assert [request.path for request in rm.requests] == [
        "/ws/v1/cluster/info",
        APPS,
        APPS,
        "/ws/v1/cluster/info",
        APPS,
    ]

    rm.fail_next(100, status=502, path=APPS)
    with source(rm.url, retries=1) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery(apps[0], "t")])
    assert (
        str(caught.value) == f"YARN ResourceManager {rm.url} did not answer {APPS} "
        "(HTTP 502, 2 attempts); check --yarn"
    )


@pytest.mark.parametrize("how", ["stops", "becomes-standby"])
def test_failover_mid_run_to_the_other_rm(how):
    with YarnDouble() as first, YarnDouble(ha_state="STANDBY") as second:
        second.set_active(first)
        app_id = first.add_app(applicationTags="livy-batch-1-aaaaaaaa")["id"]
        second.add_app(id=app_id, applicationTags="livy-batch-1-aaaaaaaa", state="FINISHED")
        query = AppQuery(app_id, "livy-batch-1-aaaaaaaa")
        with source(first.url, second.url) as yarn:
            assert yarn.lookup_many([query])[0].record.state == "RUNNING"
            second.set_ha_state("ACTIVE")
            if how == "stops":
                first.stop()
            else:
                first.set_ha_state("STANDBY")
                first.set_active(second)
            assert yarn.lookup_many([query])[0].record.state == "FINISHED"
            assert yarn.lookup(query).record.state == "FINISHED"
        assert [request.path for request in second.requests][-3:] == [
            "/ws/v1/cluster/info",
            APPS,
            f"{APPS}/{app_id}",
        ]


# ---------------------------------------------------------------- malformed replies


@pytest.mark.parametrize(
    "body", ["<html>please log in</html>", '{"apps": [1, 2]}', '{"apps": {"app": [{"id": 7}]}}']
)
def test_malformed_listing_is_unavailable(rm, body):
    rm.fail_next(1, status=200, path=APPS, body=body)
    with source(rm.url) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery("application_1_0001", "t")])
    assert "malformed reply" in str(caught.value)


def test_a_404_that_is_not_the_rms_not_found_is_unknown(rm):
    rm.fail_next(1, status=404, path=f"{APPS}/", body="<html>Not Found</html>")
    with source(rm.url) as yarn:
        assert yarn.lookup(AppQuery("application_1_0001", "t")) == Lookup(
            UNKNOWN, detail="source-error"
        )
        assert yarn.lookup(AppQuery("application_1_0001", "t")) == Lookup(NOT_FOUND)


# ---------------------------------------------------------------- auth


def test_simple_auth_sends_user_name_on_every_request():
    with YarnDouble(user_name_required=True) as rm:
        app_id = rm.add_app()["id"]
        with source(rm.url, auth=YarnAuth("simple", "livy")) as yarn:
            assert yarn.lookup_many([AppQuery(app_id, "t")])[0].status is FOUND
            assert yarn.lookup(AppQuery(app_id, "t")).status is FOUND
        assert {request.query.get("user.name") for request in rm.requests} == {"livy"}

        with source(rm.url) as yarn, pytest.raises(SourceUnavailable) as caught:
            yarn.lookup_many([AppQuery(app_id, "t")])
        assert "HTTP 403" in str(caught.value) and "--yarn-auth" in str(caught.value)


def test_basic_auth_and_a_wrong_password():
    with YarnDouble(basic_auth=("admin", "s3cret-pw")) as rm:
        app_id = rm.add_app()["id"]
        with source(rm.url, auth=YarnAuth("basic", "admin", "s3cret-pw")) as yarn:
            assert yarn.lookup_many([AppQuery(app_id, "t")])[0].status is FOUND

        wrong = YarnAuth("basic", "admin", "not-the-pw")
        with (
            source(rm.url, auth=wrong, retries=2) as yarn,
            pytest.raises(SourceUnavailable) as caught,
        ):
            yarn.lookup_many([AppQuery(app_id, "t")])
        assert str(caught.value) == (
            f"YARN refused the credentials (HTTP 401) at {rm.url}: "
            "check --yarn-user / ZKJANITOR_YARN_PASSWORD"
        )
        assert yarn.requests_made == 1  # refused credentials are not retried
        assert "not-the-pw" not in repr(wrong)


def test_kerberos_without_the_optional_extra_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "requests_gssapi", None)  # makes the import fail
    with pytest.raises(ConfigError) as caught:
        YarnSource(["http://127.0.0.1:8088"], auth=YarnAuth("kerberos"))
    assert (
        str(caught.value) == "Kerberos needs the optional extra: pip install 'zkjanitor[kerberos]'"
    )


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "urls",
    [
        [],
        ["ftp://127.0.0.1:8088"],
        ["127.0.0.1:8088"],
        ["http://"],
        ["http://127.0.0.1:99999"],
        ["http://admin:pw@127.0.0.1:8088"],
        ["http://127.0.0.1:8088/?x=1"],
    ],
)
def test_invalid_urls_are_config_errors(urls):
    with pytest.raises(ConfigError) as caught:
        YarnSource(urls)
    assert "\n" not in str(caught.value)
    assert "admin:pw" not in str(caught.value)


@pytest.mark.parametrize(
    "auth", [YarnAuth("simple"), YarnAuth("basic", "admin"), YarnAuth("ntlm", "u")]
)
def test_incomplete_auth_is_a_config_error(auth):
    with pytest.raises(ConfigError):
        YarnSource(["http://127.0.0.1:8088"], auth=auth)


def test_base_url_with_a_trailing_slash(rm, apps):
    with source(rm.url + "/") as yarn:
        assert yarn.urls == [rm.url]
        assert yarn.lookup_many([AppQuery(apps[0], "t")])[0].status is FOUND
