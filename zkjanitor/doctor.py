"""Health checks for a Livy state store and what surrounds it, as advice findings.

Each check yields an :class:`~zkjanitor.advice.Finding`; ``severity`` "ok"
marks a check that passed, so an operator sees what was verified.
"""

from __future__ import annotations

from typing import Callable, ContextManager, List, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.errors import ZkJanitorError, ZooKeeperUnavailable
from zkjanitor.inventory import COUNTER_NODE
from zkjanitor.model import SessionType, Verdict
from zkjanitor.scan import Kept, scan_store
from zkjanitor.sources.base import AppStateSource
from zkjanitor.sources.chain import ChainSource
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


def check_source(source: Optional[AppStateSource]) -> List[Finding]:
    """Is the evidence source there and answering (for YARN: an active ResourceManager among the URLs)?"""
    if source is None:
        return [Finding("warning", "yarn", None, "no --yarn given: zkjanitor cannot tell live sessions from stale",
                        "pass --yarn http://<rm>:8088 (repeat for each RM of an HA pair)")]
    return source.check()


def check_sessions(open_store: OpenStore, types: Sequence[SessionType],
                   source: Optional[AppStateSource]) -> List[Finding]:
    """Can every session record be read, and can the source vouch for them? Reads the store, as a scan does."""
    try:
        with open_store() as store:
            result = scan_store(lambda add: store.read(types, sink=add), source,
                                sink=Kept(lambda report: False))  # counted, none kept
    except ZkJanitorError:
        return []  # check_zookeeper reports what is wrong with the store
    inventory = result.inventory
    findings = [
        Finding("error", "store", f"{parent.path}/{COUNTER_NODE}", f"the id counter is {parent.counter_problem}",
                "Livy fails every new session on a counter it cannot read: zkjanitor counter --repair sets it above "
                "the highest session id (check its ACL first)")
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
    name = "sources" if isinstance(source, ChainSource) else source.name
    if result.source_error:
        return findings + [Finding("error", name, None, result.source_error,
                                   "check that --yarn names the cluster Livy submits to")]
    asked = result.tally.sessions - result.tally.count(Verdict.CORRUPT)
    known = result.tally.known_by_source
    if not isinstance(source, ChainSource):
        return findings + [Finding("ok", source.name, None, f"{source.name} knows {sum(known.values()):,} of the "
                                   f"store's {asked:,} sessions' applications", "")]
    by_source = ", ".join(f"{name} {count:,}" for name, count in known.most_common())
    return findings + [Finding("ok", name, None, f"the sources know {sum(known.values()):,} of the store's "
                               f"{asked:,} sessions' applications{f' ({by_source})' if by_source else ''}", "")]
