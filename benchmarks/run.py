#!/usr/bin/env python3
"""``make bench``: zkjanitor against the tools operators use, side by side on the same data.

For each store size N (default 10k, 40k and 100k sessions) this starts a fresh
ZooKeeper on loopback, seeds an incident store (most sessions stale: their
apps long forgotten by a ResourceManager that, like Hadoop 3, remembers only
the last 1000 finished apps), starts the YARN double, then measures in one run:

* ``zkjanitor scan --format json`` (the real CLI, a subprocess: wall time,
  peak RSS, YARN requests), the same with ``--read-method pipelined``, and with
  a Spark History Server double (``--spark-history``) holding the event logs
  its default 7-day cleaner keeps (those of the apps the RM remembers);
* the baseline for reads: a sequential kazoo ``get`` loop over the same znodes
  (timed from its first ``get_children`` to its last ``get``: no start-up);
* ``zkjanitor prune --apply --yes`` of every stale session (scan, lock,
  fsynced backup, version-checked deletes);
* the baseline for deletes: ``zkCli.sh deleteall`` of an identical copy of the
  stale znodes, as operators run it (JVM start-up included, also shown alone).

It prints one table with each figure as a ratio to its baseline, the targets of
the issue with PASS/FAIL, and the machine. It exits 0 even when a target fails
(it measures; it does not gate), but says so loudly. Everything runs on
127.0.0.1 and every server and temporary directory is removed, even on Ctrl-C.

``--million`` (``make bench-1m``) measures 1,000,000 sessions instead, nearly
all stale (``MILLION_MIX``): ``zkjanitor scan`` with its table, ``scan
--format json`` and ``prune --apply`` of every stale session, each once, for
wall time and peak RSS against the issue's memory targets and time goals. The
baselines are left out at that size (the get loop would take ~6 minutes,
``zkCli.sh deleteall`` ~3). With ``--sizes`` as well, those sizes run first.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from kazoo.client import KazooClient

import zkjanitor
from zkjanitor.inventory import children_reply_bytes
from zkjanitor.model import SessionType, Verdict
from zkjanitor.testing.seeder import Scenario, SeedZnode, build_scenario, seed
from zkjanitor.testing.spark_history_double import SparkHistoryDouble
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import ZKCLI, ZooKeeperServer, four_letter_word

DEFAULT_SIZES = (10_000, 40_000, 100_000)
QUICK_SIZES = (300,)
PREFIX = "livy"
COPY_PREFIX = "zkcli-copy"
"""Where the identical copy of the stale znodes lives, for ``zkCli.sh deleteall``."""
OLD_CLOCK = "-20d"
"""The seeding server's clock: the incident's sessions are weeks old."""
OLDER_THAN = "1h"
"""prune's --older-than: every stale session of the scenario is older than this."""
RETAINED_FINISHED_APPS = 1000
"""yarn.resourcemanager.max-completed-applications of Hadoop 3."""
SCENARIO_SEED = 42

COMMAND_TIMEOUT_S = 900.0
"""Upper bound on any one measured command (the 100k pipelined scan takes ~30 s)."""
ZK_START_TIMEOUT_S = 120.0
JAVA_CLIENT_MAX_BUFFER = 1024 * 1024
"""jute.maxbuffer of zkCli.sh's Java client (ZooKeeper >= 3.6): a bigger getChildren reply fails."""
RAISED_JUTE_MAXBUFFER = 8 * 1024 * 1024

MILLION = 1_000_000
MILLION_MIX: Dict[str, float] = {
    "app-forgotten": 0.991,
    "never-submitted": 0.005,
    "app-finished": 0.001,
    "app-active": 0.001,
    "within-grace": 0.001,
    "not-a-yarn-app": 0.0005,
    "corrupt": 0.0005,
}
"""``--million``'s store: ~997k stale sessions (prune's target), ~3,000 live, unknown or corrupt.

At 1M, 0.001 of finished apps is exactly the 1,000 the ResourceManager remembers.
"""
MILLION_COMMAND_TIMEOUT_S = 1800.0
"""Upper bound on one command at 1M (the issue measured a prune of 1M at 59 s)."""
MILLION_ZK_START_TIMEOUT_S = 600.0
"""A restart replays 1M creates from the transaction log before it serves."""
MILLION_SCAN_RSS_MAX_MB = 200.0
MILLION_PRUNE_RSS_MAX_MB = 400.0
MILLION_SCAN_GOAL_S = 10.0
MILLION_PRUNE_GOAL_S = 30.0
"""Time goals at 1M on the 2-core machine (measured before: scan 12–17 s, prune 59 s); shown, not targets."""

# The targets.
SCAN_TARGET_SIZE = 40_000
SCAN_MAX_RATIO = 1 / 20
PIPELINED_MAX_RATIO = 1 / 2
PRUNE_MAX_RATIO = 1 / 4
RSS_TARGET_SIZE = 100_000
RSS_MAX_MB = 200.0
MAX_YARN_REQUESTS = 5
HISTORY_MAX_FACTOR = 1.10
LINEAR_TOLERANCE = 1.25
"""Linear cost: µs/session may not grow by more than this factor from one N to the next."""


class Run(NamedTuple):
    """One measured zkjanitor process (or the median of a few)."""

    seconds: float
    peak_rss_mb: float
    yarn_requests: int


class SizeResult(NamedTuple):
    """Everything measured for one store size."""

    sessions: int
    scan: Run
    scan_pipelined: Run
    get_loop_seconds: float
    prune: Run
    pruned: int
    deleteall_seconds: float
    deleteall_znodes: int
    zkcli_startup_seconds: float
    zkcli_flags: str
    zookeeper_version: str
    scan_runs: Tuple[float, ...] = ()
    """Wall seconds of every run of zkjanitor scan; ``scan`` holds their median."""
    scan_with_history: Optional[Run] = None
    """``scan --spark-history``: YARN first, then a Spark History Server that has every stale app's log."""
    history_requests: int = 0
    """Requests the History Server got in the most requested of those runs."""


