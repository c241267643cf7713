"""zkjanitor against a REAL Spark History Server (and real ZooKeeper, the YARN double): run by `make test-history`.

The server lists real event logs of jobs that succeeded, failed, and were
killed mid-run, rewritten with YARN ids (tests/history/conftest.py).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Dict, Optional, Tuple

import pytest

from tests.history.conftest import (
    CLIENT,
    CLOSED_NOT_RENAMED,
    COMPLETED_COPIES,
    FAILED,
    IN_PROGRESS_COPIES,
    KILLED,
    OK,
    RETRIED,
    UNLISTED,
)
from tests.support.history_store import app_id, rm_app, run, scan, seed_sessions, sessions_by_id, verdicts
from zkjanitor.model import AppPhase
from zkjanitor.render import iso_utc
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.http_client import HttpClient
from zkjanitor.sources.spark_history import APPS_PATH, SparkHistorySource
from zkjanitor.testing.spark_history import SparkHistoryServer
from zkjanitor.testing.spark_history_double import SparkHistoryDouble, gmt
from zkjanitor.testing.yarn_double import YarnDouble

pytestmark = [pytest.mark.history, pytest.mark.timeout(900)]

# session id -> the sequence of its application (None: Livy never learned the appId)
SESSIONS: Dict[int, Optional[int]] = {0: OK, 1: FAILED, 2: KILLED, 3: RETRIED, 4: CLIENT, 5: CLOSED_NOT_RENAMED,
                                      6: UNLISTED, 7: None, 8: IN_PROGRESS_COPIES[0]}
SESSIONS.update({10 + n: seq for n, seq in enumerate(COMPLETED_COPIES)})
RUNNING_IN_YARN = 8


@pytest.fixture
def store(old_zk_client, prefix, real_history):
    """A 10-day-old store whose applications the real server knows (or not); the RM forgot all but one."""
    seed_sessions(old_zk_client, prefix, {sid: None if seq is None else app_id(seq) for sid, seq in SESSIONS.items()})
    return prefix


@pytest.fixture
def rm(yarn_rm):
    """Livy's ResourceManager: it still runs one application and has forgotten the others."""
    yarn_rm.add_apps([rm_app(RUNNING_IN_YARN, app_id(IN_PROGRESS_COPIES[0]), "RUNNING")])
    return yarn_rm


def end_of(real_history, seq: int) -> int:
    return real_history.listing[app_id(seq)]["attempts"][0]["endTimeEpoch"]


@pytest.fixture
def requests_made(monkeypatch):
    """Every HTTP request zkjanitor sends in this test: (base URL, path, parameters)."""
    made = []
    original = HttpClient.get

    def recording(self, base, path, params):
        made.append((base, path, dict(params)))
        return original(self, base, path, params)

    monkeypatch.setattr(HttpClient, "get", recording)
    return made


# ---------------------------------------------------------------- the evidence, through the CLI


def test_what_the_rm_forgot_the_real_history_server_settles_with_its_end_time(store, old_zk_server, rm,
                                                                             real_history, requests_made):
    code, document, stderr = scan(old_zk_server, store, "--yarn", rm.url, "--spark-history", real_history.url)
    assert code == 0, stderr
    got = verdicts(document)
    finished = ("stale", "app-finished", "spark-history")
    assert {sid: got[sid] for sid in range(9)} == {
        0: finished,
        1: finished,  # a failed application's log is complete too: it ended
        2: ("stale", "app-forgotten", "yarn"),  # killed, its log open forever: the RM's word stands
        3: finished,  # attempt 1 killed, attempt 2 completed: the newest decides
        4: finished,  # client mode, no attempt id
        5: ("stale", "app-forgotten", "yarn"),  # complete events, never renamed: the server says incomplete
        6: ("stale", "app-forgotten", "yarn"),  # the server never saw it
        7: ("stale", "never-submitted", "yarn"),
        8: ("live", "app-active", "yarn"),  # its log is open, and YARN says it runs
    }
    assert all(got[10 + n] == finished for n in range(len(COMPLETED_COPIES)))
    sessions = sessions_by_id(document)
    for sid, seq in ((0, OK), (1, FAILED), (3, RETRIED)):
        assert sessions[sid]["finished"] == iso_utc(end_of(real_history, seq))
    assert document["summary"]["by_source"]["spark-history"] == {
        "live": 0, "stale": 4 + len(COMPLETED_COPIES), "unknown": 0}
    # one listing of the server per run, bounded by the oldest session (10 days old) less a day
    asked = [(path, params) for base, path, params in requests_made if base == real_history.url]
    assert [path for path, _ in asked] == [APPS_PATH]
    around = {time.strftime("%Y-%m-%d", time.gmtime(time.time() - 11 * 86400 + hours * 3600)) for hours in (-1, 1)}
    assert asked[0][1]["minDate"] in around


