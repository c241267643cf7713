"""Configuration advice: each rule fires on a small livy.conf, and a healthy one stays quiet."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import pytest

from tests.support.paths import DATA
from zkjanitor.advice import Finding, review_livy_conf
from zkjanitor.livyconf import LivyConf, load_livy_conf, parse_properties

LIVY_CONFS = DATA / "livy-conf"

RECOVERY_ON = """
livy.spark.master = yarn
livy.server.recovery.mode = recovery
livy.server.recovery.state-store = zookeeper
livy.server.zookeeper.url = zk1:2181,zk2:2181,zk3:2181
"""


def review(text: str) -> List[Finding]:
    """Findings for livy.conf ``text``."""
    return review_livy_conf(LivyConf(parse_properties(text)))


def only(findings: List[Finding], setting: str, severity: Optional[str] = None) -> Finding:
    """The single finding about ``setting`` (of ``severity``, when given)."""
    matching = [
        finding
        for finding in findings
        if finding.setting == setting and severity in (None, finding.severity)
    ]
    assert len(matching) == 1, findings
    return matching[0]


def serious(findings: List[Finding]) -> List[Finding]:
    """Only the errors and warnings."""
    return [finding for finding in findings if finding.severity in ("error", "warning")]


def test_healthy_recovery_setup_has_no_findings() -> None:
    assert review(RECOVERY_ON) == []


def test_healthy_sample_file_has_no_findings() -> None:
    assert review_livy_conf(load_livy_conf(LIVY_CONFS / "healthy.conf")) == []


def test_incident_sample_file_flags_the_pile_up_settings() -> None:
    findings = review_livy_conf(load_livy_conf(LIVY_CONFS / "incident-40k.conf"))
    assert [(f.severity, f.setting, f.value) for f in findings] == [
        ("warning", "livy.server.session.state-retain.sec", "600"),
        ("warning", "livy.server.session.timeout", "24d"),
        ("info", "livy.server.yarn.app-lookup-timeout", "30m"),
    ]
    timeout = only(findings, "livy.server.session.timeout")
    assert "24d" in timeout.problem and "one thread per recovered session" in timeout.problem
    assert "= 1h" in timeout.recommendation


def test_recovery_off_is_info_saying_there_is_nothing_to_clean() -> None:
    finding = only(review("livy.spark.master = yarn"), "livy.server.recovery.mode")
    assert finding.severity == "info"
    assert finding.value is None
    assert "nothing to clean" in finding.problem
    assert "/livy/v1/batch" in finding.recommendation


def test_filesystem_store_is_info_naming_where_the_records_are() -> None:
    findings = review(
        "livy.spark.master = yarn\nlivy.server.recovery.mode = recovery\n"
        "livy.server.recovery.state-store = filesystem\n"
        "livy.server.recovery.state-store.url = hdfs:///livy-recovery\n"
    )
    assert serious(findings) == []
    finding = only(findings, "livy.server.recovery.state-store")
    assert finding.severity == "info"
    assert "hdfs:///livy-recovery" in finding.problem


@pytest.mark.parametrize("mode", ["on", "Recovery", "true"])
def test_unknown_recovery_mode_stops_livy(mode: str) -> None:
    finding = only(
        review(f"livy.spark.master = yarn\nlivy.server.recovery.mode = {mode}"),
        "livy.server.recovery.mode",
    )
    assert finding.severity == "error"
    assert f"Unsupported recovery mode {mode}" in finding.problem


@pytest.mark.parametrize("store_line", ["", "livy.server.recovery.state-store = ZooKeeper"])
def test_recovery_without_a_supported_state_store_stops_livy(store_line: str) -> None:
    findings = review(
        f"livy.spark.master = yarn\nlivy.server.recovery.mode = recovery\n{store_line}\n"
    )
    finding = only(findings, "livy.server.recovery.state-store")
    assert finding.severity == "error"
    assert (
        "Unsupported state store " + ("null" if not store_line else "ZooKeeper") in finding.problem
    )


@pytest.mark.parametrize("master_line", ["", "livy.spark.master = local[*]"])
def test_recovery_outside_yarn_stops_livy(master_line: str) -> None:
    findings = review(RECOVERY_ON.replace("livy.spark.master = yarn", master_line))
    finding = only(findings, "livy.spark.master")
    assert finding.severity == "error"
    assert "requires YARN" in finding.problem


def test_zookeeper_store_without_url_stops_livy() -> None:
    findings = review(
        RECOVERY_ON.replace("livy.server.zookeeper.url = zk1:2181,zk2:2181,zk3:2181", "")
    )
    finding = only(findings, "livy.server.zookeeper.url")
    assert finding.severity == "error"
    assert "Please config livy.server.zookeeper.url" in finding.problem


def test_empty_new_url_key_hiding_the_legacy_url_is_explained() -> None:
    findings = review(
        RECOVERY_ON.replace("zk1:2181,zk2:2181,zk3:2181", "")
        + "livy.server.recovery.state-store.url = zk1:2181\n"
    )
    finding = only(findings, "livy.server.zookeeper.url")
    assert finding.severity == "error"
    assert finding.value == ""
    assert "present but empty" in finding.problem


def test_filesystem_url_for_the_zookeeper_store_is_an_error() -> None:
    findings = review(
        RECOVERY_ON.replace("livy.server.zookeeper.url = zk1:2181,zk2:2181,zk3:2181", "")
        + "livy.server.recovery.state-store.url = hdfs:///livy\n"
    )
    assert "filesystem URL" in only(findings, "livy.server.zookeeper.url").problem


@pytest.mark.parametrize(
    ("line", "setting"),
    [
        ("livy.server.zk.retry-policy = 5;100", "livy.server.zk.retry-policy"),
        ("livy.server.zk.retry-policy =", "livy.server.zk.retry-policy"),
        (
            "livy.server.recovery.zk-state-store.retry-policy = five,100",
            "livy.server.recovery.zk-state-store.retry-policy",
        ),
        ("livy.server.zk.retry-policy = 5,99999999999", "livy.server.zk.retry-policy"),
    ],
)
def test_malformed_retry_policy_stops_livy(line: str, setting: str) -> None:
    finding = only(review(RECOVERY_ON + line), setting)
    assert finding.severity == "error"
    assert "5,100" in finding.problem and "5,100" in finding.recommendation


def test_well_formed_retry_policy_with_spaces_is_fine() -> None:
    assert review(RECOVERY_ON + "livy.server.zk.retry-policy = 10 , 500") == []


def test_bare_number_time_is_read_as_milliseconds() -> None:
    finding = only(
        review(RECOVERY_ON + "livy.server.session.state-retain.sec = 600"),
        "livy.server.session.state-retain.sec",
    )
    assert finding.severity == "warning"
    assert "600 is 600 ms, not 600 seconds (10m)" in finding.problem
    assert "next GC pass" in finding.problem
    assert "livy.server.session.state-retain.sec = 600s" in finding.recommendation


def test_bare_number_warning_applies_to_every_time_setting() -> None:
    finding = only(review("livy.server.yarn.poll-interval = 5"), "livy.server.yarn.poll-interval")
    assert finding.severity == "warning"
    assert "5 is 5 ms" in finding.problem


def test_bare_zero_is_not_ambiguous() -> None:
    assert serious(review(RECOVERY_ON + "livy.server.session.state-retain.sec = 0")) == []


@pytest.mark.parametrize(
    ("line", "setting", "fragment"),
    [
        ("livy.server.session.timeout = 1 day", "livy.server.session.timeout", "does not start"),
        (
            "livy.server.session.state-retain.sec = 10sec",
            "livy.server.session.state-retain.sec",
            'Invalid suffix: "sec"',
        ),
        ("livy.server.session.ttl = -1h", "livy.server.session.ttl", "Invalid value: -1"),
        (
            "livy.server.yarn.app-lookup-timeout = 1.5m",
            "livy.server.yarn.app-lookup-timeout",
            "wherever it uses",
        ),
    ],
)
def test_unparseable_time_is_an_error(line: str, setting: str, fragment: str) -> None:
    finding = only(review(RECOVERY_ON + line), setting, "error")
    assert fragment in finding.problem


def test_long_state_retain_with_recovery_piles_up() -> None:
    finding = only(
        review(RECOVERY_ON + "livy.server.session.state-retain.sec = 7d"),
        "livy.server.session.state-retain.sec",
    )
    assert finding.severity == "warning"
    assert "7d" in finding.problem and "restart" in finding.problem
    assert "600s" in finding.recommendation


def test_long_state_retain_without_recovery_writes_no_znodes() -> None:
    assert serious(review("livy.server.session.state-retain.sec = 7d")) == []


def test_one_day_is_not_yet_too_long() -> None:
    assert (
        review(
            RECOVERY_ON
            + "livy.server.session.state-retain.sec = 1d\nlivy.server.session.timeout = 24h"
        )
        == []
    )


@pytest.mark.parametrize("value", ["false", "FALSE", "no", "0"])
def test_timeout_check_off_keeps_idle_sessions_forever(value: str) -> None:
    finding = only(
        review(RECOVERY_ON + f"livy.server.session.timeout-check = {value}"),
        "livy.server.session.timeout-check",
    )
    assert finding.severity == "warning"
    assert "never expires idle interactive sessions" in finding.problem
    assert ("any value but 'true'" in finding.problem) == (value.lower() != "false")


def test_long_timeout_is_not_reported_while_timeout_check_is_off() -> None:
    findings = review(
        RECOVERY_ON + "livy.server.session.timeout-check = false\nlivy.server.session.timeout = 30d"
    )
    assert [finding.setting for finding in findings] == ["livy.server.session.timeout-check"]


def test_skip_busy_is_info() -> None:
    finding = only(
        review(RECOVERY_ON + "livy.server.session.timeout-check.skip-busy = true"),
        "livy.server.session.timeout-check.skip-busy",
    )
    assert finding.severity == "info"


def test_ttl_without_ttl_check_has_no_effect() -> None:
    finding = only(review(RECOVERY_ON + "livy.server.session.ttl = 12h"), "livy.server.session.ttl")
    assert finding.severity == "info"
    assert "ttl-check = true" in finding.recommendation
    assert (
        review(RECOVERY_ON + "livy.server.session.ttl = 12h\nlivy.server.session.ttl-check = true")
        == []
    )


def test_long_app_lookup_timeout_is_info() -> None:
    finding = only(
        review(RECOVERY_ON + "livy.server.yarn.app-lookup-timeout = 1h"),
        "livy.server.yarn.app-lookup-timeout",
    )
    assert finding.severity == "info"
    assert "1h" in finding.problem
    assert review(RECOVERY_ON + "livy.server.yarn.app-lookup-timeout = 5m") == []


def test_byte_order_mark_hides_the_first_setting(tmp_path: Path) -> None:
    path = tmp_path / "livy.conf"
    path.write_bytes(b"\xef\xbb\xbf" + RECOVERY_ON.lstrip().encode())
    findings = review_livy_conf(load_livy_conf(path))
    assert "byte-order mark" in only(findings, "livy.spark.master", "warning").problem
    assert "requires YARN" in only(findings, "livy.spark.master", "error").problem


def test_errors_come_before_warnings_before_info() -> None:
    findings = review(
        "livy.server.recovery.mode = recovery\nlivy.server.recovery.state-store = zookeeper\n"
        "livy.spark.master = yarn\nlivy.server.zookeeper.url = zk:2181\n"
        "livy.server.yarn.app-lookup-timeout = 1h\nlivy.server.session.timeout = 30d\n"
        "livy.server.zk.retry-policy = x\n"
    )
    assert [finding.severity for finding in findings] == ["error", "warning", "info"]


def test_every_finding_is_explained_in_full_sentences() -> None:
    findings = review_livy_conf(load_livy_conf(LIVY_CONFS / "incident-40k.conf"))
    for finding in findings:
        assert finding.problem.endswith(".")
        assert finding.recommendation.endswith(".")