class MillionResult(NamedTuple):
    """``--million``: the three zkjanitor commands on one store of (by default) 1,000,000 sessions."""

    sessions: int
    stale: int
    scenario_seconds: float
    """Building the scenario in the benchmark's memory."""
    seed_seconds: float
    """Creating the znodes, the restart onto the real clock included."""
    widest_children_mb: float
    """The largest getChildren reply (the batch directory's listing), as the server sends it."""
    zookeeper_heap: str
    scan_table: Run
    scan_table_bytes: int
    scan_json: Run
    scan_json_bytes: int
    prune: Run
    pruned: int
    backup_bytes: int
    zookeeper_version: str
    zookeeper_peak_rss_mb: float
    """The ZooKeeper JVM's VmHWM after the prune (0 when unknown)."""
    total_seconds: float
    """The whole measurement: building, seeding, the three commands and the checks."""


class Environment(NamedTuple):
    """Where and with what the figures were measured."""

    date: str
    cpu: str
    cpus: int
    load_start: Tuple[float, float, float]
    load_end: Tuple[float, float, float]
    system: str
    versions: str


class Judgement(NamedTuple):
    """One target of the issue and how this run fared: True, False, or None (not measured)."""

    target: str
    passed: Optional[bool]
    detail: str


class BenchmarkError(RuntimeError):
    """A measured command failed or produced a wrong result: its figure would mean nothing."""


# ----------------------------------------------------------------------------- measuring


SPAWNER = """
import os, sys, time
result_path, program, *args = sys.argv[1:]
started = time.perf_counter()
pid = os.posix_spawnp(program, [program, *args], os.environ)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - started
with open(result_path, "w") as result:
    result.write(f"{elapsed!r} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
"""Starts a measured command from a small process and reports its wall time, peak RSS and exit code.

Linux counts the memory of the process a command was started from in the
command's ``ru_maxrss`` (``exec`` keeps the larger high-water mark), so a
command started from this script, which holds whole scan documents, would
report this script's size. Started from this tiny spawner, it reports its own.
"""


def run_measured(
    args: Sequence[str],
    *,
    env: Dict[str, str],
    stdout_path: Path,
    stderr_path: Path,
    timeout: float = COMMAND_TIMEOUT_S,
) -> Tuple[float, float, int]:
    """Run ``args`` to completion; return its wall seconds, peak RSS (MB) and exit code.

    The command runs under :data:`SPAWNER` in a process group of its own,
    killed whole if it outlives ``timeout`` or if this script is interrupted.
    """
    result_path = stdout_path.with_suffix(".measured")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-S", "-c", SPAWNER, str(result_path), *args],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            process.wait()
            raise BenchmarkError(f"{' '.join(args[:4])} ... did not finish within {timeout:.0f} s") from None
        except BaseException:
            _kill_group(process.pid)
            process.wait()
            raise
    if process.returncode != 0:
        raise BenchmarkError(f"the spawner of {' '.join(args[:4])} ... failed: {stderr_path.read_text()[-2000:]}")
    elapsed, peak_kb, code = result_path.read_text().split()
    result_path.unlink()
    return float(elapsed), int(peak_kb) / 1024.0, int(code)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _child_env() -> Dict[str, str]:
    """This environment without zkjanitor's own settings, so only the command line counts."""
    return {key: value for key, value in os.environ.items() if not key.startswith("ZKJANITOR_")}


def zkjanitor_command(*args: str) -> List[str]:
    """The CLI as operators run it, with this interpreter."""
    return [sys.executable, "-m", "zkjanitor", *args]


def run_zkjanitor(
    args: Sequence[str], *, yarn: YarnDouble, workdir: Path, label: str
) -> Tuple[Run, Dict[str, Any]]:
    """Run one zkjanitor command with ``--format json``; its Run and parsed JSON document."""
    stdout_path, stderr_path = workdir / f"{label}.json", workdir / f"{label}.stderr"
    yarn.reset_requests()
    seconds, rss_mb, code = run_measured(
        zkjanitor_command(*args, "--format", "json"), env=_child_env(),
        stdout_path=stdout_path, stderr_path=stderr_path,
    )
    requests = yarn.request_count
    if code != 0:
        raise BenchmarkError(
            f"zkjanitor {' '.join(args[:1])} exited {code}: {stderr_path.read_text(errors='replace')[-2000:]}"
        )
    with open(stdout_path, "rb") as handle:
        document = json.load(handle)
    stdout_path.unlink()
    return Run(seconds, rss_mb, requests), document


def median_run(runs: Sequence[Run]) -> Run:
    """The median wall time; the worst peak RSS and YARN request count of all runs."""
    return Run(
        statistics.median(run.seconds for run in runs),
        max(run.peak_rss_mb for run in runs),
        max(run.yarn_requests for run in runs),
    )


def _client(connect: str) -> KazooClient:
    client = KazooClient(
        hosts=connect, timeout=30,
        connection_retry={"max_tries": 3, "delay": 0.2, "max_delay": 2},
        command_retry={"max_tries": 3, "delay": 0.2, "max_delay": 2},
    )
    client.start(timeout=60)
    return client


def sequential_get_loop(connect: str, prefix: str) -> Tuple[float, int]:
    """What a naive script does: list each parent, then ``get`` every session, one at a time.

    Timed from the first ``get_children`` to the last ``get`` (connecting and
    Python start-up are left out, which only flatters this baseline).
    Returns the seconds and the number of znodes read.
    """
    client = _client(connect)
    try:
        started = time.perf_counter()
        count = 0
        for session_type in SessionType:
            parent = f"/{prefix}/v1/{session_type.value}"
            for name in client.get_children(parent):
                if name.isdigit():
                    client.get(f"{parent}/{name}")
                    count += 1
        return time.perf_counter() - started, count
    finally:
        client.stop()
        client.close()


def zkcli(server: ZooKeeperServer, workdir: Path, label: str, *command: str, flags: str = "") -> float:
    """Run ``zkCli.sh -server HOST:PORT COMMAND...`` as operators do; its wall seconds."""
    env = dict(_child_env(), CLIENT_JVMFLAGS=flags) if flags else _child_env()
    seconds, _, code = run_measured(
        ["bash", str(ZKCLI), "-server", server.connect_string, *command], env=env,
        stdout_path=workdir / f"{label}.out", stderr_path=workdir / f"{label}.err",
    )
    if code != 0:
        raise BenchmarkError(f"zkCli.sh {' '.join(command)} exited {code}; see {workdir / label}.out")
    return seconds


