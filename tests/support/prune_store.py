"""Real Livy stores for the prune and restore CLI tests, and exact pictures of them.

``seed_incident`` fills a store on the server whose clock runs 10 days back, so
its znodes look 10 days old, with a mix of every kind of session plus children
that are not sessions. ``seed_finished`` makes sessions whose applications
finished at chosen ages. ``snapshot`` records every znode of a store (data and
stat) so that a test can prove what changed and what did not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping, NamedTuple, Optional, Set, Tuple

from kazoo.client import KazooClient

from tests.support.helpers import run_cli, seeded_expectations
from tests.support.paths import REPO
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import (
    DAY_MS,
    Scenario,
    SeedZnode,
    build_scenario,
    encode_record,
    livy_record,
    seed,
    store_path,
    yarn_app,
    yarn_app_id,
)
from zkjanitor.testing.yarn_double import YarnDouble

SessionKey = Tuple[str, int]
"""``("batch", 12)``: a session as the JSON output names it."""

INCIDENT_MIX = {
    "app-forgotten": 0.40,
    "app-finished": 0.25,
    "never-submitted": 0.10,
    "app-active": 0.10,
    "not-a-yarn-app": 0.05,
    "corrupt": 0.10,
}
"""Every verdict well represented; no young sessions (the store is seeded 10 days back)."""

NOT_SESSIONS = {SessionType.BATCH: ("notes", "0012"), SessionType.INTERACTIVE: ("lock",)}
"""Children of the type directories that are not session znodes (beside ``state``)."""

BORDERLINE_MS = 10 * 60 * 1000
"""Sessions this close to the --older-than threshold may fall either way: not asserted."""


class Znode(NamedTuple):
    """What a test compares: the bytes, and the stat fields a rewrite would change."""

    data: bytes
    version: int
    ctime_ms: int
    mtime_ms: int


Snapshot = Dict[str, Znode]


class Incident(NamedTuple):
    """A seeded store, the truth about it, and where its non-session children are."""

    scenario: Scenario
    expected: Dict[SessionKey, Tuple[str, str]]
    """(verdict, reason) of every session znode seeded."""
    finished_ms: Dict[SessionKey, int]
    """When the application of each ``app-finished`` session ended."""
    not_sessions: List[str]

    def keys(self, verdict: str) -> Set[SessionKey]:
        return {key for key, (v, _) in self.expected.items() if v == verdict}


def seed_incident(
    client: KazooClient, prefix: str, yarn: YarnDouble, sessions: int = 300, seed_value: int = 11
) -> Incident:
    """Seed a mixed store under ``prefix`` and tell ``yarn`` about its applications."""
    scenario = build_scenario(
        sessions, seed=seed_value, now_ms=int(time.time() * 1000), mix=INCIDENT_MIX
    )
    seed(client, prefix, scenario.old_znodes, counters=scenario.counters)
    extra = [
        SeedZnode(session_type, name, b'{"not":"a session"}')
        for session_type, names in NOT_SESSIONS.items()
        for name in names
    ]
    seed(client, prefix, extra)
    yarn.add_apps(scenario.apps)
    apps = {app["id"]: app for app in scenario.apps}
    expected = {
        (session_type.value, session_id): verdict_reason
        for (session_type, session_id), verdict_reason in seeded_expectations(
            scenario, scenario.old_znodes
        ).items()
    }
    finished_ms = {}
    for znode in scenario.old_znodes:
        key = (znode.type.value, int(znode.name))
        if expected[key][1] == "app-finished":
            finished_ms[key] = apps[json.loads(znode.data)["appId"]]["finishedTime"]
    return Incident(
        scenario,
        expected,
        finished_ms,
        [store_path(prefix, z.type, z.name) for z in extra],
    )


def seed_finished(
    client: KazooClient, prefix: str, yarn: YarnDouble, ages_days: Mapping[int, float]
) -> None:
    """Batch sessions ``id -> age``: each application finished that many days ago."""
    now_ms = int(time.time() * 1000)
    znodes, apps = [], []
    for session_id, days in ages_days.items():
        tag = f"livy-batch-{session_id}-k2j4h5g6"
        app_id = yarn_app_id(now_ms - 90 * DAY_MS, session_id + 1)
        record = livy_record(
            SessionType.BATCH, session_id, livy_version="0.9", app_tag=tag, app_id=app_id
        )
        znodes.append(SeedZnode(SessionType.BATCH, str(session_id), encode_record(record)))
        finished = now_ms - int(days * DAY_MS)
        apps.append(
            yarn_app(app_id, tag, state="FINISHED", user="livy", started_ms=finished - 60_000,
                     finished_ms=finished)
        )
    seed(client, prefix, znodes, counters={SessionType.BATCH: max(ages_days) + 1})
    yarn.add_apps(apps)


def snapshot(client: KazooClient, prefix: str) -> Snapshot:
    """Every znode of the store under ``/<first part of prefix>``, read level by level."""
    root = "/" + prefix.split("/")[0]
    found: Snapshot = {}
    level = [root]
    while level:
        gets = [(path, client.get_async(path), client.get_children_async(path)) for path in level]
        level = []
        for path, get, children in gets:
            data, stat = get.get(timeout=30)
            found[path] = Znode(data, stat.version, stat.ctime, stat.mtime)
            level += [f"{path.rstrip('/')}/{name}" for name in children.get(timeout=30)]
    return found


def data_of(picture: Snapshot) -> Dict[str, bytes]:
    return {path: znode.data for path, znode in picture.items()}


def session_path(prefix: str, key: SessionKey) -> str:
    return store_path(prefix, SessionType(key[0]), str(key[1]))


def prune(server, prefix: str, yarn: Optional[YarnDouble], *args: str, env=None, input=None):
    """``zkjanitor prune`` on the store, in-process."""
    command = ["prune", "--zk", server.connect_string, "--prefix", prefix, *args]
    if yarn is not None:
        command += ["--yarn", yarn.url]
    return run_cli(command, env=env, input=input)


def restore(server, prefix: str, backup: Path, *args: str, input=None):
    """``zkjanitor restore`` of ``backup`` into the store, in-process."""
    return run_cli(
        ["restore", str(backup), "--zk", server.connect_string, "--prefix", prefix, *args],
        input=input,
    )


def by_action(document: dict) -> Dict[str, Set[SessionKey]]:
    """The prune JSON's sessions grouped by their action."""
    grouped: Dict[str, Set[SessionKey]] = {}
    for session in document["sessions"]:
        grouped.setdefault(session["action"], set()).add((session["type"], session["id"]))
    return grouped


