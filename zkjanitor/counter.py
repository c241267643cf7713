"""Livy's id counters (``/<prefix>/v1/<type>/state``, ``{"nextSessionId": N}``): check them, and repair them.

Livy gives a new session the counter's id and then increments it. A counter
that is missing (someone ``rmr``'d the store, or deleted ``state``) restarts
ids at 0; one at or below the highest session id present hands out ids that
are taken, and Livy overwrites those sessions; a corrupt one fails every new
session. The repair sets it above the highest id (highest + 1, or leaves one
already above alone), under the prune lock, each write conditional on the
version read, with the old value backed up first: the only write zkjanitor
ever makes to a ``state`` znode.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence

from zkjanitor.backup import write_new_json
from zkjanitor.decoder import session_id_from_name
from zkjanitor.errors import CounterChanged, WriteFailed, ZkJanitorError
from zkjanitor.inventory import CounterNode
from zkjanitor.model import Session, SessionType
from zkjanitor.render import iso_utc
from zkjanitor.store import SessionStore


class Action:
    OK = "ok"
    WOULD_SET = "would-set"
    SET = "set"
    FAILED = "failed"
    CANNOT = "cannot-repair"


class CounterStatus(NamedTuple):
    """One type's counter against the sessions present, and what a repair does about it."""

    type: SessionType
    path: str
    value: Optional[int]
    """``nextSessionId`` now; None when missing or unusable."""
    highest_id: Optional[int]
    """The highest session id present (every session-named znode, readable or not); None when there is none."""
    sessions: int
    problem: Optional[str]
    """``missing``, ``corrupt``, ``unreadable``, ``at-highest`` or ``below-highest``; None when fine."""
    explanation: str
    version: Optional[int]
    repair_to: Optional[int]
    """The value a repair writes; None when there is nothing to write (fine, or it cannot be repaired)."""
    action: str = Action.OK
    detail: Optional[str] = None
    node: Optional[CounterNode] = None


class CounterReport(NamedTuple):
    location: str
    prefix: str
    mode: str
    """``check`` (no --repair), ``dry-run`` or ``apply``."""
    counters: List[CounterStatus]
    backup: Optional[Path] = None

    @property
    def problems(self) -> List[CounterStatus]:
        return [c for c in self.counters if c.problem is not None]

    @property
    def failed(self) -> List[CounterStatus]:
        return [c for c in self.counters if c.action == Action.FAILED]

    @property
    def ok(self) -> bool:
        """Nothing is wrong now: no problem, or every problem repaired by this run."""
        return all(c.problem is None or c.action == Action.SET for c in self.counters)


def highest_ids(store: SessionStore, types: Sequence[SessionType]) -> dict:
    """``{type: (highest id or None, sessions)}`` over every session-named znode the store lists."""
    found: dict = {t: [] for t in types}

    def take(sessions: List[Session]) -> None:  # a batch at a time: only the ids are kept
        for session in sessions:
            found[session.type].append(session.id)

    inventory = store.read(types, sink=take)
    for path, _ in list(inventory.unreadable) + list(inventory.anomalies):
        parent, _, name = path.rpartition("/")
        session_id = session_id_from_name(name)
        for session_type in types:
            if session_id is not None and parent.endswith(f"/v1/{session_type.value}"):
                found[session_type].append(session_id)
    return {t: (max(ids) if ids else None, len(ids)) for t, ids in found.items()}


