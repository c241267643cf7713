"""The growth picture (zkjanitor/growth.py): sessions by creation day and by who leaks them."""

from __future__ import annotations

from zkjanitor.growth import compute_growth, name_pattern
from zkjanitor.model import Session, SessionReport, SessionType, Verdict
from zkjanitor.scan import Tally

DAY_MS = 86_400_000
NOV_3 = 1_793_664_000_000  # 2026-11-03T00:00:00Z


def report(session_id: int, verdict: Verdict, ctime_ms: int, owner: str = "svc", proxy=None, name=None):
    session = Session(SessionType.BATCH, session_id, f"/livy/v1/batch/{session_id}", b"{}", 0, ctime_ms, ctime_ms,
                      owner=owner, proxy_user=proxy, name=name)
    return SessionReport(session, verdict, "app-finished", 0.0)


def test_sessions_by_creation_day_show_when_the_build_up_began():
    reports = ([report(1, Verdict.LIVE, NOV_3 - DAY_MS)]
               + [report(10 + i, Verdict.STALE, NOV_3 + 3600_000 * i) for i in range(3)]
               + [report(20, Verdict.UNKNOWN, NOV_3 + DAY_MS)])
    growth = compute_growth(Tally.of(reports))
    assert [(row.key[0], row.sessions, row.stale) for row in growth.by_day] == [
        ("2026-11-02", 1, 0), ("2026-11-03", 3, 3), ("2026-11-04", 1, 0)]
    assert growth.first_stale_day == "2026-11-03"


def test_who_leaks_by_owner_and_by_name_when_one_account_owns_everything():
    reports = ([report(i, Verdict.STALE, NOV_3, name=f"etl-2026110{i % 3}-{i:04d}") for i in range(5)]
               + [report(9, Verdict.LIVE, NOV_3, name="adhoc")])
    growth = compute_growth(Tally.of(reports))
    assert growth.one_owner
    assert growth.by_name.rows[0].key == ("etl-#-#",) and growth.by_name.rows[0].stale == 5
    assert growth.top_leaker.key == ("etl-#-#",)
    many = compute_growth(Tally.of([report(1, Verdict.STALE, NOV_3, owner="alice"),
                                    report(2, Verdict.STALE, NOV_3, owner="bob", proxy="carol"),
                                    report(3, Verdict.STALE, NOV_3, owner="bob", proxy="carol"),
                                    report(4, Verdict.LIVE, NOV_3, owner="dave")]), top=2)
    assert not many.one_owner
    assert [row.key for row in many.by_owner.rows] == [("bob", "carol"), ("alice", None)]
    assert many.by_owner.others is not None and many.by_owner.others.sessions == 1
    assert many.top_leaker.key == ("bob", "carol")


def test_name_patterns_replace_digit_runs():
    assert name_pattern("job-12-abc7") == "job-#-abc#"
    assert name_pattern(None) is None
