"""The zkjanitor process: how it starts and how it ends.

A run imports only the command it runs, and no table library for JSON: imports
are a fifth of a scan of 40k sessions (see docs/performance.md), and these
tests fail when a top-level import brings back what a run does not use. It
ends with ``os._exit`` (zkjanitor/__main__.py), which must keep the exit code
and every byte of output, and a closed stdout ends it quietly with 141.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List

import pytest

from tests.support.helpers import closed_port, seed_scenario
from zkjanitor.cli import COMMAND_MODULES, cli

RUN_TIMEOUT = 60


def store_env(zk_server, zk_client, prefix, yarn_rm, sessions: int) -> Dict[str, str]:
    seed_scenario(zk_client, prefix, yarn_rm, sessions, seed=9, recent=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZKJANITOR_")}
    return {**clean, "ZKJANITOR_ZK": zk_server.connect_string, "ZKJANITOR_PREFIX": prefix,
            "ZKJANITOR_YARN": yarn_rm.url}


@pytest.fixture
def env(zk_server, zk_client, prefix, yarn_rm) -> Dict[str, str]:
    return store_env(zk_server, zk_client, prefix, yarn_rm, 20)


@pytest.fixture
def big_env(zk_server, zk_client, prefix, yarn_rm) -> Dict[str, str]:
    """Output far larger than a pipe's buffer (64 KiB), so that closing the pipe early is noticed."""
    return store_env(zk_server, zk_client, prefix, yarn_rm, 1500)


REPORT_MODULES = """
import json, sys
sys.argv = ["zkjanitor", *sys.argv[1:]]
from zkjanitor.cli import main
try:
    main()
finally:
    sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
"""
"""Runs the command line as the process does and reports, at its end, every module it imported."""


def run(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    """The real ``python -m zkjanitor`` process."""
    return subprocess.run([sys.executable, "-m", "zkjanitor", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=False)


def imported_by(args: List[str], env: Dict[str, str], expected_exit: int = 0) -> List[str]:
    done = subprocess.run([sys.executable, "-c", REPORT_MODULES, *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=False)
    assert done.returncode == expected_exit, done.stderr[-2000:]
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES "))
    return json.loads(line[len("MODULES "):])


@pytest.mark.parametrize("command", ["scan", "check", "prune"])
def test_a_json_run_imports_its_own_command_and_no_table_library(env, command):
    needed = {"check": ["--max-sessions", "1000"], "prune": ["--older-than", "1d"]}
    args = [command, "--format", "json", *needed.get(command, [])]
    modules = imported_by(args, env)
    assert COMMAND_MODULES[command] in modules
    assert not [m for m in modules if m == "rich" or m.startswith("rich.")], "rich is for tables only"
    # check and prune reuse scan's reading step; nothing else loads another command.
    others = {module for name, module in COMMAND_MODULES.items() if name not in (command, "scan")}
    assert not others & set(modules), "other commands' modules stay unloaded"


def test_a_table_run_does_load_rich(env):
    assert "rich.table" in imported_by(["scan"], env)


def test_every_command_is_listed_in_the_docs_order_and_runs_by_name():
    assert list(cli.commands) == ["scan", "prune", "check", "restore", "doctor", "counter"]
    for name in COMMAND_MODULES:
        assert cli.commands[name].name == name


def test_the_fast_exit_keeps_the_exit_code_and_every_byte_of_output(env):
    done = run(["scan", "--format", "json"], env)
    assert done.returncode == 0
    assert len(json.loads(done.stdout)["sessions"]) == 20
    unreachable = run(["scan", "--zk", f"127.0.0.1:{closed_port()}", "--timeout", "1"], env)
    assert unreachable.returncode == 3
    assert "zkjanitor: error: cannot connect to ZooKeeper" in unreachable.stderr


@pytest.mark.parametrize("output", [["--format", "json"], ["--show", "all"]])
def test_a_reader_that_stops_early_ends_the_run_quietly_with_141(big_env, output):
    """`zkjanitor scan | head -1`: stdout closes under zkjanitor; no error message, the SIGPIPE convention."""
    process = subprocess.Popen([sys.executable, "-m", "zkjanitor", "scan", *output], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=big_env)
    process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 141
    assert b"error" not in stderr and b"Traceback" not in stderr


@pytest.mark.parametrize("debug, atexit_runs", [(None, False), ("1", True)])
def test_the_fast_exit_gives_way_to_a_normal_one_for_debugging_and_coverage(debug, atexit_runs):
    """os._exit skips atexit handlers: coverage would record nothing. ZKJANITOR_DEBUG (or a tracer) keeps them."""
    code = ("import atexit, sys; atexit.register(lambda: print('atexit ran', file=sys.stderr)); "
            "sys.argv = ['zkjanitor', '--version']; from zkjanitor.__main__ import main; main()")
    env = {k: v for k, v in os.environ.items() if k != "ZKJANITOR_DEBUG"}
    if debug:
        env["ZKJANITOR_DEBUG"] = debug
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=RUN_TIMEOUT)
    assert done.returncode == 0 and "zkjanitor, version" in done.stdout
    assert ("atexit ran" in done.stderr) is atexit_runs
