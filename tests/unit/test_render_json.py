"""The JSON renderer's fast paths give exactly what the straightforward code would."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from zkjanitor.model import AppRecord, Session, SessionReport, SessionType, Verdict
from zkjanitor.render import iso_utc
from zkjanitor.render.json import EncodedArray, dumps, session_line, write_document

CONTRACT_FIELDS = (
    "type", "id", "path", "verdict", "reason", "app_id", "app_tag", "app_state",
    "created", "modified", "finished", "age_seconds", "bytes", "owner",
)


def datetime_iso(ms: int) -> str:
    """The obvious implementation iso_utc must match."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_iso_utc_matches_datetime(ms):
    assert iso_utc(ms) == datetime_iso(ms)


def test_iso_utc_edges():
    assert iso_utc(None) is None
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(-1) == "1969-12-31T23:59:59.999Z"
    assert iso_utc(1_795_465_680_123) == "2026-11-23T20:28:00.123Z"


def report(**session_fields) -> SessionReport:
    fields = dict(
        type=SessionType.INTERACTIVE, id=7, path="/livy/v1/interactive/7", data=b'{"id":7}', version=2,
        ctime_ms=1_700_000_000_000, mtime_ms=1_700_000_100_500, app_id="application_1_0007",
        app_tag="livy-session-7-AbC", owner="ålice \"q\"", proxy_user=None, name="etl\n\udc80",
        kind="pyspark", livy_version="0.9+", driver_uri="rsc://***@127.0.0.1:40000",
    )
    fields.update(session_fields)
    app = AppRecord("application_1_0007", "FINISHED", "SUCCEEDED", ("livy-session-7-abc",), 1, 1_700_000_200_000)
    return SessionReport(Session(**fields), Verdict.STALE, "app-finished", 12.3456, app, app.finished_ms)


def test_session_line_is_the_session_object():
    line = session_line(report())
    assert "\n" not in line and line.isascii()
    assert json.loads(line) == {
        "type": "interactive", "id": 7, "path": "/livy/v1/interactive/7", "verdict": "stale",
        "reason": "app-finished", "app_id": "application_1_0007", "app_tag": "livy-session-7-AbC",
        "app_state": "FINISHED", "created": iso_utc(1_700_000_000_000), "modified": iso_utc(1_700_000_100_500),
        "finished": iso_utc(1_700_000_200_000), "age_seconds": 12.346, "bytes": 8, "owner": "ålice \"q\"",
        "proxy_user": None, "name": "etl\n\udc80", "kind": "pyspark", "livy_version": "0.9+",
        "driver_uri": "rsc://***@127.0.0.1:40000", "znode_version": 2, "source": None,
    }


def test_session_line_without_app_and_with_extra_keys():
    plain = report(mtime_ms=1_700_000_000_000)._replace(app=None, finished_ms=None, verdict=Verdict.LIVE)
    parsed = json.loads(session_line(plain, {"action": "skipped-changed", "detail": "é"}))
    assert tuple(parsed)[: len(CONTRACT_FIELDS)] == CONTRACT_FIELDS
    assert parsed["app_state"] is None and parsed["finished"] is None
    assert parsed["created"] == parsed["modified"]
    assert list(parsed)[-2:] == ["action", "detail"] and parsed["detail"] == "é"


def test_documents_without_an_encoded_array_are_plain_indented_json():
    for document in ({}, {"ok": True, "summary": {"stale": 3, "by_type": {}}, "violations": [], "ä": ["é"]}):
        assert dumps(document) == json.dumps(document, indent=2, ensure_ascii=True)


def test_an_encoded_array_is_streamed_one_element_per_line():
    lines = [session_line(report(id=i, path=f"/livy/v1/interactive/{i}")) for i in range(2500)]
    document = {"prefix": "livy", "sessions": EncodedArray(iter(lines)), "warnings": ["w"]}
    out = io.StringIO()

    write_document(out, document)

    text = out.getvalue()
    parsed = json.loads(text)
    assert [s["id"] for s in parsed["sessions"]] == list(range(2500))
    assert parsed["warnings"] == ["w"] and text.endswith("}\n")
    assert text.count("\n") == 2500 + 8  # one line per session, plus the indented frame
    assert json.loads(dumps({"sessions": EncodedArray([])})) == {"sessions": []}
