"""The contract's JSON documents (``--format json``)."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Sequence

from zkjanitor.model import SessionReport, SessionType, Verdict
from zkjanitor.render import iso_utc
from zkjanitor.scan import ScanResult, Summary


def session_json(report: SessionReport) -> Dict[str, Any]:
    """One session object, as in the contract, plus a few descriptive extras."""
    session = report.session
    app = report.app
    return {
        "type": session.type.value,
        "id": session.id,
        "path": session.path,
        "verdict": report.verdict.value,
        "reason": report.reason,
        "app_id": session.app_id,
        "app_tag": session.app_tag,
        "app_state": app.state if app is not None else None,
        "created": iso_utc(session.ctime_ms),
        "modified": iso_utc(session.mtime_ms),
        "finished": iso_utc(report.finished_ms),
        "age_seconds": round(report.age_seconds, 3),
        "bytes": session.size,
        "owner": session.owner,
        "proxy_user": session.proxy_user,
        "name": session.name,
        "kind": session.kind,
        "livy_version": session.livy_version,
        "driver_uri": session.driver_uri,
        "znode_version": session.version,
    }


def summary_json(summary: Summary) -> Dict[str, Any]:
    """The contract's ``summary`` object, plus per-type breakdown."""
    document: Dict[str, Any] = {"sessions": summary.sessions}
    document.update({verdict.value: summary.by_verdict[verdict] for verdict in Verdict})
    document["bytes"] = summary.bytes
    document["oldest_stale_age_seconds"] = (
        None if summary.oldest_stale_seconds is None else round(summary.oldest_stale_seconds, 3)
    )
    document["by_type"] = {
        session_type.value: {
            **{verdict.value: counts[verdict] for verdict in Verdict},
            "bytes": summary.bytes_by_type[session_type],
        }
        for session_type, counts in summary.by_type_verdict.items()
    }
    return document


def counters_json(result: ScanResult) -> Dict[str, Optional[int]]:
    parents = result.inventory.parents
    return {t.value: (parents[t].counter if t in parents else None) for t in SessionType}


def scan_json(
    result: ScanResult,
    summary: Summary,
    *,
    zookeeper: str,
    sessions: Sequence[SessionReport],
    warnings: Sequence[str],
) -> Dict[str, Any]:
    """The ``scan`` document."""
    inventory = result.inventory
    return {
        "generated_at": iso_utc(result.now_ms),
        "zookeeper": zookeeper,
        "prefix": inventory.prefix,
        "summary": summary_json(summary),
        "counters": counters_json(result),
        "parents": {
            t.value: {
                "path": p.path,
                "exists": p.exists,
                "children": p.num_children,
                "children_reply_bytes": p.children_reply_bytes,
                "other_children": list(p.other_children),
            }
            for t, p in inventory.parents.items()
        },
        "unreadable": [{"path": path, "error": error} for path, error in inventory.unreadable],
        "source_error": result.source_error,
        "warnings": list(warnings),
        "sessions": [session_json(report) for report in sessions],
    }


def dumps(document: Dict[str, Any]) -> str:
    """Serialise a document for stdout.

    Non-ASCII is written as ``\\uXXXX`` escapes: znode data may hold lone
    surrogates (valid JSON escapes that UTF-8 cannot encode), and escaped
    output is valid JSON on any terminal or pipe encoding.
    """
    return json.dumps(document, indent=2, ensure_ascii=True)
