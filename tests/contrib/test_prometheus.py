"""The rules in a real Prometheus that scrapes the files of the nightly routine (check, prune, a failed scan)."""

from __future__ import annotations


def test_every_rule_evaluates_without_an_error_on_real_series(prometheus):
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
    assert len(rules) == 11
    assert {rule["name"]: rule["health"] for rule in rules} == {rule["name"]: "ok" for rule in rules}, [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"]


def test_the_failed_scan_is_the_only_alert(prometheus, node_exporter, written_metrics):
    """A small store, a prune that succeeded a moment ago, a check within its limits: only the scan's exit 3."""
    alerts = prometheus.api("alerts")["alerts"]
    assert [(alert["labels"], alert["state"], float(alert["value"])) for alert in alerts] == [(
        {"alertname": "ZkjanitorRunFailed", "command": "scan", "instance": node_exporter.instance, "job": "node",
         "severity": "warning"}, "firing", 3.0)]
    assert alerts[0]["annotations"]["summary"] == (
        f"zkjanitor scan failed with exit code 3 ({node_exporter.instance})")


def test_the_store_is_the_last_checks_report(prometheus, written_metrics):
    stale = prometheus.query('sum(zkjanitor:sessions:latest{verdict="stale"})')
    assert float(stale[0]["value"][1]) == written_metrics.reports["check"]["summary"]["stale"]
    assert written_metrics.reports["check"]["summary"]["stale"] < written_metrics.reports["prune"]["summary"]["stale"]
