"""Decode the znodes of Livy's session-recovery store.

Livy writes compact UTF-8 JSON with Jackson (docs/dev/livy-state-store.md section 2).
Decoding never raises on bad data: a znode zkjanitor cannot read is returned
as a Session whose ``corrupt`` names the first problem found, so it is reported
and never mistaken for a session zkjanitor understands.

This runs on every session znode of a scan (100k+), so each znode is parsed
with a single JSON decode and checked with plain type lookups.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Optional, Tuple

from zkjanitor.model import Session, SessionType, Znode, from_all_fields
from zkjanitor.redact import redact_uri

SCALA_INT_MAX = 2**31 - 1
SCALA_INT_MIN = -(2**31)
_SCALA_INT_MAX_DIGITS = len(str(SCALA_INT_MAX))

_BATCH_FIELD_TYPES: Dict[str, type] = {
    "name": str,
    "appId": str,
    "owner": str,
    "proxyUser": str,
    "version": int,
}
"""The Python type (from ``json.loads``) each optional BatchRecoveryMetadata field
must have when not null. Types are compared exactly, so ``true`` is not an int."""

_INTERACTIVE_FIELD_TYPES: Dict[str, type] = {
    **_BATCH_FIELD_TYPES,
    "kind": str,
    "heartbeatTimeoutS": int,
    "ttl": str,
    "idleTimeout": str,
    "driverMemory": str,
    "driverCores": int,
    "executorMemory": str,
    "executorCores": int,
    "conf": dict,
    "archives": list,
    "files": list,
    "jars": list,
    "numExecutors": int,
    "pyFiles": list,
    "queue": str,
    "rscDriverUri": str,
}
"""The same for InteractiveRecoveryMetadata (docs/dev/livy-state-store.md 2.5)."""

_FIELD_TYPES = {
    SessionType.BATCH: _BATCH_FIELD_TYPES,
    SessionType.INTERACTIVE: _INTERACTIVE_FIELD_TYPES,
}

OLDEST_LIVY_VERSION = "0.3-0.5"
_LIVY_VERSION_MARKERS: Dict[SessionType, Tuple[Tuple[str, str], ...]] = {
    SessionType.INTERACTIVE: (
        ("idleTimeout", "0.9+"),
        ("conf", "0.8"),
        ("ttl", "0.8"),
        ("name", "0.6-0.7"),
    ),
    SessionType.BATCH: (("name", "0.6+"),),
}
"""Newest first: the first key present in a record names the Livy version that
wrote it (docs/dev/livy-state-store.md 2.6 rule 3); a record with none of them is from
OLDEST_LIVY_VERSION. Batch records look alike from 0.6 on."""

PYSPARK3_KIND = "pyspark3"
PYSPARK3_LIVY_VERSION = "0.3-0.4"
"""Kind ``pyspark3`` exists only in 0.3 and 0.4 (docs/dev/livy-state-store.md 2.6 rule 4)."""


def session_id_from_name(name: str) -> Optional[int]:
    """The session id a ``v1/<type>`` child name stands for, or None if it is not a session.

    Only canonical decimals within Scala's Int range count: no sign, no leading
    zeros, ASCII digits only. Livy never writes anything else, and zkjanitor
    leaves alone what it does not understand (``state``, ``0012``, ``1.tmp``...).
    """
    if not (0 < len(name) <= _SCALA_INT_MAX_DIGITS and name.isascii() and name.isdigit()):
        return None
    if name[0] == "0" and name != "0":
        return None
    session_id = int(name)
    return session_id if session_id <= SCALA_INT_MAX else None


def _reject_non_finite(constant: str) -> float:
    """JSON decoder hook: Jackson rejects NaN and Infinity, so Livy could not load them."""
    raise ValueError(f"non-standard JSON constant {constant}")


_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_non_finite)
"""Built once: ``json.loads`` with any option builds a new decoder on every call."""
_SCAN_VALUE: Callable[[str, int], Tuple[Any, int]] = _JSON_DECODER.scan_once  # type: ignore[attr-defined]
"""The decoder's C scanner: one value from an index, without ``decode``'s whitespace handling."""


def _parse_json(data: Optional[bytes]) -> Tuple[Any, Optional[str]]:
    """Parse znode data as Jackson would: ``(value, None)`` or ``(None, corrupt reason)``."""
    if not data:
        return None, "empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not-utf8"
    # Fast path (40% off the JSON decode): the scanner alone, when one value spans the whole
    # text, as in everything Livy writes. Anything else (whitespace around the value, no
    # value) goes to the full decoder, which decides exactly as before.
    try:
        value, end = _SCAN_VALUE(text, 0)
        if end == len(text):
            return value, None
    except StopIteration:
        pass
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers too long for int().
        return None, "bad-json"
    try:
        return _JSON_DECODER.decode(text), None
    except (ValueError, RecursionError):
        return None, "bad-json"


def _check_record(session_type: SessionType, session_id: int, record: Any) -> Optional[str]:
    """The corrupt reason of a parsed session record, or None if Livy could load it."""
    if type(record) is not dict:
        return "not-an-object"
    record_id = record.get("id")
    if type(record_id) is not int:
        return "missing-id"
    if record_id != session_id:
        return "id-mismatch"
    app_tag = record.get("appTag")
    if type(app_tag) is not str or not app_tag:
        return "missing-app-tag"
    field_types = _FIELD_TYPES[session_type]
    for key, value in record.items():
        if value is not None:
            expected = field_types.get(key)
            if expected is not None and type(value) is not expected:
                return "bad-field"
            if expected is int and not SCALA_INT_MIN <= value <= SCALA_INT_MAX:
                return "bad-field"  # every integer field is a Scala Int: Jackson rejects the overflow
    return None


def livy_version_of(session_type: SessionType, record: Dict[str, Any]) -> str:
    """Which Livy release(s) wrote a valid session record, inferred from its keys."""
    if session_type is SessionType.INTERACTIVE and record.get("kind") == PYSPARK3_KIND:
        return PYSPARK3_LIVY_VERSION
    for key, livy_version in _LIVY_VERSION_MARKERS[session_type]:
        if key in record:
            return livy_version
    return OLDEST_LIVY_VERSION


_session = from_all_fields(Session)


def decode_session(session_type: SessionType, znode: Znode, session_id: Optional[int] = None) -> Session:
    """Decode one session znode; never raises on any data.

    The id is the znode name, which callers have accepted with
    ``session_id_from_name`` (a ValueError otherwise: that is a caller bug, not
    bad data); a caller that kept the id it parsed passes it as ``session_id``.
    Null data (as kazoo returns it) is treated as empty.
    """
    path, data, version, ctime_ms, mtime_ms = znode[:5]
    if session_id is None:
        name = path.rpartition("/")[2]
        session_id = session_id_from_name(name)
        if session_id is None:
            raise ValueError(f"znode name {name!r} is not a Livy session id")
    if data is None:
        data = b""
    record, corrupt = _parse_json(data)
    if corrupt is None:
        corrupt = _check_record(session_type, session_id, record)
    if corrupt is not None:
        return Session(session_type, session_id, path, data, version, ctime_ms, mtime_ms, corrupt=corrupt)
    get = record.get
    interactive = session_type is SessionType.INTERACTIVE
    return _session((  # every field, in order (model.from_all_fields): this runs for every session
        session_type,
        session_id,
        path,
        data,
        version,
        ctime_ms,
        mtime_ms,
        get("appId"),
        get("appTag"),
        get("owner"),
        get("proxyUser"),
        get("name"),
        get("kind") if interactive else None,
        livy_version_of(session_type, record),
        None,
        redact_uri(get("rscDriverUri")) if interactive else None,
    ))


def counter_problem(data: Optional[bytes]) -> Optional[str]:
    """What is wrong with an existing ``state`` znode's data, in a few words safe to print; None if nothing.

    Livy fails every new session on a counter it cannot read, and hands out
    negative ids from a negative one.
    """
    value, corrupt = _parse_json(data)
    if corrupt is not None:
        return {"empty": "empty", "not-utf8": "not UTF-8", "bad-json": "not JSON"}[corrupt]
    if type(value) is not dict:
        return f"not a JSON object but {_json_type_name(value)}"
    if "nextSessionId" not in value:
        return "no nextSessionId"
    if len(value) != 1:
        return "keys other than nextSessionId"
    next_id = value["nextSessionId"]
    if type(next_id) is not int:
        return f"nextSessionId is {_json_type_name(next_id)}, not an integer"
    if not SCALA_INT_MIN <= next_id <= SCALA_INT_MAX:
        return "nextSessionId is out of Livy's Int range"
    if next_id < 0:
        return f"nextSessionId is negative ({next_id})"
    return None


def _json_type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (str, "a string"), (int, "a number"), (float, "a number"),
                       (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null"


def encode_counter(next_session_id: int) -> bytes:
    """The ``state`` znode's data as Livy writes it: ``{"nextSessionId":N}``."""
    return b'{"nextSessionId":%d}' % next_session_id


def decode_counter(data: Optional[bytes]) -> Optional[int]:
    """``nextSessionId`` from a ``v1/<type>/state`` znode, or None if Livy could not read it.

    Livy's SessionManagerState has exactly one Int field and, unlike the session
    records, does not ignore unknown keys, so anything else yields None.
    """
    value, corrupt = _parse_json(data)
    if corrupt is not None or type(value) is not dict or len(value) != 1:
        return None
    next_id = value.get("nextSessionId")
    if type(next_id) is not int or not SCALA_INT_MIN <= next_id <= SCALA_INT_MAX:
        return None
    return next_id
