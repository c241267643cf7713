"""Health checks for a Livy state store and what surrounds it, as advice findings.

Each check yields an :class:`~zkjanitor.advice.Finding`; ``severity`` "ok"
marks a check that passed, so an operator sees what was verified.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from zkjanitor.advice import Finding
from zkjanitor.errors import SourceUnavailable, ZkJanitorError, ZooKeeperUnavailable
from zkjanitor.inventory import (
    COUNTER_NODE,
    children_reply_bytes,
    no_store_here,
    parent_path,
    read_inventory,
    store_root,
)
from zkjanitor.model import SessionType
from zkjanitor.scan import CHILDREN_REPLY_WARN_BYTES, classify_inventory
from zkjanitor.sources.yarn import YarnSource
from zkjanitor.zk.client import ZkOptions, connected
from zkjanitor.zk.multiread import server_supports_multiread

PROBLEM_SEVERITIES = ("error", "warning")


def check_zookeeper(options: ZkOptions, prefix: str, types: Sequence[SessionType]) -> List[Finding]:
    """Can we connect, is the store where Livy would put it, and are its parents healthy?"""
    try:
        with connected(options) as client:
            findings = [Finding("ok", "zookeeper", options.connect, "connected", "")]
            if not server_supports_multiread(client):
                findings.append(Finding(
                    "info", "zookeeper", options.connect,
                    "the server does not support multiRead (ZooKeeper < 3.6): scans use pipelined reads, "
                    "about 20x slower", "upgrade ZooKeeper to 3.6 or later for fast scans"))
            root = store_root(prefix)
            if client.exists(root) is None:
                findings.append(Finding(
                    "error", "prefix", root, f"no Livy state store at {root}",
                    "check --prefix (Livy's livy.server.recovery.zk-state-store.key-prefix) and the chroot in --zk"))
                return findings
            if not any(client.exists(parent_path(prefix, t)) for t in SessionType):
                findings.append(Finding(
                    "error", "prefix", root, no_store_here(root, client.get_children(root)),
                    "check --prefix (Livy's livy.server.recovery.zk-state-store.key-prefix) and the chroot in --zk"))
                return findings
            for session_type in types:
                findings.extend(_check_parent(client, parent_path(prefix, session_type)))
            return findings
    except ZooKeeperUnavailable as exc:
        return [Finding("error", "zookeeper", options.connect, str(exc), "fix --zk or the network first")]


def _check_parent(client, path: str) -> List[Finding]:
    stat = client.exists(path)
    if stat is None:
        return [Finding("ok", "store", path, "absent: Livy has not stored a session of this type yet", "")]
    names = client.get_children(path)
    reply = children_reply_bytes(names)
    findings = []
    if reply >= CHILDREN_REPLY_WARN_BYTES:
        findings.append(Finding(
            "warning", "store", path,
            f"{len(names):,} children; the getChildren reply is {reply / 1e6:.2f} MB and Java clients "
            "(Livy itself, zkCli) fail at 1 MB (jute.maxbuffer)",
            "prune stale sessions: zkjanitor prune --older-than 1d"))
    else:
        findings.append(Finding("ok", "store", path, f"{len(names):,} children, getChildren reply {reply:,} bytes", ""))
    if COUNTER_NODE not in names:
        findings.append(Finding(
            "warning", "store", f"{path}/{COUNTER_NODE}",
            "the id counter is missing: Livy restarts ids at 0 and overwrites existing sessions",
            "never delete the state node; recreate it with nextSessionId above the highest session id"))
    return findings


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


def check_sessions(options: ZkOptions, prefix: str, types: Sequence[SessionType],
                   source: Optional[YarnSource]) -> List[Finding]:
    """Can every session znode be read, and can the ResourceManager vouch for them? Reads the store, as a scan does."""
    try:
        with connected(options) as client:
            inventory = read_inventory(client, prefix, types)
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


def has_problems(findings: Sequence[Finding]) -> bool:
    return any(f.severity in PROBLEM_SEVERITIES for f in findings)