def stale_older_than(
    incident: Incident, picture: Snapshot, prefix: str, older_than_days: float
) -> Tuple[Set[SessionKey], Set[SessionKey]]:
    """The stale sessions at least that old, and those too close to the threshold to tell.

    The age is computed independently of zkjanitor: from the application's
    finish time as the YARN double holds it, else from the znode's mtime.
    """
    now_ms = int(time.time() * 1000)
    threshold_ms = older_than_days * DAY_MS
    old_enough, borderline = set(), set()
    for key in incident.keys("stale"):
        since = incident.finished_ms.get(key, picture[session_path(prefix, key)].mtime_ms)
        age_ms = now_ms - since
        if abs(age_ms - threshold_ms) < BORDERLINE_MS:
            borderline.add(key)
        elif age_ms >= threshold_ms:
            old_enough.add(key)
    return old_enough, borderline


def cli_env() -> Dict[str, str]:
    """The environment for ``python -m zkjanitor`` in a subprocess: this checkout, no user setup."""
    repo = str(REPO)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZKJANITOR_")}
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    return env


def zkjanitor_command(*args: str) -> List[str]:
    return [sys.executable, "-m", "zkjanitor", *args]


def changed_paths(before: Snapshot, after: Snapshot) -> Set[str]:
    """Paths removed, added, or whose data or version differ."""
    return {
        path
        for path in set(before) | set(after)
        if path not in before
        or path not in after
        or (before[path].data, before[path].version) != (after[path].data, after[path].version)
    }

