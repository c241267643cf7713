"""contrib/ (alerting rules, dashboard) tested with the real tools: Debian's promtool and node_exporter.

Every test here is marked ``contrib`` and left out of ``make test``; ``make test-contrib``
installs the tools and runs them. The metrics they check are written by real zkjanitor runs
(check, prune --apply, check again, a failed scan) against the real ZooKeeper test server,
once per session.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, FrozenSet, Iterator, List, NamedTuple, Set, Tuple

import pytest
import yaml
from kazoo.client import KazooClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import closed_port, run_cli, seed_scenario
from tests.support.zk_helpers import remove_test_tree
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "contrib" / "prometheus" / "zkjanitor-alerts.yml"
RULES_TESTS = REPO / "contrib" / "prometheus" / "zkjanitor-alerts.test.yml"
DASHBOARD = REPO / "contrib" / "grafana" / "zkjanitor-dashboard.json"
HERE = Path(__file__).resolve().parent

# A series as the exposition format and promtool's input_series write it: name{label="value",...}
SERIES = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')

Sample = Tuple[str, FrozenSet[Tuple[str, str]]]


def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.contrib)


def tool(name: str) -> str:
    """The path of a Debian tool these tests need; a clear failure (not a skip) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make test-contrib` installs it (Debian packages prometheus, "
                    "prometheus-node-exporter)")
    return path


def run_tool(args: List[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, **kwargs)


def parse_series(text: str) -> Tuple[str, Dict[str, str]]:
    match = SERIES.match(text.strip())
    assert match, f"not a series: {text!r}"
    return match["name"], dict(LABEL.findall(match["labels"] or ""))


def read_samples(text: str) -> Dict[Sample, float]:
    """The samples of an exposition-format text, parsed by the reference parser."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


class WrittenMetrics(NamedTuple):
    directory: Path  # the textfile-collector directory: one file per job, as docs/automation.md says
    reports: Dict[str, dict]  # command -> its --format json document (the last run of it)
    exit_codes: Dict[str, int]  # command -> exit code of its last run

    def files(self) -> List[Path]:
        return sorted(self.directory.glob("*.prom"))

    def samples(self) -> Dict[Sample, float]:
        merged: Dict[Sample, float] = {}
        for path in self.files():
            merged.update(read_samples(path.read_text()))
        return merged

    def names(self) -> Set[str]:
        return {name for name, _ in self.samples()}

    def label_names(self) -> Dict[str, Set[str]]:
        found: Dict[str, Set[str]] = {}
        for name, labels in self.samples():
            found.setdefault(name, set()).update(key for key, _ in labels)
        return found

    def label_values(self) -> Dict[str, Set[str]]:
        found: Dict[str, Set[str]] = {}
        for _, labels in self.samples():
            for key, value in labels:
                found.setdefault(key, set()).add(value)
        return found


@pytest.fixture(scope="session")
def written_metrics(old_zk_server, tmp_path_factory) -> Iterator[WrittenMetrics]:
    """A nightly routine on a real store whose sessions are 10 days old: check, prune --apply, check again.

    Plus a scan that fails (ZooKeeper unreachable, exit 3): three jobs, three files in one directory.
    """
    directory = tmp_path_factory.mktemp("textfile")
    work = tmp_path_factory.mktemp("work")
    prefix = f"t{uuid.uuid4().hex[:10]}/livy"
    client = KazooClient(hosts=old_zk_server.connect_string, timeout=10,
                         connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1})
    client.start(timeout=15)
    try:
        with YarnDouble(max_completed_apps=1000) as rm:
            seed_scenario(client, prefix, rm, 200, seed=17)
            zk = ["--zk", old_zk_server.connect_string]
            common = ["--prefix", prefix, "--yarn", rm.url, "--format", "json"]
            reports: Dict[str, dict] = {}
            exit_codes: Dict[str, int] = {}

            def run(command: str, *args: str) -> None:
                result = run_cli([command, *common, *args,
                                  "--metrics-file", str(directory / f"zkjanitor_{command}.prom")])
                exit_codes[command] = result.exit_code
                reports[command] = json.loads(result.stdout) if result.stdout.strip() else {}

            run("check", *zk, "--max-stale", "0")
            assert exit_codes["check"] == 1 and reports["check"]["summary"]["stale"] > 0, reports["check"]
            run("prune", *zk, "--older-than", "1d", "--apply", "--yes", "--backup", str(work / "backup.jsonl"))
            assert exit_codes["prune"] == 0, reports["prune"]
            run("check", *zk, "--max-stale", "0")
            assert exit_codes["check"] in (0, 1)
            run("scan", "--zk", f"127.0.0.1:{closed_port()}", "--timeout", "1")  # ZooKeeper refuses: exit 3
            assert exit_codes["scan"] == 3
        yield WrittenMetrics(directory, reports, exit_codes)
    finally:
        remove_test_tree(client, f"/{prefix}/v1/batch")
        client.stop()
        client.close()


class NodeExporter(NamedTuple):
    url: str  # its /metrics
    instance: str  # host:port, the `instance` label a scrape of it gets

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310 (loopback)
            assert response.status == 200
            return response.read().decode("utf-8")


@pytest.fixture(scope="session")
def node_exporter(written_metrics, tmp_path_factory) -> Iterator[NodeExporter]:
    """Debian's node_exporter on 127.0.0.1, with only its textfile collector, serving the files zkjanitor wrote."""
    port = free_port()
    log = tmp_path_factory.mktemp("node_exporter") / "log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [tool("prometheus-node-exporter"), "--collector.disable-defaults", "--collector.textfile",
             f"--collector.textfile.directory={written_metrics.directory}", f"--web.listen-address={LOOPBACK}:{port}",
             "--web.disable-exporter-metrics"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    exporter = NodeExporter(f"http://{LOOPBACK}:{port}/metrics", f"{LOOPBACK}:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"node_exporter exited {process.returncode}:\n{log.read_text()}"
            try:
                exporter.scrape()
                break
            except OSError:
                assert time.monotonic() < deadline, f"node_exporter did not answer in 20s:\n{log.read_text()}"
                time.sleep(0.1)
        yield exporter
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Prometheus(NamedTuple):
    url: str

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:  # noqa: S310
            document = json.loads(response.read().decode("utf-8"))
        assert document["status"] == "success", document
        return document["data"]

    def query(self, expr: str) -> List[dict]:
        return self.api("query", query=expr)["result"]


@pytest.fixture(scope="session")
def prometheus(node_exporter, tmp_path_factory) -> Iterator[Prometheus]:
    """Debian's Prometheus on 127.0.0.1, scraping node_exporter every second and evaluating the rules.

    Ready when it has scraped zkjanitor's series and evaluated every rule at least twice.
    """
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "node", "static_configs": [{"targets": [node_exporter.instance]}]}],
    }))
    port = free_port()
    log = work / "log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}", f"--storage.tsdb.path={work / 'data'}",
             f"--web.listen-address={LOOPBACK}:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://{LOOPBACK}:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, f"prometheus exited {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"prometheus not ready in 60s:\n{log.read_text()}"
            try:
                groups = server.api("rules")["groups"]
                scraped = server.query("zkjanitor_last_run_exit_code")
            except OSError:
                groups, scraped = [], []
            rules = [rule for group in groups for rule in group["rules"]]
            evaluated = rules and not any(rule.get("lastEvaluation", "0001").startswith("0001") for rule in rules)
            if scraped and evaluated:
                time.sleep(2.5)  # two more evaluations, now on scraped data
                break
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
