"""--metrics-file: Prometheus text format, parsed back by the reference parser, replaced atomically."""

from __future__ import annotations

import os
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import closed_port, run_cli, seed_scenario
from zkjanitor.metrics import MetricSet, write_atomically


def samples(path):
    families = list(text_string_to_metric_families(path.read_text()))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


@pytest.fixture
def seeded(old_zk_client, prefix, yarn_rm):
    return seed_scenario(old_zk_client, prefix, yarn_rm, 200, seed=2)


def test_scan_metrics_parse_and_match_the_json_summary(seeded, old_zk_server, prefix, yarn_rm, tmp_path):
    metrics_file = tmp_path / "zkjanitor.prom"
    result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--format", "json", "--metrics-file", str(metrics_file)])
    assert result.exit_code == 0, result.stderr
    import json

    summary = json.loads(result.stdout)["summary"]
    values = samples(metrics_file)
    for verdict in ("live", "stale", "unknown", "corrupt"):
        total = sum(v for (name, labels), v in values.items()
                    if name == "zkjanitor_sessions" and ("verdict", verdict) in labels)
        assert total == summary[verdict]
    assert values[("zkjanitor_last_run_exit_code", (("command", "scan"),))] == 0
    assert abs(values[("zkjanitor_last_run_timestamp_seconds", (("command", "scan"),))] - time.time()) < 120
    assert values[("zkjanitor_source_up", (("command", "scan"),))] == 1
    assert all(name.startswith("zkjanitor_") for name, _ in values)


def test_two_jobs_files_never_hold_the_same_series(seeded, old_zk_server, prefix, yarn_rm, tmp_path):
    """node_exporter merges the files of a directory and drops (with an error) a series found in two of them."""
    common = ["--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url]
    check = run_cli(["check", *common, "--max-stale", "0", "--metrics-file", str(tmp_path / "check.prom")])
    prune = run_cli(["prune", *common, "--older-than", "1d", "--metrics-file", str(tmp_path / "prune.prom")])
    assert (check.exit_code, prune.exit_code) == (1, 0), check.stderr + prune.stderr
    check_series, prune_series = samples(tmp_path / "check.prom"), samples(tmp_path / "prune.prom")
    assert not set(check_series) & set(prune_series)
    for series, command in ((check_series, "check"), (prune_series, "prune")):
        assert all(("command", command) in labels for _, labels in series)
    stale = ("zkjanitor_sessions", (("command", "check"), ("type", "batch"), ("verdict", "stale")))
    assert check_series[stale] > 0


def test_a_failed_run_still_records_its_exit_code(tmp_path):
    metrics_file = tmp_path / "zkjanitor.prom"
    result = run_cli(["scan", "--zk", f"127.0.0.1:{closed_port()}", "--timeout", "1",
                      "--metrics-file", str(metrics_file)])
    assert result.exit_code == 3
    assert samples(metrics_file)[("zkjanitor_last_run_exit_code", (("command", "scan"),))] == 3


def test_the_last_success_outlives_failed_runs(seeded, old_zk_server, prefix, yarn_rm, tmp_path):
    """A failed run replaces the file but keeps when the command last succeeded, for a "not succeeding" alert."""
    metrics_file = tmp_path / "zkjanitor_check.prom"
    check = ["check", "--prefix", prefix, "--yarn", yarn_rm.url, "--max-stale", "0", "--timeout", "1",
             "--metrics-file", str(metrics_file)]
    success = ("zkjanitor_last_success_timestamp_seconds", (("command", "check"),))
    finished = ("zkjanitor_last_run_timestamp_seconds", (("command", "check"),))
    exit_code = ("zkjanitor_last_run_exit_code", (("command", "check"),))

    assert run_cli([*check, "--zk", old_zk_server.connect_string]).exit_code == 1  # a limit exceeded: check worked
    first = samples(metrics_file)
    assert first[success] == first[finished]
    for _ in range(2):
        assert run_cli([*check, "--zk", f"127.0.0.1:{closed_port()}"]).exit_code == 3
        failed = samples(metrics_file)
        assert failed[exit_code] == 3 and failed[finished] > first[finished]
        assert failed[success] == first[success]
    assert run_cli([*check, "--zk", old_zk_server.connect_string]).exit_code == 1
    again = samples(metrics_file)
    assert again[success] == again[finished] > first[success]
    assert metrics_file.read_text().count("zkjanitor_last_success_timestamp_seconds{") == 1


def test_label_values_are_escaped(tmp_path):
    metrics = MetricSet()
    metrics.gauge("x", "help", 1, {"path": 'a\\b"c\nd'})
    path = tmp_path / "m.prom"
    write_atomically(path, metrics.render())
    assert samples(path) == {("zkjanitor_x", (("path", 'a\\b"c\nd'),)): 1}


def test_replacement_is_atomic_for_concurrent_readers(tmp_path):
    path = tmp_path / "m.prom"
    documents = []
    for n in (10, 2000):  # a short and a long file
        metrics = MetricSet()
        for i in range(n):
            metrics.gauge("sessions", "h", i, {"id": str(i)})
        documents.append(metrics.render())
    write_atomically(path, documents[0])
    seen = set()
    stop = threading.Event()

    def read_loop():
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            seen.add(path.read_text())

    reader = threading.Thread(target=read_loop)
    reader.start()
    for i in range(200):
        write_atomically(path, documents[i % 2])
    stop.set()
    reader.join(timeout=15)
    assert seen <= set(documents)
    assert [p.name for p in tmp_path.iterdir()] == ["m.prom"]  # no temp files left behind
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_unwritable_metrics_path_is_a_clear_error(seeded, old_zk_server, prefix, tmp_path):
    result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix,
                      "--metrics-file", str(tmp_path / "missing-dir" / "m.prom")])
    assert result.exit_code == 2
    assert "cannot write metrics file" in result.stderr
