"""Verdicts: every rule of the contract's verdict table, by example."""

from __future__ import annotations

from typing import Optional

import pytest

from zkjanitor.classify import Policy, classify
from zkjanitor.model import (
    REASONS,
    AppPhase,
    AppRecord,
    Classification,
    Lookup,
    Session,
    SessionType,
    Verdict,
)
from zkjanitor.sources import spark_history, yarn_timeline
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.yarn import found

NOW_MS = 1_750_000_000_000
HOUR_MS = 3_600_000
CREATED_MS = NOW_MS - 48 * HOUR_MS
MODIFIED_MS = NOW_MS - 24 * HOUR_MS  # mtime, which ages nothing: Livy rewrites recovered sessions
AGE_SINCE_CREATED = 172800.0  # 48 h, from ctime
FINISHED_MS = NOW_MS - 2 * HOUR_MS  # age 7200 s when counted from the finish time
POLICY = Policy()


def _session(
    app_id: Optional[str] = "application_1712345678901_0042",
    corrupt: Optional[str] = None,
    ctime_ms: int = CREATED_MS,
    mtime_ms: int = MODIFIED_MS,
) -> Session:
    return Session(
        SessionType.BATCH, 41, "/livy/v1/batch/41", b"{}", 3, ctime_ms, mtime_ms,
        app_id=app_id, app_tag="livy-batch-41-xq3kp9az", corrupt=corrupt,
    )


def _found(state: str, finished_ms: Optional[int] = None) -> Lookup:
    record = AppRecord("application_1712345678901_0042", state, finished_ms=finished_ms)
    return found(record)  # YARN's state names become phases in the YARN source


NOT_FOUND = Lookup(AppPhase.NOT_FOUND, source="yarn")


def _history(completed: bool) -> Lookup:
    """What the Spark History Server source answers for an application whose newest attempt is (not) completed."""
    attempt = {"attemptId": "1", "completed": completed, "startTimeEpoch": FINISHED_MS - 60_000,
               "endTimeEpoch": FINISHED_MS if completed else -1}
    index = spark_history._HistoryIndex()
    index.add([{"id": "application_1712345678901_0042", "name": "livy-batch-41", "attempts": [attempt]}])
    return index.answer(AppQuery("application_1712345678901_0042", None))


def _unvouched(why: Optional[str]) -> Lookup:
    """A "not found" its source cannot vouch for."""
    return Lookup(AppPhase.NOT_FOUND, detail=why, source="yarn", authoritative=False)

