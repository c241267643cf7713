"""Stores for the evidence-chain tests: batch sessions with chosen app ids, and the CLI runs that judge them.

Seeded on ``old_zk_client``, every session is 10 days old; each test decides
what the ResourceManager (the YARN double), the Timeline server and the Spark
History Server (double or real) know of each application.
"""

from __future__ import annotations

import json
import time
from typing import Dict, Mapping, Optional, Sequence, Tuple

from tests.support.helpers import run_cli
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed, yarn_app, yarn_app_id

DAY_MS = 86_400_000
CLUSTER_TS = (int(time.time() * 1000) - 30 * DAY_MS) // 1000 * 1000
"""The RM start in the sessions' app ids: before the YARN double's own start, as after an RM restart."""


def app_id(seq: int) -> str:
    return yarn_app_id(CLUSTER_TS, seq)


def tag(session_id: int) -> str:
    return f"livy-batch-{session_id}-abcd{session_id:04d}"


def seed_sessions(client, prefix: str, app_ids: Mapping[int, Optional[str]]) -> None:
    """Batch sessions ``id -> appId`` (None: Livy never learned it), written by Livy 0.9."""
    znodes = [
        SeedZnode(SessionType.BATCH, str(session_id), encode_record(livy_record(
            SessionType.BATCH, session_id, livy_version="0.9", app_tag=tag(session_id), app_id=app)))
        for session_id, app in app_ids.items()
    ]
    seed(client, prefix, znodes, counters={SessionType.BATCH: max(app_ids) + 1, SessionType.INTERACTIVE: 0})


def rm_app(session_id: int, app: str, state: str, *, finished_ms: int = 0) -> Dict[str, object]:
    """What the ResourceManager remembers of a session's application."""
    started = (finished_ms or int(time.time() * 1000)) - 60_000
    return yarn_app(app, tag(session_id), state=state, user="livy", started_ms=started, finished_ms=finished_ms)


def run(command: str, server, prefix: str, *options: str, env=None):
    """``zkjanitor <command>`` on the store, in-process, JSON out."""
    return run_cli([command, "--zk", server.connect_string, "--prefix", prefix, "--format", "json", *options],
                   env=env)


def sessions_by_id(document: dict) -> Dict[int, dict]:
    return {session["id"]: session for session in document["sessions"]}


def verdicts(document: dict) -> Dict[int, Tuple[str, str, Optional[str]]]:
    """``id -> (verdict, reason, source)`` of every session of a scan or prune document."""
    return {s["id"]: (s["verdict"], s["reason"], s["source"]) for s in document["sessions"]}


def scan(server, prefix: str, *options: str, env=None) -> Tuple[int, dict, str]:
    """Exit code, JSON document and stderr of a scan."""
    result = run("scan", server, prefix, *options, env=env)
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def sources(*pairs: Tuple[str, Sequence[str]]) -> list:
    """``("--yarn", [url]), ("--spark-history", [u1, u2])`` -> options."""
    return [item for option, urls in pairs for url in urls for item in (option, url)]
