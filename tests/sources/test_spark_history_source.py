"""SparkHistorySource against the Spark History Server double: what each answer means, one listing, failures, auth.

tests/history runs the same source against a real Spark History Server.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime, timezone

import pytest

from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppPhase
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.spark_history import APPS_PATH, SparkHistorySource
from zkjanitor.sources.yarn import YarnAuth
from zkjanitor.testing.spark_history_double import SparkHistoryDouble
from zkjanitor.testing.zkserver import free_port

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)
CREATED_MS = NOW_MS - 10 * DAY_MS
OK, FAILED, KILLED, RETRIED, CLIENT, UNLISTED = (f"application_1700000000000_000{n}" for n in range(1, 7))


def source(*urls: str, **kwargs) -> SparkHistorySource:
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("retries", 1)
    return SparkHistorySource(list(urls), **kwargs)


def query(app_id, created_ms=CREATED_MS, tag="livy-batch-1-abcdefgh") -> AppQuery:
    return AppQuery(app_id, tag, created_ms)


@pytest.fixture
def shs(shs_double):
    """A server that lists one app of each kind."""
    start = NOW_MS - 9 * DAY_MS
    shs_double.add_app(OK, start_ms=start, end_ms=start + 60_000)
    shs_double.add_app(FAILED, start_ms=start, end_ms=start + 30_000)  # the listing cannot tell failure apart
    shs_double.add_app(KILLED, completed=False, start_ms=start)
    shs_double.add_app(RETRIED, completed=False, start_ms=start, attempt="1")
    shs_double.add_app(RETRIED, start_ms=start + 120_000, end_ms=start + 180_000, attempt="2")
    shs_double.add_app(CLIENT, start_ms=start, end_ms=start + 90_000, attempt=None)
    return shs_double


# ---------------------------------------------------------------- answers


def test_a_completed_log_is_a_finished_app_with_its_end_time(shs):
    start = NOW_MS - 9 * DAY_MS
    with source(shs.url) as history:
        ok, failed, retried, client = history.lookup_many([query(OK), query(FAILED), query(RETRIED), query(CLIENT)])
    assert (ok.phase, ok.source, ok.record.state, ok.record.finished_ms) == (
        AppPhase.FINISHED, "spark-history", "COMPLETED", start + 60_000)
    assert (failed.phase, failed.record.finished_ms) == (AppPhase.FINISHED, start + 30_000)
    assert (retried.phase, retried.record.finished_ms) == (AppPhase.FINISHED, start + 180_000)  # the newest attempt
    assert client.phase is AppPhase.FINISHED  # client mode: no attemptId


def test_a_log_in_progress_is_no_verdict_never_active(shs):
    with source(shs.url) as history:
        (killed,) = history.lookup_many([query(KILLED)])
    assert killed.phase is AppPhase.UNKNOWN
    assert (killed.detail, killed.authoritative, killed.record.state) == ("history-in-progress", False, "INCOMPLETE")


def test_only_the_newest_attempt_decides(shs):
    shs.add_app(OK, completed=False, start_ms=NOW_MS - DAY_MS, attempt="2")  # YARN started a second attempt
    with source(shs.url) as history:
        (answer,) = history.lookup_many([query(OK)])
    assert (answer.phase, answer.detail) == (AppPhase.UNKNOWN, "history-in-progress")


def test_an_app_it_does_not_list_is_not_found_without_vouching(shs):
    with source(shs.url) as history:
        (answer,) = history.lookup_many([query(UNLISTED)])
    assert (answer.phase, answer.authoritative, answer.detail) == (AppPhase.NOT_FOUND, False, "history-cannot-vouch")
    assert history.cannot_vouch is None  # never vouches, so never blocks a run: nothing rests on its absence


def test_a_server_still_scanning_after_its_start_proves_nothing(shs):
    shs.scanning = True
    with source(shs.url) as history:
        answers = history.lookup_many([query(OK), query(KILLED)])
        single = history.lookup(query(OK))
    assert {(a.phase, a.authoritative) for a in answers + [single]} == {(AppPhase.NOT_FOUND, False)}


def test_sessions_without_an_app_id_are_not_its_business_and_cost_no_request(shs):
    with source(shs.url) as history:
        answers = history.lookup_many([query(None), query("")])
        assert history.requests_made == 0
    assert {(a.phase, a.detail, a.authoritative) for a in answers} == {(AppPhase.UNKNOWN, "no-app-id", False)}


def test_any_app_id_is_asked_not_only_yarn_ones(shs):
    k8s = "spark-0a1b2c3d4e5f60718293a4b5c6d7e8f9"  # Livy 0.9 on Kubernetes; the SHS lists those too
    shs.add_app(k8s, start_ms=NOW_MS - DAY_MS, end_ms=NOW_MS - DAY_MS + 1000)
    with source(shs.url) as history:
        assert history.lookup_many([query(k8s)])[0].phase is AppPhase.FINISHED


def test_single_lookups_ask_for_the_one_app(shs):
    with source(shs.url) as history:
        assert history.lookup(query(OK)).phase is AppPhase.FINISHED
        assert history.lookup(query(KILLED)).detail == "history-in-progress"
        assert history.lookup(query(UNLISTED)).phase is AppPhase.NOT_FOUND
    assert [r.path for r in shs.requests] == [f"{APPS_PATH}/{OK}", f"{APPS_PATH}/{KILLED}", f"{APPS_PATH}/{UNLISTED}"]


# ---------------------------------------------------------------- one bounded listing


def test_one_request_per_run_whatever_the_number_of_sessions(shs):
    queries = [query(f"application_1700000000000_{n:04d}") for n in range(5000)]
    with source(shs.url) as history:
        answers = history.lookup_many(queries)
        assert history.requests_made == 1
    assert [r.path for r in shs.requests] == [APPS_PATH]
    assert sum(a.phase is AppPhase.FINISHED for a in answers) == 4


def test_the_listing_starts_a_day_before_the_oldest_session_and_is_gzipped(shs):
    oldest = datetime(2026, 11, 20, 0, 30, tzinfo=timezone.utc)
    oldest_ms = int(oldest.timestamp() * 1000)
    with source(shs.url) as history:
        history.lookup_many([query(OK, created_ms=oldest_ms + DAY_MS), query(KILLED, created_ms=oldest_ms),
                             query(None, created_ms=oldest_ms - 30 * DAY_MS)])  # not asked: no app id
    (request,) = shs.requests
    assert request.query == {"minDate": "2026-11-19"}
    assert request.headers["Accept-Encoding"] == "gzip"


def test_a_prefetched_listing_answers_every_batch_of_its_run_and_a_new_run_lists_again(shs):
    with source(shs.url) as history:
        history.start_run()
        history.prefetch_for([query(OK)])
        deadline = time.monotonic() + 5
        while not shs.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(shs.requests) == 1  # started before anyone asked
        assert history.lookup_many([query(OK), query(KILLED)])[0].phase is AppPhase.FINISHED
        history.prefetch_for([query(OK)])  # the next batch: the run's listing covers it
        history.lookup_many([query(OK)])
        assert history.requests_made == 1
        history.start_run()
        history.lookup_many([query(OK)])
        assert history.requests_made == 2  # a new run lists again


def test_a_prefetch_bounded_too_late_for_the_sessions_is_not_used(shs):
    with source(shs.url) as history:
        history.prefetch_for([query(OK, created_ms=NOW_MS)])
        answers = history.lookup_many([query(OK, created_ms=NOW_MS - 30 * DAY_MS)])
    assert answers[0].phase is AppPhase.FINISHED
    assert [r.query.get("minDate") for r in shs.requests][-1] < shs.requests[0].query["minDate"]


def test_several_servers_each_listed_once_and_the_newest_attempt_wins(shs):
    with SparkHistoryDouble() as other:
        other.add_app(KILLED, start_ms=NOW_MS - 8 * DAY_MS, end_ms=NOW_MS - 8 * DAY_MS + 1000, attempt="2")
        other.add_app(OK, completed=False, start_ms=NOW_MS - 10 * DAY_MS)  # an older attempt, still open
        with source(shs.url, other.url) as history:
            killed, ok = history.lookup_many([query(KILLED), query(OK)])
        assert (killed.phase, ok.phase) == (AppPhase.FINISHED, AppPhase.FINISHED)
        assert other.count("GET", APPS_PATH) == shs.count("GET", APPS_PATH) == 1


def test_one_server_of_several_down_fails_the_source_naming_it(shs):
    down = f"http://127.0.0.1:{free_port()}"
    with source(shs.url, down) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value) == (f"Spark History Server {down} did not answer {APPS_PATH} "
                                 "(connection refused, 2 attempts); check --spark-history")


# ---------------------------------------------------------------- failures: one line each


def test_errors_the_server_words_are_passed_on_in_one_line(shs):
    shs.fail_next(2, 503, path=APPS_PATH)
    with source(shs.url) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value) == f"Spark History Server {shs.url} did not answer {APPS_PATH} (HTTP 503, 2 attempts); " \
                                "check --spark-history"


def test_a_wrong_path_is_jettys_html_404_and_is_named_without_the_html(shs):
    with source(shs.url + "/history") as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value) == (f"Spark History Server {shs.url}/history answered HTTP 404 to {APPS_PATH}; "
                                 "check --spark-history")


def test_a_server_that_is_not_a_history_server_is_named(yarn_rm, shs):
    with source(yarn_rm.url) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value).startswith(f"Spark History Server {yarn_rm.url} answered HTTP 404 to {APPS_PATH}")
    shs.fail_next(1, 200, path=APPS_PATH, body="<html>a portal</html>")
    with source(shs.url) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value) == (f"Spark History Server {shs.url} sent a malformed reply to {APPS_PATH} (not JSON); "
                                 "is --spark-history a Spark History Server URL?")


def test_a_slow_server_times_out(shs):
    shs.delay_seconds = 1.0
    with source(shs.url, timeout=0.5, retries=0) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert "timed out after 0.5s" in str(caught.value)


@pytest.mark.parametrize("urls, message", [
    ([], "no Spark History Server URL given: pass --spark-history http://<shs>:18080"),
    (["shs:18080"], "invalid --spark-history URL 'shs:18080': expected http(s)://host:port"),
    (["http://u:pw@shs:18080"], "do not put credentials in --spark-history URLs"),
])
def test_invalid_urls_are_config_errors(urls, message):
    with pytest.raises(ConfigError) as caught:
        SparkHistorySource(urls)
    assert str(caught.value).startswith(message)
    assert "pw" not in str(caught.value)


def test_https_against_a_plain_port_says_so(shs):
    with source(shs.url.replace("http:", "https:"), retries=0) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert "(not a TLS server: try http://)" in str(caught.value)


# ---------------------------------------------------------------- auth


def test_a_gateway_asks_for_basic_auth_and_the_message_names_the_option(shs):
    shs.authenticator = SparkHistoryDouble(basic_auth=("admin", "s3cret")).authenticator
    with source(shs.url) as history, pytest.raises(SourceUnavailable) as caught:
        history.lookup_many([query(OK)])
    assert str(caught.value) == (f"the Spark History Server requires authentication (HTTP 401) at {shs.url}: "
                                 "pass --spark-history-auth basic|kerberos")
    with source(shs.url, auth=YarnAuth("basic", "admin", "s3cret")) as history:
        assert history.lookup_many([query(OK)])[0].phase is AppPhase.FINISHED
    with source(shs.url, auth=YarnAuth("basic", "admin", "wrong")) as history, pytest.raises(SourceUnavailable) as c:
        history.lookup_many([query(OK)])
    assert "refused the credentials (HTTP 401)" in str(c.value) and "wrong" not in str(c.value)


# Kerberos (SPNEGO) against a real KDC and the double's real SPNEGO: tests/compat/test_kerberos_livy_history.py


def test_simple_auth_is_not_a_history_server_kind():
    with pytest.raises(ConfigError, match="unknown Spark History Server auth 'simple'"):
        SparkHistorySource(["http://127.0.0.1:18080"], auth=YarnAuth("simple", "livy"))


# ---------------------------------------------------------------- doctor


def test_check_says_which_version_answers_and_warns_about_an_empty_server(shs):
    with source(shs.url) as history:
        (finding,) = history.check()
        assert (finding.severity, finding.problem) == ("ok", "Spark History Server 3.5.9 answers")
        shs.scanning = True
        (finding,) = history.check()
        assert (finding.severity, finding.problem) == ("warning", "the Spark History Server lists no application")
    down = f"http://127.0.0.1:{free_port()}"
    with source(down, retries=0) as history:
        (finding,) = history.check()
    assert finding.severity == "error" and "connection refused" in finding.problem


def test_the_double_gzips_like_jetty(shs):
    """The source decodes what the double encodes: the listing really travels compressed."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", int(shs.url.rsplit(":", 1)[1]), timeout=5)
    connection.request("GET", APPS_PATH, headers={"Accept-Encoding": "gzip"})
    reply = connection.getresponse()
    assert reply.getheader("Content-Encoding") == "gzip"
    assert [app["id"] for app in json.loads(gzip.decompress(reply.read()))] == [RETRIED, CLIENT, OK, FAILED, KILLED]
    connection.close()
