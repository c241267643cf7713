"""Malformed command lines: one line on stderr, exit 2, nothing on stdout, no traceback.

A cron job's log should say in one line what was wrong with the invocation.
Every case here is refused before zkjanitor talks to ZooKeeper or YARN (the
addresses given point nowhere), so a mistake can never reach production state.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import List

import pytest

from tests.support.helpers import closed_port, run_cli

NOWHERE = f"127.0.0.1:{closed_port()}"
"""A ZooKeeper address that refuses connections: any case that got that far would exit 3."""
HEADER = json.dumps({"format": "zkjanitor-backup", "format_version": 1}) + "\n"


def _entry(**fields: object) -> str:
    record = {"path": "/livy/v1/batch/1", "data_b64": base64.b64encode(b"{}").decode(), "ctime": 1, "mtime": 1,
              "version": 0}
    record.update(fields)
    return json.dumps(record) + "\n"


BACKUPS = {
    "missing": None,
    "empty": "",
    "not-json": "this is not json\nnor this\n",
    "wrong-header": json.dumps({"format": "zk-shell-backup"}) + "\n",
    "future-format": json.dumps({"format": "zkjanitor-backup", "format_version": 99}) + "\n",
    "bad-base64": HEADER + _entry(data_b64="!!not base64!!"),
    "relative-path": HEADER + _entry(path="livy/v1/batch/1"),
    "dot-dot-path": HEADER + _entry(path="/livy/../etc"),
    "negative-version": HEADER + _entry(version=-1),
    "missing-field": HEADER + json.dumps({"path": "/livy/v1/batch/1"}) + "\n",
    "duplicate-path": HEADER + _entry() + _entry(),
    "not-utf8": HEADER.encode().decode() + "\udcff\n",
    "torn-line-in-the-middle": HEADER + _entry()[:20] + "\n" + _entry(path="/livy/v1/batch/2"),
}


def _backup_file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.jsonl"
    content = BACKUPS[name]
    if content is not None:
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    return path


CASES = {
    # durations
    "duration-without-unit": (["prune", "--older-than", "10"], "add a unit"),
    "duration-words": (["prune", "--older-than", "ten days"], "invalid duration"),
    "duration-negative": (["prune", "--older-than", "-1d"], "invalid duration"),
    "duration-unknown-unit": (["prune", "--older-than", "1y"], "invalid duration"),
    "duration-empty": (["prune", "--older-than", ""], "invalid duration"),
    "duration-absurd": (["prune", "--older-than", "99999999999999999999d"], "longer than 100 years"),
    "duration-missing": (["prune"], "prune needs --older-than DURATION"),
    "grace-bad": (["scan", "--grace", "soon"], "invalid duration"),
    # sizes and counts
    "size-words": (["check", "--max-bytes", "lots"], "invalid size"),
    "size-negative": (["check", "--max-bytes", "-5MB"], "invalid size"),
    "size-fractional-bytes": (["check", "--max-bytes", "1.5B"], "whole number"),
    "size-unknown-unit": (["check", "--max-bytes", "5XB"], "unknown unit"),
    "count-negative": (["check", "--max-sessions", "-1"], "--max-sessions"),
    "batch-size-zero": (["prune", "--older-than", "1d", "--batch-size", "0"], "--batch-size"),
    "batch-size-too-big": (["prune", "--older-than", "1d", "--batch-size", "1001"], "--batch-size"),
    "pause-negative": (["prune", "--older-than", "1d", "--pause", "-1"], "--pause"),
    "limit-zero": (["prune", "--older-than", "1d", "--limit", "0"], "--limit"),
    "timeout-zero": (["scan", "--timeout", "0"], "--timeout"),
    # URLs
    "url-scheme": (["scan", "--yarn", "ftp://rm:8088"], "invalid --yarn URL"),
    "url-no-host": (["scan", "--yarn", "http://"], "invalid --yarn URL"),
    "url-bad-port": (["scan", "--yarn", "http://rm:notaport"], "invalid --yarn URL"),
    "url-credentials": (["scan", "--yarn", "http://user:secret@rm:8088"], "do not put credentials"),
    "url-query": (["scan", "--yarn", "http://rm:8088/?user.name=x"], "without ?query"),
    "url-bare-word": (["scan", "--yarn", "rm1"], "invalid --yarn URL"),
    # connect strings
    "zk-empty": (["scan", "--zk", ""], "--zk"),
    "zk-blank": (["scan", "--zk", "   "], "--zk is empty"),
    "zk-no-port": (["scan", "--zk", "zk1"], "invalid ZooKeeper address"),
    "zk-port-zero": (["scan", "--zk", "zk1:0"], "invalid ZooKeeper address"),
    "zk-port-too-big": (["scan", "--zk", "zk1:65536"], "invalid ZooKeeper address"),
    "zk-empty-host": (["scan", "--zk", "zk1:2181,,zk2:2181"], "invalid ZooKeeper address"),
    "zk-scheme": (["scan", "--zk", "zookeeper://zk1:2181"], "invalid ZooKeeper address"),
    "zk-chroot-trailing-slash": (["scan", "--zk", f"{NOWHERE}/apps/"], "invalid chroot"),
    "zk-chroot-double-slash": (["scan", "--zk", f"{NOWHERE}//apps"], "invalid chroot"),
    "zk-chroot-dot": (["scan", "--zk", f"{NOWHERE}/apps/./livy"], "invalid chroot"),
    "prefix-empty": (["scan", "--zk", NOWHERE, "--prefix", ""], "--prefix"),
    "prefix-slash": (["scan", "--zk", NOWHERE, "--prefix", "/"], "--prefix"),
    "prefix-dot": (["scan", "--zk", NOWHERE, "--prefix", "."], "--prefix: invalid prefix '.': it has a '.' component"),
    "prefix-dotdot": (["prune", "--zk", NOWHERE, "--prefix", "..", "--older-than", "1d"], "a '..' component"),
    "prefix-dotdot-inside": (["check", "--zk", NOWHERE, "--prefix", "livy/../livy", "--max-sessions", "1"],
                             "invalid prefix 'livy/../livy'"),
    "prefix-double-slash": (["scan", "--zk", NOWHERE, "--prefix", "livy//x"], "an empty component"),
    "prefix-control-character": (["scan", "--zk", NOWHERE, "--prefix", "livy\x01"], "a control character"),
    # choices and unknown options
    "zk-before-command": (["--zk", NOWHERE, "scan"], "(options go after the command: zkjanitor scan --zk ...)"),
    "format-unknown": (["scan", "--format", "xml"], "--format"),
    "type-unknown": (["scan", "--type", "streaming"], "--type"),
    "option-unknown": (["scan", "--bogus"], "No such option '--bogus'"),
    "option-before-command": (["--bogus", "scan"], "No such option '--bogus'"),
    "command-unknown": (["purge"], "No such command 'purge'"),
    "apply-without-yes": (["prune", "--zk", NOWHERE, "--yarn", "http://127.0.0.1:1", "--older-than", "1d", "--apply"],
                          "stdin is not a terminal; add --yes"),
    "prune-without-yarn": (["prune", "--zk", NOWHERE, "--older-than", "1d"], "--yarn"),
}


def _assert_one_line_usage_error(args: List[str], result, message: str) -> None:
    assert result.exit_code == 2, (args, result.exit_code, result.stderr)
    assert result.stdout == ""
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("zkjanitor: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, message", list(CASES.values()), ids=list(CASES))
def test_malformed_options_are_one_line_and_exit_2(args, message):
    result = run_cli(args)
    _assert_one_line_usage_error(args, result, message)


@pytest.mark.parametrize("name", list(BACKUPS) + ["directory"])
def test_malformed_backup_files_are_one_line_and_exit_2(tmp_path, name):
    path = tmp_path if name == "directory" else _backup_file(tmp_path, name)
    args = ["restore", str(path), "--zk", NOWHERE, "--apply", "--yes"]
    result = run_cli(args)
    _assert_one_line_usage_error(args, result, str(path))


def test_a_usage_error_names_the_help_to_read():
    result = run_cli(["prune", "--older-than", "ten"])
    assert result.stderr.rstrip().endswith("prune --help)")


def test_no_arguments_at_all_still_shows_the_help():
    result = run_cli([])
    assert "Commands:" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_chroot_that_does_not_exist_is_one_line_naming_it(zk_server):
    result = run_cli(["scan", "--zk", f"{zk_server.connect_string}/no/such/chroot"])
    _assert_one_line_usage_error([], result, "chroot /no/such/chroot")