def heap_for(sessions: int) -> str:
    """ZooKeeper's -Xmx for a store of this size (100k znodes of ~300 B need ~230 MB live).

    Beyond 200k, 4 GB per million sessions (rounded up to whole GB): 1M -> ``4g``.
    """
    if sessions <= 20_000:
        return "256m"
    if sessions <= 50_000:
        return "512m"
    if sessions <= 200_000:
        return "1g"
    return f"{-(-sessions * 4 // 1_000_000)}g"


def _seed_store(server: ZooKeeperServer, scenario_old: Sequence[SeedZnode], scenario_recent: Sequence[SeedZnode],
                counters: Dict[SessionType, int]) -> float:
    """Seed the old sessions on the server's fake clock, the recent ones on the real clock."""
    started = time.perf_counter()
    _seed_znodes(server, scenario_old, counters=counters)
    server.restart(timeout=ZK_START_TIMEOUT_S)
    _seed_znodes(server, scenario_recent)
    return time.perf_counter() - started


def _seed_znodes(server: ZooKeeperServer, znodes: Sequence[SeedZnode],
                 counters: Optional[Dict[SessionType, int]] = None) -> None:
    client = _client(server.connect_string)
    try:
        seed(client, PREFIX, znodes, counters=counters)
    finally:
        client.stop()
        client.close()


def measure_size(sessions: int, *, repeat: int, workdir: Path, log: "Log") -> SizeResult:
    """Seed a store of ``sessions`` sessions in a fresh ZooKeeper and measure everything on it."""
    now_ms = int(time.time() * 1000)
    scenario = build_scenario(
        sessions, seed=SCENARIO_SEED, now_ms=now_ms, retained_finished_apps=RETAINED_FINISHED_APPS
    )
    stale_keys = {key for key, (verdict, _) in scenario.expected.items() if verdict == Verdict.STALE.value}
    stale_znodes = [z for z in scenario.old_znodes if (z.type, int(z.name)) in stale_keys]
    if len(stale_znodes) != len(stale_keys):
        raise BenchmarkError("the scenario has stale sessions among the recent ones; --older-than would skip them")

    with ExitStack() as stack:
        server = ZooKeeperServer(data_dir=workdir / "zk", faketime=OLD_CLOCK, heap=heap_for(sessions))
        stack.callback(server.stop)
        server.start(timeout=ZK_START_TIMEOUT_S)
        seed_seconds = _seed_store(server, scenario.old_znodes, scenario.recent_znodes, scenario.counters)
        yarn = stack.enter_context(YarnDouble(max_completed_apps=RETAINED_FINISHED_APPS))
        yarn.add_apps(scenario.apps)
        log(f"N={sessions:,}: seeded {sessions:,} sessions ({len(stale_keys):,} stale) in {seed_seconds:.1f} s")

        store = ["--zk", server.connect_string, "--prefix", PREFIX, "--yarn", yarn.url]
        # One scan first, not counted: the freshly started server's JVM compiles its read path
        # during its first requests, and every baseline below runs on the warmed server.
        warm_up, _ = run_zkjanitor(["scan", *store], yarn=yarn, workdir=workdir, label="scan")
        log(f"N={sessions:,}: zkjanitor scan (warm-up, not counted): {warm_up.seconds:.2f} s")
        scans = []
        for attempt in range(repeat):
            run, document = run_zkjanitor(["scan", *store], yarn=yarn, workdir=workdir, label="scan")
            _check_scan(document, sessions, len(stale_keys))
            scans.append(run)
            log(f"N={sessions:,}: zkjanitor scan #{attempt + 1}: {run.seconds:.2f} s, {run.peak_rss_mb:.0f} MB")
        # The History Server keeps spark.history.fs.cleaner.maxAge (7 days) of event logs: here, the logs of
        # the applications the RM still remembers; the weeks-old forgotten ones were cleaned up long ago.
        history = stack.enter_context(SparkHistoryDouble())
        for app in scenario.apps:
            history.add_app(app["id"], completed=app.get("state") in ("FINISHED", "FAILED", "KILLED"))
        with_history, history_requests = [], 0
        for _ in range(repeat):
            history.reset_requests()
            run, document = run_zkjanitor(["scan", *store, "--spark-history", history.url], yarn=yarn,
                                          workdir=workdir, label="scan-history")
            _check_scan(document, sessions, len(stale_keys))
            with_history.append(run)
            history_requests = max(history_requests, len(history.requests))
        log(f"N={sessions:,}: zkjanitor scan --spark-history: {median_run(with_history).seconds:.2f} s, "
            f"{history_requests} History Server request(s)")
        pipelined, document = run_zkjanitor(
            ["scan", *store, "--read-method", "pipelined"], yarn=yarn, workdir=workdir, label="scan-pipelined"
        )
        _check_scan(document, sessions, len(stale_keys))
        log(f"N={sessions:,}: zkjanitor scan --read-method pipelined: {pipelined.seconds:.2f} s")

        loop_seconds, read = sequential_get_loop(server.connect_string, PREFIX)
        if read != sessions:
            raise BenchmarkError(f"the get loop read {read} znodes, not {sessions}")
        log(f"N={sessions:,}: sequential kazoo get loop: {loop_seconds:.2f} s")

        prune, document = run_zkjanitor(
            ["prune", *store, "--older-than", OLDER_THAN, "--apply", "--yes",
             "--backup", str(workdir / "backup.jsonl")],
            yarn=yarn, workdir=workdir, label="prune",
        )
        pruned = int(document["deleted"])
        if pruned != len(stale_keys):
            raise BenchmarkError(f"prune deleted {pruned} znodes, not the {len(stale_keys)} stale ones")
        log(f"N={sessions:,}: zkjanitor prune --apply: {prune.seconds:.2f} s ({pruned:,} deleted)")

        deleteall_seconds, deleted, startup, flags = _zkcli_deleteall(server, stale_znodes, workdir)
        version = _zookeeper_version(server)
        log(f"N={sessions:,}: zkCli.sh deleteall: {deleteall_seconds:.2f} s ({deleted:,} znodes)")
    return SizeResult(
        sessions, median_run(scans), pipelined, loop_seconds, prune, pruned,
        deleteall_seconds, deleted, startup, flags, version, tuple(run.seconds for run in scans),
        median_run(with_history), history_requests,
    )


