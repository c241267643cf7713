"""`zkjanitor check` as a CI/cron gate: exit codes 0/1/2/3 and its JSON."""

from __future__ import annotations

import json

import pytest

from tests.support.helpers import closed_port, run_cli, seed_scenario, seeded_expectations


@pytest.fixture
def store(old_zk_client, prefix, yarn_rm):
    scenario = seed_scenario(old_zk_client, prefix, yarn_rm, 300, seed=11)
    expected = seeded_expectations(scenario, scenario.old_znodes)
    stale = sum(1 for verdict, _ in expected.values() if verdict == "stale")
    old_sessions = len(expected)
    total_bytes = sum(len(z.data) for z in scenario.old_znodes if z.name.isdigit())
    return {"stale": stale, "sessions": old_sessions, "bytes": total_bytes}


def check(server, prefix, yarn_rm, *limits, fmt="json"):
    return run_cli(["check", "--zk", server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                    "--format", fmt, *limits])


@pytest.mark.parametrize(
    "option, key, margin, expected_exit",
    [
        ("--max-sessions", "sessions", 0, 0),
        ("--max-sessions", "sessions", -1, 1),
        ("--max-stale", "stale", 0, 0),
        ("--max-stale", "stale", -1, 1),
        ("--max-bytes", "bytes", 0, 0),
        ("--max-bytes", "bytes", -1, 1),
    ],
)
def test_each_limit_passes_at_its_value_and_fails_below(store, old_zk_server, prefix, yarn_rm, option, key,
                                                        margin, expected_exit):
    threshold = store[key] + margin
    result = check(old_zk_server, prefix, yarn_rm, option, str(threshold))
    assert result.exit_code == expected_exit, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is (expected_exit == 0)
    limit = option.lstrip("-")
    if expected_exit:
        assert document["violations"] == [{"limit": limit, "value": store[key], "threshold": threshold}]
    else:
        assert document["violations"] == []


def test_human_sizes_and_table_output(store, old_zk_server, prefix, yarn_rm):
    result = check(old_zk_server, prefix, yarn_rm, "--max-bytes", "1KB", fmt="table")
    assert result.exit_code == 1
    assert "max-bytes" in result.stdout and "FAIL" in result.stdout
    result = check(old_zk_server, prefix, yarn_rm, "--max-bytes", "50MB", fmt="table")
    assert result.exit_code == 0
    assert "within every limit" in result.stdout


def test_no_limit_is_a_usage_error():
    result = run_cli(["check"])
    assert result.exit_code == 2
    assert "no limits given" in result.stderr


def test_bad_size_is_a_usage_error():
    result = run_cli(["check", "--max-bytes", "lots"])
    assert result.exit_code == 2
    assert "lots" in result.stderr


def test_max_stale_with_yarn_down_exits_3(store, old_zk_server, prefix):
    result = run_cli(["check", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--timeout", "1",
                      "--yarn", f"http://127.0.0.1:{closed_port()}", "--max-stale", "10"])
    assert result.exit_code == 3
    assert "cannot evaluate --max-stale" in result.stderr


def test_size_limits_need_no_yarn(store, old_zk_server, prefix):
    result = run_cli(["check", "--zk", old_zk_server.connect_string, "--prefix", prefix,
                      "--max-sessions", str(store["sessions"])])
    assert result.exit_code == 0, result.stderr


def test_children_reply_warning_threshold(store, old_zk_server, prefix, yarn_rm):
    result = check(old_zk_server, prefix, yarn_rm, "--max-sessions", "100000", "--warn-children-bytes", "100B")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert any("getChildren reply" in w for w in document["warnings"])
    assert "getChildren reply" in result.stderr