def assess(node: CounterNode, session_type: SessionType, highest: Optional[int], sessions: int) -> CounterStatus:
    """What is wrong with one counter, in words an operator acts on, and the value that fixes it."""
    target = 0 if highest is None else highest + 1
    value = node.value
    problem: Optional[str] = None
    if node.problem == "missing":
        if highest is None:
            explanation = "missing, and there are no sessions: Livy creates it with the first session"
        else:
            problem = "missing"
            explanation = (f"missing: Livy restarts ids at 0 and overwrites sessions 0..{highest} "
                           "as it hands their ids out again")
    elif node.problem is not None and node.problem.startswith("unreadable"):
        problem = "unreadable"
        explanation = f"{node.problem}: zkjanitor cannot judge or repair it (check the ACL and --zk-auth or --zk-sasl)"
        target = -1
    elif node.problem is not None:
        problem = "corrupt"
        explanation = f"{node.problem}: Livy fails every new session of this type until it is repaired"
    elif value is not None and highest is not None and value <= highest:
        problem = "at-highest" if value == highest else "below-highest"
        explanation = (f"nextSessionId {value:,} is {'equal to' if value == highest else 'below'} the highest "
                       f"session id {highest:,}: Livy would reuse ids {value:,}..{highest:,} and overwrite "
                       "those sessions")
    else:
        explanation = ("fine" if highest is None else
                       f"fine: above the highest session id {highest:,}")
    repair_to = None if problem is None or target < 0 else target
    return CounterStatus(session_type, node.path, value, highest, sessions, problem, explanation, node.version,
                         repair_to, Action.OK if problem is None else
                         (Action.CANNOT if repair_to is None else Action.WOULD_SET), None, node)


def inspect(store: SessionStore, types: Sequence[SessionType]) -> List[CounterStatus]:
    """Every type's counter against the sessions present (read-only)."""
    highest = highest_ids(store, types)
    return [assess(store.read_counter_node(t), t, *highest[t]) for t in types]


def write_counter_backup(path: Path, *, location: str, prefix: str, statuses: Sequence[CounterStatus],
                         now_ms: int) -> None:
    """The counters as they were, before the repair writes them: a new file (mode 0600), synced."""
    document = {
        "format": "zkjanitor-counter-backup", "format_version": 1, "created": iso_utc(now_ms),
        "zookeeper": location, "prefix": prefix,
        "counters": [{"type": s.type.value, "path": s.path, "exists": s.node is not None and s.node.exists,
                      "znode_version": s.version, "next_session_id": s.value,
                      "data_b64": base64.b64encode(s.node.data if s.node else b"").decode("ascii"),
                      "repair_to": s.repair_to} for s in statuses],
    }
    write_new_json(path, document, what="backup", hint="choose another --backup path")


def repair(store: SessionStore, types: Sequence[SessionType], *, apply: bool, backup: Optional[Path],
           now_ms: int, confirm: Callable[[List[CounterStatus]], None] = lambda statuses: None) -> CounterReport:
    """Check the counters and, with ``apply``, set each one that needs it (``backup`` first, under the lock).

    Without ``apply`` nothing is locked or written (``would-set``). With it the
    prune lock is held across the read and the writes (:class:`LockHeld` when
    another run has it), ``confirm(to_write)`` may raise to stop before
    anything is written, and each write is conditional on the version read:
    a counter Livy moved in between is ``failed``, never overwritten.
    """
    if not apply:
        return CounterReport(store.location, store.prefix, "dry-run", inspect(store, types))
    with store.lock():
        statuses = inspect(store, types)
        to_write = [s for s in statuses if s.repair_to is not None]
        if not to_write:
            return CounterReport(store.location, store.prefix, "apply", statuses)
        assert backup is not None
        confirm(to_write)
        write_counter_backup(backup, location=store.location, prefix=store.prefix, statuses=to_write, now_ms=now_ms)
        done: List[CounterStatus] = []
        for status in statuses:
            if status.repair_to is None:
                done.append(status)
                continue
            expected = status.version if status.node is not None and status.node.exists else None
            try:
                store.write_counter(status.type, status.repair_to, expected)
            except (CounterChanged, WriteFailed) as error:
                done.append(status._replace(action=Action.FAILED, detail=str(error)))
            except ZkJanitorError:
                raise
            else:
                done.append(status._replace(action=Action.SET))
    return CounterReport(store.location, store.prefix, "apply", done, backup)


def check_only(store: SessionStore, types: Sequence[SessionType]) -> CounterReport:
    """``zkjanitor counter`` without --repair."""
    return CounterReport(store.location, store.prefix, "check", inspect(store, types))

