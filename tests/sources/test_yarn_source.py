"""YarnSource against the RM double: HA, failures, retention, tags, auth, request counts."""

from __future__ import annotations

import gzip
import itertools
import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest

from zkjanitor.errors import EXIT_UNREACHABLE, ConfigError, SourceUnavailable
from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, ask_all
from zkjanitor.sources.yarn import CANNOT_VOUCH, NEWER_THAN_RM, NOT_A_YARN_APP, YarnAuth, YarnSource
from zkjanitor.sources.yarn import NOT_FOUND as YARN_NOT_FOUND
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import free_port

APPS = "/ws/v1/cluster/apps"
INFO = "/ws/v1/cluster/info"
K8S_APP_ID = "spark-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
FOUND, NOT_FOUND, UNKNOWN = "found", AppPhase.NOT_FOUND, AppPhase.UNKNOWN


def status(lookup: Lookup):
    """``found`` for an app the RM lists (whatever its phase), else the phase."""
    return FOUND if lookup.record is not None else lookup.phase


def source(*urls: str, **kwargs) -> YarnSource:
    """A source with test-sized timeouts."""
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 1)
    return YarnSource(list(urls), **kwargs)


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def statuses(lookups):
    return [status(lookup) for lookup in lookups]


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
        assert yarn.lookup(AppQuery("application_1_0404", "x")) == YARN_NOT_FOUND
        assert yarn.lookup(AppQuery(None, "livy-batch-1-aaaaaaaa")).record.app_id == running
        assert yarn.lookup(AppQuery(None, "livy-batch-9-nothing0")) == YARN_NOT_FOUND
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
        assert answers == [NOT_A_YARN_APP] * 3
        assert yarn.lookup(AppQuery(K8S_APP_ID, "x")) == NOT_A_YARN_APP
        assert yarn.requests_made == 0
    assert rm.request_count == 0


def test_a_query_with_neither_id_nor_tag_is_unknown(rm):
    with source(rm.url) as yarn:
        assert status(yarn.lookup_many([AppQuery(None, None), AppQuery(None, " ")])[0]) == UNKNOWN


def test_an_rm_that_knows_none_of_the_apps_cannot_vouch_for_their_absence(rm):
    queries = [AppQuery("application_1_0001", "t1", created_ms=1_000), AppQuery(None, "t2", created_ms=2_000)]
    with source(rm.url) as yarn:
        answers = ask_all(yarn, queries)
        message = yarn.cannot_vouch
    assert answers == [CANNOT_VOUCH] * 2
    assert message.startswith(f"YARN ResourceManager {rm.url} knows 0 of the store's 2 applications, ")
    assert "no session was created since it started" in message and "is this the cluster Livy submits to?" in message


def test_the_cannot_vouch_line_counts_the_sessions_created_after_the_rm_started(rm):
    after = rm.cluster_ts + 60_000
    queries = [AppQuery(f"application_1_{n:04d}", f"t{n}", created_ms=after if n < 3 else 1_000) for n in range(5)]
    with source(rm.url) as yarn:
        ask_all(yarn, queries)
        assert "knows 0 of the store's 5 applications, although 3 session(s) were created after it started (" \
            in yarn.cannot_vouch


def test_an_empty_rm_is_trusted_only_when_the_operator_says_so(rm):
    with source(rm.url, trust_absence=True) as yarn:
        answers = yarn.lookup_many([AppQuery("application_1_0001", "t1"), AppQuery(None, "t2")])
        assert statuses(answers) == [NOT_FOUND, NOT_FOUND]
        assert yarn.cannot_vouch is None


def test_knowing_one_of_the_stores_apps_vouches_for_the_rest(rm):
    known = rm.add_app(applicationTags="livy-batch-1-aaaaaaaa")["id"]
    with source(rm.url) as yarn:
        answers = yarn.lookup_many([AppQuery(known, "t1"), AppQuery("application_1_0002", "t2"), AppQuery(None, "t3")])
        assert statuses(answers) == [FOUND, NOT_FOUND, NOT_FOUND]
        assert yarn.cannot_vouch is None


