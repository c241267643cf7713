"""Property-based tests: the decoder survives any input and reads every valid record."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.support.livy_records import SAMPLES, znode_for
from zkjanitor.decoder import (
    SCALA_INT_MAX,
    decode_counter,
    decode_session,
    session_id_from_name,
)
from zkjanitor.model import REASONS, SessionType, Verdict

CORRUPT_REASONS = frozenset(REASONS[Verdict.CORRUPT])
RECORD_PROBLEMS = frozenset({"missing-id", "id-mismatch", "missing-app-tag", "bad-field"})
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

session_types = st.sampled_from(list(SessionType))
session_ids = st.integers(min_value=0, max_value=SCALA_INT_MAX)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
small_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)

KNOWN_STRING_FIELDS = {
    SessionType.BATCH: ("name", "appId", "owner", "proxyUser"),
    SessionType.INTERACTIVE: (
        "name", "appId", "owner", "proxyUser", "kind", "ttl", "idleTimeout", "driverMemory",
        "executorMemory", "queue", "rscDriverUri",
    ),
}
ALL_KNOWN_FIELDS = frozenset(
    {"id", "appTag", "version", "heartbeatTimeoutS", "driverCores", "executorCores",
     "numExecutors", "conf", "archives", "files", "jars", "pyFiles"}
    | set(KNOWN_STRING_FIELDS[SessionType.INTERACTIVE])
)


def _decode(session_type: SessionType, session_id: int, data: bytes):
    session = decode_session(session_type, znode_for(session_type, str(session_id), data))
    assert session.corrupt is None or session.corrupt in CORRUPT_REASONS
    assert (session.type, session.id, session.data) == (session_type, session_id, data)
    return session


@FUZZ
@given(session_types, session_ids, st.binary(max_size=2_000))
def test_any_bytes_decode_without_raising(session_type, session_id, data):
    _decode(session_type, session_id, data)


@FUZZ
@given(session_types, session_ids, json_values)
def test_any_json_value_decodes_without_raising(session_type, session_id, value):
    session = _decode(session_type, session_id, json.dumps(value).encode())
    if not isinstance(value, dict):
        assert session.corrupt == "not-an-object"


@FUZZ
@given(
    session_types,
    session_ids,
    st.dictionaries(st.sampled_from(sorted(ALL_KNOWN_FIELDS)) | st.text(max_size=8),
                    small_json_values, max_size=8),
    st.booleans(),
)
def test_any_json_object_decodes_to_a_record_problem_or_a_session(
    session_type, session_id, record, with_identity
):
    if with_identity:
        record.update(id=session_id, appTag="t")
    session = _decode(session_type, session_id, json.dumps(record).encode())
    assert session.corrupt is None or session.corrupt in RECORD_PROBLEMS


@FUZZ
@given(session_types, session_ids, st.binary(max_size=300))
def test_bytes_after_a_valid_prefix_decode_without_raising(session_type, session_id, tail):
    _decode(session_type, session_id, b'{"id":%d,"appTag":"t",' % session_id + tail)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_valid_records_decode_without_raising(sample, data):
    raw = bytearray(sample.json.encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=5), label="mutations")):
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="position")
        operation = data.draw(st.sampled_from(["flip", "delete", "insert"]), label="operation")
        if operation == "flip":
            raw[position] ^= data.draw(st.integers(min_value=1, max_value=255), label="mask")
        elif operation == "delete" and len(raw) > 1:
            del raw[position]
        else:
            raw.insert(position, data.draw(st.integers(min_value=0, max_value=255), label="byte"))
    _decode(sample.type, sample.id, bytes(raw))


@FUZZ
@given(
    st.sampled_from(SAMPLES),
    st.dictionaries(
        st.text(max_size=15).filter(lambda key: key not in ALL_KNOWN_FIELDS),
        small_json_values,
        min_size=1,
        max_size=6,
    ),
)
def test_extra_unknown_keys_are_ignored(sample, extra):
    record = {**extra, **json.loads(sample.json)}
    session = _decode(sample.type, sample.id, json.dumps(record).encode())
    assert session.corrupt is None
    assert (session.app_id, session.app_tag, session.owner) == (
        sample.app_id, sample.app_tag, sample.owner,
    )


@FUZZ
@given(st.sampled_from(SAMPLES), st.data(), json_values)
def test_a_known_string_field_holding_another_type_is_bad_field(sample, data, value):
    assume(value is not None and not isinstance(value, str))
    field = data.draw(st.sampled_from(KNOWN_STRING_FIELDS[sample.type]), label="field")
    record = {**json.loads(sample.json), field: value}
    assert _decode(sample.type, sample.id, json.dumps(record).encode()).corrupt == "bad-field"


optional_strings = st.none() | st.text(min_size=1, max_size=30)
tag_suffixes = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                       min_size=8, max_size=8)
app_ids = st.none() | st.builds(
    "application_{}_{:04d}".format,
    st.integers(min_value=10**12, max_value=10**13 - 1),
    st.integers(min_value=1, max_value=99_999),
) | st.builds("spark-{}".format, st.text(alphabet="0123456789abcdef", min_size=32, max_size=32))

BATCH_SHAPES = {"0.3-0.5": (), "0.6+": ("name",)}
INTERACTIVE_SHAPES = {
    "0.3-0.5": (),
    "0.6-0.7": ("name",),
    "0.8": ("name", "ttl", "driverMemory", "driverCores", "conf", "jars", "queue"),
    "0.9+": ("name", "ttl", "idleTimeout", "driverMemory", "conf", "pyFiles", "numExecutors"),
}
VERSION_MARKERS = frozenset({"name", "ttl", "idleTimeout", "conf"})
FIELD_VALUES = {
    "name": optional_strings,
    "ttl": optional_strings,
    "idleTimeout": optional_strings,
    "driverMemory": optional_strings,
    "queue": optional_strings,
    "driverCores": st.none() | st.integers(min_value=1, max_value=64),
    "numExecutors": st.none() | st.integers(min_value=1, max_value=1_000),
    "conf": st.none() | st.dictionaries(st.text(max_size=20), st.text(max_size=20), max_size=4),
    "jars": st.none() | st.lists(st.text(max_size=20), max_size=3),
    "pyFiles": st.none() | st.lists(st.text(max_size=20), max_size=3),
}


@st.composite
def livy_records(draw):
    """(type, id, record, expected livy_version) as some Livy release would write it."""
    session_type = draw(session_types)
    session_id = draw(session_ids)
    prefix = "livy-batch" if session_type is SessionType.BATCH else "livy-session"
    record = {
        "id": session_id,
        "appId": draw(app_ids),
        "appTag": f"{prefix}-{session_id}-{draw(tag_suffixes)}",
        "owner": draw(optional_strings),
        "proxyUser": draw(optional_strings),
        "version": 1,
    }
    shapes = BATCH_SHAPES if session_type is SessionType.BATCH else INTERACTIVE_SHAPES
    livy_version = draw(st.sampled_from(sorted(shapes)))
    for field in shapes[livy_version]:
        record[field] = draw(FIELD_VALUES[field])
    if session_type is SessionType.INTERACTIVE:
        kinds = ["spark", "pyspark", "sparkr", "shared", "sql"]
        if livy_version == "0.3-0.5":
            kinds.append("pyspark3")
        record["kind"] = draw(st.sampled_from(kinds))
        if record["kind"] == "pyspark3":
            livy_version = "0.3-0.4"
        record["heartbeatTimeoutS"] = draw(st.integers(min_value=0, max_value=3_600))
        record["rscDriverUri"] = draw(st.none() | st.just("rsc://c:s@10.0.0.1:1"))
    # Livy writes nulls; other writers may leave them out. Only the keys that
    # tell Livy versions apart must stay.
    drop_nulls = draw(st.booleans())
    fields = [
        (key, value)
        for key, value in record.items()
        if not (drop_nulls and value is None and key not in VERSION_MARKERS)
    ]
    shuffled = draw(st.permutations(fields))
    return session_type, session_id, dict(shuffled), livy_version


@FUZZ
@given(livy_records())
def test_valid_records_of_every_livy_version_decode(generated):
    session_type, session_id, record, livy_version = generated
    session = _decode(session_type, session_id, json.dumps(record).encode())
    assert session.corrupt is None
    assert session.app_id == record.get("appId")
    assert session.app_tag == record["appTag"]
    assert session.owner == record.get("owner")
    assert session.proxy_user == record.get("proxyUser")
    assert session.livy_version == livy_version


@FUZZ
@given(st.text(max_size=12))
def test_only_canonical_names_are_sessions(name):
    session_id = session_id_from_name(name)
    if session_id is not None:
        assert str(session_id) == name
        assert 0 <= session_id <= SCALA_INT_MAX


@FUZZ
@given(session_ids)
def test_every_int_session_id_round_trips(session_id):
    assert session_id_from_name(str(session_id)) == session_id


@FUZZ
@given(st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()))
def test_counter_decodes_any_input_without_raising(data):
    counter = decode_counter(data)
    assert counter is None or isinstance(counter, int)
