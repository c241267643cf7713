"""The JSON documents of docs/contract.md and docs/json.md (``--format json``).

A document's top level is indented for people; its ``sessions`` array holds one
compact object per line. A scan lists every session (100k+), so each session
object is encoded straight to text (:func:`session_line`) rather than built as
a dict and serialised by the pure-Python indenting encoder, and the array is
streamed to stdout (:func:`write_document`), never held as one string.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, TextIO

from zkjanitor.advice import Finding, has_problems
from zkjanitor.counter import CounterReport
from zkjanitor.growth import Growth, Row
from zkjanitor.janitor import CheckResult
from zkjanitor.model import SessionReport, SessionType, Verdict
from zkjanitor.outlook import Outlook, Suggestion
from zkjanitor.prune import Outcome, PruneOutcome
from zkjanitor.render import PruneReport, RestoreReport, iso_utc
from zkjanitor.retention import LivyRules
from zkjanitor.scan import ScanResult, Summary

_LINES_PER_WRITE = 1000
_SPOOL_IN_MEMORY_BYTES = 8 * 1024 * 1024
_MAX_CACHED_STRINGS = 10_000


def _string(value: Optional[str]) -> str:
    """A JSON string (non-ASCII escaped, as everywhere in zkjanitor's JSON) or ``null``."""
    return "null" if value is None else encode_basestring_ascii(value)


class _StringCache(Dict[Optional[str], str]):
    """``_string`` of the few distinct values of a field such as owner or kind, each encoded once."""

    def __missing__(self, value: Optional[str]) -> str:
        text = _string(value)
        if len(self) < _MAX_CACHED_STRINGS:
            self[value] = text
        return text


_FEW_VALUES = _StringCache()


def session_line(report: SessionReport, extra: Optional[Mapping[str, Any]] = None) -> str:
    """One session object as compact JSON text: the contract's fields plus a few descriptive extras.

    ``extra`` adds keys after the session's own (prune's ``action``).
    """
    # This runs for every session of a scan: both records are unpacked in one step each
    # (a ValueError if their fields change), and nothing is looked up twice.
    session, verdict, reason, age_seconds, app, finished_ms, source = report
    (session_type, session_id, path, data, version, ctime_ms, mtime_ms, app_id, app_tag, owner,
     proxy_user, name, kind, livy_version, _, driver_uri) = session
    few = _FEW_VALUES
    encode = encode_basestring_ascii
    created = iso_utc(ctime_ms)
    modified = created if mtime_ms == ctime_ms else iso_utc(mtime_ms)
    finished = "null" if finished_ms is None else f'"{iso_utc(finished_ms)}"'
    end = "}" if not extra else "".join(
        f", {few[key]}: {_string(value) if isinstance(value, str) else json.dumps(value)}"
        for key, value in extra.items()
    ) + "}"
    # SessionType and Verdict members are str subclasses holding their value: encoded
    # directly, they need none of Enum's Python-level hashing or .value lookups.
    return (
        f'{{"type": {encode(session_type)}, "id": {session_id}, "path": {encode(path)}, '
        f'"verdict": {encode(verdict)}, "reason": {few[reason]}, '
        f'"app_id": {"null" if app_id is None else encode(app_id)}, '
        f'"app_tag": {"null" if app_tag is None else encode(app_tag)}, '
        f'"app_state": {few[None if app is None else app.state]}, '
        f'"created": "{created}", "modified": "{modified}", "finished": {finished}, '
        # Three decimals, as round(age, 3) would give: the same JSON number, four times faster.
        f'"age_seconds": {age_seconds:.3f}, "bytes": {len(data)}, '
        f'"owner": {few[owner]}, "proxy_user": {few[proxy_user]}, '
        f'"name": {"null" if name is None else encode(name)}, "kind": {few[kind]}, '
        f'"livy_version": {few[livy_version]}, '
        f'"driver_uri": {"null" if driver_uri is None else encode(driver_uri)}, '
        f'"znode_version": {version}, "source": {few[source]}{end}'
    )


class EncodedArray:
    """A JSON array of already-encoded elements, produced lazily and written one per line.

    :func:`write_document` streams it; ``json.dumps`` cannot serialise it.
    """

    def __init__(self, elements: Iterable[str]) -> None:
        self._elements = elements

    def __iter__(self) -> Iterator[str]:
        return iter(self._elements)


class SessionLines:
    """A scan's session objects, encoded as they stream past and spooled to a temporary file (a :class:`ReportSink`).

    The document's ``sessions`` come last but its summary first, so the
    sessions wait in a file (memory up to :data:`_SPOOL_IN_MEMORY_BYTES`):
    490 MB of JSON at a million sessions never sits in memory. Iterating
    gives the lines back in order, once.
    """

    def __init__(self, keep: Callable[[SessionReport], bool] = lambda report: True) -> None:
        self.keep = keep
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES, mode="w+", encoding="ascii")

    def extend(self, reports: Iterable[SessionReport]) -> None:
        lines = [session_line(report) for report in reports if self.keep(report)]
        if lines:
            self._spool.write("\n".join(lines) + "\n")

    def clear(self) -> None:
        self._spool.seek(0)
        self._spool.truncate()

    def __iter__(self) -> Iterator[str]:
        self._spool.seek(0)
        for line in self._spool:
            yield line[:-1]
        self._spool.close()


