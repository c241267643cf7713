"""Health checks for a Livy state store and what surrounds it, as advice findings.

Each check yields an :class:`~zkjanitor.advice.Finding`; ``severity`` "ok"
marks a check that passed, so an operator sees what was verified.
"""

from __future__ import annotations

from typing import Callable, ContextManager, List, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.errors import SourceUnavailable, ZkJanitorError, ZooKeeperUnavailable
from zkjanitor.inventory import COUNTER_NODE
from zkjanitor.model import SessionType
from zkjanitor.scan import classify_inventory
from zkjanitor.sources.yarn import YarnSource
from zkjanitor.store import SessionStore

OpenStore = Callable[[], ContextManager[SessionStore]]
"""Connects to the store for the length of a ``with`` block (e.g. ``ZooKeeperStore.open``)."""


def check_store(open_store: OpenStore, location: str, types: Sequence[SessionType]) -> List[Finding]:
    """Can we connect, is the store where Livy would put it, and are its parents healthy?"""
    try:
        with open_store() as store:
            return store.check(types)
    except ZooKeeperUnavailable as exc:
        return [Finding("error", "zookeeper", location, str(exc), "fix --zk or the network first")]


def check_yarn(source: Optional[YarnSource]) -> List[Finding]:
    """Is there an active ResourceManager among the configured URLs?"""
    if source is None:
        return [Finding("warning", "yarn", None, "no --yarn given: zkjanitor cannot tell live sessions from stale",
                        "pass --yarn http://<rm>:8088 (repeat for each RM of an HA pair)")]
    try:
        active = source.find_active()
    except SourceUnavailable as exc:
        return [Finding("error", "yarn", ", ".join(source.urls), str(exc), "check --yarn and the YARN auth options")]
    fix = "check that ResourceManager, --yarn and the YARN auth options"
    passed_over = [Finding("warning", "yarn", None, note, fix) for note in source.notes]
    return passed_over + [Finding("ok", "yarn", active, "active ResourceManager found", "")]


def check_sessions(open_store: OpenStore, types: Sequence[SessionType],
                   source: Optional[YarnSource]) -> List[Finding]:
    """Can every session record be read, and can the ResourceManager vouch for them? Reads the store, as a scan does."""
    try:
        with open_store() as store:
            inventory = store.read(types)
    except ZkJanitorError:
        return []  # check_zookeeper reports what is wrong with the store
    findings = [
        Finding("error", "store", f"{parent.path}/{COUNTER_NODE}", f"the id counter is {parent.counter_problem}",
                "Livy fails every new session on a counter it cannot read: set it to "
                '{"nextSessionId": <above the highest session id>} (and check its ACL)')
        for parent in inventory.parents.values()
        if parent.counter_problem is not None and parent.counter_problem != "missing"
    ]
    if inventory.unreadable:
        path, error = inventory.unreadable[0]
        findings.append(Finding(
            "error", "store", path, f"{len(inventory.unreadable):,} session znode(s) could not be read ({error})",
            "zkjanitor can neither count nor judge them: give it read access (--zk-auth, --zk-sasl) or fix the ACLs"))
    if source is None:
        return findings
    result = classify_inventory(inventory, source)
    if result.source_error:
        return findings + [Finding("error", "yarn", ", ".join(source.urls), result.source_error,
                                   "check that --yarn names the cluster Livy submits to")]
    asked = [r for r in result.reports if r.session.corrupt is None]
    known = sum(1 for r in asked if r.app is not None)
    return findings + [Finding("ok", "yarn", None, f"the ResourceManager knows {known:,} of the store's "
                               f"{len(asked):,} sessions' applications", "")]