def _check_scan(document: Dict[str, Any], sessions: int, stale: int) -> None:
    """The scan found every seeded session, and exactly the stale ones as stale."""
    summary = document["summary"]
    if summary["sessions"] != sessions or summary["stale"] != stale:
        raise BenchmarkError(
            f"scan found {summary['sessions']} sessions, {summary['stale']} stale; expected {sessions}, {stale}"
        )


def _zkcli_deleteall(
    server: ZooKeeperServer, stale_znodes: Sequence[SeedZnode], workdir: Path
) -> Tuple[float, int, float, str]:
    """Seed a copy of the stale znodes, ``zkCli.sh deleteall`` it; seconds, znodes, JVM start, flags."""
    client = _client(server.connect_string)
    try:
        seed(client, COPY_PREFIX, stale_znodes)
        copy_root = f"/{COPY_PREFIX}"
        znodes = client.get_children(f"{copy_root}/v1")
        total = 2 + len(znodes) + sum(len(client.get_children(f"{copy_root}/v1/{child}")) for child in znodes)
        widest = max(
            children_reply_bytes(client.get_children(f"{copy_root}/v1/{session_type.value}"))
            for session_type in SessionType
        )
    finally:
        client.stop()
        client.close()
    # A Java client refuses a getChildren reply over jute.maxbuffer; an operator would raise it.
    flags = f"-Djute.maxbuffer={RAISED_JUTE_MAXBUFFER}" if widest >= JAVA_CLIENT_MAX_BUFFER * 0.95 else ""
    startup = zkcli(server, workdir, "zkcli-ls", "ls", "/", flags=flags)
    seconds = zkcli(server, workdir, "zkcli-deleteall", "deleteall", copy_root, flags=flags)
    client = _client(server.connect_string)
    try:
        if client.exists(copy_root) is not None:
            raise BenchmarkError(f"zkCli.sh deleteall left {copy_root} behind; see {workdir}/zkcli-deleteall.out")
    finally:
        client.stop()
        client.close()
    return seconds, total, startup, flags


# ----------------------------------------------------------------------------- one million sessions


def top_level_values(path: Path, keys: Sequence[str]) -> Dict[str, Any]:
    """The values of some top-level keys of a JSON document, without loading the rest of it.

    zkjanitor writes its documents indented by two (a session array one
    element per line, deeper), so a line starting with two spaces and a quote
    starts a top-level key. A scan of 1M is a document of some hundreds of MB
    that ``json.load`` would turn into gigabytes here. A document written
    otherwise (not indented) is loaded whole if it is small, else refused.
    """
    wanted = {f'  "{key}": ': key for key in keys}
    found: Dict[str, Any] = {}
    current: Optional[str] = None
    parts: List[str] = []
    closed = False

    def finish() -> None:
        if current is not None:
            found[current] = json.loads("".join(parts).rstrip().rstrip(","))

    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith('  "'):
                finish()
                current = next((key for prefix, key in wanted.items() if line.startswith(prefix)), None)
                parts = [line[len(f'  "{current}": '):]] if current is not None else []
            elif line.startswith("}"):
                finish()
                current, closed = None, True
            elif current is not None:
                parts.append(line)
    if closed and set(found) == set(keys):
        return found
    if path.stat().st_size <= 64 * 1024 * 1024:
        try:
            with open(path, "rb") as whole:
                document = json.load(whole)
        except ValueError:
            document = None
        if isinstance(document, dict) and all(key in document for key in keys):
            return {key: document[key] for key in keys}
    raise BenchmarkError(f"{path.name}: no top-level {', '.join(keys)} in zkjanitor's JSON (or it is cut short)")


def _million_store(sessions: int, now_ms: int) -> Tuple[Scenario, int]:
    """The ``--million`` scenario (``MILLION_MIX``) and its number of stale sessions."""
    gc.disable()  # a million acyclic records: the cyclic collector would only walk them again and again
    try:
        scenario = build_scenario(
            sessions, seed=SCENARIO_SEED, now_ms=now_ms, mix=MILLION_MIX,
            retained_finished_apps=RETAINED_FINISHED_APPS,
        )
    finally:
        gc.enable()
    stale_keys = {key for key, (verdict, _) in scenario.expected.items() if verdict == Verdict.STALE.value}
    if any((z.type, int(z.name)) in stale_keys for z in scenario.recent_znodes):
        raise BenchmarkError("the scenario has stale sessions among the recent ones; --older-than would skip them")
    return scenario, len(stale_keys)


def _count_sessions(connect: str) -> Tuple[int, int]:
    """Session znodes under ``/PREFIX/v1/*`` and the largest getChildren reply in bytes."""
    client = _client(connect)
    try:
        count = widest = 0
        for session_type in SessionType:
            names = client.get_children(f"/{PREFIX}/v1/{session_type.value}")
            count += sum(1 for name in names if name.isdigit())
            widest = max(widest, children_reply_bytes(names))
        return count, widest
    finally:
        client.stop()
        client.close()


