"""Prune's spool: reports written to a temporary file as a scan streams them, read back exactly (zkjanitor/spool.py)."""

from __future__ import annotations

import pytest

from zkjanitor import spool as spool_module
from zkjanitor.model import AppRecord, Session, SessionReport, SessionType, Verdict
from zkjanitor.prune import select_for_prune
from zkjanitor.spool import ReportSpool, SpoolView

DAY = 86400.0


@pytest.fixture(params=["memory", "file"], autouse=True)
def where(request, monkeypatch):
    """Every test twice: reports held in memory, and moved to the file (past a limit of one report)."""
    if request.param == "file":
        monkeypatch.setattr(spool_module, "IN_MEMORY_REPORTS", 1)
    return request.param


def report(session_id: int, *, verdict: Verdict = Verdict.STALE, age: float = 3 * DAY, app: bool = True,
           session_type: SessionType = SessionType.BATCH, ctime_ms: int = 1_000) -> SessionReport:
    """A report with every field set to something no default gives."""
    path = f"/livy/v1/{session_type.value}/{session_id}"
    session = Session(session_type, session_id, path, b'{"id": %d, "\xc3\xa9": 1}' % session_id, 7, ctime_ms,
                      ctime_ms + 5, f"application_1_{session_id:04d}", f"livy-batch-{session_id}-abc", "alice",
                      "bob", f"etl-{session_id}", "spark", "0.7.1", None, "rsc://[redacted]@10.0.0.1:1234")
    record = AppRecord(session.app_id or "", "FINISHED", "SUCCEEDED", ("livy-batch-1-abc", "x"), 10, 20) if app \
        else None
    return SessionReport(session, verdict, "app-finished", age, record, 20 if app else None, "yarn")


def test_every_field_of_a_report_comes_back_as_written(where):
    written = [report(1), report(2, verdict=Verdict.CORRUPT, app=False, session_type=SessionType.INTERACTIVE),
               report(3)._replace(session=report(3).session._replace(corrupt="bad-json", app_id=None))]
    spool = ReportSpool()
    spool.extend(written)
    assert len(spool) == 3
    assert [spool[i] for i in range(3)] == written and spool[-1] == written[-1] and spool[1:] == written[1:]
    assert type(spool[0].session.type) is SessionType and type(spool[0].app) is AppRecord
    assert (spool._file is None) == (where == "memory")  # a small store never touches the disk
    with pytest.raises(IndexError):
        spool[3]


def test_it_keeps_only_what_its_predicate_accepts_and_forgets_everything_when_cleared():
    spool = ReportSpool(lambda r: r.verdict is Verdict.STALE)
    spool.extend([report(1), report(2, verdict=Verdict.LIVE), report(3)])
    assert [r.session.id for r in spool] == [1, 3]
    spool.clear()
    spool.extend([report(4)])
    assert [r.session.id for r in spool] == [4]


def test_a_selection_from_a_spool_is_a_view_in_the_order_the_rule_gives_without_reading_it_back():
    spool = ReportSpool()
    spool.extend([report(1, age=2 * DAY), report(2, age=9 * DAY), report(3, age=5 * DAY),
                  report(4, age=0.5 * DAY), report(5, age=7 * DAY, app=False, ctime_ms=10**13)])
    selected = select_for_prune(spool, older_than_seconds=DAY, types=list(SessionType), limit=3,
                                created_before_ms=10**12)
    assert isinstance(selected, SpoolView)
    assert [r.session.id for r in selected] == [2, 3, 1]  # 5 is stale by absence and too young: kept
    assert [r.session.id for r in selected[1:]] == [3, 1]
