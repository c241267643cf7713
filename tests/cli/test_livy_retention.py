"""``--older-than livy-retention`` and scan's report of what Livy's own rules (livy.conf) would have dropped."""

from __future__ import annotations

import json

from tests.support.helpers import run_cli
from tests.support.prune_store import prune, seed_incident


def conf(tmp_path, text: str):
    path = tmp_path / "livy.conf"
    path.write_text(text)
    return str(path)


def selected(result) -> set:
    assert result.exit_code == 0, result.stderr
    return {(s["type"], s["id"]) for s in json.loads(result.stdout)["sessions"]}


def test_livy_retention_prunes_what_state_retain_says(old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    seed_incident(old_zk_client, prefix, yarn_rm)
    livy_conf = conf(tmp_path, "livy.server.session.state-retain.sec = 5d\n")

    by_retention = prune(old_zk_server, prefix, yarn_rm, "--livy-conf", livy_conf, "--older-than", "livy-retention",
                         "--format", "json")
    by_duration = prune(old_zk_server, prefix, yarn_rm, "--older-than", "5d", "--format", "json")

    assert selected(by_retention) == selected(by_duration) != set()
    assert json.loads(by_retention.stdout)["older_than_seconds"] == 5 * 86400


def test_livy_retention_without_livy_conf_is_one_line(old_zk_server, prefix, yarn_rm):
    result = prune(old_zk_server, prefix, yarn_rm, "--older-than", "livy-retention")

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "zkjanitor: error: --older-than livy-retention reads livy.server.session.state-retain.sec: pass --livy-conf"]


def test_scan_says_what_livy_would_already_have_dropped(old_zk_server, old_zk_client, prefix, yarn_rm, tmp_path):
    incident = seed_incident(old_zk_client, prefix, yarn_rm)
    livy_conf = conf(tmp_path, "livy.server.session.state-retain.sec = 600s\nlivy.server.session.ttl-check = true\n"
                     "livy.server.session.ttl = 1d\n")
    args = ["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
            "--livy-conf", livy_conf]

    document = json.loads(run_cli([*args, "--format", "json"]).stdout)
    table = run_cli(args).stdout

    stale = sum(1 for verdict, _ in incident.expected.values() if verdict == "stale")
    interactive = sum(1 for (kind, _), (verdict, _) in incident.expected.items()
                      if kind == "interactive" and verdict != "corrupt")
    assert document["livy_rules"] == {"state_retain_seconds": 600.0, "finished_past_retention": stale,
                                      "ttl_seconds": 86400.0, "interactive_past_ttl": interactive}
    assert f"Livy would already have dropped {stale:,} finished session(s)" in table
    assert "--older-than livy-retention" in table
