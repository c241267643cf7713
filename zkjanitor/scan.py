"""The streaming scan: the store read batch by batch, each session classified and counted (docs/dev/architecture.md)."""

from __future__ import annotations

import time
from array import array
from collections import Counter
from typing import Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Protocol, Sequence

from zkjanitor.classify import Policy, classify
from zkjanitor.errors import SourceUnavailable
from zkjanitor.growth import name_pattern
from zkjanitor.inventory import Inventory
from zkjanitor.model import AppPhase, Lookup, Session, SessionReport, SessionType, Verdict, from_all_fields
from zkjanitor.sources.base import AppQuery, AppStateSource

_report = from_all_fields(SessionReport)
DAY_MS = 86_400_000


class Tally:
    """What a scan's reports add up to, counted batch by batch as they stream past: no report is kept.

    Everything the summary, the warnings, the verdict line, the growth
    picture, Livy's rules and ``doctor`` need: counters, and three arrays of
    8-byte numbers (stale ages, interactive sessions' creation times, session
    ids), 24 MB at a million sessions.
    """

    def __init__(self) -> None:
        self.by_type_verdict: Counter = Counter()
        self.bytes_by_type: Counter = Counter()
        self.by_reason: Counter = Counter()
        """(verdict, reason, deciding source) -> sessions."""
        self.known_by_source: Counter = Counter()
        """Source -> sessions whose application it knows (it answered with a record)."""
        self.by_day: Counter = Counter()
        """(UTC day number of creation, verdict) -> sessions."""
        self.by_owner: Counter = Counter()
        """((owner, proxy user), verdict) -> sessions."""
        self.by_name: Counter = Counter()
        """(name pattern, verdict) -> sessions (:func:`zkjanitor.growth.name_pattern`)."""
        self.stale_ages = array("d")
        self.interactive_created = array("q")
        """Creation times (ms) of the interactive sessions that are not corrupt (Livy's session TTL)."""
        self.ids: Dict[SessionType, "array[int]"] = {}
        self.unvouched = False
        """Some session is unknown only because a source could not vouch for its "not found"."""

    @classmethod
    def of(cls, reports: Iterable[SessionReport]) -> "Tally":
        tally = cls()
        tally.add(list(reports))
        return tally

    def add(self, reports: Sequence[SessionReport]) -> None:
        # Runs per batch over every session of a scan: list comprehensions and C-level updates, no Python loop.
        sessions = [report.session for report in reports]
        verdicts = [report.verdict for report in reports]
        types = [s.type for s in sessions]
        self.by_type_verdict.update(zip(types, verdicts))
        present = set(types)
        for session_type in present:  # a store hands out a batch of one type
            of_type = sessions if len(present) == 1 else [s for s in sessions if s.type is session_type]
            self.bytes_by_type[session_type] += sum(map(len, [s.data for s in of_type]))
            ids = self.ids.get(session_type)
            if ids is None:
                ids = self.ids[session_type] = array("q")
            ids.extend([s.id for s in of_type])
        self.by_reason.update(zip(verdicts, [r.reason for r in reports], [r.source for r in reports]))
        self.known_by_source.update([r.source for r in reports if r.app is not None])
        self.stale_ages.extend([r.age_seconds for r in reports if r.verdict is Verdict.STALE])
        if SessionType.INTERACTIVE in types:
            self.interactive_created.extend([s.ctime_ms for s, v in zip(sessions, verdicts)
                                             if s.type is SessionType.INTERACTIVE and v is not Verdict.CORRUPT])
        self.by_day.update(zip([s.ctime_ms // DAY_MS for s in sessions], verdicts))
        self.by_owner.update(zip([(s.owner, s.proxy_user) for s in sessions], verdicts))
        names = [s.name for s in sessions]
        patterns = {name: name_pattern(name) for name in set(names)}
        self.by_name.update(zip([patterns[name] for name in names], verdicts))

    @property
    def sessions(self) -> int:
        return sum(self.by_type_verdict.values())

    def count(self, verdict: Verdict) -> int:
        return sum(n for (_, v), n in self.by_type_verdict.items() if v is verdict)


class ScanResult(NamedTuple):
    """A scan: what was read beside the sessions, what they add up to, and the reports kept (see :func:`scan_store`)."""

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
    tally: Tally = Tally()
    """Every session's verdict, counted (also those not kept in ``reports``)."""


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


class ReportSink(Protocol):
    """Where a scan puts its reports, a batch at a time: a ``list`` keeps them all; :class:`Kept` some."""

    def extend(self, reports: Iterable[SessionReport]) -> None: ...

    def clear(self) -> None:
        """Forget what was added: the store is read again (a source asked for a second run)."""
        ...


class Kept(List[SessionReport]):
    """The reports ``keep`` accepts, in the order read."""

    def __init__(self, keep: Callable[[SessionReport], bool]) -> None:
        super().__init__()
        self.keep = keep

    def extend(self, reports: Iterable[SessionReport]) -> None:
        super().extend(filter(self.keep, reports))


ReadStore = Callable[[Callable[[List[Session]], None]], Inventory]
"""Reads the store, handing each batch of sessions to its argument as read; the inventory beside them."""

_UNREACHABLE = "source-unreachable"


class _Run:
    """One pass over the store: each batch asked about and classified, then counted and handed on."""

    def __init__(self, source: Optional[AppStateSource], policy: Policy, now_ms: int, sink: ReportSink) -> None:
        self.source = source
        self.policy = policy
        self.now_ms = now_ms
        self.sink = sink
        self.tally = Tally()
        self.source_error: Optional[str] = None

    def add(self, sessions: List[Session]) -> None:
        lookups = self._ask(sessions)
        now_ms, policy = self.now_ms, self.policy
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
        self.tally.unvouched = self.tally.unvouched or unvouched
        self.tally.add(reports)
        self.sink.extend(reports)

    def _ask(self, sessions: List[Session]) -> Sequence[Optional[Lookup]]:
        """The source's answer for each session (None for corrupt ones, and for all without a source)."""
        source = self.source
        if source is None:
            return [None] * len(sessions)
        queries = [AppQuery(s.app_id, s.app_tag, s.ctime_ms, s.type, s.id) for s in sessions if s.corrupt is None]
        if self.source_error is None:
            try:
                answers = source.lookup_many(queries)
            except SourceUnavailable as exc:  # the rest of the run is not asked: it would fail the same way
                self.source_error = str(exc)
        if self.source_error is not None:
            answers = [Lookup(AppPhase.UNKNOWN, detail=_UNREACHABLE, source=source.name)] * len(queries)
        if len(queries) == len(sessions):
            return answers
        remaining = iter(answers)  # corrupt sessions were not asked about
        return [None if s.corrupt is not None else next(remaining) for s in sessions]


def scan_store(read: ReadStore, source: Optional[AppStateSource], *, policy: Policy = Policy(),
               sink: Optional[ReportSink] = None, now_ms: Optional[int] = None) -> ScanResult:
    """Read the store with ``read``, asking ``source`` about each batch as it comes, and classify every session.

    Every report is counted (:attr:`ScanResult.tally`) and handed to ``sink``;
    without one, ``reports`` holds them all. With no source every session is
    ``unknown`` (``no-source``). If the source cannot be reached, every
    decodable session is ``unknown`` (``source-unreachable``) and
    ``source_error`` says why; nothing raises. ``source_error`` also says why
    when the source answered but cannot vouch for its "not found" answers
    (:attr:`AppStateSource.cannot_vouch`): then nothing is stale by absence,
    and nothing may be pruned. When the source's run says its answers must be
    asked again (:meth:`AppStateSource.end_run`), the store is read again and
    ``sink`` cleared first.
    """
    reports: List[SessionReport] = []
    kept: ReportSink = reports if sink is None else sink
    for _ in range(2):
        if source is not None:
            source.start_run()
        run = _Run(source, policy, int(time.time() * 1000) if now_ms is None else now_ms, kept)
        inventory = read(run.add)
        again = source is not None and source.end_run() and run.source_error is None
        if not again:
            break
        kept.clear()
    source_error = run.source_error
    if source is None or source_error is not None:
        return ScanResult(inventory, reports, run.now_ms, source_error, tally=run.tally)
    if source.cannot_vouch and run.tally.unvouched:
        source_error = source.cannot_vouch  # past their grace, sessions are unknown only for want of proof: say why
    return ScanResult(inventory, reports, run.now_ms, source_error,
                      tuple(source.notes), dict(source.errors), source.facts_by_source(), run.tally)


def summarize(result: ScanResult, types: Sequence[SessionType]) -> Summary:
    """Totals by verdict, by type and by deciding source; bytes; the oldest stale age; the unreadable znodes."""
    tally = result.tally
    by_type_verdict = {t: dict.fromkeys(Verdict, 0) for t in types}
    for (session_type, verdict), n in tally.by_type_verdict.items():
        by_type_verdict.setdefault(session_type, dict.fromkeys(Verdict, 0))[verdict] += n
    by_source: Counter = Counter()
    for (verdict, _, source), n in tally.by_reason.items():
        if source is not None:
            by_source[source, verdict] += n
    by_verdict = {v: sum(counts[v] for counts in by_type_verdict.values()) for v in Verdict}
    return Summary(
        sessions=tally.sessions,
        by_verdict=by_verdict,
        by_type_verdict=by_type_verdict,
        bytes=sum(tally.bytes_by_type.values()),
        bytes_by_type={t: tally.bytes_by_type[t] for t in by_type_verdict},
        oldest_stale_seconds=max(tally.stale_ages) if tally.stale_ages else None,
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
    elsewhere = sum(n for (_, reason, _), n in result.tally.by_reason.items() if reason == "app-newer-than-rm")
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
    return sum(sum(1 for session_id in ids if session_id >= counters[session_type])
               for session_type, ids in result.tally.ids.items() if session_type in counters)