def _server_peak_rss_mb(server: ZooKeeperServer) -> float:
    """The ZooKeeper process's high-water mark of resident memory (VmHWM), 0.0 if unknown."""
    process = getattr(server, "_process", None)
    try:
        status = Path(f"/proc/{process.pid}/status").read_text() if process is not None else ""
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def measure_million(sessions: int, *, workdir: Path, log: "Log") -> MillionResult:
    """Seed ``sessions`` sessions (nearly all stale) and measure a table scan, a JSON scan and a prune of them.

    Each command runs once, as its own process (wall time, peak RSS, YARN
    requests): a scan at this size takes long enough that its spread matters
    less than at 10k, and a prune empties the store.
    """
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)
    scenario, stale = _million_store(sessions, now_ms)
    scenario_seconds = time.perf_counter() - started
    apps = scenario.apps
    log(f"N={sessions:,}: built the scenario ({stale:,} stale) in {scenario_seconds:.1f} s")

    heap = heap_for(sessions)
    with ExitStack() as stack:
        server = ZooKeeperServer(data_dir=workdir / "zk", faketime=OLD_CLOCK, heap=heap)
        stack.callback(server.stop)
        server.start(timeout=MILLION_ZK_START_TIMEOUT_S)
        seed_started = time.perf_counter()
        _seed_znodes(server, scenario.old_znodes, counters=scenario.counters)
        recent = scenario.recent_znodes
        del scenario  # the old znodes (most of the benchmark's memory) are no longer needed
        server.restart(timeout=MILLION_ZK_START_TIMEOUT_S)
        _seed_znodes(server, recent)
        seed_seconds = time.perf_counter() - seed_started
        seeded, widest = _count_sessions(server.connect_string)
        if seeded != sessions:
            raise BenchmarkError(f"the store holds {seeded:,} sessions after seeding, not {sessions:,}")
        log(f"N={sessions:,}: seeded in {seed_seconds:.1f} s (ZooKeeper -Xmx{heap}; restart included); "
            f"widest getChildren reply {widest / 2**20:.1f} MB")
        yarn = stack.enter_context(YarnDouble(max_completed_apps=RETAINED_FINISHED_APPS))
        yarn.add_apps(apps)
        store = ["--zk", server.connect_string, "--prefix", PREFIX, "--yarn", yarn.url]
        log(f"N={sessions:,}: not measured at this size: the sequential get loop (~6 min at 1M) and "
            "zkCli.sh deleteall (~3 min)")

        # Not counted: the freshly restarted server's JVM compiles its read path during its first requests.
        warm_up, _ = run_table_scan(store, yarn=yarn, workdir=workdir, label="warm-up", sessions=sessions)
        log(f"N={sessions:,}: zkjanitor scan (warm-up, not counted): {warm_up.seconds:.1f} s")
        scan_table, table_bytes = run_table_scan(store, yarn=yarn, workdir=workdir, label="scan-table",
                                                 sessions=sessions)
        log(f"N={sessions:,}: zkjanitor scan (table): {scan_table.seconds:.1f} s, {scan_table.peak_rss_mb:.0f} MB")

        scan_json, json_bytes, values = run_zkjanitor_to_file(
            ["scan", *store], yarn=yarn, workdir=workdir, label="scan-json", keys=("summary",))
        _check_scan(values, sessions, stale)
        log(f"N={sessions:,}: zkjanitor scan --format json: {scan_json.seconds:.1f} s, "
            f"{scan_json.peak_rss_mb:.0f} MB, {json_bytes / 2**20:.0f} MB of JSON")

        backup = workdir / "backup.jsonl"
        prune, _, values = run_zkjanitor_to_file(
            ["prune", *store, "--older-than", OLDER_THAN, "--apply", "--yes", "--backup", str(backup)],
            yarn=yarn, workdir=workdir, label="prune", keys=("deleted",))
        pruned = int(values["deleted"])
        if pruned != stale:
            raise BenchmarkError(f"prune deleted {pruned:,} znodes, not the {stale:,} stale ones")
        left, _ = _count_sessions(server.connect_string)
        if left != sessions - stale:
            raise BenchmarkError(f"{left:,} sessions are left after the prune, not {sessions - stale:,}")
        backup_bytes = backup.stat().st_size if backup.exists() else 0
        log(f"N={sessions:,}: zkjanitor prune --apply: {prune.seconds:.1f} s, {prune.peak_rss_mb:.0f} MB "
            f"({pruned:,} deleted, {left:,} left; backup {backup_bytes / 2**20:.0f} MB)")
        version = _zookeeper_version(server)
        server_rss = _server_peak_rss_mb(server)
    return MillionResult(
        sessions, stale, scenario_seconds, seed_seconds, widest / 2**20, heap, scan_table, table_bytes,
        scan_json, json_bytes, prune, pruned, backup_bytes, version, server_rss, time.perf_counter() - started,
    )


def run_table_scan(
    store: Sequence[str], *, yarn: YarnDouble, workdir: Path, label: str, sessions: int
) -> Tuple[Run, int]:
    """``zkjanitor scan`` with its default output (the table, for a person), to a file; its Run and output size."""
    stdout_path, stderr_path = workdir / f"{label}.txt", workdir / f"{label}.stderr"
    yarn.reset_requests()
    seconds, rss_mb, code = run_measured(
        zkjanitor_command("scan", *store), env=_child_env(), stdout_path=stdout_path, stderr_path=stderr_path,
        timeout=MILLION_COMMAND_TIMEOUT_S,
    )
    requests = yarn.request_count
    text = stdout_path.read_text(errors="replace")
    if code != 0:
        raise BenchmarkError(f"zkjanitor scan exited {code}: {stderr_path.read_text(errors='replace')[-2000:]}")
    if not re.search(rf"\b{sessions:,}\s+sessions\b", text):
        raise BenchmarkError(f"zkjanitor scan's table does not say {sessions:,} sessions:\n{text[:2000]}")
    stdout_path.unlink()
    return Run(seconds, rss_mb, requests), len(text.encode("utf-8"))


def run_zkjanitor_to_file(
    args: Sequence[str], *, yarn: YarnDouble, workdir: Path, label: str, keys: Sequence[str]
) -> Tuple[Run, int, Dict[str, Any]]:
    """Like :func:`run_zkjanitor`, but reads only ``keys`` of the (large) JSON; its Run, JSON size and those values."""
    stdout_path, stderr_path = workdir / f"{label}.json", workdir / f"{label}.stderr"
    yarn.reset_requests()
    seconds, rss_mb, code = run_measured(
        zkjanitor_command(*args, "--format", "json"), env=_child_env(),
        stdout_path=stdout_path, stderr_path=stderr_path, timeout=MILLION_COMMAND_TIMEOUT_S,
    )
    requests = yarn.request_count
    if code != 0:
        raise BenchmarkError(
            f"zkjanitor {' '.join(args[:1])} exited {code}: {stderr_path.read_text(errors='replace')[-2000:]}"
        )
    size = stdout_path.stat().st_size
    values = top_level_values(stdout_path, keys)
    stdout_path.unlink()
    return Run(seconds, rss_mb, requests), size, values


# ----------------------------------------------------------------------------- environment


def _first_line(args: Sequence[str]) -> str:
    try:
        completed = subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _zookeeper_version(server: ZooKeeperServer) -> str:
    """The server's version, from its ``srvr`` answer."""
    try:
        answer = four_letter_word(server.port, "srvr", timeout=10)
    except OSError:
        return "unknown"
    for line in answer.splitlines():
        if line.startswith("Zookeeper version:"):
            # "3.8.0-${mvngit.commit.id}, built on ...": Debian's build leaves the git id unset.
            return line.split(":", 1)[1].split(",")[0].split("-$")[0].strip()
    return "unknown"


