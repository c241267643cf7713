"""The records built through model.from_all_fields: their field order is what every fast-path caller assumes.

If one of these fails, a field was added, removed or moved: change every caller of
``from_all_fields`` for that record (grep for it) in the same commit, then this pin.
"""

from __future__ import annotations

import pytest

from tests.support.paths import REPO
from zkjanitor.model import (
    AppRecord,
    Classification,
    Session,
    SessionReport,
    SessionType,
    Verdict,
    Znode,
    from_all_fields,
)

PINNED = {
    Znode: ("path", "data", "version", "ctime_ms", "mtime_ms", "ephemeral_owner", "num_children"),
    Session: ("type", "id", "path", "data", "version", "ctime_ms", "mtime_ms", "app_id", "app_tag", "owner",
              "proxy_user", "name", "kind", "livy_version", "corrupt", "driver_uri"),
    Classification: ("verdict", "reason", "age_seconds", "finished_ms"),
    SessionReport: ("session", "verdict", "reason", "age_seconds", "app", "finished_ms", "source"),
    AppRecord: ("app_id", "state", "final_status", "tags", "started_ms", "finished_ms"),  # zkjanitor/spool.py
}


@pytest.mark.parametrize("record", list(PINNED), ids=lambda record: record.__name__)
def test_the_field_order_the_fast_path_relies_on(record):
    assert record._fields == PINNED[record]


def test_the_fast_path_builds_the_same_record_as_the_keywords():
    fields = {"verdict": Verdict.STALE, "reason": "app-finished", "age_seconds": 3.5, "finished_ms": 7}
    fast = from_all_fields(Classification)(tuple(fields[name] for name in Classification._fields))
    assert fast == Classification(**fields) and type(fast) is Classification and fast.reason == "app-finished"


def test_only_the_pinned_records_are_built_through_the_fast_path():
    import re

    package = REPO / "zkjanitor"
    built = set()
    for source in package.rglob("*.py"):
        built.update(re.findall(r"from_all_fields\((\w+)\)", source.read_text(encoding="utf-8")))
        assert "tuple.__new__" not in source.read_text(encoding="utf-8") or source.name == "model.py", source
    assert built == {record.__name__ for record in PINNED}


def test_a_session_built_by_the_decoder_has_every_field_where_its_name_says():
    from zkjanitor.decoder import decode_session

    data = b'{"id":4,"appId":"application_1_0001","appTag":"livy-batch-4-abcdefgh","owner":"ann","proxyUser":"bo"}'
    session = decode_session(SessionType.BATCH, Znode("/livy/v1/batch/4", data, 3, 10, 20), 4)
    assert (session.id, session.version, session.ctime_ms, session.mtime_ms) == (4, 3, 10, 20)
    assert (session.app_id, session.app_tag, session.owner, session.proxy_user) == (
        "application_1_0001", "livy-batch-4-abcdefgh", "ann", "bo")
    assert session.corrupt is None and session.data == data