CASES = [
    # (label, session, lookup, expected verdict, reason, age_seconds, finished_ms)
    ("corrupt wins over any answer", _session(corrupt="bad-json"), _found("FINISHED", FINISHED_MS),
     Verdict.CORRUPT, "bad-json", AGE_SINCE_CREATED, None),
    ("corrupt without a source", _session(app_id=None, corrupt="empty"), None,
     Verdict.CORRUPT, "empty", AGE_SINCE_CREATED, None),
    ("no source configured", _session(), None, Verdict.UNKNOWN, "no-source", AGE_SINCE_CREATED, None),
    ("source unreachable", _session(), Lookup(AppPhase.UNKNOWN, detail="source-unreachable"),
     Verdict.UNKNOWN, "source-unreachable", AGE_SINCE_CREATED, None),
    ("source error", _session(), Lookup(AppPhase.UNKNOWN, detail="source-error"),
     Verdict.UNKNOWN, "source-error", AGE_SINCE_CREATED, None),
    ("kubernetes app id", _session(app_id="spark-3f9c2a1b8e4d4a3f9b0e6a2c7d4e5f91"),
     Lookup(AppPhase.UNKNOWN, detail="not-a-yarn-app"),
     Verdict.UNKNOWN, "not-a-yarn-app", AGE_SINCE_CREATED, None),
    ("detail outside the vocabulary", _session(),
     Lookup(AppPhase.UNKNOWN, detail="HTTP 500: Internal Server Error"),
     Verdict.UNKNOWN, "source-error", AGE_SINCE_CREATED, None),
    ("detail of another verdict", _session(), Lookup(AppPhase.UNKNOWN, detail="app-finished"),
     Verdict.UNKNOWN, "source-error", AGE_SINCE_CREATED, None),
    ("no detail", _session(), Lookup(AppPhase.UNKNOWN), Verdict.UNKNOWN, "source-error",
     AGE_SINCE_CREATED, None),
    ("finished, without a record: age from ctime", _session(), Lookup(AppPhase.FINISHED), Verdict.STALE,
     "app-finished", AGE_SINCE_CREATED, None),
    ("active, without a record", _session(), Lookup(AppPhase.ACTIVE), Verdict.LIVE, "app-active",
     AGE_SINCE_CREATED, None),
    ("NEW", _session(), _found("NEW"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("NEW_SAVING", _session(), _found("NEW_SAVING"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("SUBMITTED", _session(), _found("SUBMITTED"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("ACCEPTED", _session(), _found("ACCEPTED"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("RUNNING", _session(), _found("RUNNING"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("running, lower case", _session(), _found("running"), Verdict.LIVE, "app-active", AGE_SINCE_CREATED,
     None),
    ("FINISHED", _session(), _found("FINISHED", FINISHED_MS), Verdict.STALE, "app-finished",
     7200.0, FINISHED_MS),
    ("FAILED", _session(), _found("FAILED", FINISHED_MS), Verdict.STALE, "app-finished",
     7200.0, FINISHED_MS),
    ("KILLED", _session(), _found("KILLED", FINISHED_MS), Verdict.STALE, "app-finished",
     7200.0, FINISHED_MS),
    ("killed, mixed case", _session(), _found("Killed", FINISHED_MS), Verdict.STALE,
     "app-finished", 7200.0, FINISHED_MS),
    ("finished, time unknown: age from ctime", _session(), _found("FINISHED"), Verdict.STALE,
     "app-finished", AGE_SINCE_CREATED, None),
    ("finished, YARN's 0 finish time: age from ctime", _session(), _found("FINISHED", 0),
     Verdict.STALE, "app-finished", AGE_SINCE_CREATED, None),
    ("unrecognised state", _session(), _found("SUSPENDED"), Verdict.UNKNOWN,
     "unrecognised-app-state", AGE_SINCE_CREATED, None),
    ("empty state", _session(), _found(""), Verdict.UNKNOWN, "unrecognised-app-state", AGE_SINCE_CREATED,
     None),
    ("gone from the RM", _session(), NOT_FOUND, Verdict.STALE, "app-forgotten", AGE_SINCE_CREATED, None),
    ("never got an app id", _session(app_id=None), NOT_FOUND, Verdict.STALE, "never-submitted",
     AGE_SINCE_CREATED, None),
    ("empty app id", _session(app_id=""), NOT_FOUND, Verdict.STALE, "never-submitted", AGE_SINCE_CREATED,
     None),
    ("young, not found yet", _session(ctime_ms=NOW_MS - 60_000, mtime_ms=NOW_MS - 60_000),
     NOT_FOUND, Verdict.LIVE, "within-grace", 60.0, None),
    ("not found by an RM that cannot vouch", _session(), _unvouched("rm-cannot-vouch"),
     Verdict.UNKNOWN, "rm-cannot-vouch", AGE_SINCE_CREATED, None),
    ("not found, newer than the RM", _session(), _unvouched("app-newer-than-rm"),
     Verdict.UNKNOWN, "app-newer-than-rm", AGE_SINCE_CREATED, None),
    ("young, not found by an RM that cannot vouch", _session(ctime_ms=NOW_MS - 60_000, mtime_ms=NOW_MS - 60_000),
     _unvouched("rm-cannot-vouch"), Verdict.LIVE, "within-grace", 60.0, None),
    ("Livy reports it running, whatever YARN says", _session(), Lookup(AppPhase.ACTIVE, detail="livy-active"),
     Verdict.LIVE, "livy-active", AGE_SINCE_CREATED, None),
    ("Livy reports it ended", _session(), Lookup(AppPhase.FINISHED, detail="livy-finished"),
     Verdict.STALE, "livy-finished", AGE_SINCE_CREATED, None),
    ("a reason of another verdict is not taken", _session(), Lookup(AppPhase.ACTIVE, detail="livy-finished"),
     Verdict.LIVE, "app-active", AGE_SINCE_CREATED, None),
    ("not found, nobody can vouch, no reason given", _session(), _unvouched(None),
     Verdict.UNKNOWN, "no-evidence", AGE_SINCE_CREATED, None),
    ("young, no app id yet", _session(app_id=None, ctime_ms=NOW_MS, mtime_ms=NOW_MS), NOT_FOUND,
     Verdict.LIVE, "within-grace", 0.0, None),
    # the Spark History Server and the YARN Timeline server, in their own sources' words
    ("history: event log completed", _session(), _history(completed=True), Verdict.STALE, "app-finished",
     7200.0, FINISHED_MS),
    ("history: event log in progress", _session(), _history(completed=False), Verdict.UNKNOWN,
     "history-in-progress", AGE_SINCE_CREATED, None),
    ("history: not listed", _session(), spark_history.NOT_LISTED, Verdict.UNKNOWN, "history-cannot-vouch",
     AGE_SINCE_CREATED, None),
    ("history: no app id to ask about", _session(app_id=None), spark_history.NO_APP_ID, Verdict.UNKNOWN,
     "no-app-id", AGE_SINCE_CREATED, None),
    ("timeline: not listed", _session(), yarn_timeline.NOT_LISTED, Verdict.UNKNOWN, "timeline-cannot-vouch",
     AGE_SINCE_CREATED, None),
    ("timeline: KILLED", _session(), found(AppRecord("application_1712345678901_0042", "KILLED",
                                                     finished_ms=FINISHED_MS), "yarn-timeline"),
     Verdict.STALE, "app-finished", 7200.0, FINISHED_MS),
]


@pytest.mark.parametrize(
    "session, lookup, verdict, reason, age_seconds, finished_ms",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_verdicts(session, lookup, verdict, reason, age_seconds, finished_ms):
    assert classify(session, lookup, NOW_MS, POLICY) == Classification(
        verdict, reason, age_seconds, finished_ms
    )


def test_the_cases_cover_every_reason_of_every_verdict():
    covered = {(case[3], case[4]) for case in CASES}
    every = {(verdict, reason) for verdict, reasons in REASONS.items() for reason in reasons}
    assert covered >= every - {(Verdict.CORRUPT, r) for r in REASONS[Verdict.CORRUPT]}
    for reason in REASONS[Verdict.CORRUPT]:
        result = classify(_session(corrupt=reason), None, NOW_MS, POLICY)
        assert (result.verdict, result.reason) == (Verdict.CORRUPT, reason)


@pytest.mark.parametrize(
    "created_ms_before_now, verdict, reason",
    [
        (599_999, Verdict.LIVE, "within-grace"),
        (600_000, Verdict.STALE, "app-forgotten"),
        (600_001, Verdict.STALE, "app-forgotten"),
        (-5_000, Verdict.LIVE, "within-grace"),  # created "in the future": clock skew
    ],
)
def test_default_grace_is_ten_minutes_from_creation(created_ms_before_now, verdict, reason):
    created = NOW_MS - created_ms_before_now
    result = classify(_session(ctime_ms=created, mtime_ms=created), NOT_FOUND, NOW_MS, POLICY)
    assert (result.verdict, result.reason) == (verdict, reason)


def test_grace_counts_from_creation_not_modification():
    recently_touched = _session(ctime_ms=NOW_MS - HOUR_MS, mtime_ms=NOW_MS - 1_000)
    assert classify(recently_touched, NOT_FOUND, NOW_MS, POLICY).verdict is Verdict.STALE


@pytest.mark.parametrize(
    "grace_seconds, verdict",
    [(3_600.5, Verdict.LIVE), (3_600.0, Verdict.STALE), (0.0, Verdict.STALE)],
)
def test_grace_is_configurable(grace_seconds, verdict):
    session = _session(ctime_ms=NOW_MS - HOUR_MS)
    assert classify(session, NOT_FOUND, NOW_MS, Policy(grace_seconds)).verdict is verdict


@pytest.mark.parametrize(
    "lookup",
    [None, NOT_FOUND, _found("RUNNING"), _found("FINISHED", NOW_MS + 60_000)],
    ids=["no source", "not found", "running", "finished in the future"],
)
def test_age_is_never_negative_under_clock_skew(lookup):
    from_the_future = _session(ctime_ms=NOW_MS + 60_000, mtime_ms=NOW_MS + 60_000)
    assert classify(from_the_future, lookup, NOW_MS, POLICY).age_seconds == 0.0


def test_age_from_finish_time_even_when_the_znode_changed_later():
    session = _session(mtime_ms=NOW_MS - 1_000)
    result = classify(session, _found("FINISHED", FINISHED_MS), NOW_MS, POLICY)
    assert result.age_seconds == 7200.0


@pytest.mark.parametrize("lookup", [NOT_FOUND, None, _found("RUNNING")], ids=["forgotten", "no source", "running"])
def test_a_livy_restart_rewriting_the_znode_does_not_make_it_younger(lookup):
    before = classify(_session(), lookup, NOW_MS, POLICY)
    rewritten_at_restart = classify(_session(mtime_ms=NOW_MS - 5_000), lookup, NOW_MS, POLICY)
    assert rewritten_at_restart == before
    assert before.age_seconds == AGE_SINCE_CREATED
