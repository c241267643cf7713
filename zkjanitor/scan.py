"""Classifying an inventory against an application-state source, and summarising it."""

from __future__ import annotations

import time
from collections import Counter
from itertools import repeat
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence

from zkjanitor.classify import Policy, classify
from zkjanitor.errors import SourceUnavailable
from zkjanitor.inventory import Inventory
from zkjanitor.model import AppPhase, Lookup, SessionReport, SessionType, Verdict, from_all_fields
from zkjanitor.sources.base import AppQuery, AppStateSource

_report = from_all_fields(SessionReport)


class ScanResult(NamedTuple):
    """An inventory with a verdict for every session."""

    inventory: Inventory
    reports: List[SessionReport]
    now_ms: int
    source_error: Optional[str] = None
    """Why the source's answers cannot be used to prune: unreachable, or unable to vouch for "not found"."""
    source_notes: Sequence[str] = ()
    """What the source said about how it answered (:attr:`AppStateSource.notes`), one warning each."""
    source_errors: Mapping[str, str] = {}
    """Per source of a chain, why it failed while others answered: its sessions rest on the others' word."""
    source_facts: Mapping[str, Mapping[str, int]] = {}
    """Per source, the counts it reports (:meth:`AppStateSource.facts_by_source`): Livy's cross-check."""


class Summary(NamedTuple):
    """Counts a report, a gate and a metrics file all need."""

    sessions: int
    by_verdict: Dict[Verdict, int]
    by_type_verdict: Dict[SessionType, Dict[Verdict, int]]
    bytes: int
    bytes_by_type: Dict[SessionType, int]
    oldest_stale_seconds: Optional[float]
    unreadable: int = 0
    """Session znodes that could not be read (e.g. NoAuth): in no other count."""
    by_source: Dict[str, Dict[Verdict, int]] = {}
    """Per evidence source that decided a session (``yarn``, ``spark-history``...): its sessions by verdict."""


def classify_inventory(
    inventory: Inventory,
    source: Optional[AppStateSource],
    *,
    policy: Policy = Policy(),
    now_ms: Optional[int] = None,
) -> ScanResult:
    """Ask ``source`` about every decodable session (one bulk query) and classify all.

    With no source every session is ``unknown`` (``no-source``). If the source
    cannot be reached, every decodable session is ``unknown``
    (``source-unreachable``) and ``source_error`` says why; nothing raises.
    ``source_error`` also says why when the source answered but cannot vouch for
    its "not found" answers (:attr:`AppStateSource.cannot_vouch`): then nothing
    is stale by absence, and nothing may be pruned.
    """
    sessions = inventory.sessions
    lookups: Iterable[Optional[Lookup]] = repeat(None)
    source_error = cannot_vouch = None
    source_notes: Sequence[str] = ()
    source_errors: Mapping[str, str] = {}
    source_facts: Mapping[str, Mapping[str, int]] = {}
    if source is not None:
        queries = [AppQuery(s.app_id, s.app_tag, s.ctime_ms, s.type, s.id) for s in sessions if s.corrupt is None]
        try:
            answers = source.lookup_many(queries)
        except SourceUnavailable as exc:
            source_error = str(exc)
            answers = [Lookup(AppPhase.UNKNOWN, detail="source-unreachable", source=source.name)] * len(queries)
        else:
            cannot_vouch = source.cannot_vouch
            source_notes = tuple(source.notes)
            source_errors = dict(source.errors)
            source_facts = source.facts_by_source()
        if len(queries) == len(sessions):
            lookups = answers
        else:  # corrupt sessions were not asked about
            remaining = iter(answers)
            lookups = [None if s.corrupt is not None else next(remaining) for s in sessions]
    if now_ms is None:
        now_ms = int(time.time() * 1000)
    reports: List[SessionReport] = []
    add = reports.append
    new_report = _report  # every field, in order (model.from_all_fields): this runs per session
    unvouched = False
    for session, lookup in zip(sessions, lookups):
        verdict, reason, age, finished_ms = classify(session, lookup, now_ms, policy)
        if lookup is None:
            add(new_report((session, verdict, reason, age, None, finished_ms, None)))
            continue
        add(new_report((session, verdict, reason, age, lookup.record, finished_ms, lookup.source)))
        if verdict is Verdict.UNKNOWN and not lookup.authoritative:
            unvouched = True
    if cannot_vouch and unvouched:
        source_error = cannot_vouch  # past their grace, sessions are unknown only for want of proof: say why
    return ScanResult(inventory, reports, now_ms, source_error, source_notes, source_errors, source_facts)