def summary_json(summary: Summary) -> Dict[str, Any]:
    """The contract's ``summary`` object, plus per-type breakdown."""
    document: Dict[str, Any] = {"sessions": summary.sessions}
    document.update({verdict.value: summary.by_verdict[verdict] for verdict in Verdict})
    document["bytes"] = summary.bytes
    document["unreadable"] = summary.unreadable
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
    document["by_source"] = {
        source: {verdict.value: count for verdict, count in counts.items()}
        for source, counts in summary.by_source.items()
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
    sessions: Iterable[str],
    warnings: Sequence[str],
    livy_rules: Optional[LivyRules] = None,
    outlook: Optional[Outlook] = None,
    growth: Optional[Growth] = None,
) -> Dict[str, Any]:
    """The ``scan`` document; ``sessions`` are the objects to list, encoded (:class:`SessionLines`).

    ``livy_rules`` (with --livy-conf) says what Livy's own rules would have dropped.

    ``outlook`` adds ``verdict_line`` and ``outlook``; ``growth`` adds ``growth`` (by day, owner, name).
    """
    inventory = result.inventory
    return {
        "generated_at": iso_utc(result.now_ms),
        "zookeeper": zookeeper,
        "prefix": inventory.prefix,
        **outlook_fields(outlook),
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
        "anomalies": [{"path": path, "why": why} for path, why in inventory.anomalies],
        "source_error": result.source_error,
        "source_errors": dict(result.source_errors),
        "sources": {name: dict(facts) for name, facts in result.source_facts.items()},
        "livy_rules": None if livy_rules is None else livy_rules._asdict(),
        "warnings": list(warnings),
        **({} if growth is None else {"growth": growth_json(growth)}),
        "sessions": EncodedArray(sessions),
    }


def outlook_fields(outlook: Optional[Outlook]) -> Dict[str, Any]:
    """``verdict_line`` (the table's first line) and ``outlook`` (its numbers), or nothing."""
    if outlook is None:
        return {}

    def one(s: Optional[Suggestion]) -> Optional[Dict[str, Any]]:
        return None if s is None else {"older_than": s.older_than, "older_than_seconds": s.older_than_seconds,
                                       "selects": s.selects}

    return {
        "verdict_line": outlook.text,
        "outlook": {"recoverable": outlook.recoverable, "stale": outlook.stale, "unknown": outlook.unknown,
                    "corrupt": outlook.corrupt, "suggestion": one(outlook.suggestion),
                    "planned": one(outlook.planned), "recoverable_after": outlook.recoverable_after},
    }


def _verdicts(counts: Mapping[Verdict, int]) -> Dict[str, int]:
    return {verdict.value: counts[verdict] for verdict in Verdict}


def growth_json(growth: Growth) -> Dict[str, Any]:
    """The scan's ``growth`` object: ``by_day``, ``by_owner``, ``by_name`` (docs/json.md)."""
    def others(row: Optional[Row]) -> Optional[Dict[str, Any]]:
        return None if row is None else {"groups": int(row.key[1] or 0), "sessions": row.sessions,
                                         **_verdicts(row.counts)}

    top = growth.top_leaker
    return {
        "by_day": [{"day": row.key[0], "sessions": row.sessions, **_verdicts(row.counts)} for row in growth.by_day],
        "first_stale_day": growth.first_stale_day,
        "one_owner": growth.one_owner,
        "top_leaker": None if top is None else {"by": "name" if growth.one_owner else "owner",
                                                "key": list(top.key), "sessions": top.sessions, "stale": top.stale},
        "by_owner": [{"owner": row.key[0], "proxy_user": row.key[1], "sessions": row.sessions,
                      **_verdicts(row.counts)} for row in growth.by_owner.rows],
        "by_owner_others": others(growth.by_owner.others),
        "by_name": [{"pattern": row.key[0], "sessions": row.sessions, **_verdicts(row.counts)}
                    for row in growth.by_name.rows],
        "by_name_others": others(growth.by_name.others),
    }


