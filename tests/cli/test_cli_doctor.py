"""`zkjanitor doctor` and livy.conf advice surfaced by scan."""

from __future__ import annotations

import json
import time

from tests.support.helpers import closed_port, run_cli
from tests.support.paths import DATA
from zkjanitor.testing.seeder import build_scenario, seed

LIVY_CONFS = DATA / "livy-conf"


def _conf_for(tmp_path, name, zk_server):
    """A sample livy.conf pointed at the test ZooKeeper."""
    text = (LIVY_CONFS / name).read_text()
    target = tmp_path / name
    target.write_text(text + f"\nlivy.server.zookeeper.url = {zk_server.connect_string}\n")
    return target


def doctor(*args):
    return run_cli(["doctor", "--format", "json", *args])


def test_incident_conf_is_flagged_with_the_setting_and_a_fix(tmp_path, zk_server, zk_client, prefix, yarn_rm):
    seed(zk_client, prefix, build_scenario(20, seed=1, now_ms=int(time.time() * 1000)).old_znodes)
    conf = _conf_for(tmp_path, "incident-40k.conf", zk_server)
    result = doctor("--livy-conf", str(conf), "--prefix", prefix, "--yarn", yarn_rm.url)
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is False
    by_setting = {f["setting"]: f for f in document["findings"]}
    timeout = by_setting["livy.server.session.timeout"]
    assert timeout["severity"] == "warning" and timeout["value"] == "24d"
    assert "1h" in timeout["recommendation"]
    assert by_setting["livy.server.session.state-retain.sec"]["severity"] == "warning"
    assert {f["setting"] for f in document["findings"] if f["severity"] == "ok"} >= {"zookeeper", "yarn", "store"}


def test_healthy_setup_exits_0(tmp_path, zk_server, zk_client, prefix, yarn_rm):
    seed(zk_client, prefix, build_scenario(20, seed=1, now_ms=int(time.time() * 1000)).old_znodes,
         counters={})
    conf = _conf_for(tmp_path, "healthy.conf", zk_server)
    result = doctor("--livy-conf", str(conf), "--prefix", prefix, "--yarn", yarn_rm.url)
    problems = [f for f in json.loads(result.stdout)["findings"] if f["severity"] in ("error", "warning")]
    # the scenario seeds no state counters here, which doctor must flag; nothing else
    assert {f["setting"] for f in problems} == {"store"}
    assert all("id counter is missing" in f["problem"] for f in problems)


def test_unreachable_services_are_findings_not_crashes():
    result = doctor("--zk", f"127.0.0.1:{closed_port()}", "--timeout", "1",
                    "--yarn", f"http://127.0.0.1:{closed_port()}")
    assert result.exit_code == 1
    severities = {f["setting"]: f["severity"] for f in json.loads(result.stdout)["findings"]}
    assert severities == {"zookeeper": "error", "yarn": "error"}


def test_missing_prefix_is_an_error_finding(zk_server, prefix, yarn_rm):
    result = doctor("--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url)
    findings = json.loads(result.stdout)["findings"]
    assert any(f["setting"] == "prefix" and f["severity"] == "error" for f in findings)


def test_scan_warns_about_livy_conf_settings(tmp_path, zk_server, zk_client, prefix, yarn_rm):
    seed(zk_client, prefix, build_scenario(20, seed=1, now_ms=int(time.time() * 1000)).old_znodes)
    conf = _conf_for(tmp_path, "incident-40k.conf", zk_server)
    result = run_cli(["scan", "--livy-conf", str(conf), "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "livy.conf: livy.server.session.timeout = 24d" in result.stderr
    assert any("livy.server.session.timeout" in w for w in json.loads(result.stdout)["warnings"])


def test_prune_warns_about_livy_conf_settings_like_scan(tmp_path, zk_server, zk_client, prefix, yarn_rm):
    seed(zk_client, prefix, build_scenario(20, seed=1, now_ms=int(time.time() * 1000)).old_znodes)
    conf = _conf_for(tmp_path, "incident-40k.conf", zk_server)
    result = run_cli(["prune", "--older-than", "1d", "--livy-conf", str(conf), "--prefix", prefix,
                      "--yarn", yarn_rm.url, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "livy.conf: livy.server.session.timeout = 24d" in result.stderr
