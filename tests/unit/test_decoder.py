"""Decoding Livy's session and counter znodes."""

from __future__ import annotations

import json

import pytest

from tests.support.livy_records import SAMPLES, Sample, znode_for
from zkjanitor.decoder import decode_counter, decode_session, session_id_from_name
from zkjanitor.model import REASONS, SessionType, Verdict

BATCH = SessionType.BATCH
INTERACTIVE = SessionType.INTERACTIVE
VALID_BATCH = {"id": 7, "appId": None, "appTag": "livy-batch-7-abcdefgh", "version": 1}
VALID_INTERACTIVE = {**VALID_BATCH, "appTag": "livy-session-7-abcdefgh", "kind": "spark"}


def _decode(session_type: SessionType, record: object, name: str = "7"):
    return decode_session(session_type, znode_for(session_type, name, json.dumps(record).encode()))


# --- which children are sessions -------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [("0", 0), ("7", 7), ("408107", 408107), ("2147483647", 2147483647)],
)
def test_canonical_decimal_names_are_sessions(name, expected):
    assert session_id_from_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "state", "", "0012", "00", "-1", "+1", " 1", "1 ", "1.tmp", "1e3", "0x1",
        "2147483648", "99999999999", "1_000",
        "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() and int() accept them
        "\uff11",  # fullwidth 1
        "\u00b2",  # superscript 2
    ],
)
def test_other_names_are_not_sessions(name):
    assert session_id_from_name(name) is None


# --- records every Livy version writes -------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.label)
def test_records_of_every_livy_version_decode(sample: Sample):
    znode = znode_for(sample.type, str(sample.id), sample.json.encode())
    session = decode_session(sample.type, znode)
    assert session.corrupt is None
    assert (session.type, session.id, session.path) == (sample.type, sample.id, znode.path)
    assert (session.data, session.version, session.ctime_ms, session.mtime_ms) == (
        znode.data, znode.version, znode.ctime_ms, znode.mtime_ms,
    )
    assert session.app_id == sample.app_id
    assert session.app_tag == sample.app_tag
    assert session.owner == sample.owner
    assert session.proxy_user == sample.proxy_user
    assert session.name == sample.name
    assert session.kind == sample.kind
    assert session.livy_version == sample.livy_version


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.label in ("interactive 0.9", "batch 0.6-0.8 just created")],
    ids=lambda sample: sample.label,
)
def test_missing_optional_fields_read_like_null(sample: Sample):
    record = json.loads(sample.json)
    without_nulls = {key: value for key, value in record.items() if value is not None}
    from_nulls = _decode(sample.type, record, str(sample.id))
    from_missing = _decode(sample.type, without_nulls, str(sample.id))
    assert from_missing.corrupt is None
    assert (from_missing.app_id, from_missing.owner, from_missing.proxy_user) == (
        from_nulls.app_id, from_nulls.owner, from_nulls.proxy_user,
    )


def test_key_order_and_whitespace_do_not_matter():
    record = json.loads(SAMPLES[-1].json)
    reordered = json.dumps(dict(reversed(list(record.items()))), indent=2).encode()
    session = decode_session(INTERACTIVE, znode_for(INTERACTIVE, "3", reordered))
    assert session.corrupt is None
    assert session.app_tag == "livy-session-3-ab9de2fg"
    assert session.livy_version == "0.9+"


def test_unknown_fields_are_ignored_whatever_their_type():
    record = {**VALID_INTERACTIVE, "futureField": {"nested": [1, 2.5, None]}, "state": 3}
    session = _decode(INTERACTIVE, record)
    assert session.corrupt is None
    assert session.app_tag == "livy-session-7-abcdefgh"


def test_interactive_only_fields_in_a_batch_record_are_ignored():
    # BatchRecoveryMetadata has no kind or conf: Livy ignores them, so must we.
    session = _decode(BATCH, {**VALID_BATCH, "kind": 5, "conf": "x"})
    assert session.corrupt is None
    assert session.kind is None


@pytest.mark.parametrize(
    "record, expected",
    [
        ({**VALID_BATCH, "name": "x"}, "0.6+"),
        ({**VALID_BATCH, "name": None, "idleTimeout": "1h"}, "0.6+"),
        (VALID_BATCH, "0.3-0.5"),
    ],
)
def test_batch_livy_version(record, expected):
    assert _decode(BATCH, record).livy_version == expected


@pytest.mark.parametrize(
    "extra, expected",
    [
        ({}, "0.3-0.5"),
        ({"name": None}, "0.6-0.7"),
        ({"name": None, "ttl": None}, "0.8"),
        ({"name": None, "conf": {}}, "0.8"),
        ({"name": None, "ttl": None, "conf": {}, "idleTimeout": None}, "0.9+"),
        ({"kind": "pyspark3"}, "0.3-0.4"),
    ],
)
def test_interactive_livy_version(extra, expected):
    assert _decode(INTERACTIVE, {**VALID_INTERACTIVE, **extra}).livy_version == expected


# --- corrupt znodes --------------------------------------------------------------------