def summarize(result: ScanResult, types: Sequence[SessionType]) -> Summary:
    """Totals by verdict, by type and by deciding source; bytes; the oldest stale age; the unreadable znodes."""
    reports = result.reports
    by_type_verdict = {t: dict.fromkeys(Verdict, 0) for t in types}
    bytes_by_type: Counter = Counter()
    by_source: Counter = Counter()
    oldest = None
    for report in reports:
        if report.source is not None:
            by_source[report.source, report.verdict] += 1
        session = report.session
        counts = by_type_verdict.get(session.type)
        if counts is None:
            counts = by_type_verdict[session.type] = dict.fromkeys(Verdict, 0)
        counts[report.verdict] += 1
        bytes_by_type[session.type] += len(session.data)
        if report.verdict is Verdict.STALE and (oldest is None or report.age_seconds > oldest):
            oldest = report.age_seconds
    by_verdict = {v: sum(counts[v] for counts in by_type_verdict.values()) for v in Verdict}
    return Summary(
        sessions=len(reports),
        by_verdict=by_verdict,
        by_type_verdict=by_type_verdict,
        bytes=sum(bytes_by_type.values()),
        bytes_by_type={t: bytes_by_type[t] for t in by_type_verdict},
        oldest_stale_seconds=oldest,
        unreadable=len(result.inventory.unreadable),
        by_source={source: {v: by_source[source, v] for v in SOURCE_VERDICTS}
                   for source in sorted({source for source, _ in by_source})},
    )


SOURCE_VERDICTS = (Verdict.LIVE, Verdict.STALE, Verdict.UNKNOWN)
"""The verdicts a source decides (``corrupt`` is the decoder's)."""


# Java clients (Livy itself, zkCli) reject replies over jute.maxbuffer: 1 MB from
# ZooKeeper 3.6, 4 MB before. Warn at half of the smaller limit.
CHILDREN_REPLY_WARN_BYTES = 512 * 1024


def store_warnings(
    result: ScanResult,
    *,
    source_configured: bool,
    children_warn_bytes: int = CHILDREN_REPLY_WARN_BYTES,
) -> List[str]:
    """What an operator should know about the store beyond the counts."""
    warnings: List[str] = list(result.source_notes)
    if result.source_error:
        warnings.append(f"{result.source_error}; every session is 'unknown' and nothing can be pruned")
    elif not source_configured:
        warnings.append("no application-state source: pass --yarn http://<rm>:8088 to tell live from stale")
    for parent in result.inventory.parents.values():
        if not parent.exists:
            continue
        if parent.children_reply_bytes >= children_warn_bytes:
            warnings.append(
                f"{parent.path} has {parent.num_children:,} children; its getChildren reply is "
                f"{parent.children_reply_bytes / 1e6:.2f} MB and Java clients (Livy, zkCli) fail at 1 MB "
                "(jute.maxbuffer): prune stale sessions now"
            )
        problem = parent.counter_problem
        if problem == "missing":
            warnings.append(f"{parent.path}/state (Livy's id counter) is missing: Livy restarts ids at 0 and "
                            "overwrites sessions")
        elif problem is not None and problem.startswith("unreadable"):
            warnings.append(f"{parent.path}/state (Livy's id counter) is {problem}: "
                            "check its ACL and --zk-auth or --zk-sasl")
        elif problem is not None:
            warnings.append(f"{parent.path}/state (Livy's id counter) is {problem}: Livy fails every new "
                            "session until it is repaired")
        if parent.other_children:
            shown = ", ".join(parent.other_children[:5])
            more = f" and {len(parent.other_children) - 5} more" if len(parent.other_children) > 5 else ""
            warnings.append(f"{parent.path} has children that are not sessions (left alone): {shown}{more}")
    elsewhere = sum(1 for report in result.reports if report.reason == "app-newer-than-rm")
    if elsewhere:
        warnings.append(
            f"{elsewhere:,} session(s) have an appId newer than the start of every ResourceManager given: "
            "another cluster accepted them, or an RM of the HA pair is missing from --yarn; they stay 'unknown'"
        )
    ahead = _ids_at_or_above_counter(result)
    if ahead:
        warnings.append(
            f"{ahead} session(s) have an id at or above their nextSessionId counter: "
            "the state node was reset or another server writes here"
        )
    anomalies = result.inventory.anomalies
    if anomalies:
        shown = ", ".join(f"{path} ({why})" for path, why in anomalies[:3])
        more = f" and {len(anomalies) - 3} more" if len(anomalies) > 3 else ""
        warnings.append(f"{len(anomalies)} session-named znode(s) Livy cannot have written are left alone "
                        f"(never selected): {shown}{more}")
    if result.inventory.unreadable:
        path, error = result.inventory.unreadable[0]
        warnings.append(
            f"{len(result.inventory.unreadable)} session znode(s) could not be read (first: {path}: {error}); "
            "check the ACLs and --zk-auth or --zk-sasl"
        )
    return warnings


def _ids_at_or_above_counter(result: ScanResult) -> int:
    counters = {t: parent.counter for t, parent in result.inventory.parents.items() if parent.counter is not None}
    no_counter = float("inf")
    return sum(1 for report in result.reports if report.session.id >= counters.get(report.session.type, no_counter))
