"""The front door: one object that runs every command's pipeline and keeps every safety rule.

Shaped like pip-audit's ``Auditor(service).audit(source)``: a
:class:`Janitor` is built from a state store (:mod:`zkjanitor.store`), an
evidence source (:mod:`zkjanitor.sources.base`) and a policy; the CLI only
parses options, confirms, renders and maps errors to exit codes. The rules of a
prune (docs/prune-and-restore.md) and where each is kept:

* a source is required, and its failure deletes nothing: :meth:`Janitor.plan_prune`;
* only stale sessions past ``older_than`` (corrupt ones when asked), never one
  stale by absence younger than Livy's own wait for its application:
  :func:`zkjanitor.prune.select_for_prune`;
* the lock covers the scan and the deletes: :meth:`Janitor.apply` takes only a
  plan made inside :meth:`Janitor.locked`, while that lock is held;
* every record is in the backup before it is deleted, and each delete is
  checked against the version read: the store's
  :meth:`~zkjanitor.store.SessionStore.delete`, given a new backup file;
  sessions a running Livy holds go through Livy's own ``DELETE`` instead
  (:class:`~zkjanitor.store.SessionActuator`), each only once Livy, asked again,
  still reports it ended;
* a store that cannot delete conditionally is never pruned.

Example (docs/dev/architecture.md shows it against ZooKeeper)::

    with Janitor(store, YarnSource(["http://rm1:8088"])) as janitor:
        print(janitor.summarize(janitor.scan()))
        with janitor.locked():
            plan = janitor.plan_prune(PruneCriteria(older_than_seconds=86400))
            result = janitor.apply(plan, Path("backup.jsonl"))
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from zkjanitor.backup import Backup, BackupWriter
from zkjanitor.check import LimitResult, Limits, evaluate
from zkjanitor.classify import Policy, grace_warning
from zkjanitor.errors import ConfigError, SourceUnavailable, ZooKeeperUnavailable
from zkjanitor.inventory import Inventory
from zkjanitor.model import Session, SessionReport, SessionType, Verdict
from zkjanitor.plan_file import PlannedSession
from zkjanitor.prune import OutcomeList, Progress, PruneResult, entries, plan_prune, select_for_prune
from zkjanitor.restore import RestoreOutcome, confine, counter_warnings, restored_ids
from zkjanitor.scan import (
    CHILDREN_REPLY_WARN_BYTES,
    Kept,
    ReportSink,
    ScanResult,
    Summary,
    scan_store,
    store_warnings,
    summarize,
)
from zkjanitor.sources.base import AppStateSource
from zkjanitor.spool import ReportSpool, subset
from zkjanitor.store import SessionStore

log = logging.getLogger(__name__)

LIVY_APP_LOOKUP_TIMEOUT_SECONDS = 120.0
"""Livy's default ``livy.server.yarn.app-lookup-timeout``: how long it looks for a new session's application."""


class PruneCriteria(NamedTuple):
    """What a prune selects (docs/contract.md, ``prune``'s options)."""

    older_than_seconds: float
    limit: Optional[int] = None
    include_corrupt: bool = False
    allow_young_sessions: bool = False
    """Also select sessions stale by absence younger than Livy's app-lookup wait (they may still be submitting)."""


def _within(planned: Mapping[str, PlannedSession], selected: Sequence[SessionReport],
            seen: Sequence[SessionReport]) -> Tuple[List[SessionReport], List[Tuple[str, str]]]:
    """The selected sessions a reviewed plan holds, unchanged; and why each other planned session is left out.

    ``seen`` holds every planned session the scan found (and maybe others).
    """
    now = {report.session.path: report for report in seen if report.session.path in planned}
    chosen = {report.session.path for report in selected}
    kept: List[SessionReport] = []
    for report in selected:
        entry = planned.get(report.session.path)
        if entry is not None and entry.matches(report.session):
            kept.append(report)
    left_out = []
    for path, entry in planned.items():
        current = now.get(path)
        if current is None:
            left_out.append((path, "gone since the plan"))
        elif not entry.matches(current.session):
            left_out.append((path, "changed since the plan"))
        elif path not in chosen:
            left_out.append((path, f"no longer selected: {current.verdict.value} ({current.reason})"))
    return kept, left_out


class PrunePlan(NamedTuple):
    """A prune's selection, from one scan; :meth:`Janitor.apply` deletes exactly these."""

    scan: ScanResult
    criteria: PruneCriteria
    selected: Sequence[SessionReport]
    """In deletion order; a view of a :class:`~zkjanitor.spool.ReportSpool` (reports on disk, read back when asked)."""
    lock_token: Optional[object] = None
    """The lock it was made under (:meth:`Janitor.locked`), else None: such a plan can only be shown."""
    left_out: Sequence[Tuple[str, str]] = ()
    """With a reviewed plan (``planned``): its sessions not selected now, as ``(path, why)``."""

    @property
    def dry_run(self) -> PruneResult:
        """``would-delete`` for each selected session, ``failed`` for one refused (:class:`zkjanitor.prune.Refusals`).

        Made when asked for (a pass over the selection): an applied prune checks each session as it deletes.
        """
        return plan_prune(self.selected)


class CheckResult(NamedTuple):
    scan: ScanResult
    summary: Summary
    limits: List[LimitResult]

    @property
    def violations(self) -> List[LimitResult]:
        return [limit for limit in self.limits if limit.exceeded]


class RestoreResult(NamedTuple):
    outcomes: List[RestoreOutcome]
    warnings: List[str]
    """About the id counters restore leaves as they are (:func:`zkjanitor.restore.counter_warnings`)."""


class Janitor:
    """Scan, plan, prune, restore and check one Livy state store against an evidence source.

    ``source`` may be None: then every session is ``unknown`` and nothing can be
    pruned. ``app_lookup_timeout_seconds`` is Livy's own wait for a new
    session's application (livy.conf's ``livy.server.yarn.app-lookup-timeout``).
    The janitor closes its source when used as a context manager.
    """

    def __init__(
        self,
        store: SessionStore,
        source: Optional[AppStateSource] = None,
        policy: Policy = Policy(),
        *,
        types: Sequence[SessionType] = tuple(SessionType),
        app_lookup_timeout_seconds: float = LIVY_APP_LOOKUP_TIMEOUT_SECONDS,
    ) -> None:
        self.store = store
        self.source = source
        self.policy = policy
        self.types = tuple(types)
        self.app_lookup_timeout_seconds = app_lookup_timeout_seconds
        self._lock_token: Optional[object] = None

    def __enter__(self) -> "Janitor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.source is not None:
            self.source.close()

    # -- reading ---------------------------------------------------------------------------------------------

    def scan(self, *, progress: Optional[Callable[[int, int], None]] = None,
             sink: Optional[ReportSink] = None) -> ScanResult:
        """Read every session and give each its verdict; never writes.

        The source is asked batch by batch as the store is read, so only a
        batch is held at a time; every verdict is counted in the result's
        ``tally``. The reports go to ``sink`` (e.g. :class:`~zkjanitor.scan.Kept`,
        to keep only some), else all into ``reports``. ``progress(done, total)``
        as records are read.
        """
        started = time.monotonic()

        def read(add: Callable[[List[Session]], None]) -> Inventory:
            return self.store.read(self.types, progress=progress, sink=add)

        result = scan_store(read, self.source, policy=self.policy, sink=sink)
        log.info("read and classified %d session records under /%s (%s) in %.1fs", result.tally.sessions,
                 self.store.prefix, result.inventory.read_method, time.monotonic() - started)
        return result

    def summarize(self, result: ScanResult) -> Summary:
        return summarize(result, self.types)

    def warnings(self, result: ScanResult, *, children_warn_bytes: int = CHILDREN_REPLY_WARN_BYTES) -> List[str]:
        """What an operator should know about a scan: the store's state and the policy's risks."""
        warnings = store_warnings(result, source_configured=self.source is not None,
                                  children_warn_bytes=children_warn_bytes)
        if self.source is not None:
            below = grace_warning(self.policy, self.app_lookup_timeout_seconds)
            warnings += [below] if below else []
        return warnings

    def check(self, limits: Limits, *, allow_unreadable: bool = False,
              scanned: Optional[ScanResult] = None) -> CheckResult:
        """Measure the store against ``limits``, from ``scanned`` or a new scan.

        Raises :class:`SourceUnavailable` when the stale count is limited but the
        source failed, and :class:`ZooKeeperUnavailable` when session records
        could not be read (unless ``allow_unreadable``): then limits cannot be judged.
        """
        if limits.needs_source and self.source is None:
            raise ConfigError("a limit on stale sessions needs an application-state source")
        result = scanned or self.scan(sink=Kept(lambda report: False))  # counted, none kept
        if result.source_error and limits.needs_source:
            raise SourceUnavailable(f"{result.source_error}; cannot evaluate --max-stale")
        unreadable = result.inventory.unreadable
        if unreadable and not allow_unreadable:
            path, error = unreadable[0]
            raise ZooKeeperUnavailable(
                f"{len(unreadable):,} session znode(s) could not be read (first: {path}: {error}), "
                "so the limits cannot be judged: check the ACLs and --zk-auth or --zk-sasl, or pass --allow-unreadable")
        summary = self.summarize(result)
        return CheckResult(result, summary, evaluate(summary, limits))

    # -- pruning ---------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, identifier: Optional[str] = None) -> Iterator[None]:
        """Hold the store's prune lock; plans made inside may be applied inside."""
        if self._lock_token is not None:
            raise ConfigError("the prune lock is already held by this janitor")
        with self.store.lock(identifier):
            self._lock_token = object()
            try:
                yield
            finally:
                self._lock_token = None

    def plan_prune(self, criteria: PruneCriteria, *,
                   progress: Optional[Callable[[int, int], None]] = None,
                   planned: Optional[Mapping[str, PlannedSession]] = None) -> PrunePlan:
        """Scan and choose what a prune would delete; deletes nothing.

        With ``planned`` (a reviewed plan's sessions, :mod:`zkjanitor.plan_file`),
        only those of them selected again now and unchanged since are chosen:
        a plan narrows a prune, never widens it; the others are ``left_out``.

        Raises :class:`ConfigError` without a source (nothing can be known
        stale) or for a store that cannot delete conditionally, and
        :class:`SourceUnavailable` when the source failed or cannot vouch for
        its answers (nothing may be deleted on them).
        """
        if self.source is None:
            raise ConfigError("prune needs an application-state source to know what is stale")
        if not self.store.capabilities.conditional_delete:
            raise ConfigError(f"{self.store.location} cannot delete a record only if unchanged: zkjanitor "
                              "never prunes such a store")
        prunable = {Verdict.STALE, Verdict.CORRUPT} if criteria.include_corrupt else {Verdict.STALE}
        wanted = set(self.types)
        candidates = ReportSpool(lambda report: (report.verdict in prunable and report.session.type in wanted
                                                 and report.age_seconds >= criteria.older_than_seconds)
                                 or (planned is not None and report.session.path in planned))
        result = self.scan(progress=progress, sink=candidates)
        if result.source_error:
            raise SourceUnavailable(f"{result.source_error}; nothing was deleted")
        young_after = result.now_ms - int(self.app_lookup_timeout_seconds * 1000)
        selected = select_for_prune(
            candidates,
            older_than_seconds=criteria.older_than_seconds,
            types=self.types,
            limit=None if planned is not None else criteria.limit,
            include_corrupt=criteria.include_corrupt,
            created_before_ms=None if criteria.allow_young_sessions else young_after,
        )
        left_out: List[Tuple[str, str]] = []
        if planned is not None:
            selected, left_out = _within(planned, selected, candidates)
        return PrunePlan(result, criteria, selected, self._lock_token, left_out)

    def apply(
        self,
        plan: PrunePlan,
        backup: Path,
        *,
        batch_size: int = 1000,
        pause_seconds: float = 0.0,
        progress: Optional[Progress] = None,
        stop_requested: Callable[[], Optional[str]] = lambda: None,
    ) -> PruneResult:
        """Delete the plan's sessions, each backed up first to the new file ``backup``.

        The plan must have been made inside :meth:`locked`, which must still be
        held: no other prune ran between the scan and the deletes. ``backup``
        must not exist (:class:`ConfigError`). See the store's ``delete`` for
        batching, ``progress`` and ``stop_requested``.
        """
        if plan.lock_token is None or plan.lock_token is not self._lock_token:
            raise ConfigError("a prune plan is applied only under the lock it was made under: "
                              "make and apply it inside one `with janitor.locked():`")
        if not plan.selected:
            return plan.dry_run
        counters: Dict[str, Optional[int]] = {t.value: p.counter for t, p in plan.scan.inventory.parents.items()}
        actuator = self.source.actuator() if self.source is not None else None
        held = [] if actuator is None else [at for at, report in enumerate(plan.selected) if actuator.holds(report)]
        held_at = set(held)
        in_store = plan.selected if not held else subset(
            plan.selected, (at for at in range(len(plan.selected)) if at not in held_at))
        with BackupWriter(backup, zookeeper=self.store.location, prefix=self.store.prefix,
                          counters=counters) as writer:
            first = (actuator.delete([plan.selected[at] for at in held], writer, progress=progress,
                                     stop_requested=stop_requested)
                     if actuator is not None and held else PruneResult([]))
            rest = (self.store.delete(in_store, writer, batch_size=batch_size, pause_seconds=pause_seconds,
                                      progress=progress, stop_requested=stop_requested)
                    if in_store else PruneResult([]))
        if not held:
            return rest
        outcomes = OutcomeList(plan.selected)  # in the plan's order
        for at, entry in zip(held, entries(first.outcomes)):
            outcomes.set(at, *entry)
        for at, entry in zip((at for at in range(len(plan.selected)) if at not in held_at), entries(rest.outcomes)):
            outcomes.set(at, *entry)
        return PruneResult(outcomes, first.aborted or rest.aborted)

    # -- restoring -------------------------------------------------------------------------------------------

    def restore(self, backup: Backup, *, apply: bool, into_other_store: bool = False,
                progress: Optional[Progress] = None,
                confirm: Callable[[int], None] = lambda count: None) -> RestoreResult:
        """Re-create what a prune deleted (dry run without ``apply``); only into the store it came from.

        Raises :class:`ConfigError` for a backup of another store (unless
        ``into_other_store``) or holding anything but session records, before
        anything touches the store. With ``apply`` it holds the prune lock and
        calls ``confirm(n)`` (which raises to stop) before writing up to n records.
        """
        entries = confine(backup, target_store=self.store.identity, target_prefix=self.store.prefix,
                          into_other_store=into_other_store)
        with self.locked() if apply else contextlib.nullcontext():
            if apply:
                confirm(sum(1 for entry in entries if entry.deleted_by_prune))
            outcomes = self.store.restore(entries, apply=apply, progress=progress)
            highest = restored_ids(entries)
            current = {t.value: self.store.read_counter_node(t) for t in SessionType if t.value in highest}
        recorded = backup.header.get("counters")
        warnings = counter_warnings(self.store.prefix, highest,
                                    {kind: (node.value, node.problem) for kind, node in current.items()},
                                    recorded if isinstance(recorded, dict) else {})
        return RestoreResult(outcomes, warnings)
