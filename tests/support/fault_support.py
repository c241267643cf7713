"""What the fault tests share: a store to prune, the real CLI in a subprocess, and the checks
that a prune's account matches what ZooKeeper and the backup file really hold.

The CLI runs as ``python -m zkjanitor`` (a separate process the tests can race
against or kill); every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from kazoo.client import KazooClient

from tests.support.paths import REPO
from zkjanitor.backup import read_backup
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record, seed, store_path, yarn_app
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.zk.lock import LOCK_NODE

DAY_MS = 86_400_000
CLI_TIMEOUT_SECONDS = 180.0
"""No CLI run in these tests may take longer; a hung run fails the test instead of the suite."""

SESSION_FILE_ENV = "ZKJANITOR_TEST_SESSION_FILE"
SESSION_EXPORTING_CLI = """
import json, os, sys
from zkjanitor.zk import client as zk_client

_connect = zk_client.connect


def connect(options):
    client = _connect(options)
    session_id, password = client.client_id
    target = os.environ["ZKJANITOR_TEST_SESSION_FILE"]
    with open(target + ".tmp", "w") as handle:
        json.dump({"session_id": session_id, "password": password.hex()}, handle)
    os.replace(target + ".tmp", target)
    return client


zk_client.connect = connect
from zkjanitor.cli import main

sys.argv[0] = "zkjanitor"
main()
"""
"""The real CLI, except that it writes its ZooKeeper session id and password to the file
named by $ZKJANITOR_TEST_SESSION_FILE once connected: what a test needs to expire the
session from outside, as ZooKeeper itself would."""


def fault_client(connect: str, timeout: float = 10.0) -> KazooClient:
    """A test's own ZooKeeper client with bounded retries."""
    retry = {"max_tries": 5, "delay": 0.1, "max_delay": 1.0}
    client = KazooClient(hosts=connect, timeout=timeout, connection_retry=retry, command_retry=retry)
    client.start(timeout=30)
    return client


def close_client(client: KazooClient) -> None:
    client.stop()
    client.close()


# --------------------------------------------------------------------------- the store


class Store(NamedTuple):
    """A seeded store: which session paths are stale (in the order prune takes them) and live,
    and the ResourceManager apps of its sessions."""

    prefix: str
    stale: List[str]
    live: List[str]
    state: str
    apps: List[Dict[str, Any]]


def seed_store(
    client: KazooClient,
    prefix: str,
    yarn: YarnDouble,
    *,
    stale: int,
    live: int = 3,
    rewritten: Sequence[int] = (),
    extra: Sequence[SeedZnode] = (),
) -> Store:
    """Batch sessions ``0 .. stale-1`` whose apps finished weeks ago (oldest first), then ``live``
    sessions whose apps run; the RM double knows every app.

    Sessions in ``rewritten`` get their data set once more, as Livy's ``appIdKnown`` does,
    so their znode version is 1 (the others' is 0). ``extra`` znodes are seeded too; the batch
    ``nextSessionId`` is above every numeric name.
    """
    now_ms = int(time.time() * 1000)
    znodes: List[SeedZnode] = []
    apps: List[Dict[str, Any]] = []
    for session_id in range(stale + live):
        tag = f"livy-batch-{session_id}-abcdefgh"
        app_id = f"application_{yarn.cluster_ts}_{session_id + 1:04d}"
        record = livy_record(SessionType.BATCH, session_id, livy_version="0.7", app_tag=tag, app_id=app_id,
                             owner="alice")
        znodes.append(SeedZnode(SessionType.BATCH, str(session_id), encode_record(record)))
        if session_id < stale:
            finished = now_ms - (30 + stale - session_id) * DAY_MS
            apps.append(yarn_app(app_id, tag, state="FINISHED", user="livy", started_ms=finished - 60_000,
                                 finished_ms=finished))
        else:
            apps.append(yarn_app(app_id, tag, state="RUNNING", user="livy", started_ms=now_ms - DAY_MS))
    next_batch_id = max([stale + live] + [int(z.name) + 1 for z in extra if z.type is SessionType.BATCH
                                          and z.name.isdigit()])
    seed(client, prefix, [*znodes, *extra], counters={SessionType.BATCH: next_batch_id, SessionType.INTERACTIVE: 0})
    for session_id in rewritten:
        path = store_path(prefix, SessionType.BATCH, str(session_id))
        client.set(path, client.get(path)[0])
    yarn.add_apps(apps)
    paths = [store_path(prefix, SessionType.BATCH, str(i)) for i in range(stale + live)]
    return Store(prefix, paths[:stale], paths[stale:], store_path(prefix, SessionType.BATCH, "state"), apps)


