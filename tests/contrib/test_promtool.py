"""The alerting rules and the metrics files, checked by the real promtool (Debian's prometheus package)."""

from __future__ import annotations

import re
from typing import Dict, Iterator, List, Set, Tuple

import pytest
import yaml
from markdown.extensions.toc import slugify

from tests.contrib.conftest import REPO, RULES, RULES_TESTS, parse_series, run_tool, tool
from zkjanitor.cli import cli
from zkjanitor.model import Verdict

# A selector of one of zkjanitor's metrics or of a recorded series, with its matchers if any.
SELECTOR = re.compile(r'\b(zkjanitor(?:_[a-z_]+|:[a-z_:]+))(?:\{([^}]*)\})?')
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')


def rule_groups() -> List[dict]:
    return yaml.safe_load(RULES.read_text())["groups"]


def alerts() -> Iterator[dict]:
    for group in rule_groups():
        yield from (rule for rule in group["rules"] if "alert" in rule)


def selectors(expr: str) -> Iterator[Tuple[str, Dict[str, Tuple[str, str]]]]:
    for match in SELECTOR.finditer(expr):
        yield match[1], {name: (op, value) for name, op, value in MATCHER.findall(match[2] or "")}


def test_promtool_check_rules_accepts_the_rules():
    result = run_tool([tool("promtool"), "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    result = run_tool([tool("promtool"), "test", "rules", RULES_TESTS.name], cwd=RULES_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_each_alert_is_tested_firing_and_quiet():
    tested: Dict[str, Set[bool]] = {}
    for case in yaml.safe_load(RULES_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            tested.setdefault(check["alertname"], set()).add(bool(check.get("exp_alerts")))
    for alert in alerts():
        assert tested.get(alert["alert"]) == {True, False}, (
            f"{alert['alert']}: zkjanitor-alerts.test.yml needs a case where it fires and one where it does not")


def test_promtool_check_metrics_accepts_every_file_zkjanitor_wrote(written_metrics):
    assert {path.name for path in written_metrics.files()} == {
        "zkjanitor_check.prom", "zkjanitor_prune.prom", "zkjanitor_scan.prom"}
    for path in written_metrics.files():
        result = run_tool([tool("promtool"), "check", "metrics"], input=path.read_text())
        assert (result.returncode, result.stdout + result.stderr) == (0, ""), path.name


def test_the_rules_select_only_series_zkjanitor_writes(written_metrics):
    """A misspelt metric, label or value makes an alert silently never fire: promtool cannot tell."""
    names, label_names, label_values = (written_metrics.names(), written_metrics.label_names(),
                                        written_metrics.label_values())
    label_values["command"] |= set(cli.commands)  # commands that this test's runs did not write
    label_values["verdict"] |= {verdict.value for verdict in Verdict}
    for group in rule_groups():
        recorded: Set[str] = set()
        for rule in group["rules"]:
            for name, matchers in selectors(rule["expr"]):
                if ":" in name:
                    assert name in recorded, f"{name} is used before a rule of {group['name']} records it"
                    continue
                assert name in names, f"{rule.get('alert') or rule.get('record')}: zkjanitor writes no {name}"
                for label, (op, value) in matchers.items():
                    assert label in label_names[name], f"{name} has no label {label}"
                    wanted = value.split("|") if op.endswith("~") else [value]
                    assert set(wanted) <= label_values[label], f"{name}{{{label}{op}{value!r}}}: no such value"
            if "record" in rule:
                recorded.add(rule["record"])


def test_the_unit_tests_feed_series_as_zkjanitor_writes_them(written_metrics):
    """The input series have zkjanitor's names and labels, plus what a scrape adds (instance, job)."""
    label_names = written_metrics.label_names()
    for case in yaml.safe_load(RULES_TESTS.read_text())["tests"]:
        for series in case["input_series"]:
            name, labels = parse_series(series["series"])
            assert name in label_names, f"{case['name']}: zkjanitor writes no {name}"
            assert set(labels) == label_names[name] | {"instance", "job"}, f"{case['name']}: {series['series']}"


def runbook_anchors() -> Set[str]:
    text = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    return {slugify(re.sub(r"[`*]", "", heading), "-") for heading in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("alert", list(alerts()), ids=lambda alert: alert["alert"])
def test_each_alert_says_what_happened_and_links_its_runbook_section(alert):
    annotations = alert["annotations"]
    assert annotations["summary"] and len(annotations["description"]) > len(annotations["summary"])
    assert alert["labels"]["severity"] in ("warning", "critical")
    page, anchor = annotations["runbook_url"].split("#")
    assert page == "docs/runbook.md"
    assert anchor in runbook_anchors(), f"docs/runbook.md has no section #{anchor}"