def describe_environment(
    load_start: Tuple[float, float, float], results: Sequence[Union[SizeResult, MillionResult]]
) -> Environment:
    """The machine, its load and the versions of everything measured."""
    zookeeper = sorted({r.zookeeper_version for r in results})
    versions = ", ".join(
        [
            f"zkjanitor {zkjanitor.__version__}",
            f"Python {platform.python_version()}",
            *(f"{name} {metadata.version(name)}" for name in ("kazoo", "click", "rich")),
            f"ZooKeeper {'/'.join(zookeeper)} "
            + ("(server and zkCli.sh)" if any(isinstance(r, SizeResult) for r in results) else "(server)"),
            _first_line(["java", "-version"]),
        ]
    )
    return Environment(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpu=_cpu_model(),
        cpus=os.cpu_count() or 0,
        load_start=load_start,
        load_end=os.getloadavg(),
        system=platform.platform(),
        versions=versions,
    )


# ----------------------------------------------------------------------------- reporting


def ratio_text(value: float, baseline: float) -> str:
    """``0.05`` of the baseline as ``1/20.0``; a value above the baseline as ``2.00x``."""
    if value <= 0 or baseline <= 0:
        return "n/a"
    return f"1/{baseline / value:.1f}" if value <= baseline else f"{value / baseline:.2f}x"