def test_an_open_log_is_never_stale_nor_live_on_its_own(store, old_zk_server, real_history):
    code, document, _ = scan(old_zk_server, store, "--spark-history", real_history.url)
    assert code == 0
    got = verdicts(document)
    for sid in (2, 5, 8):
        assert got[sid] == ("unknown", "history-in-progress", "spark-history"), sid
    assert got[6] == ("unknown", "history-cannot-vouch", "spark-history")  # 404: no evidence
    assert got[7] == ("unknown", "no-app-id", "spark-history")
    with YarnDouble() as other_cluster:  # an RM that cannot vouch: its "not found" does not count either
        code, document, _ = scan(old_zk_server, store, "--yarn", other_cluster.url, "--spark-history",
                                 real_history.url)
    assert code == 3
    got = verdicts(document)
    assert got[2] == ("unknown", "rm-cannot-vouch", "yarn") and got[0] == ("stale", "app-finished", "spark-history")


def test_prune_deletes_on_the_servers_word_only_what_it_saw_complete(store, old_zk_server, old_zk_client,
                                                                    real_history, tmp_path):
    backup = tmp_path / "backup.jsonl"
    result = run("prune", old_zk_server, store, "--older-than", "1d", "--apply", "--yes", "--backup", str(backup),
                 "--spark-history", real_history.url)
    assert result.exit_code == 0, result.stderr
    deleted = {s["id"] for s in json.loads(result.stdout)["sessions"] if s["action"] == "deleted"}
    assert deleted == {0, 1, 3, 4} | {10 + n for n in range(len(COMPLETED_COPIES))}
    for sid in (2, 5, 6, 7, 8):
        assert old_zk_client.exists(f"/{store}/v1/batch/{sid}"), sid


def test_the_server_going_down_leaves_the_rms_answers_and_deletes_nothing_on_its_word(
        store, old_zk_server, old_zk_client, tmp_path, real_history):
    """A second real server over the same logs, stopped between two runs."""
    with YarnDouble() as other_cluster:
        options = ["--yarn", other_cluster.url]  # cannot vouch: only the history server could settle anything
        with SparkHistoryServer(real_history.lab.spark_home, real_history.log_dir, tmp_path) as second:
            second.wait_for_apps(len(real_history.listing))
            _, document, _ = scan(old_zk_server, store, *options, "--spark-history", second.url)
            assert verdicts(document)[0] == ("stale", "app-finished", "spark-history")
            url = second.url
        code, document, stderr = scan(old_zk_server, store, *options, "--spark-history", url)
        assert code == 3
        assert f"spark-history: Spark History Server {url} did not answer" in stderr
        assert verdicts(document)[0] == ("unknown", "rm-cannot-vouch", "yarn")
        assert set(document["source_errors"]) == {"spark-history"}
        result = run("prune", old_zk_server, store, "--older-than", "1d", "--apply", "--yes",
                     "--backup", str(tmp_path / "b.jsonl"), *options, "--spark-history", url)
    assert result.exit_code == 3 and "nothing was deleted" in result.stderr
    assert all(old_zk_client.exists(f"/{store}/v1/batch/{sid}") for sid in SESSIONS)


def test_doctor_checks_the_real_server(store, old_zk_server, rm, real_history):
    result = run("doctor", old_zk_server, store, "--yarn", rm.url, "--spark-history", real_history.url)
    findings = json.loads(result.stdout)["findings"]
    history = [f for f in findings if f["setting"] == "spark-history"]
    assert [(f["severity"], f["problem"]) for f in history] == [("ok", "Spark History Server 3.5.9 answers")]
    assert result.exit_code == 0, findings


