"""Every command's --help has an Examples section, and every example runs as written.

Each example runs as a real ``zkjanitor`` process against a real ZooKeeper and
the YARN double, with the least possible translation:

- ``zk1:2181`` (any ``zkN:2181``) becomes the test ZooKeeper, under a chroot of
  the example's own that holds a seeded Livy store (``/spark`` inside it holds
  another one, for examples that show a chroot);
- ``http://rm1:8088`` becomes the active ResourceManager double,
  ``http://rm2:8088`` a standby that points at it;
- files the example names (livy.conf, a config file, a prune backup, a metrics
  file) are made in a temporary working directory;
- a pipe (``| jq ...``) is dropped, and what would have gone into it must be JSON;
- ``ZKJANITOR_ZK`` and ``ZKJANITOR_YARN`` are set, as the README's quick start
  does, for examples that leave out ``--zk`` and ``--yarn``;
- standard input is a terminal that answers "y", so an example that asks for
  confirmation gets it.

An example passes when it exits with a code its command documents, prints no
usage error or traceback, gives JSON where it promises JSON, and makes the
files it names (a metrics file must hold only metrics docs/automation.md
describes).

The store's sessions are 10 days old (a ZooKeeper under faketime), so
``prune --older-than 1d`` has something to delete.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from tests.support.helpers import run_cli
from tests.support.paths import REPO
from zkjanitor.cli import cli
from zkjanitor.testing.seeder import build_scenario, seed

ROOT = "zkjanitor"
EXIT_CODES: Dict[str, Set[int]] = {
    ROOT: {0},
    "scan": {0},
    "prune": {0},
    "check": {0, 1},
    "restore": {0},
    "doctor": {0, 1},
    "counter": {0, 1},
}
"""What each command documents for a reachable, healthy ZooKeeper and YARN (1: a limit or finding)."""

EXAMPLE_TIMEOUT = 120
AUTOMATION_DOC = REPO / "docs" / "automation.md"
ZK_HOSTS = re.compile(r"(?:zk\d+:2181,?)+(?P<chroot>/\S*)?")
YARN_URLS = {"http://rm1:8088": "active", "http://rm2:8088": "standby"}
FILE_SUFFIXES = (".conf", ".toml", ".jsonl", ".prom")


def help_text(command: str) -> str:
    args = [] if command == ROOT else [command]
    result = run_cli([*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.stdout


def examples_in(text: str) -> List[str]:
    """The lines of the help's Examples section (empty when there is none)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "Examples:"]
    if not starts:
        return []
    examples = []
    for line in lines[starts[0] + 1:]:
        if not line.strip():
            break
        examples.append(line.strip())
    return examples