def table(results: Sequence[SizeResult]) -> str:
    """One Markdown table of every figure, with its ratio to its baseline."""
    lines = [
        "| N | measurement | wall s | µs/session | peak RSS MB | YARN requests | ratio to baseline |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]

    def row(result: SizeResult, what: str, seconds: float, run: Optional[Run], ratio: str) -> None:
        rss = f"{run.peak_rss_mb:.0f}" if run else ""
        requests = str(run.yarn_requests) if run else ""
        per_session = seconds / result.sessions * 1e6
        lines.append(
            f"| {result.sessions:,} | {what} | {seconds:.2f} | {per_session:.1f} | {rss} | {requests} | {ratio} |"
        )

    for r in results:
        loop, deleteall = r.get_loop_seconds, r.deleteall_seconds
        row(r, "sequential kazoo `get` loop (baseline)", loop, None, "baseline")
        spread = (f" (median of {len(r.scan_runs)}: {min(r.scan_runs):.2f}–{max(r.scan_runs):.2f} s)"
                  if len(r.scan_runs) > 1 else "")
        row(r, f"`zkjanitor scan` (multiRead){spread}", r.scan.seconds, r.scan,
            f"{ratio_text(r.scan.seconds, loop)} of loop")
        if r.scan_with_history is not None:
            row(r, f"`zkjanitor scan --spark-history` ({r.history_requests} History Server request(s))",
                r.scan_with_history.seconds, r.scan_with_history,
                f"{r.scan_with_history.seconds / r.scan.seconds:.2f}x the scan")
        row(r, "`zkjanitor scan --read-method pipelined`", r.scan_pipelined.seconds, r.scan_pipelined,
            f"{ratio_text(r.scan_pipelined.seconds, loop)} of loop")
        flags = f", {r.zkcli_flags}" if r.zkcli_flags else ""
        row(r, f"`zkCli.sh deleteall` of {r.deleteall_znodes:,} znodes (baseline; JVM start + connect "
               f"{r.zkcli_startup_seconds:.2f} s{flags})", deleteall, None, "baseline")
        row(r, f"`zkjanitor prune --apply` of {r.pruned:,} stale (scan, lock, backup, version checks)",
            r.prune.seconds, r.prune, f"{ratio_text(r.prune.seconds, deleteall)} of deleteall")
    return "\n".join(lines)


def judge(results: Sequence[SizeResult]) -> List[Judgement]:
    """The issue's targets against this run's figures."""
    by_size = {r.sessions: r for r in results}
    at_40k = by_size.get(SCAN_TARGET_SIZE)
    ratio_targets = [
        (f"scan of {SCAN_TARGET_SIZE:,} ≤ 1/{1 / SCAN_MAX_RATIO:.0f} of the sequential get loop",
         SCAN_MAX_RATIO, lambda r: (r.scan.seconds, r.get_loop_seconds)),
        (f"prune --apply of the stale sessions of {SCAN_TARGET_SIZE:,} ≤ 1/{1 / PRUNE_MAX_RATIO:.0f} "
         "of zkCli.sh deleteall of as many", PRUNE_MAX_RATIO, lambda r: (r.prune.seconds, r.deleteall_seconds)),
        (f"fallback (pipelined) scan of {SCAN_TARGET_SIZE:,} ≤ 1/{1 / PIPELINED_MAX_RATIO:.0f} "
         "of the sequential get loop", PIPELINED_MAX_RATIO, lambda r: (r.scan_pipelined.seconds, r.get_loop_seconds)),
    ]
    judgements = []
    for target, limit, figures in ratio_targets:
        if at_40k is None:
            judgements.append(Judgement(target, None, f"not measured (needs N={SCAN_TARGET_SIZE:,} in --sizes)"))
            continue
        value, baseline = figures(at_40k)
        judgements.append(Judgement(
            target, value <= baseline * limit, f"{ratio_text(value, baseline)} ({value:.2f} s vs {baseline:.2f} s)"
        ))
    judgements.append(yarn_requests(results))
    history_target = (f"adding a Spark History Server: one request per run, scan of {SCAN_TARGET_SIZE:,} "
                      f"≤ {HISTORY_MAX_FACTOR:.2f}x without it")
    if at_40k is None or at_40k.scan_with_history is None:
        judgements.append(Judgement(history_target, None, f"not measured (needs N={SCAN_TARGET_SIZE:,} in --sizes)"))
    else:
        factor = at_40k.scan_with_history.seconds / at_40k.scan.seconds
        judgements.append(Judgement(
            history_target, at_40k.history_requests == 1 and factor <= HISTORY_MAX_FACTOR,
            f"{at_40k.history_requests} request(s); {factor:.2f}x ({at_40k.scan_with_history.seconds:.2f} s vs "
            f"{at_40k.scan.seconds:.2f} s)"))
    at_100k = by_size.get(RSS_TARGET_SIZE)
    judgements.append(
        Judgement(f"peak RSS of scan at {RSS_TARGET_SIZE:,} ≤ {RSS_MAX_MB:.0f} MB",
                  at_100k.scan.peak_rss_mb <= RSS_MAX_MB, f"{at_100k.scan.peak_rss_mb:.0f} MB")
        if at_100k else
        Judgement(f"peak RSS of scan at {RSS_TARGET_SIZE:,} ≤ {RSS_MAX_MB:.0f} MB", None,
                  f"not measured (needs N={RSS_TARGET_SIZE:,} in --sizes)")
    )
    judgements.append(linearity(results))
    return judgements


def yarn_requests(results: Sequence[SizeResult]) -> Judgement:
    """Each command sends the same few YARN requests whatever N is."""
    target = f"YARN requests per run ≤ {MAX_YARN_REQUESTS}, independent of N"
    if not results:
        return Judgement(target, None, "not measured")
    per_command = {
        "scan": [r.scan.yarn_requests for r in results],
        "pipelined scan": [r.scan_pipelined.yarn_requests for r in results],
        "prune": [r.prune.yarn_requests for r in results],
    }
    passed = all(max(counts) <= MAX_YARN_REQUESTS and len(set(counts)) == 1 for counts in per_command.values())
    sizes = "/".join(f"{r.sessions:,}" for r in results)
    detail = "; ".join(f"{name} {'/'.join(map(str, counts))}" for name, counts in per_command.items())
    return Judgement(target, passed, f"{detail} (N = {sizes})")


def linearity(results: Sequence[SizeResult]) -> Judgement:
    """Per-session cost of scan and prune must not grow with N (within LINEAR_TOLERANCE)."""
    target = f"cost grows linearly with N (µs/session grows < {LINEAR_TOLERANCE - 1:.0%} per step)"
    ordered = sorted(results, key=lambda r: r.sessions)
    if len(ordered) < 2:
        return Judgement(target, None, "not measured (needs two sizes or more)")
    passed = True
    parts = []
    for name, seconds_of in (("scan", lambda r: r.scan.seconds), ("prune", lambda r: r.prune.seconds)):
        costs = [seconds_of(r) / r.sessions * 1e6 for r in ordered]
        passed = passed and all(later <= earlier * LINEAR_TOLERANCE for earlier, later in zip(costs, costs[1:]))
        marginal = (seconds_of(ordered[-1]) - seconds_of(ordered[0])) / (ordered[-1].sessions - ordered[0].sessions)
        parts.append(f"{name} {' → '.join(f'{c:.1f}' for c in costs)} µs/session "
                     f"(marginal {marginal * 1e6:.1f} µs/session)")
    return Judgement(target, passed, "; ".join(parts))


def judge_million(result: MillionResult) -> List[Judgement]:
    """The issue's memory targets at 1M: peak RSS of each scan and of the prune."""
    n = f"{result.sessions:,}"
    return [
        Judgement(f"peak RSS of scan (table) at {n} ≤ {MILLION_SCAN_RSS_MAX_MB:.0f} MB",
                  result.scan_table.peak_rss_mb <= MILLION_SCAN_RSS_MAX_MB, f"{result.scan_table.peak_rss_mb:,.0f} MB"),
        Judgement(f"peak RSS of scan --format json at {n} ≤ {MILLION_SCAN_RSS_MAX_MB:.0f} MB",
                  result.scan_json.peak_rss_mb <= MILLION_SCAN_RSS_MAX_MB, f"{result.scan_json.peak_rss_mb:,.0f} MB"),
        Judgement(f"peak RSS of prune --apply of {result.pruned:,} stale ≤ {MILLION_PRUNE_RSS_MAX_MB:.0f} MB",
                  result.prune.peak_rss_mb <= MILLION_PRUNE_RSS_MAX_MB, f"{result.prune.peak_rss_mb:,.0f} MB"),
    ]


def million_goals(result: MillionResult) -> List[Judgement]:
    """The issue's time goals at 1M on a 2-core machine: shown as met or not, never a failed target."""
    scans = (result.scan_table.seconds, result.scan_json.seconds)
    return [
        Judgement(f"scan of {result.sessions:,} ≤ {MILLION_SCAN_GOAL_S:.0f} s (table and JSON)",
                  max(scans) <= MILLION_SCAN_GOAL_S, f"table {scans[0]:.1f} s, JSON {scans[1]:.1f} s"),
        Judgement(f"prune --apply of {result.pruned:,} stale ≤ {MILLION_PRUNE_GOAL_S:.0f} s",
                  result.prune.seconds <= MILLION_PRUNE_GOAL_S, f"{result.prune.seconds:.1f} s"),
    ]


def million_lines(result: MillionResult) -> List[str]:
    """The ``--million`` part of the printout: store, table, targets, goals, durations."""
    n = result.sessions
    lines = [
        f"{n:,} sessions (--million): {result.stale:,} stale, {n - result.stale:,} live, unknown or corrupt; "
        f"ZooKeeper -Xmx{result.zookeeper_heap}"
        + (f" (its peak RSS {result.zookeeper_peak_rss_mb:,.0f} MB)" if result.zookeeper_peak_rss_mb else "")
        + f"; widest getChildren reply {result.widest_children_mb:.1f} MB",
        "",
        "| N | measurement | wall s | µs/session | peak RSS MB | YARN requests | output |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    rows = [
        ("`zkjanitor scan` (table, to a file)", result.scan_table, f"{result.scan_table_bytes / 1024:.1f} kB"),
        ("`zkjanitor scan --format json` (to a file)", result.scan_json,
         f"{result.scan_json_bytes / 2**20:,.0f} MB of JSON"),
        (f"`zkjanitor prune --older-than {OLDER_THAN} --apply` of {result.pruned:,} stale "
         "(scan, lock, backup, version checks)", result.prune, f"backup {result.backup_bytes / 2**20:,.0f} MB"),
    ]
    for what, run, output in rows:
        lines.append(f"| {n:,} | {what} | {run.seconds:.2f} | {run.seconds / n * 1e6:.1f} | "
                     f"{run.peak_rss_mb:,.0f} | {run.yarn_requests} | {output} |")
    lines += [
        "",
        f"Not measured at {n:,}: the baselines (the sequential kazoo get loop would take ~6 min at 1M, "
        "zkCli.sh deleteall ~3 min).",
        f"Targets at {n:,} sessions:",
    ]
    for judgement in judge_million(result):
        mark = {True: "PASS", False: "FAIL", None: "----"}[judgement.passed]
        lines.append(f"  {mark}  {judgement.target}: {judgement.detail}")
    lines.append("Goals (on a 2-core machine; shown, not judged as targets):")
    for goal in million_goals(result):
        lines.append(f"  goal {'met' if goal.passed else 'NOT met'}: {goal.target}: {goal.detail}")
    lines += [
        f"The {n:,} run took {result.total_seconds:.0f} s: building the scenario {result.scenario_seconds:.0f} s, "
        f"seeding {result.seed_seconds:.0f} s (a restart included), then a warm-up scan (not counted), "
        "the three commands (one run each; wall times include Python's start-up) and checks.",
    ]
    return lines


def report(results: Sequence[SizeResult], environment: Environment, million: Optional[MillionResult] = None) -> str:
    """The whole printout: table, targets, the 1M measurement if any, machine."""
    judgements = judge(results) if results else []
    failed = [j for j in judgements if j.passed is False]
    lines = [f"zkjanitor benchmark, {environment.date}"]
    if results:
        lines += [
            "",
            table(results),
            "",
            "Targets (ratios from this one run; µs/session = wall time / N):",
        ]
    for judgement in judgements:
        mark = {True: "PASS", False: "FAIL", None: "----"}[judgement.passed]
        lines.append(f"  {mark}  {judgement.target}: {judgement.detail}")
    if million is not None:
        failed += [j for j in judge_million(million) if j.passed is False]
        lines += ["", *million_lines(million)]
    lines += [
        "",
        f"Machine: {environment.cpus} CPUs ({environment.cpu}), {environment.system}",
        "Load average (1/5/15 min): at start " + " ".join(f"{x:.2f}" for x in environment.load_start)
        + ", at end " + " ".join(f"{x:.2f}" for x in environment.load_end),
        f"Versions: {environment.versions}",
    ]
    if results:
        lines += [
            "zkjanitor scan: the median of its runs; every other figure: one run. Wall times include",
            "process start-up for zkjanitor and zkCli.sh (JVM), but not for the get loop.",
        ]
    if failed:
        banner = f"*** {len(failed)} TARGET(S) FAILED: " + "; ".join(j.target for j in failed) + " ***"
        lines += ["", banner]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- entry point


class Log:
    """Progress lines on stderr, so stdout holds only the report."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.started = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)


def _sizes(text: str) -> List[int]:
    try:
        sizes = [int(part.replace("_", "").replace("k", "000")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants numbers like 10k,40k,100k, not {text!r}") from None
    if not sizes or min(sizes) < 100:
        raise argparse.ArgumentTypeError("every size must be at least 100")
    return sizes


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=_sizes, help="store sizes, e.g. 10k,40k,100k (the default)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: N={','.join(map(str, QUICK_SIZES))}, scans run once")
    parser.add_argument("--repeat", type=int, help="runs of zkjanitor scan per N; the median counts (default 5)")
    parser.add_argument("--million", action="store_true",
                        help=f"measure {MILLION:,} sessions instead (make bench-1m): scan (table), scan --format "
                             "json and prune --apply, one run each, no baselines; the sizes of --sizes, if given, "
                             "run first. Takes about 2 minutes")
    parser.add_argument("--million-sessions", type=_sizes, metavar="N",
                        help=f"with --million: another N than {MILLION:,} (e.g. 20k for a smoke run of that path)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.million_sessions is not None:
        if not args.million or len(args.million_sessions) != 1:
            parser.error("--million-sessions wants one size, and --million")
        args.million_sessions = args.million_sessions[0]
    else:
        args.million_sessions = MILLION
    if args.million and args.quick:
        parser.error("--quick and --million do not go together (--million --million-sessions 20k is a quick one)")
    args.sizes = args.sizes or ([] if args.million else list(QUICK_SIZES if args.quick else DEFAULT_SIZES))
    args.repeat = args.repeat or (1 if args.quick else 5)
    if not 1 <= args.repeat <= 10:
        parser.error("--repeat must be between 1 and 10")
    return args


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def measure(sizes: Sequence[int], *, repeat: int, log: Log) -> Iterator[SizeResult]:
    """Measure each size in its own ZooKeeper and temporary directory, removed afterwards."""
    for sessions in sizes:
        workdir = Path(tempfile.mkdtemp(prefix=f"zkjanitor-bench-{sessions}-"))
        try:
            yield measure_size(sessions, repeat=repeat, workdir=workdir, log=log)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def measure_million_in_tempdir(sessions: int, *, log: Log) -> MillionResult:
    """:func:`measure_million` in a temporary directory of its own, removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=f"zkjanitor-bench-{sessions}-"))
    try:
        return measure_million(sessions, workdir=workdir, log=log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def compile_bytecode() -> None:
    """Byte-compile zkjanitor, as pip does when it installs it.

    With PYTHONDONTWRITEBYTECODE set (CI images and sandboxes often set it),
    every run of the CLI would compile zkjanitor's sources again, a cost an
    installed zkjanitor never pays. ``__pycache__`` is git-ignored.
    """
    compileall.compile_dir(str(Path(zkjanitor.__file__).parent), quiet=1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if not ZKCLI.exists():
        print(f"zkjanitor benchmark: {ZKCLI} not found; run `make setup`", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    log = Log(args.quiet)
    compile_bytecode()
    load_start = os.getloadavg()
    try:
        results = list(measure(args.sizes, repeat=args.repeat, log=log))
        million = measure_million_in_tempdir(args.million_sessions, log=log) if args.million else None
    except KeyboardInterrupt:
        print("zkjanitor benchmark: interrupted; servers stopped and temporary files removed", file=sys.stderr)
        return 130
    except BenchmarkError as error:
        print(f"zkjanitor benchmark: INVALID RUN: {error}", file=sys.stderr)
        return 1
    measured: List[Union[SizeResult, MillionResult]] = [*results, *([million] if million else [])]
    text = report(results, describe_environment(load_start, measured), million)
    log(f"done in {time.monotonic() - log.started:.0f} s")
    print(text, flush=True)
    if "TARGET(S) FAILED" in text:
        print(text.splitlines()[-1], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