def counter_json(report: CounterReport) -> Dict[str, Any]:
    """The ``counter`` document (docs/json.md)."""
    return {
        "zookeeper": report.location,
        "prefix": report.prefix,
        "mode": report.mode,
        "ok": report.ok,
        "backup": None if report.backup is None else str(report.backup),
        "counters": [
            {"type": c.type.value, "path": c.path, "next_session_id": c.value, "highest_session_id": c.highest_id,
             "sessions": c.sessions, "problem": c.problem, "explanation": c.explanation,
             "znode_version": c.version, "repair_to": c.repair_to, "action": c.action, "detail": c.detail}
            for c in report.counters
        ],
    }


def prune_json(report: PruneReport, outlook: Optional[Outlook] = None) -> Dict[str, Any]:
    """The ``prune`` document: the selection and each session's action."""
    result = report.result
    counts = result.counts
    return {
        "generated_at": iso_utc(report.plan.scan.now_ms),
        "zookeeper": report.zookeeper,
        "prefix": report.prefix,
        "mode": report.mode,
        **outlook_fields(outlook),
        "older_than_seconds": report.plan.criteria.older_than_seconds,
        "selected": len(result.outcomes),
        "deleted": counts[Outcome.DELETED] + counts[Outcome.DELETED_VIA_LIVY],
        "counts": counts,
        "backup": str(report.backup) if report.backup else None,
        "aborted": result.aborted,
        "plan_left_out": [{"path": path, "why": why} for path, why in report.plan.left_out],
        "summary": summary_json(report.summary),
        "source_errors": dict(report.plan.scan.source_errors),
        "sessions": EncodedArray(map(_outcome_line, result.outcomes)),
    }


def _outcome_line(outcome: PruneOutcome) -> str:
    """One selected session's JSON object with its action (and why, when there is more to say)."""
    extra = {"action": outcome.action}
    if outcome.detail:
        extra["detail"] = outcome.detail
    return session_line(outcome.report, extra)


def check_json(result: CheckResult, warnings: Sequence[str], outlook: Optional[Outlook] = None) -> Dict[str, Any]:
    """The ``check`` document."""
    limits = {limit.limit: limit.threshold for limit in result.limits}
    return {
        "ok": not result.violations,
        **outlook_fields(outlook),
        "summary": summary_json(result.summary),
        "violations": [{"limit": v.limit, "value": v.value, "threshold": v.threshold} for v in result.violations],
        "limits": {name: limits.get(name) for name in ("max-sessions", "max-stale", "max-bytes")},
        "warnings": list(warnings),
    }


def restore_json(report: RestoreReport) -> Dict[str, Any]:
    """The ``restore`` document."""
    return {
        "mode": "apply" if report.apply else "dry-run",
        "backup": str(report.backup_file),
        "zookeeper": report.zookeeper,
        "entries": len(report.backup.entries),
        "counts": report.counts,
        "znodes": [
            {"path": o.entry.path, "action": o.action, **({"detail": o.detail} if o.detail else {})}
            for o in report.outcomes
        ],
    }


def doctor_json(findings: Sequence[Finding]) -> Dict[str, Any]:
    """The ``doctor`` document."""
    return {"ok": not has_problems(findings), "findings": [f._asdict() for f in findings]}


def write_document(out: TextIO, document: Mapping[str, Any]) -> None:
    """Write a document to ``out``: indented, except that an :class:`EncodedArray` has one element per line.

    Non-ASCII is written as ``\\uXXXX`` escapes: znode data may hold lone
    surrogates (valid JSON escapes that UTF-8 cannot encode), and escaped
    output is valid JSON on any terminal or pipe encoding. A document without
    an EncodedArray is written exactly as ``json.dumps(document, indent=2)``.
    """
    if not document:
        out.write("{}\n")
        return
    separator = "{\n  "
    for key, value in document.items():
        out.write(f"{separator}{encode_basestring_ascii(str(key))}: ")
        if isinstance(value, EncodedArray):
            _write_array(out, value)
        else:
            out.write(json.dumps(value, indent=2, ensure_ascii=True).replace("\n", "\n  "))
        separator = ",\n  "
    out.write("\n}\n")


def _write_array(out: TextIO, elements: EncodedArray) -> None:
    """``[`` + one element per line, indented under a top-level key + ``]``, a chunk of lines per write."""
    remaining = iter(elements)
    first = next(remaining, None)
    if first is None:
        out.write("[]")
        return
    out.write(f"[\n    {first}")
    while True:
        chunk = list(islice(remaining, _LINES_PER_WRITE))
        if not chunk:
            break
        out.write(",\n    " + ",\n    ".join(chunk))
    out.write("\n  ]")


def print_document(document: Mapping[str, Any]) -> None:
    """Write a document to stdout (see :func:`write_document`) and flush it."""
    write_document(sys.stdout, document)
    sys.stdout.flush()


def dumps(document: Mapping[str, Any]) -> str:
    """A document as one string, as :func:`write_document` writes it (without the final newline)."""
    buffer = io.StringIO()
    write_document(buffer, document)
    return buffer.getvalue()[:-1]