def _corrupt_reason(session_type: SessionType, data: bytes, name: str = "7"):
    return decode_session(session_type, znode_for(session_type, name, data)).corrupt


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"\xff\xfe{}", "not-utf8"),
        (b'{"id":7,"appTag":"livy-batch-7-\xe9"}', "not-utf8"),  # Latin-1, not UTF-8
        (b'{"id":7,"appTag":"\xed\xa0\x80"}', "not-utf8"),  # an encoded UTF-16 surrogate
        ('{"id":7,"appTag":"a"}'.encode("utf-16"), "not-utf8"),  # json.loads(bytes) would accept
        (b"\xef\xbb\xbf" + json.dumps(VALID_BATCH).encode(), "bad-json"),  # Jackson-less BOM
        (b"{", "bad-json"),
        (b'{"id":7,"appTag":"t"', "bad-json"),
        (b'{"id":7,"appTag":"t"} trailing', "bad-json"),
        (b"{'id': 7}", "bad-json"),
        (b"\x00", "bad-json"),
        (b"   ", "bad-json"),
        (b"[" * 100_000 + b"]" * 100_000, "bad-json"),  # Python's json: RecursionError
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "bad-json"),
        (b'{"id":7,"appTag":"t","x":NaN}', "bad-json"),  # Jackson rejects NaN
        (b'{"id":7,"appTag":"t","x":-Infinity}', "bad-json"),
        (b"null", "not-an-object"),
        (b"[]", "not-an-object"),
        (b'"livy"', "not-an-object"),
        (b"7", "not-an-object"),
        (b'{"appTag":"t"}', "missing-id"),
        (b'{"id":null,"appTag":"t"}', "missing-id"),
        (b'{"id":"7","appTag":"t"}', "missing-id"),
        (b'{"id":7.0,"appTag":"t"}', "missing-id"),
        (b'{"id":true,"appTag":"t"}', "missing-id"),
        (b'{"id":8,"appTag":"t"}', "id-mismatch"),
        (b'{"id":-7,"appTag":"t"}', "id-mismatch"),
        (b'{"id":4294967303,"appTag":"t"}', "id-mismatch"),  # 7 + 2**32: no Int wrap-around
        (b'{"id":7}', "missing-app-tag"),
        (b'{"id":7,"appTag":null}', "missing-app-tag"),
        (b'{"id":7,"appTag":""}', "missing-app-tag"),
        (b'{"id":7,"appTag":7}', "missing-app-tag"),
        (b'{"id":7,"appTag":["t"]}', "missing-app-tag"),
    ],
)
def test_undecodable_data_is_corrupt_with_its_reason(data, reason):
    assert _corrupt_reason(BATCH, data) == reason
    assert _corrupt_reason(INTERACTIVE, data) == reason


def test_null_data_from_kazoo_is_empty():
    session = decode_session(BATCH, znode_for(BATCH, "7", None))
    assert session.corrupt == "empty"
    assert session.size == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("appId", 5), ("appId", ["application_1_1"]), ("owner", True), ("owner", {}),
        ("proxyUser", 1.5), ("name", 0), ("version", "1"), ("version", True),
    ],
)
def test_known_field_of_the_wrong_type_is_bad_field(field, value):
    assert _decode(BATCH, {**VALID_BATCH, field: value}).corrupt == "bad-field"
    assert _decode(INTERACTIVE, {**VALID_INTERACTIVE, field: value}).corrupt == "bad-field"


@pytest.mark.parametrize(
    "field, value",
    [
        ("kind", 1), ("rscDriverUri", {"host": "h"}), ("ttl", 3600), ("idleTimeout", 1800),
        ("heartbeatTimeoutS", "60"), ("heartbeatTimeoutS", False), ("driverMemory", 4),
        ("driverCores", "2"), ("executorMemory", []), ("executorCores", 1.0), ("queue", 0),
        ("numExecutors", "3"), ("conf", []), ("conf", "a=b"), ("archives", "a.zip"),
        ("files", {}), ("jars", "a.jar"), ("pyFiles", 1),
    ],
)
def test_interactive_field_of_the_wrong_type_is_bad_field(field, value):
    assert _decode(INTERACTIVE, {**VALID_INTERACTIVE, field: value}).corrupt == "bad-field"


def test_corrupt_session_keeps_its_identity_and_nothing_else():
    data = b'{"id":7,"appId":"application_1_1","appTag":"t","owner":5}'
    znode = znode_for(BATCH, "7", data, version=9)
    session = decode_session(BATCH, znode)
    assert session.corrupt == "bad-field"
    assert (session.type, session.id, session.path, session.data) == (BATCH, 7, znode.path, data)
    assert (session.version, session.ctime_ms, session.mtime_ms) == (9, 1_000, 2_000)
    assert session[7:14] == (None,) * 7  # app_id ... livy_version: nothing half-trusted


def test_every_corrupt_reason_is_in_the_reason_vocabulary():
    reachable = {
        _corrupt_reason(BATCH, data)
        for data in (
            b"", b"\xff", b"{", b"[]", b"{}", b'{"id":8}', b'{"id":7}',
            b'{"id":7,"appTag":"t","owner":1}',
        )
    }
    assert reachable == set(REASONS[Verdict.CORRUPT])


def test_a_name_that_is_not_a_session_id_is_a_caller_error():
    with pytest.raises(ValueError, match="state"):
        decode_session(BATCH, znode_for(BATCH, "state", b'{"nextSessionId":3}'))


# --- the id counter --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'{"nextSessionId":13}', 13),
        (b'{"nextSessionId":0}', 0),
        (b'{ "nextSessionId" : 2147483647 }', 2147483647),
    ],
)
def test_counter_decodes(data, expected):
    assert decode_counter(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        None, b"", b"\xff", b"{", b"[" * 100_000, b"13", b"[13]", b"{}",
        b'{"nextSessionId":null}', b'{"nextSessionId":"13"}', b'{"nextSessionId":13.0}',
        b'{"nextSessionId":true}', b'{"nextSessionId":2147483648}',
        b'{"nextSessionId":13,"extra":1}',  # SessionManagerState does not ignore unknown keys
        b'{"nextsessionid":13}',
    ],
)
def test_anything_else_is_no_counter(data):
    assert decode_counter(data) is None