def read_tree(client: KazooClient, root: str) -> Dict[str, bytes]:
    """Every znode at and below ``root``: path -> data; without the prune lock's znodes.

    A run killed or cut off from ZooKeeper leaves its lock's (empty) parent
    behind in the store root (zk/lock.py): zkjanitor's own, not Livy's data.
    """
    tree: Dict[str, bytes] = {}
    pending = [root]
    while pending:
        path = pending.pop()
        tree[path] = client.get(path)[0]
        pending.extend(f"{path}/{child}" for child in client.get_children(path) if child != LOCK_NODE)
    return tree


def store_root(prefix: str) -> str:
    return "/" + prefix.strip("/")


# --------------------------------------------------------------------------- the CLI


class CliOutcome(NamedTuple):
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> Dict[str, Any]:
        assert self.stdout.strip(), f"no JSON on stdout (exit {self.code}); stderr:\n{self.stderr}"
        return json.loads(self.stdout)


def cli_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment of a CLI run: no developer ZKJANITOR_* settings, no colour, wide tables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZKJANITOR_")}
    env.update(NO_COLOR="1", COLUMNS="200", PYTHONPATH=str(REPO))
    env.update(extra or {})
    return env


class CliProcess:
    """``zkjanitor ARGS`` running in its own process group; output goes to temporary files."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: Optional[Mapping[str, str]] = None,
                 script: Optional[str] = None) -> None:
        self._stdout = tempfile.TemporaryFile()
        self._stderr = tempfile.TemporaryFile()
        program = ["-c", script] if script else ["-m", "zkjanitor"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, *program, *args], cwd=cwd, env=cli_env(env), stdin=subprocess.DEVNULL,
            stdout=self._stdout, stderr=self._stderr, start_new_session=True,
        )

    def running(self) -> bool:
        return self.process.poll() is None

    def stderr_so_far(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def signal(self, signum: int) -> None:
        os.killpg(self.process.pid, signum)

    def finish(self, timeout: float = CLI_TIMEOUT_SECONDS) -> CliOutcome:
        """Wait for the exit (killing the run and failing the test after ``timeout``)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=30)
            stderr = self.stderr_so_far()
            raise AssertionError(f"zkjanitor did not finish within {timeout:.0f}s; stderr:\n{stderr}") from None
        seconds = time.monotonic() - self.started
        self._stdout.seek(0)
        stdout = self._stdout.read().decode("utf-8", "replace")
        stderr = self.stderr_so_far()
        self._stdout.close()
        self._stderr.close()
        return CliOutcome(code, stdout, stderr, seconds)


def run_cli_process(args: Sequence[str], *, cwd: Path, timeout: float = CLI_TIMEOUT_SECONDS,
                    env: Optional[Mapping[str, str]] = None) -> CliOutcome:
    return CliProcess(args, cwd=cwd, env=env).finish(timeout)


def prune_args(connect: str, prefix: str, yarn_url: str, backup: Path, *extra: str) -> List[str]:
    return ["prune", "--zk", connect, "--prefix", prefix, "--yarn", yarn_url, "--older-than", "1d",
            "--apply", "--yes", "--backup", str(backup), "--format", "json", *extra]


def restore_args(connect: str, prefix: str, backup: Path) -> List[str]:
    return ["restore", str(backup), "--zk", connect, "--prefix", prefix, "--apply", "--yes", "--format", "json"]