COMMANDS = [ROOT, *cli.commands]
EXAMPLES = [
    pytest.param(command, example, id=f"{command}-{number}")
    for command in COMMANDS
    for number, example in enumerate(examples_in(help_text(command)), start=1)
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples_of_itself(command):
    examples = examples_in(help_text(command))
    assert examples, f"`zkjanitor {command} --help` has no Examples section"
    for example in examples:
        assert example.startswith("zkjanitor "), f"not a zkjanitor command line: {example!r}"
    if command != ROOT:
        for example in examples:
            assert command_of(shlex.split(example, comments=True)[1:]) == command, example
    assert command in EXIT_CODES, f"add the exit codes `zkjanitor {command}` documents to EXIT_CODES"


def command_of(args: List[str]) -> str:
    """The subcommand an argument list runs (the root group when none)."""
    words = iter(args)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word in cli.commands:
            return word
    return ROOT


class Store:
    """A seeded Livy store, the YARN doubles and a working directory for one example."""

    def __init__(self, server, client, yarn_rm, yarn_standby, workdir: Path) -> None:
        self.root = f"/examples-{uuid.uuid4().hex[:10]}"
        self.connect = f"{server.connect_string}{self.root}"
        self.urls = {"active": yarn_rm.url, "standby": yarn_standby.url}
        self.workdir = workdir
        scenario = build_scenario(80, seed=11, now_ms=int(time.time() * 1000))
        for chroot in (self.root, f"{self.root}/spark"):
            client.chroot = ""
            client.ensure_path(chroot)
            client.chroot = chroot
            seed(client, "livy", scenario.old_znodes, counters=scenario.counters)
        client.chroot = ""
        yarn_rm.add_apps(scenario.apps)

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZKJANITOR_") and k != "FORCE_COLOR"}
        env.update(ZKJANITOR_ZK=self.connect, ZKJANITOR_YARN=self.urls["active"])
        return env

    def local_connect(self, value: str) -> str:
        """``zk1:2181[,zk2:2181][/chroot]`` -> the test server, under this store's root."""
        chroot = ZK_HOSTS.fullmatch(value).group("chroot") or ""
        return f"{self.connect}{chroot}"

    def make_file(self, name: str) -> Path:
        """A file an example names, made (or, for an output, left to be made) in the working directory."""
        path = self.workdir / Path(name).name
        if path.name == "livy.conf":
            path.write_text(
                "livy.server.recovery.mode = recovery\n"
                "livy.server.recovery.state-store = zookeeper\n"
                f"livy.server.recovery.state-store.url = {self.connect}\n"
            )
        elif path.suffix == ".toml":
            path.write_text(
                f'zk = "{self.connect}"\nyarn = ["{self.urls["active"]}"]\n\n'
                "[check]\nmax-sessions = 5000\nmax-stale = 500\n"
            )
        elif path.name.startswith("zkjanitor-backup-") and path.suffix == ".jsonl":
            made = run_cli(["prune", "--zk", self.connect, "--yarn", self.urls["active"], "--older-than", "1d",
                            "--apply", "--yes", "--backup", str(path)])
            assert made.exit_code == 0 and path.exists(), made.output
        elif path.suffix != ".prom":
            pytest.fail(f"the example names {name}: teach this test to make it, or change the example")
        return path

    def translate(self, words: List[str]) -> Tuple[List[str], List[Path]]:
        """The example's arguments for this store, and the files it names."""
        args, files = [], []
        for word in words:
            if ZK_HOSTS.fullmatch(word):
                word = self.local_connect(word)
            elif word in YARN_URLS:
                word = self.urls[YARN_URLS[word]]
            elif word.startswith("/") or word.endswith(FILE_SUFFIXES):
                path = self.make_file(word)
                files.append(path)
                word = str(path)
            args.append(word)
        return args, files


@pytest.fixture
def store(old_zk_server, old_zk_client, yarn_rm, yarn_standby, tmp_path) -> Store:
    return Store(old_zk_server, old_zk_client, yarn_rm, yarn_standby, tmp_path)


def run_in_terminal(args: List[str], env: Dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run zkjanitor with a terminal on stdin that has "y" typed in; stdout and stderr captured."""
    main, terminal = pty.openpty()
    try:
        os.write(main, b"y\n")
        return subprocess.run([sys.executable, "-m", "zkjanitor", *args], stdin=terminal, capture_output=True,
                              text=True, env=env, cwd=cwd, timeout=EXAMPLE_TIMEOUT, check=False)
    finally:
        os.close(main)
        os.close(terminal)


@pytest.mark.parametrize("command, example", EXAMPLES)
def test_example_runs_as_documented(command, example, store):
    words = shlex.split(example, comments=True)
    piped = "|" in words
    if piped:
        words = words[:words.index("|")]
    assert words[0] == "zkjanitor"
    args, files = store.translate(words[1:])
    result = run_in_terminal(args, store.env(), store.workdir)
    runs = command_of(args)
    shown = (f"{example}\n(ran: zkjanitor {shlex.join(args)})\n"
             f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr}")
    assert result.returncode in EXIT_CODES[runs], shown
    for sign in ("Traceback", "internal error", "Usage:", "Error:"):
        assert sign not in result.stderr, shown
    if piped or "json" in args:
        json.loads(result.stdout)
    if "--apply" in args and "--yes" not in args:
        assert "[y/N]" in result.stderr, shown  # it asked before changing anything
    for path in files:
        assert path.exists(), f"{path.name} was not made\n{shown}"
        if path.suffix == ".prom":
            metrics = path.read_text()
            assert f'zkjanitor_last_run_exit_code{{command="{runs}"}} {result.returncode}' in metrics
            documented = AUTOMATION_DOC.read_text(encoding="utf-8")
            for name in re.findall(r"^# TYPE (\S+) ", metrics, re.MULTILINE):
                assert f"`{name}`" in documented, f"metric {name} is not described in docs/automation.md"
