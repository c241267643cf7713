"""The Grafana dashboard: valid JSON over the metrics zkjanitor writes, and every query answers in a real Prometheus."""

from __future__ import annotations

import json
import re
from typing import Iterator, List, Tuple

import pytest

from tests.contrib.conftest import DASHBOARD
from tests.contrib.test_promtool import selectors
from zkjanitor.cli import cli
from zkjanitor.model import Verdict

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(items: List[dict]) -> Iterator[dict]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # the panels of a collapsed row


def queries() -> Iterator[Tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable."""
    for panel in panels(dashboard()["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            yield f"variable ${variable['name']}", variable["query"]["query"]


def test_the_dashboard_is_json_with_a_datasource_variable_every_panel_uses():
    board = dashboard()
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    shown = list(panels(board["panels"]))
    assert len(shown) >= 10
    for panel in shown:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        assert all(target["datasource"] == DATASOURCE for target in panel["targets"]), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE, variable["name"]
    assert len({panel["id"] for panel in shown}) == len(shown)


def test_the_dashboard_shows_what_the_on_call_view_needs():
    expressions = " ".join(expr for _, expr in queries())
    for metric in ("zkjanitor_sessions", "zkjanitor_oldest_stale_age_seconds", "zkjanitor_children_reply_bytes",
                   "zkjanitor_last_run_timestamp_seconds", "zkjanitor_last_success_timestamp_seconds",
                   "zkjanitor_last_run_exit_code", "zkjanitor_prune_sessions"):
        assert metric in expressions, f"no panel shows {metric}"
    assert "sum by (verdict) (zkjanitor_sessions" in expressions


def test_every_query_selects_only_series_zkjanitor_writes(written_metrics):
    names, label_names, label_values = (written_metrics.names(), written_metrics.label_names(),
                                        written_metrics.label_values())
    label_values["command"] |= set(cli.commands)
    label_values["verdict"] |= {verdict.value for verdict in Verdict}
    for where, expr in queries():
        used = list(selectors(expr))
        assert used, f"{where}: no zkjanitor metric in {expr}"
        for name, matchers in used:
            assert name in names, f"{where}: zkjanitor writes no {name}"
            for label, (op, value) in matchers.items():
                assert label in label_names[name] | {"instance", "job"}, f"{where}: {name} has no label {label}"
                if "$" not in value and label not in ("instance", "job"):
                    wanted = value.split("|") if op.endswith("~") else [value]
                    assert set(wanted) <= label_values[label], f"{where}: {name}{{{label}{op}{value!r}}}"


def substituted(expr: str, instance: str, report: str) -> str:
    return expr.replace("$instance", instance).replace("$report", report)


@pytest.mark.parametrize("where,expr", list(queries()), ids=[where for where, _ in queries()])
def test_every_query_answers_with_data_in_a_real_prometheus(prometheus, node_exporter, where, expr):
    """With $report the check's report, or the prune's: after the prune the check finds nothing stale, so no age."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", expr)
    if match:  # a variable: the values Grafana offers
        selector = substituted(match[1], node_exporter.instance, "check")
        values = prometheus.api(f"label/{match[2]}/values", **{"match[]": selector})
        assert sorted(values) == {"instance": [node_exporter.instance], "command": ["check", "prune"]}[match[2]]
    else:
        answers = [prometheus.query(substituted(expr, node_exporter.instance, report)) for report in ("check", "prune")]
        assert any(answers), f"{where}: no data for {expr}"