def test_the_library_asks_one_listing_for_a_whole_store(real_history):
    queries = [AppQuery(app_id(seq), None, int(time.time() * 1000) - 10 * 86400_000) for seq in range(1, 2000)]
    with SparkHistorySource([real_history.url], timeout=10) as history:
        answers = history.lookup_many(queries)
        assert history.requests_made == 1
        assert history.lookup(AppQuery(app_id(OK), None)).phase is AppPhase.FINISHED
        assert history.lookup(AppQuery(app_id(UNLISTED), None)).phase is AppPhase.NOT_FOUND
    phases = [a.phase for a in answers]
    assert phases.count(AppPhase.FINISHED) == 4 + len(COMPLETED_COPIES)
    assert phases.count(AppPhase.UNKNOWN) == 2 + len(IN_PROGRESS_COPIES)  # KILLED, CLOSED_NOT_RENAMED, the copies


# ---------------------------------------------------------------- the double answers as the real server does


def fetch(url: str) -> Tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers.get("Content-Type", ""), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def comparable(listing) -> list:
    """A listing without what only a real parse decides: when an incomplete attempt was parsed."""
    out = []
    for app in listing:
        attempts = []
        for attempt in app["attempts"]:
            attempt = dict(attempt)
            if not attempt["completed"]:
                attempt.pop("lastUpdated"), attempt.pop("lastUpdatedEpoch")
            attempts.append(attempt)
        out.append({**app, "attempts": attempts})
    return out


@pytest.fixture(scope="module")
def double_of_the_lab(real_history):
    with SparkHistoryDouble() as double:
        for app in real_history.apps:
            in_progress = app.end_ms is None if app.in_progress is None else app.in_progress
            double.add_app(app.app_id, completed=not in_progress, start_ms=app.start_ms,
                           end_ms=None if in_progress else app.end_ms, attempt=app.attempt, name=app.name,
                           user=app.user)
        yield double


def test_the_double_lists_and_filters_as_the_real_server(real_history, double_of_the_lab):
    first = min(app.start_ms for app in real_history.apps)
    queries = ["", "?status=running", "?status=COMPLETED", "?status=completed&status=running", "?limit=3",
               "?limit=0", f"?minDate={time.strftime('%Y-%m-%d', time.gmtime(first / 1000))}",
               f"?minDate={gmt(first + 90 * 60_000)}", f"?maxDate={gmt(first + 30 * 60_000)}",
               f"?minEndDate={gmt(first + 100 * 60_000)}", f"?maxEndDate={gmt(first + 30 * 60_000)}"]
    for query in queries:
        real = json.loads(fetch(real_history.url + APPS_PATH + query)[2])
        double = json.loads(fetch(double_of_the_lab.url + APPS_PATH + query)[2])
        assert comparable(double) == comparable(real), query


@pytest.mark.parametrize("path", [f"/{app_id(OK)}", f"/{app_id(RETRIED)}", f"/{app_id(CLIENT)}",
                                  f"/{app_id(OK)}/1", f"/{app_id(UNLISTED)}", f"/{app_id(OK).upper()}",
                                  f"/{app_id(OK)}/9"])
def test_the_double_answers_one_app_as_the_real_server(real_history, double_of_the_lab, path):
    real_status, _, real_body = fetch(real_history.url + APPS_PATH + path)
    double_status, _, double_body = fetch(double_of_the_lab.url + APPS_PATH + path)
    assert double_status == real_status
    if real_status == 200:
        real, double = json.loads(real_body), json.loads(double_body)
        assert (comparable([double]) if "attempts" in real else double) == (
            comparable([real]) if "attempts" in real else real)
    else:
        assert double_body.strip() == real_body.strip()


@pytest.mark.parametrize("query", ["?minEndDate=1796214000000", "?minDate=yesterday", "?status=bogus"])
def test_the_double_refuses_bad_parameters_as_the_real_server(real_history, double_of_the_lab, query):
    real_status, _, real_body = fetch(real_history.url + APPS_PATH + query)
    double_status, _, double_body = fetch(double_of_the_lab.url + APPS_PATH + query)
    assert double_status == real_status
    if real_status == 400:
        assert double_body.strip() == real_body.strip()
    else:
        assert b"HTTP ERROR 404" in real_body and b"HTTP ERROR 404" in double_body


def test_the_double_says_the_same_version(real_history, double_of_the_lab):
    assert json.loads(fetch(real_history.url + "/api/v1/version")[2]) == json.loads(
        fetch(double_of_the_lab.url + "/api/v1/version")[2])