def test_an_app_id_newer_than_every_rm_start_was_not_accepted_here(rm):
    known = rm.add_app()["id"]
    older, newer = f"application_{rm.cluster_ts - 1}_0001", f"application_{rm.cluster_ts + 1}_0001"
    with source(rm.url) as yarn:
        answers = yarn.lookup_many([AppQuery(known, "a"), AppQuery(older, "b"), AppQuery(newer, "c")])
        assert answers[1:] == [YARN_NOT_FOUND, NEWER_THAN_RM]
        assert yarn.lookup(AppQuery(newer, "c")) == NEWER_THAN_RM
        assert yarn.lookup(AppQuery(older, "b")) == YARN_NOT_FOUND


def test_the_newest_start_of_an_ha_pair_bounds_the_app_ids_it_can_have_given():
    with YarnDouble(cluster_timestamp=1_700_000_000_000) as rm1, \
            YarnDouble(ha_state="STANDBY", cluster_timestamp=1_800_000_000_000) as rm2:
        rm2.set_active(rm1)
        known = rm1.add_app()["id"]
        from_rm2 = "application_1800000000000_0007"
        with source(rm1.url) as alone, source(rm1.url, rm2.url) as pair:
            assert alone.lookup_many([AppQuery(known, "a"), AppQuery(from_rm2, "b")])[1].detail == "app-newer-than-rm"
            assert pair.lookup_many([AppQuery(known, "a"), AppQuery(from_rm2, "b")])[1] == YARN_NOT_FOUND


@pytest.mark.parametrize("app_type", ["SPARK-STREAMING", "MAPREDUCE"])
def test_an_app_of_any_type_is_judged_by_its_own_record(rm, app_type):
    running = rm.add_app(applicationType=app_type, applicationTags="livy-batch-7-aaaaaaaa")["id"]
    finished = rm.add_app(applicationType=app_type, state="FINISHED", finishedTime=5_000)["id"]
    with source(rm.url) as yarn:
        answers = yarn.lookup_many([AppQuery(running, "x"), AppQuery(finished, "y"),
                                    AppQuery(None, "livy-batch-7-aaaaaaaa")])
    assert [(status(a), a.record.state) for a in answers] == [
        (FOUND, "RUNNING"), (FOUND, "FINISHED"), (FOUND, "RUNNING")]


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
            assert status(yarn.lookup(AppQuery(oldest, "t"))) == NOT_FOUND


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
    assert listing.query == {"deSelects": "resourceRequests"}  # every type: an app is judged by its own record


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
        # The prefetched listing serves every batch of the run; the next run asks the RM again.
        assert yarn.lookup_many([AppQuery(running, "x")])[0].record.state == "RUNNING"
        yarn.start_run()
        assert yarn.lookup_many([AppQuery(running, "x")])[0].record.state == "FINISHED"


def test_a_run_is_asked_again_only_when_none_of_its_batches_finds_an_app(rm):
    known = rm.add_app(applicationTags="livy-batch-9-aaaaaaaa")["id"]
    forgotten = [AppQuery(f"application_1_{n:04d}", f"t{n}", created_ms=1_000) for n in range(3)]
    with source(rm.url) as yarn:
        yarn.start_run()
        # The store is read oldest first: the forgotten apps come before the one the RM remembers.
        assert statuses(yarn.lookup_many(forgotten)) == [NOT_FOUND] * 3
        assert statuses(yarn.lookup_many([AppQuery(known, "livy-batch-9-aaaaaaaa")])) == [FOUND]
        assert yarn.end_run() is False and yarn.cannot_vouch is None
        yarn.start_run()
        assert yarn.lookup_many(forgotten) == [YARN_NOT_FOUND] * 3  # provisional: only the run's end can tell
        assert yarn.end_run() is True
        requests = rm.request_count
        yarn.start_run()  # asked again: from the same listing, every "not found" unvouched
        assert yarn.lookup_many(forgotten) == [CANNOT_VOUCH] * 3
        assert "knows 0 of the store's 3 applications" in yarn.cannot_vouch
        assert yarn.end_run() is False
        assert rm.request_count == requests


