"""Create Livy-like session znodes with plain kazoo and describe them as scan reports.

The prune and restore tests build their :class:`SessionReport` objects here,
directly from what ZooKeeper holds, without the decoder or the scan pipeline.
"""

from __future__ import annotations

import json
from typing import Dict, Iterable, List

from kazoo.client import KazooClient

from zkjanitor.model import Session, SessionReport, SessionType, Verdict

CREATES_PER_TRANSACTION = 100


def type_dir(prefix: str, session_type: SessionType) -> str:
    return f"/{prefix}/v1/{session_type.value}"


def livy_record(session_type: SessionType, session_id: int, padding: int = 0) -> bytes:
    """Compact JSON shaped like Livy's recovery metadata, optionally padded to matter in size."""
    record = {
        "id": session_id,
        "name": None,
        "appId": f"application_1712345678901_{session_id:04d}",
        "appTag": f"livy-{session_type.value}-{session_id}-abcd1234",
        "owner": "alice",
        "proxyUser": None,
        "version": 1,
    }
    if padding:
        record["conf"] = {"spark.padding": "x" * padding}
    return json.dumps(record, separators=(",", ":")).encode("utf-8")


def create_store(
    client: KazooClient,
    prefix: str,
    session_type: SessionType,
    data_by_id: Dict[int, bytes],
) -> None:
    """Create the type directory (empty data, as Curator does), its ``state`` node, the sessions."""
    parent = type_dir(prefix, session_type)
    client.ensure_path(parent)
    next_id = max(data_by_id, default=-1) + 1
    client.create(f"{parent}/state", json.dumps({"nextSessionId": next_id}).encode())
    items = sorted(data_by_id.items())
    for start in range(0, len(items), CREATES_PER_TRANSACTION):
        transaction = client.transaction()
        for session_id, data in items[start : start + CREATES_PER_TRANSACTION]:
            transaction.create(f"{parent}/{session_id}", data)
        results = transaction.commit()
        assert not any(isinstance(result, Exception) for result in results), results


def create_sessions(
    client: KazooClient,
    prefix: str,
    ids: Iterable[int],
    session_type: SessionType = SessionType.BATCH,
    padding: int = 0,
) -> List[SessionReport]:
    """Create stale-looking sessions ``ids`` and return their reports, read back from ZooKeeper."""
    ids = list(ids)
    create_store(
        client, prefix, session_type, {i: livy_record(session_type, i, padding) for i in ids}
    )
    return [
        read_report(client, f"{type_dir(prefix, session_type)}/{i}", session_type, i) for i in ids
    ]


def read_report(
    client: KazooClient,
    path: str,
    session_type: SessionType,
    session_id: int,
    verdict: Verdict = Verdict.STALE,
    age_seconds: float = 30 * 86400.0,
) -> SessionReport:
    """A report for the znode at ``path`` as it is now (data, version, stamps)."""
    data, stat = client.get(path)
    session = Session(
        type=session_type,
        id=session_id,
        path=path,
        data=data,
        version=stat.version,
        ctime_ms=stat.ctime,
        mtime_ms=stat.mtime,
    )
    return SessionReport(session, verdict, "app-finished", age_seconds)


def existing_ids(
    client: KazooClient, prefix: str, session_type: SessionType = SessionType.BATCH
) -> set:
    """Names of the children of the type directory (``state`` included)."""
    return set(client.get_children(type_dir(prefix, session_type)))
