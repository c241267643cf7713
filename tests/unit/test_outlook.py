"""The verdict line (zkjanitor/outlook.py): what a restart would face and a prune command that selects something."""

from __future__ import annotations

from zkjanitor.model import Session, SessionReport, SessionType, Verdict
from zkjanitor.outlook import compute_outlook, planned_outlook, suggest_older_than
from zkjanitor.scan import Tally

DAY = 86400.0


def report(session_id: int, verdict: Verdict, age_days: float) -> SessionReport:
    session = Session(SessionType.BATCH, session_id, f"/livy/v1/batch/{session_id}", b"{}", 0, 0, 0)
    return SessionReport(session, verdict, "app-finished", age_days * DAY)


def test_the_line_counts_what_livy_would_recover_and_suggests_a_prune_that_selects_most_stale():
    reports = ([report(i, Verdict.STALE, 5) for i in range(36)] + [report(100 + i, Verdict.LIVE, 0.1)
                                                                      for i in range(4)])
    outlook = compute_outlook(Tally.of(reports))
    assert outlook.suggestion is not None and outlook.suggestion.older_than == "3d"
    assert (outlook.recoverable, outlook.stale, outlook.recoverable_after) == (40, 36, 4)
    assert outlook.text == ("Livy would recover 40 sessions (one monitor thread each); 36 stale; "
                            "after `zkjanitor prune --older-than 3d` it would recover 4.")


def test_the_suggestion_never_names_a_duration_older_than_every_stale_session():
    young = [2 * 3600.0] * 10  # nothing is a day old: 1d would select nothing
    assert suggest_older_than(young).older_than == "1h"
    assert suggest_older_than([]) is None
    assert suggest_older_than([600.0]) is None  # younger than the smallest rung


def test_the_largest_rung_that_still_selects_most_of_them():
    ages = [40 * DAY] * 5 + [2 * DAY] * 95
    suggestion = suggest_older_than(ages)
    assert (suggestion.older_than, suggestion.selects) == ("1d", 100)


def test_nothing_stale_says_so_and_suggests_nothing():
    outlook = compute_outlook(Tally.of([report(1, Verdict.LIVE, 3), report(2, Verdict.CORRUPT, 3)]))
    assert outlook.suggestion is None
    assert "none is stale: nothing to prune" in outlook.text
    assert "fail on 1 corrupt record(s)" in outlook.text
    unknown = compute_outlook(Tally.of([report(1, Verdict.UNKNOWN, 3)]))
    assert "none is known stale (1 unknown" in unknown.text


def test_a_prune_dry_run_reports_its_own_selection():
    reports = [report(i, Verdict.STALE, 10) for i in range(3)] + [report(9, Verdict.LIVE, 1)]
    outlook = planned_outlook(Tally.of(reports), reports[:2], 7 * DAY)
    assert outlook.recoverable_after == 2
    assert "after this prune (--older-than 7d, 2 selected) it would recover 2." in outlook.text
