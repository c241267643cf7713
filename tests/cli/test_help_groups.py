"""``--help`` leads with what matters: options grouped, environment variables shown, no option that does nothing."""

from __future__ import annotations

import re

import pytest

from tests.support.helpers import run_cli

GROUPS = ["Selection options", "Safety options", "Output options", "Connection options", "Authentication options"]


def sections(text: str) -> dict:
    """Section title -> the option names listed under it."""
    found: dict = {}
    current = None
    for line in text.splitlines():
        if re.match(r"^[A-Z][a-z]+ options:$", line):
            current = line[:-1]
            found[current] = []
        elif current and re.match(r"^  (-\w, )?--[\w-]+", line):
            found[current].append(re.search(r"--[\w-]+", line).group(0))
    return found


def test_prune_help_puts_selection_and_safety_first_and_shows_env_vars():
    text = run_cli(["prune", "--help"]).stdout
    groups = sections(text)

    assert [title for title in groups if title in GROUPS] == GROUPS
    assert list(groups)[:2] == GROUPS[:2]
    assert "--older-than" in groups["Selection options"] and "--apply" in groups["Safety options"]
    assert "--zk" in groups["Connection options"] and "--zk-sasl" in groups["Authentication options"]
    assert "[env var: ZKJANITOR_ZK]" in " ".join(text.split())


@pytest.mark.parametrize("command", ["restore", "counter"])
def test_commands_that_never_ask_a_source_do_not_offer_its_options(command):
    text = run_cli([command, "--help"]).stdout

    for option in ("--yarn", "--livy ", "--spark-history", "--grace", "--trust-yarn-absence"):
        assert option not in text, option