def test_a_failed_prefetch_surfaces_from_lookup_many_only_when_yarn_is_needed():
    with source(closed_url()) as yarn:
        yarn.prefetch()
        assert yarn.lookup_many([AppQuery(K8S_APP_ID, "t")]) == [NOT_A_YARN_APP]
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
            assert status(yarn.lookup_many([AppQuery(app_id, "t")])[0]) == FOUND


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
        assert status(yarn.lookup_many([AppQuery(apps[0], "t")])[0]) == FOUND
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
        assert status(yarn.lookup_many([AppQuery(apps[0], "t")])[0]) == FOUND
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
            yarn.start_run()
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
            UNKNOWN, detail="source-error", source="yarn"
        )
        assert yarn.lookup(AppQuery("application_1_0001", "t")) == YARN_NOT_FOUND


# ---------------------------------------------------------------- auth


def test_simple_auth_sends_user_name_on_every_request():
    with YarnDouble(user_name_required=True) as rm:
        app_id = rm.add_app()["id"]
        with source(rm.url, auth=YarnAuth("simple", "livy")) as yarn:
            assert status(yarn.lookup_many([AppQuery(app_id, "t")])[0]) == FOUND
            assert status(yarn.lookup(AppQuery(app_id, "t"))) == FOUND
        assert {request.query.get("user.name") for request in rm.requests} == {"livy"}

        with source(rm.url) as yarn, pytest.raises(SourceUnavailable) as caught:
            yarn.lookup_many([AppQuery(app_id, "t")])
        assert "HTTP 403" in str(caught.value) and "--yarn-auth" in str(caught.value)


def test_basic_auth_and_a_wrong_password():
    with YarnDouble(basic_auth=("admin", "s3cret-pw")) as rm:
        app_id = rm.add_app()["id"]
        with source(rm.url, auth=YarnAuth("basic", "admin", "s3cret-pw")) as yarn:
            assert status(yarn.lookup_many([AppQuery(app_id, "t")])[0]) == FOUND

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
    monkeypatch.setitem(sys.modules, "gssapi", None)  # makes the import fail
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
        assert status(yarn.lookup_many([AppQuery(apps[0], "t")])[0]) == FOUND


def test_query_parameters_are_url_encoded(rm):
    app_id = rm.add_app(applicationTags="livy-batch-1-aaaaaaaa")["id"]
    with source(rm.url, auth=YarnAuth("simple", "etl user&x=1")) as yarn:
        assert yarn.lookup(AppQuery(None, "livy-batch-1-aaaaaaaa")).record.app_id == app_id
    assert {request.query["user.name"] for request in rm.requests} == {"etl user&x=1"}
    assert rm.requests[-1].query["applicationTags"] == "livy-batch-1-aaaaaaaa"


def test_every_request_asks_for_json(rm, apps):
    with source(rm.url) as yarn:
        yarn.lookup_many([AppQuery(apps[0], "t")])
    assert [request.headers.get("Accept") for request in rm.requests] == ["application/json"] * 2


# Kerberos (SPNEGO) against a real KDC and the double's real SPNEGO: tests/compat/test_kerberos_yarn.py


# ---------------------------------------------------------------- HTTP: imports, keep-alive, TLS, gzip, gateways

IMPORTS_OF_THE_YARN_SOURCE = """
import sys
from zkjanitor.sources.yarn import YarnSource
YarnSource(["http://127.0.0.1:8088"])
print(" ".join(name for name in ("requests", "urllib3", "charset_normalizer", "idna", "certifi", "ssl",
                                 "http.client", "gssapi") if name in sys.modules))
"""


