"""A real Spark History Server, started once per test session, over real event logs with YARN ids.

``zkjanitor/testing/spark_history.py`` builds it: pyspark and the real logs of
three local jobs (succeeded, failed, killed mid-run) are cached between runs
(~/.cache/zkjanitor), rewritten here into a store's worth of YARN applications.
These tests carry the ``history`` marker: ``make test-history`` runs them, ``make test`` does not.
"""

from __future__ import annotations

import time
from typing import Dict, Iterator, List, NamedTuple

import pytest

from tests.support.history_store import DAY_MS, app_id
from zkjanitor.testing.spark_history import HistoryApp, SparkHistoryServer, SparkLab, write_logs

OK, FAILED, KILLED, RETRIED, CLIENT, CLOSED_NOT_RENAMED = 1, 2, 3, 4, 5, 6
"""Sequence numbers of the curated applications (their ids are ``history_store.app_id(n)``)."""
COMPLETED_COPIES = range(100, 140)
IN_PROGRESS_COPIES = range(140, 145)
UNLISTED = 999


class RealHistory(NamedTuple):
    server: SparkHistoryServer
    lab: SparkLab
    log_dir: object
    apps: List[HistoryApp]
    listing: Dict[str, dict]
    """The server's own listing, by application id."""

    @property
    def url(self) -> str:
        return self.server.url


def curated_apps(now_ms: int) -> List[HistoryApp]:
    """One log of each kind the docs measured, plus copies for the rest of a store; started 9.5 days ago."""
    start = now_ms - 9 * DAY_MS - DAY_MS // 2
    minute = 60_000

    def tags(n: int) -> str:
        return f"livy-batch-{n}-Abcd{n:04d}"

    apps = [
        HistoryApp(app_id(OK), "ok", start, start + minute, name="livy-batch-1", user="alice", tags=tags(OK)),
        HistoryApp(app_id(FAILED), "failed", start + 10 * minute, start + 11 * minute, user="bob", tags=tags(FAILED)),
        HistoryApp(app_id(KILLED), "killed", start + 20 * minute, None, user="carol", tags=tags(KILLED)),
        HistoryApp(app_id(RETRIED), "killed", start + 30 * minute, None, attempt="1", tags=tags(RETRIED)),
        HistoryApp(app_id(RETRIED), "ok", start + 32 * minute, start + 35 * minute, attempt="2", tags=tags(RETRIED)),
        HistoryApp(app_id(CLIENT), "ok", start + 40 * minute, start + 42 * minute, attempt=None, tags=tags(CLIENT)),
        # the driver wrote its end, but the log was never renamed: the server says incomplete
        HistoryApp(app_id(CLOSED_NOT_RENAMED), "ok", start + 50 * minute, start + 51 * minute, in_progress=True),
    ]
    apps += [HistoryApp(app_id(n), "ok", start + n * minute, start + (n + 5) * minute, tags=tags(n))
             for n in COMPLETED_COPIES]
    apps += [HistoryApp(app_id(n), "killed", start + n * minute, None, tags=tags(n)) for n in IN_PROGRESS_COPIES]
    return apps


@pytest.fixture(scope="session")
def real_history(tmp_path_factory) -> Iterator[RealHistory]:
    lab = SparkLab()
    templates = lab.ensure_templates()  # pip and the jobs: only on a cold cache
    work = tmp_path_factory.mktemp("spark-history")
    apps = curated_apps(int(time.time() * 1000))
    write_logs(work / "logs", apps, templates)
    with SparkHistoryServer(lab.spark_home, work / "logs", work) as server:
        listed = server.wait_for_apps(len({app.app_id for app in apps}))
        yield RealHistory(server, lab, work / "logs", apps, {app["id"]: app for app in listed})
