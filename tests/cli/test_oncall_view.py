"""The on-call view through the CLI (issue 17): the verdict line first, the growth picture, who leaks."""

from __future__ import annotations

import json

import pytest

from tests.support.helpers import run_cli
from tests.support.prune_store import seed_incident


@pytest.fixture
def incident(old_zk_client, prefix, yarn_rm):
    return seed_incident(old_zk_client, prefix, yarn_rm, sessions=200)


def run(command, server, prefix, yarn, *args):
    return run_cli([command, "--zk", server.connect_string, "--prefix", prefix, "--yarn", yarn.url, *args])


def test_scan_table_starts_with_the_verdict_line_and_suggests_a_prune_that_selects(incident, old_zk_server,
                                                                                   prefix, yarn_rm):
    document = json.loads(run("scan", old_zk_server, prefix, yarn_rm, "--format", "json").stdout)
    outlook = document["outlook"]
    stale = len(incident.keys("stale"))
    assert outlook["stale"] == stale and outlook["recoverable"] == document["summary"]["sessions"] - outlook["corrupt"]
    suggestion = outlook["suggestion"]
    assert suggestion["selects"] >= 0.9 * stale
    assert outlook["recoverable_after"] == outlook["recoverable"] - suggestion["selects"]
    table = run("scan", old_zk_server, prefix, yarn_rm)
    assert table.exit_code == 0, table.stderr
    first = table.stdout.splitlines()[0]
    assert first == document["verdict_line"]
    assert f"zkjanitor prune --older-than {suggestion['older_than']}" in first
    assert f"preview a prune with zkjanitor prune --older-than {suggestion['older_than']}" in table.stdout
    # and that prune selects what the line promised
    pruned = json.loads(run("prune", old_zk_server, prefix, yarn_rm, "--older-than", suggestion["older_than"],
                            "--format", "json").stdout)
    assert pruned["outlook"]["planned"]["selects"] == suggestion["selects"]
    assert pruned["outlook"]["recoverable_after"] == outlook["recoverable_after"]


def test_the_growth_picture_is_in_the_json_and_charted_by_day(incident, old_zk_server, prefix, yarn_rm):
    document = json.loads(run("scan", old_zk_server, prefix, yarn_rm, "--format", "json").stdout)
    growth = document["growth"]
    assert sum(day["sessions"] for day in growth["by_day"]) == document["summary"]["sessions"]
    assert sum(day["stale"] for day in growth["by_day"]) == document["summary"]["stale"]
    assert growth["first_stale_day"] == next(day["day"] for day in growth["by_day"] if day["stale"])
    assert sum(o["stale"] for o in growth["by_owner"]) + (growth["by_owner_others"] or {"stale": 0})["stale"] \
        == document["summary"]["stale"]
    table = run("scan", old_zk_server, prefix, yarn_rm)  # stale sessions: the chart by default
    lines = table.stdout.splitlines()
    assert any(line.startswith("sessions by creation day") for line in lines)
    assert f"first day with a session now stale: {growth['first_stale_day']}" in table.stdout
    day_lines = [line for line in lines if line.startswith(growth["by_day"][-1]["day"])]
    assert day_lines and "#" in day_lines[0]
    assert all(len(line) <= 200 for line in lines[:3] + day_lines)
    assert not any(ch in "".join(day_lines) for ch in "█▇▆▅▄▃▂▁│┃")  # plain text when piped
    top = growth["top_leaker"]
    assert top is not None and "top leaker:" in table.stdout
    nothing = run("scan", old_zk_server, prefix, yarn_rm, "--by", "none")
    assert "sessions by creation day" not in nothing.stdout


def test_scan_by_owner_names_the_client_that_leaks(incident, old_zk_server, prefix, yarn_rm):
    document = json.loads(run("scan", old_zk_server, prefix, yarn_rm, "--format", "json").stdout)
    top = document["growth"]["top_leaker"]
    table = run("scan", old_zk_server, prefix, yarn_rm, "--by", "owner")
    assert table.exit_code == 0, table.stderr
    assert "sessions by owner / proxy user" in table.stdout
    assert f"{top['stale']:,} stale of {top['sessions']:,}" in table.stdout


def test_check_and_the_prune_dry_run_start_with_the_verdict_line(incident, old_zk_server, prefix, yarn_rm):
    checked = run("check", old_zk_server, prefix, yarn_rm, "--max-sessions", "1000000")
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.startswith("Livy would recover ")
    assert json.loads(run("check", old_zk_server, prefix, yarn_rm, "--max-sessions", "1000000",
                          "--format", "json").stdout)["verdict_line"].startswith("Livy would recover ")
    dry = run("prune", old_zk_server, prefix, yarn_rm, "--older-than", "30d")
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.startswith("Livy would recover ") and "after this prune (--older-than 30d" in dry.stdout


def test_nothing_stale_suggests_no_prune(old_zk_client, old_zk_server, prefix, yarn_rm):
    from tests.support.session_znodes import create_store, livy_record
    from zkjanitor.model import SessionType

    create_store(old_zk_client, prefix, SessionType.BATCH, {1: livy_record(SessionType.BATCH, 1)})
    table = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix])  # no source: unknown
    assert table.exit_code == 0, table.stderr
    assert table.stdout.splitlines()[0].endswith("nothing to prune.")
    assert "--older-than" not in table.stdout
