"""What a person at a terminal sees, and what cron or a pipe gets instead.

Each test runs the real ``zkjanitor`` process: on a pseudo-terminal (colours,
a transient progress bar on stderr) or with its output piped (neither), with
NO_COLOR, a time zone, ``--utc``, ``-v`` and ``-q``, ``--version`` and shell
completion.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from typing import Dict, List, Tuple

import pytest

from tests.support.helpers import seed_scenario
from zkjanitor import __version__

RUN_TIMEOUT = 60
COLOUR = re.compile(r"\x1b\[(?:\d+;)*(?:3[0-8]|9[0-7])(?:;\d+)*m")
"""An SGR escape that sets a foreground colour (bold and the like are not colours)."""


@pytest.fixture
def env(zk_server, zk_client, prefix, yarn_rm) -> Dict[str, str]:
    """A small store (sessions of every verdict) and the environment that points zkjanitor at it."""
    seed_scenario(zk_client, prefix, yarn_rm, 40, seed=5, recent=True)
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("ZKJANITOR_") and k not in ("NO_COLOR", "FORCE_COLOR", "TZ")}
    return {**clean, "ZKJANITOR_ZK": zk_server.connect_string, "ZKJANITOR_PREFIX": prefix,
            "ZKJANITOR_YARN": yarn_rm.url, "COLUMNS": "200"}


def run_piped(args: List[str], env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zkjanitor", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT, check=False)


def run_on_terminal(args: List[str], env: Dict[str, str]) -> Tuple[int, str]:
    """Run zkjanitor with stdout and stderr on one pseudo-terminal; its exit code and all it showed."""
    main, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "zkjanitor", *args], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env=env)
    os.close(terminal)
    shown = []
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not select.select([main], [], [], 0.5)[0]:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            shown.append(data)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    return code, b"".join(shown).decode("utf-8", "replace")


def test_a_terminal_gets_colours_and_a_progress_bar_that_goes_away(env):
    code, shown = run_on_terminal(["scan", "--show", "all"], env)
    assert code == 0, shown
    assert COLOUR.search(shown), "verdicts are coloured on a terminal"
    assert "reading session znodes" in shown, "a progress bar while reading"
    assert re.search(r"eta[ \x1b\[\dm;]*(\d+:\d\d:\d\d|-:--:--)", shown), "with an estimate of the time left"
    after_bar = shown.rsplit("reading session znodes", 1)[1]
    assert "\x1b[2K" in after_bar, "the progress bar is erased (transient)"


def test_no_color_turns_colours_off_on_a_terminal(env):
    code, shown = run_on_terminal(["scan", "--show", "all"], {**env, "NO_COLOR": "1"})
    assert code == 0, shown
    assert "stale" in shown or "live" in shown
    assert not COLOUR.search(shown), repr(shown[:500])


def test_a_pipe_gets_plain_text_and_no_progress_bar(env):
    result = run_piped(["scan", "--show", "all"], env)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x1b" not in result.stderr
    assert "reading session znodes" not in result.stderr
    assert "Livy state store" in result.stdout


def test_times_are_local_unless_utc(env):
    tokyo = {**env, "TZ": "Asia/Tokyo"}
    local = run_piped(["scan", "--show", "all"], tokyo)
    utc = run_piped(["scan", "--show", "all", "--utc"], tokyo)
    assert local.returncode == utc.returncode == 0, local.stderr + utc.stderr
    assert " JST" in local.stdout and " UTC" not in local.stdout
    assert " UTC" in utc.stdout and " JST" not in utc.stdout
    prune_local = run_piped(["prune", "--older-than", "0s", "--grace", "0s"], tokyo)
    prune_utc = run_piped(["prune", "--older-than", "0s", "--grace", "0s", "--utc"], tokyo)
    assert prune_local.returncode == prune_utc.returncode == 0, prune_local.stderr + prune_utc.stderr
    assert "would-delete" in prune_local.stdout and " JST" in prune_local.stdout
    assert " UTC" in prune_utc.stdout and " JST" not in prune_utc.stdout


def test_verbose_logs_steps_and_quiet_hides_warnings(env):
    no_yarn = {k: v for k, v in env.items() if k != "ZKJANITOR_YARN"}
    default = run_piped(["scan"], no_yarn)
    assert default.returncode == 0, default.stderr
    assert "warning: no application-state source" in default.stderr
    assert "INFO" not in default.stderr
    quiet = run_piped(["scan", "-q"], no_yarn)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    verbose = run_piped(["scan", "-v"], env)
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(r"INFO read and classified \d+ session records under /\S+ \(\w+\) in", verbose.stderr), \
        verbose.stderr


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    result = run_piped([flag], dict(os.environ))
    assert result.returncode == 0
    assert result.stdout == f"zkjanitor, version {__version__}\n"


def test_shell_completion_script_and_completions():
    script = run_piped([], {**os.environ, "_ZKJANITOR_COMPLETE": "bash_source"})
    assert script.returncode == 0
    assert "_zkjanitor_completion()" in script.stdout and "complete " in script.stdout
    words = run_piped([], {**os.environ, "_ZKJANITOR_COMPLETE": "bash_complete",
                           "COMP_WORDS": "zkjanitor scan --fo", "COMP_CWORD": "2"})
    assert words.returncode == 0
    assert "plain,--format" in words.stdout.splitlines()
    commands = run_piped([], {**os.environ, "_ZKJANITOR_COMPLETE": "bash_complete",
                              "COMP_WORDS": "zkjanitor pr", "COMP_CWORD": "1"})
    assert commands.stdout.splitlines() == ["plain,prune"]
