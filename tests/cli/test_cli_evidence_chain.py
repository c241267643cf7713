"""The evidence chain through the CLI: real ZooKeeper, the YARN double, the Timeline double, the Spark History double.

tests/history runs the same story against a real Spark History Server.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.support.helpers import closed_port, run_cli
from tests.support.history_store import DAY_MS, app_id, rm_app, run, scan, seed_sessions, sessions_by_id, verdicts
from zkjanitor.render import iso_utc
from zkjanitor.testing.spark_history_double import APPS_PATH as SHS_APPS
from zkjanitor.testing.timeline_double import APPS_PATH as TIMELINE_APPS

NOW_MS = int(time.time() * 1000)
SHS_END_MS = NOW_MS - 9 * DAY_MS
RM_FINISHED, SHS_COMPLETED, SHS_IN_PROGRESS, SHS_UNLISTED, RM_RUNNING, NO_APP_ID, TIMELINE_KILLED = range(7)


@pytest.fixture
def store(old_zk_client, prefix, yarn_rm, shs_double, yarn_timeline):
    """Seven 10-day-old sessions; what each source knows of their applications is in the comments."""
    seed_sessions(old_zk_client, prefix, {sid: (None if sid == NO_APP_ID else app_id(sid + 1)) for sid in range(7)})
    yarn_rm.add_apps([rm_app(RM_FINISHED, app_id(1), "FINISHED", finished_ms=NOW_MS - 2 * DAY_MS),
                      rm_app(RM_RUNNING, app_id(5), "RUNNING")])  # the RM forgot the rest
    shs_double.add_app(app_id(1), start_ms=NOW_MS - 3 * DAY_MS, end_ms=NOW_MS - 2 * DAY_MS)  # YARN says it first
    shs_double.add_app(app_id(2), start_ms=SHS_END_MS - 60_000, end_ms=SHS_END_MS)
    shs_double.add_app(app_id(3), completed=False, start_ms=NOW_MS - 9 * DAY_MS)  # a driver killed: never closed
    shs_double.add_app(app_id(5), completed=False, start_ms=NOW_MS - DAY_MS)
    yarn_timeline.add_app(appId=app_id(7), appState="KILLED", startedTime=NOW_MS - 5 * DAY_MS - 1000,
                          finishedTime=NOW_MS - 5 * DAY_MS)
    return prefix


def every_source(yarn_rm, shs_double, yarn_timeline, *, shs_url=None):
    return ["--yarn", yarn_rm.url, "--yarn-timeline", yarn_timeline.url, "--spark-history", shs_url or shs_double.url]


def test_what_yarn_forgot_the_history_servers_settle_with_their_end_times(store, old_zk_server, yarn_rm, shs_double,
                                                                          yarn_timeline):
    code, document, stderr = scan(old_zk_server, store, *every_source(yarn_rm, shs_double, yarn_timeline))
    assert code == 0, stderr
    assert verdicts(document) == {
        RM_FINISHED: ("stale", "app-finished", "yarn"),
        SHS_COMPLETED: ("stale", "app-finished", "spark-history"),
        SHS_IN_PROGRESS: ("stale", "app-forgotten", "yarn"),  # the RM vouches; an open log changes nothing
        SHS_UNLISTED: ("stale", "app-forgotten", "yarn"),
        RM_RUNNING: ("live", "app-active", "yarn"),
        NO_APP_ID: ("stale", "never-submitted", "yarn"),
        TIMELINE_KILLED: ("stale", "app-finished", "yarn-timeline"),
    }
    sessions = sessions_by_id(document)
    assert sessions[SHS_COMPLETED]["finished"] == iso_utc(SHS_END_MS)
    assert sessions[SHS_COMPLETED]["app_state"] == "COMPLETED"
    assert abs(sessions[SHS_COMPLETED]["age_seconds"] - 9 * 86400) < 60  # from the end of the app, not the znode
    assert sessions[TIMELINE_KILLED]["app_state"] == "KILLED"
    assert document["summary"]["by_source"] == {
        "spark-history": {"live": 0, "stale": 1, "unknown": 0},
        "yarn": {"live": 1, "stale": 4, "unknown": 0},
        "yarn-timeline": {"live": 0, "stale": 1, "unknown": 0},
    }
    assert document["source_errors"] == {} and document["source_error"] is None
    # one listing per source and run, whatever the number of sessions
    assert shs_double.count("GET", SHS_APPS) == 1 and yarn_timeline.count("GET", TIMELINE_APPS) == 1


def test_the_table_names_the_source_of_each_reason(store, old_zk_server, yarn_rm, shs_double, yarn_timeline):
    result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", store,
                      *every_source(yarn_rm, shs_double, yarn_timeline)])
    assert result.exit_code == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.count("│") >= 3}
    assert "1" in rows["app-finished (spark-history)"] and "Spark History Server" in rows[
        "app-finished (spark-history)"]
    assert {"app-finished (yarn)", "app-finished (yarn-timeline)", "app-forgotten (yarn)",
            "app-active (yarn)"} <= set(rows)


def test_a_history_server_alone_vouches_only_for_logs_it_saw_complete(store, old_zk_server, shs_double):
    code, document, _ = scan(old_zk_server, store, "--spark-history", shs_double.url)
    assert code == 0
    assert verdicts(document) == {
        RM_FINISHED: ("stale", "app-finished", "spark-history"),
        SHS_COMPLETED: ("stale", "app-finished", "spark-history"),
        SHS_IN_PROGRESS: ("unknown", "history-in-progress", "spark-history"),
        SHS_UNLISTED: ("unknown", "history-cannot-vouch", "spark-history"),
        RM_RUNNING: ("unknown", "history-in-progress", "spark-history"),  # never live on an open log either
        NO_APP_ID: ("unknown", "no-app-id", "spark-history"),
        TIMELINE_KILLED: ("unknown", "history-cannot-vouch", "spark-history"),
    }
    result = run("prune", old_zk_server, store, "--older-than", "1d", "--spark-history", shs_double.url)
    assert result.exit_code == 0, result.stderr
    assert sorted(s["id"] for s in json.loads(result.stdout)["sessions"]) == [RM_FINISHED, SHS_COMPLETED]


def test_an_rm_that_cannot_vouch_and_an_open_log_delete_nothing(store, old_zk_server, old_zk_client, shs_double):
    from zkjanitor.testing.yarn_double import YarnDouble

    with YarnDouble() as other_cluster:  # knows none of the store's applications
        options = ["--yarn", other_cluster.url, "--spark-history", shs_double.url]
        code, document, stderr = scan(old_zk_server, store, *options)
        assert code == 3 and "is this the cluster Livy submits to?" in stderr
        got = verdicts(document)
        assert got[SHS_COMPLETED] == ("stale", "app-finished", "spark-history")
        assert got[SHS_IN_PROGRESS] == ("unknown", "rm-cannot-vouch", "yarn")  # neither live nor stale
        before = {sid: old_zk_client.exists(f"/{store}/v1/batch/{sid}") for sid in range(7)}
        result = run("prune", old_zk_server, store, "--older-than", "1d", "--apply", "--yes", *options)
    assert result.exit_code == 3 and result.stdout == ""
    assert "nothing was deleted" in result.stderr
    assert {sid: old_zk_client.exists(f"/{store}/v1/batch/{sid}") for sid in range(7)} == before


def test_a_history_server_down_is_a_warning_and_the_rms_answers_stand(store, old_zk_server, old_zk_client, yarn_rm,
                                                                       shs_double, yarn_timeline, tmp_path):
    down = f"http://127.0.0.1:{closed_port()}"
    options = every_source(yarn_rm, shs_double, yarn_timeline, shs_url=down)
    code, document, stderr = scan(old_zk_server, store, *options)
    assert code == 3  # the report is printed; a source could not be asked
    assert f"warning: spark-history: Spark History Server {down} did not answer /api/v1/applications" in stderr
    assert "the other sources' answers stand" in stderr
    assert list(document["source_errors"]) == ["spark-history"] and document["source_error"] is None
    assert verdicts(document)[SHS_COMPLETED] == ("stale", "app-forgotten", "yarn")  # the RM's word, as without it
    assert "spark-history" not in document["summary"]["by_source"]

    backup = tmp_path / "backup.jsonl"
    result = run("prune", old_zk_server, store, "--older-than", "1d", "--apply", "--yes", "--backup", str(backup),
                 *options)
    assert result.exit_code == 0, result.stderr
    pruned = json.loads(result.stdout)
    assert list(pruned["source_errors"]) == ["spark-history"]
    deleted = {s["id"]: s["source"] for s in pruned["sessions"] if s["action"] == "deleted"}
    assert set(deleted.values()) == {"yarn", "yarn-timeline"}  # nothing on the word of the server that was down
    assert old_zk_client.exists(f"/{store}/v1/batch/{RM_RUNNING}")


def test_doctor_checks_every_source(store, old_zk_server, yarn_rm, shs_double, yarn_timeline):
    result = run("doctor", old_zk_server, store, *every_source(yarn_rm, shs_double, yarn_timeline))
    assert result.exit_code == 0, result.stdout
    findings = {(f["setting"], f["severity"]): f["problem"] for f in json.loads(result.stdout)["findings"]}
    assert findings[("yarn", "ok")] == "active ResourceManager found"
    assert findings[("yarn-timeline", "ok")] == "YARN Timeline server (Hadoop 3.3.6) answers"
    assert findings[("spark-history", "ok")] == "Spark History Server 3.5.9 answers"
    assert findings[("sources", "ok")] == ("the sources know 4 of the store's 7 sessions' applications "
                                           "(yarn 2, spark-history 1, yarn-timeline 1)")
    down = f"http://127.0.0.1:{closed_port()}"
    result = run("doctor", old_zk_server, store, *every_source(yarn_rm, shs_double, yarn_timeline, shs_url=down))
    assert result.exit_code == 1
    errors = [f for f in json.loads(result.stdout)["findings"] if f["severity"] == "error"]
    assert [(f["setting"], f["value"]) for f in errors] == [("spark-history", down)]


@pytest.mark.parametrize("options, message", [
    (["--spark-history", "shs:18080"], "invalid --spark-history URL 'shs:18080': expected http(s)://host:port"),
    (["--yarn-timeline", "ftp://ats:8188"], "invalid --yarn-timeline URL 'ftp://ats:8188': expected http(s)://host:port"),
    (["--spark-history", "http://127.0.0.1:18080", "--spark-history-auth", "basic"],
     "--spark-history-auth basic needs --yarn-user (or ZKJANITOR_YARN_USER)"),
    (["--spark-history", "http://127.0.0.1:18080", "--spark-history-auth", "basic", "--yarn-user", "admin"],
     "--spark-history-auth basic reads the password from $ZKJANITOR_YARN_PASSWORD, which is not set"),
    (["--yarn", "http://127.0.0.1:8088", "--yarn-auth", "simple"],
     "--yarn-auth simple needs --yarn-user (or ZKJANITOR_YARN_USER)"),
    (["--yarn", "http://127.0.0.1:8088", "--yarn-auth", "basic", "--yarn-user", "admin"],
     "--yarn-auth basic reads the password from $ZKJANITOR_YARN_PASSWORD, which is not set"),
    (["--livy", "http://127.0.0.1:8998", "--livy-auth", "basic"],
     "--livy-auth basic needs --livy-user (or ZKJANITOR_LIVY_USER)"),
    (["--livy", "http://127.0.0.1:8998", "--livy-auth", "basic", "--livy-user", "admin"],
     "--livy-auth basic reads the password from $ZKJANITOR_LIVY_PASSWORD, which is not set"),
])
def test_bad_source_options_are_one_line_and_exit_2(options, message):
    result = run_cli(["scan", "--zk", "127.0.0.1:1", *options])
    assert result.exit_code == 2
    assert result.stderr == f"zkjanitor: error: {message}\n"


def test_the_environment_names_the_sources(store, old_zk_server, shs_double, yarn_timeline):
    env = {"ZKJANITOR_SPARK_HISTORY": f"{shs_double.url}, {shs_double.url}/",
           "ZKJANITOR_YARN_TIMELINE": yarn_timeline.url}
    code, document, _ = scan(old_zk_server, store, env=env)
    assert code == 0
    assert verdicts(document)[TIMELINE_KILLED] == ("stale", "app-finished", "yarn-timeline")
    assert verdicts(document)[SHS_COMPLETED] == ("stale", "app-finished", "spark-history")

