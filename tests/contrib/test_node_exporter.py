"""The files zkjanitor wrote, served by Debian's node_exporter (textfile collector) and scraped over HTTP."""

from __future__ import annotations

from typing import Dict

import yaml

from tests.contrib.conftest import RULES, read_samples, run_tool, tool


def zkjanitor_series(text: str) -> Dict:
    return {key: value for key, value in read_samples(text).items() if key[0].startswith("zkjanitor_")}


def value(samples: Dict, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_every_series_zkjanitor_wrote_is_served_with_its_value(written_metrics, node_exporter):
    assert zkjanitor_series(node_exporter.scrape()) == written_metrics.samples()


def test_the_three_jobs_files_are_read_without_an_error(written_metrics, node_exporter):
    node_exporter.scrape()
    served = read_samples(node_exporter.scrape())  # the error counter below counts the scrapes before this one
    assert value(served, "node_textfile_scrape_error") == 0
    assert {dict(labels)["file"].rsplit("/", 1)[1] for name, labels in served
            if name == "node_textfile_mtime_seconds"} == {path.name for path in written_metrics.files()}
    # a series in two files (the store metrics of check and prune, were they not labelled) is an error here
    assert value(served, "promhttp_metric_handler_errors_total", cause="gathering") == 0


def test_the_served_values_say_what_each_run_did(written_metrics, node_exporter):
    served = zkjanitor_series(node_exporter.scrape())
    check, prune = written_metrics.reports["check"], written_metrics.reports["prune"]
    for verdict in ("live", "stale", "unknown", "corrupt"):
        assert total(served, "zkjanitor_sessions", command="check", verdict=verdict) == check["summary"][verdict]
        # the prune's report is the store before it deleted
        assert total(served, "zkjanitor_sessions", command="prune", verdict=verdict) == prune["summary"][verdict]
    assert value(served, "zkjanitor_prune_sessions", command="prune", action="deleted") == prune["deleted"] > 0
    assert total(served, "zkjanitor_sessions", command="check", verdict="stale") == (
        prune["summary"]["stale"] - prune["deleted"])
    assert value(served, "zkjanitor_check_violations", command="check") == len(check["violations"])
    for command, code in written_metrics.exit_codes.items():
        assert value(served, "zkjanitor_last_run_exit_code", command=command) == code
    for command in ("check", "prune"):
        assert (value(served, "zkjanitor_last_success_timestamp_seconds", command=command)
                == value(served, "zkjanitor_last_run_timestamp_seconds", command=command))
    assert ("zkjanitor_last_success_timestamp_seconds", frozenset({("command", "scan")})) not in served
    assert ("zkjanitor_sessions", frozenset({("command", "scan")})) not in {
        (name, frozenset(kv for kv in labels if kv[0] == "command")) for name, labels in served}


def test_the_rules_read_a_real_scrape_as_intended(written_metrics, node_exporter, tmp_path):
    """The scraped series, fed to promtool with the rules: the store is the last check's, the failed run is scan."""
    scraped = zkjanitor_series(node_exporter.scrape())
    scrape_labels = {"instance": node_exporter.instance, "job": "node"}

    def series(name, labels):
        rendered = ",".join(f'{key}="{val}"' for key, val in sorted({**dict(labels), **scrape_labels}.items()))
        return f"{name}{{{rendered}}}"

    def expected(name, recorded, **match):
        samples = []
        for (metric, labels), number in scraped.items():
            labels = dict(labels)
            if metric == name and all(labels.get(k) == v for k, v in match.items()):
                labels.pop("command")
                samples.append({"labels": series(recorded, labels.items()), "value": number})
        return samples

    run_failed = next(rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
                      for rule in group["rules"] if rule.get("alert") == "ZkjanitorRunFailed")
    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": series(name, labels), "values": f"{number!r}x10"}
                             for (name, labels), number in scraped.items()],
            "promql_expr_test": [
                {"expr": "zkjanitor:sessions:latest", "eval_time": "5m",
                 "exp_samples": expected("zkjanitor_sessions", "zkjanitor:sessions:latest", command="check")},
                {"expr": "zkjanitor:children_reply_bytes:latest", "eval_time": "5m",
                 "exp_samples": expected("zkjanitor_children_reply_bytes", "zkjanitor:children_reply_bytes:latest",
                                         command="check")},
                {"expr": run_failed, "eval_time": "5m",
                 "exp_samples": [{"labels": series("zkjanitor_last_run_exit_code", {"command": "scan"}.items()),
                                  "value": 3}]},
            ],
        }],
    }
    assert len(tests["tests"][0]["promql_expr_test"][0]["exp_samples"]) == 8  # 2 types x 4 verdicts
    test_file = tmp_path / "real-scrape.test.yml"
    test_file.write_text(yaml.safe_dump(tests))
    result = run_tool([tool("promtool"), "test", "rules", str(test_file)])
    assert result.returncode == 0, result.stdout + result.stderr