def test_the_yarn_source_imports_no_http_library_and_no_ssl_until_it_is_used():
    done = subprocess.run([sys.executable, "-c", IMPORTS_OF_THE_YARN_SOURCE], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_the_first_request_imports_the_standard_library_only():
    script = f"""
import sys
from zkjanitor.errors import SourceUnavailable
from zkjanitor.sources.yarn import YarnSource
try:
    YarnSource(["{closed_url()}"], retries=0, timeout=2).find_active()
except SourceUnavailable:
    pass
print(" ".join(name for name in ("requests", "urllib3", "charset_normalizer", "http.client") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["http.client"]


TINY_APP = {"id": "application_1_0001", "state": "RUNNING", "finalStatus": "UNDEFINED",
            "applicationTags": "livy-batch-1-aaaaaaaa", "startedTime": 1_000, "finishedTime": 0}
TINY_APP_PATH = f"{APPS}/{TINY_APP['id']}"


class TinyRm(ThreadingHTTPServer):
    """An ACTIVE RM with one app on 127.0.0.1, speaking HTTP/1.1 with keep-alive (the YARN double speaks 1.0).

    Optionally over TLS (``tls``: the server's context), under a gateway's path
    ``prefix``, gzip-compressing its answers, or closing every connection after
    one answer without saying so (``drop_idle``, as an RM's or a proxy's idle
    timeout does). ``seen`` lists (connection number, path, headers).
    """

    daemon_threads = True

    def __init__(self, *, tls: Optional[ssl.SSLContext] = None, prefix: str = "", compress: bool = False,
                 drop_idle: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), TinyRmHandler)
        self.tls, self.prefix, self.compress, self.drop_idle = tls, prefix, compress, drop_idle
        self.seen: List[Tuple[int, str, Dict[str, str]]] = []
        self.connection_numbers = itertools.count(1)
        self.open_connections = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.server_address[1]}{self.prefix}"

    def __enter__(self) -> "TinyRm":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(5)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            secure = self.tls.wrap_socket(request, server_side=True)
        except OSError:
            return  # the client did not trust the certificate
        try:
            super().finish_request(secure, client_address)
        finally:
            secure.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are part of the tests."""

    def wait_until_all_connections_are_closed(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.open_connections:
            assert time.monotonic() < deadline, f"{self.open_connections} connections still open"
            time.sleep(0.01)


class TinyRmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TinyRm

    def setup(self) -> None:
        super().setup()
        self.number = next(self.server.connection_numbers)
        with self.server.lock:
            self.server.open_connections += 1

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.lock:
                self.server.open_connections -= 1

    def log_message(self, format: str, *args: Any) -> None:
        """Silent."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.seen.append((self.number, path, dict(self.headers.items())))
        answers = {
            INFO: {"clusterInfo": {"haState": "ACTIVE"}},
            APPS: {"apps": {"app": [TINY_APP]}},
            TINY_APP_PATH: {"app": TINY_APP},
        }
        body = answers.get(path[len(self.server.prefix):]) if path.startswith(self.server.prefix) else None
        payload = json.dumps(body).encode() if body is not None else b"Not Found"
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "application/json" if body is not None else "text/plain")
        if self.server.compress and "gzip" in self.headers.get("Accept-Encoding", ""):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if self.server.drop_idle:
            self.close_connection = True  # without "Connection: close": the client finds out when it reuses it


def listing_finds_the_app(yarn: YarnSource) -> bool:
    return status(yarn.lookup_many([AppQuery(TINY_APP["id"], "t")])[0]) == FOUND


def test_one_kept_alive_connection_per_rm_closed_by_close():
    with TinyRm() as rm:
        with source(rm.url) as yarn:
            assert listing_finds_the_app(yarn)
            assert status(yarn.lookup(AppQuery(TINY_APP["id"], "t"))) == FOUND
        assert [(number, path) for number, path, _ in rm.seen] == [(1, INFO), (1, APPS), (1, TINY_APP_PATH)]
        rm.wait_until_all_connections_are_closed()


def test_a_kept_alive_connection_the_rm_closed_is_reopened_without_failing_or_retrying():
    with TinyRm(drop_idle=True) as rm, source(rm.url, retries=0) as yarn:
        assert listing_finds_the_app(yarn)
        time.sleep(0.1)  # the RM has certainly closed its end by now
        assert status(yarn.lookup(AppQuery(TINY_APP["id"], "t"))) == FOUND
        assert [(number, path) for number, path, _ in rm.seen] == [(1, INFO), (2, APPS), (3, TINY_APP_PATH)]
        assert yarn.requests_made == 3


def test_a_gateway_path_prefix_and_gzip_answers(rm):
    with TinyRm(prefix="/gateway/yarn", compress=True) as tiny, source(tiny.url + "/") as yarn:
        assert yarn.urls == [tiny.url]
        assert listing_finds_the_app(yarn)
    assert [path for _, path, _ in tiny.seen] == ["/gateway/yarn" + INFO, "/gateway/yarn" + APPS]
    assert {headers["Accept-Encoding"] for _, _, headers in tiny.seen} == {"gzip"}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "rm.pem", folder / "rm.key"
    done = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"openssl could not make a self-signed certificate: {done.stderr.strip()[-300:]}")
    return cert, key


@pytest.fixture
def tls_rm(certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    with TinyRm(tls=context) as rm:
        yield rm


def test_https_with_a_certificate_nobody_trusts_is_a_tls_error(tls_rm):
    with source(tls_rm.url, retries=0) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.lookup_many([AppQuery(TINY_APP["id"], "t")])
    assert str(caught.value) == (
        f"no active YARN ResourceManager: {tls_rm.url} (TLS error: check the certificate); check --yarn"
    )
    assert tls_rm.seen == []


def test_https_trusting_the_rms_certificate_file_or_verifying_nothing(tls_rm, certificate):
    cert, _ = certificate
    with source(tls_rm.url, verify=str(cert)) as yarn:
        assert listing_finds_the_app(yarn)
    with source(tls_rm.url, verify=False) as yarn:
        assert listing_finds_the_app(yarn)
    assert [path for _, path, _ in tls_rm.seen] == [INFO, APPS] * 2


def test_https_checks_the_host_name_in_the_certificate(tls_rm, certificate):
    cert, _ = certificate
    by_name = tls_rm.url.replace("127.0.0.1", "localhost")  # the certificate names 127.0.0.1 only
    with source(by_name, verify=str(cert), retries=0) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.find_active()
    assert "TLS error: check the certificate" in str(caught.value)


def test_an_unusable_ca_file_is_a_config_error(tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match="cannot use the YARN CA file"):
        YarnSource(["https://127.0.0.1:8090"], verify=str(missing))
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot use the YARN CA file"):
        YarnSource(["https://127.0.0.1:8090"], verify=str(not_pem))


# ---------------------------------------------------------------- HA members probed at once


def test_a_hanging_first_rm_costs_one_timeout_and_is_named(rm, apps):
    with YarnDouble() as hanging:
        hanging.delay_seconds = 5.0
        started = time.monotonic()
        with source(hanging.url, rm.url, timeout=1.0, retries=2) as yarn:
            answers = yarn.lookup_many([AppQuery(apps[0], "t")])
            notes = yarn.notes
        elapsed = time.monotonic() - started
        hanging.delay_seconds = 0
    assert statuses(answers) == [FOUND]
    assert elapsed < 2.5  # before: 3 attempts of 1 s and their backoff against the first RM, then the second
    assert notes == [f"YARN ResourceManager {hanging.url} (no answer within 1s); using {rm.url}"]


def test_a_refusing_first_rm_does_not_hide_the_active_second(rm, apps):
    with YarnDouble(basic_auth=("admin", "pw")) as refusing:
        with source(refusing.url, rm.url) as yarn:
            answers = yarn.lookup_many([AppQuery(apps[0], "t")])
            notes = yarn.notes
    assert statuses(answers) == [FOUND]
    assert notes == [f"YARN ResourceManager {refusing.url} (refused the credentials); using {rm.url}"]


def test_a_standby_beside_the_active_rm_is_no_note(rm, apps):
    with YarnDouble(ha_state="STANDBY") as standby:
        with source(standby.url, rm.url) as yarn:
            answers = yarn.lookup_many([AppQuery(apps[0], "t")])
            notes = yarn.notes
    assert statuses(answers) == [FOUND]
    assert notes == []


def test_a_refusal_from_every_rm_is_the_refusal():
    with YarnDouble(basic_auth=("admin", "pw")) as refusing:
        with source(refusing.url) as yarn, pytest.raises(SourceUnavailable) as caught:
            yarn.find_active()
    assert str(caught.value).startswith(f"YARN requires authentication (HTTP 401) at {refusing.url}")


def test_https_against_a_plain_http_port_says_so(rm):
    https_url = rm.url.replace("http://", "https://")
    with source(https_url, retries=0) as yarn, pytest.raises(SourceUnavailable) as caught:
        yarn.find_active()
    assert str(caught.value) == (
        f"no active YARN ResourceManager: {https_url} (not a TLS server: try http://); "
        "check --yarn"
    )
