"""Start-up: a run imports only the command it runs, and no table library for JSON.

Imports are a fifth of a scan of 40k sessions (see docs/performance.md); these
tests fail when a top-level import brings back what a run does not use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Dict, List

import pytest

from tests.helpers import seed_scenario
from zkjanitor.cli import COMMAND_MODULES, cli

RUN_TIMEOUT = 60
REPORT_MODULES = """
import atexit, json, runpy, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["zkjanitor", *sys.argv[1:]]
runpy.run_module("zkjanitor", run_name="__main__")
"""
"""Runs the CLI as ``python -m zkjanitor`` does and reports, at exit, every module it imported."""

@pytest.fixture
def env(zk_server, zk_client, prefix, yarn_rm) -> Dict[str, str]:
    seed_scenario(zk_client, prefix, yarn_rm, 20, seed=9, recent=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZKJANITOR_")}
    return {**clean, "ZKJANITOR_ZK": zk_server.connect_string, "ZKJANITOR_PREFIX": prefix,
            "ZKJANITOR_YARN": yarn_rm.url}


def imported_by(args: List[str], env: Dict[str, str], expected_exit: int = 0) -> List[str]:
    run = subprocess.run([sys.executable, "-c", REPORT_MODULES, *args], capture_output=True, text=True, env=env,
                         stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=False)
    assert run.returncode == expected_exit, run.stderr
    line = next(line for line in run.stderr.splitlines() if line.startswith("MODULES "))
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
    assert list(cli.commands) == ["scan", "prune", "check", "restore", "doctor"]
    for name in COMMAND_MODULES:
        assert cli.commands[name].name == name