# --------------------------------------------------------------------------- waiting


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str,
               process: Optional[CliProcess] = None) -> None:
    """Poll ``condition`` every 20 ms; fail the test naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and not process.running():
            raise AssertionError(f"zkjanitor exited before {what}; stderr:\n{process.stderr_so_far()}")
        if time.monotonic() >= deadline:
            detail = f"; stderr:\n{process.stderr_so_far()}" if process is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(0.02)


def backup_lines_on_disk(path: Path) -> int:
    """Complete znode lines (those carrying ``data_b64``) in a backup being written."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return 0
    return sum(1 for line in content.split(b"\n")[:-1] if b'"data_b64"' in line)


# --------------------------------------------------------------------------- checks


def check_backup_lines(path: Path) -> None:
    """Every line of a backup is one complete JSON object, except perhaps a torn last line."""
    lines = path.read_bytes().split(b"\n")
    complete, last = lines[:-1], lines[-1]
    for number, line in enumerate(complete, start=1):
        assert isinstance(json.loads(line), dict), f"{path} line {number} is not a JSON object"
    if last:
        backup = read_backup(path)
        assert any("incomplete" in warning for warning in backup.warnings), backup.warnings


def check_prune_account(document: Dict[str, Any], before: Mapping[str, bytes], after: Mapping[str, bytes],
                        backup_path: Optional[Path]) -> Dict[str, str]:
    """The prune JSON tells the truth about ZooKeeper and the backup; returns path -> action.

    * each selected session is listed once; only stale sessions are selected;
    * every ``deleted`` znode is gone; every znode still there is byte-identical to before;
    * a znode is gone only if the account says ``deleted``, or ``failed`` with an unknown result;
    * nothing appeared, and every gone znode is in the backup with its exact bytes.
    """
    sessions = document["sessions"]
    actions = {session["path"]: session["action"] for session in sessions}
    assert len(actions) == len(sessions), "a session is listed twice"
    assert {session["verdict"] for session in sessions} <= {"stale"}
    assert document["deleted"] == sum(1 for action in actions.values() if action == "deleted")
    assert sum(document["counts"].values()) == document["selected"] == len(sessions)

    gone = set(before) - set(after)
    assert set(after) <= set(before), f"znodes appeared: {sorted(set(after) - set(before))}"
    for path, data in after.items():
        assert data == before[path], f"{path} was modified"
    deleted = {path for path, action in actions.items() if action == "deleted"}
    assert deleted <= gone, f"reported deleted but still there: {sorted(deleted - gone)}"
    unknown = {
        session["path"] for session in sessions
        if session["action"] == "failed" and session.get("detail", "").startswith("result unknown")
    }
    assert gone <= deleted | unknown, f"gone but not reported deleted: {sorted(gone - deleted - unknown)}"
    if gone:
        assert backup_path is not None
        entries = {entry.path: entry.data for entry in read_backup(backup_path).entries}
        for path in gone:
            assert entries.get(path) == before[path], f"{path} was deleted without its bytes in the backup"
    return actions


def check_restored(client: KazooClient, root: str, before: Mapping[str, bytes], outcome: CliOutcome) -> None:
    """``restore --apply`` succeeded and the store is byte-identical to ``before``."""
    assert outcome.code == 0, outcome.stderr
    assert read_tree(client, root) == dict(before)


def start_prune_until_backed_up(connect: str, prefix: str, yarn_url: str, workdir: Path, *extra: str,
                                backed_up: int) -> Tuple["CliProcess", Path]:
    """Start ``zkjanitor prune --apply`` as a process; return it once ``backed_up`` znodes are in its backup."""
    backup = workdir / "backup.jsonl"
    run = CliProcess(prune_args(connect, prefix, yarn_url, backup, *extra), cwd=workdir)
    wait_until(lambda: backup_lines_on_disk(backup) >= backed_up, timeout=60,
               what=f"{backed_up} backed-up znodes", process=run)
    return run, backup
