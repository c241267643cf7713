"""`make bench` cannot rot: its quick mode runs end to end and it judges the targets right.

Also the property the benchmark reports at scale, checked cheaply: one scan asks
YARN the same few questions whatever the number of sessions. Nothing here
asserts a duration; the benchmark compares speeds itself, side by side.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from types import ModuleType

import pytest

from tests.support.helpers import run_cli, seed_scenario
from tests.support.paths import REPO
from zkjanitor.testing.zkserver import ZKCLI

BENCHMARK = REPO / "benchmarks" / "run.py"
MEASUREMENT_ROWS = (
    "sequential kazoo `get` loop (baseline)",
    "`zkjanitor scan` (multiRead)",
    "`zkjanitor scan --read-method pipelined`",
    "`zkCli.sh deleteall` of",
    "`zkjanitor prune --apply` of",
)


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zkjanitor_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuples look their module up
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


@pytest.mark.timeout(300)
@pytest.mark.skipif(not ZKCLI.exists(), reason="zkCli.sh (Debian's zookeeper package) is not installed")
def test_quick_run_measures_everything_and_prints_the_report():
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZKJANITOR_")}
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--quiet"],
        capture_output=True, text=True, timeout=280, env=env, check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = completed.stdout
    size = f"| {bench.QUICK_SIZES[0]:,} |"
    for row in MEASUREMENT_ROWS:
        assert any(line.startswith(size) and row in line for line in report.splitlines()), row
    assert f"PASS  YARN requests per run ≤ {bench.MAX_YARN_REQUESTS}" in report
    assert "not measured (needs N=40,000 in --sizes)" in report
    for heading in ("Targets", "Machine:", "Load average", "Versions:", "ZooKeeper 3."):
        assert heading in report


def size_result(sessions: int, *, scan: float, loop: float, pipelined: float, prune: float, deleteall: float,
                rss: float = 60.0, requests: int = 2, with_history: float = 0.0, history_requests: int = 1):
    def run(seconds: float):
        return bench.Run(seconds, rss, requests)

    return bench.SizeResult(
        sessions=sessions, scan=run(scan),
        scan_pipelined=run(pipelined), get_loop_seconds=loop, prune=run(prune), pruned=sessions * 9 // 10,
        deleteall_seconds=deleteall, deleteall_znodes=sessions * 9 // 10 + 4, zkcli_startup_seconds=0.7,
        zkcli_flags="", zookeeper_version="3.8.0",
        scan_with_history=run(with_history or scan * 1.05), history_requests=history_requests,
    )


def test_targets_are_judged_on_the_issue_ratios():
    passing = [
        size_result(10_000, scan=0.4, loop=5.0, pipelined=2.0, prune=0.6, deleteall=3.3),
        size_result(40_000, scan=0.9, loop=19.0, pipelined=8.0, prune=2.5, deleteall=11.0),
        size_result(100_000, scan=2.0, loop=41.0, pipelined=18.0, prune=5.0, deleteall=19.0, rss=150.0),
    ]
    assert [j.passed for j in bench.judge(passing)] == [True] * 7
    assert "FAILED" not in bench.report(passing, environment())

    failing = [
        size_result(10_000, scan=0.4, loop=5.0, pipelined=2.0, prune=0.6, deleteall=3.3, requests=2),
        size_result(40_000, scan=1.0, loop=19.0, pipelined=10.0, prune=3.0, deleteall=11.0, requests=3,
                    with_history=1.2),
        size_result(100_000, scan=4.0, loop=41.0, pipelined=18.0, prune=9.0, deleteall=19.0, rss=250.0),
    ]
    verdicts = {j.target.split(" ")[0] + " " + j.target.split(" ")[1]: j.passed for j in bench.judge(failing)}
    assert verdicts == {
        "scan of": False,  # 1/19 of the loop
        "prune --apply": False,  # 1/3.7 of deleteall
        "fallback (pipelined)": False,  # 1/1.9 of the loop
        "YARN requests": False,  # 2, 3, 2: depends on N
        "adding a": False,  # the History Server costs 20% of the scan
        "peak RSS": False,
        "cost grows": False,  # scan 40 -> 25 -> 40 µs/session
    }
    assert "*** 7 TARGET(S) FAILED" in bench.report(failing, environment())


def test_ratios_read_as_fractions_of_the_baseline():
    assert bench.ratio_text(1.0, 20.0) == "1/20.0"
    assert bench.ratio_text(3.0, 2.0) == "1.50x"
    assert bench.ratio_text(0.0, 2.0) == "n/a"


def environment():
    return bench.Environment("2026-11-23 12:00 UTC", "test CPU", 2, (0.1, 0.2, 0.3), (0.1, 0.2, 0.3), "Linux", "x")


def test_a_scan_asks_yarn_the_same_few_questions_for_100_or_5000_sessions(zk_client, zk_server, prefix, yarn_rm):
    requests = {}
    for sessions in (100, 5000):
        store = f"{prefix}-{sessions}"
        seed_scenario(zk_client, store, yarn_rm, sessions, seed=11, recent=True)
        yarn_rm.reset_requests()

        result = run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", store,
                          "--yarn", yarn_rm.url, "--format", "json"])

        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["summary"]["sessions"] == sessions
        requests[sessions] = yarn_rm.request_count

    assert requests[100] == requests[5000] <= bench.MAX_YARN_REQUESTS
