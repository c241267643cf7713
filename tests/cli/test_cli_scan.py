"""`zkjanitor scan` end to end: real ZooKeeper, the YARN double, the real CLI."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import OLD_SERVER_OFFSET_DAYS
from tests.support.helpers import closed_port, run_cli, seed_scenario, seeded_expectations
from zkjanitor.model import REASONS, SessionType, Verdict
from zkjanitor.testing.seeder import SeedZnode, app_tag_for, build_scenario, encode_record, livy_record, seed
from zkjanitor.zk.inventory import read_inventory


@pytest.fixture
def incident(old_zk_client, prefix, yarn_rm):
    """A scenario seeded 10 days in the past, its apps in YARN."""
    return seed_scenario(old_zk_client, prefix, yarn_rm, 2000, seed=3)


def scan_json(server, prefix, *extra, yarn=None, env=None):
    args = ["scan", "--zk", server.connect_string, "--prefix", prefix, "--format", "json", *extra]
    for url in yarn or []:
        args += ["--yarn", url]
    return run_cli(args, env=env)


def test_scan_json_is_one_document_with_every_expected_verdict(incident, old_zk_server, prefix, yarn_rm):
    result = scan_json(old_zk_server, prefix, yarn=[yarn_rm.url])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)  # nothing but the document on stdout
    by_key = {(s["type"], s["id"]): s for s in document["sessions"]}
    old_expected = seeded_expectations(incident, incident.old_znodes)
    for (session_type, session_id), (verdict, reason) in old_expected.items():
        got = by_key[(session_type.value, session_id)]
        assert (got["verdict"], got["reason"]) == (verdict, reason), got
    summary = document["summary"]
    assert summary["sessions"] == len(document["sessions"]) == len(old_expected)
    assert sum(summary[v.value] for v in Verdict) == summary["sessions"]
    assert summary["bytes"] == sum(s["bytes"] for s in document["sessions"])
    assert document["counters"] == {t.value: incident.counters.get(t) for t in SessionType}
    assert document["prefix"] == prefix
    for field in ("generated_at", "zookeeper"):
        assert document[field]
    seen_reasons = {(s["verdict"], s["reason"]) for s in document["sessions"]}
    for verdict in (Verdict.STALE, Verdict.CORRUPT):
        for reason in REASONS[verdict]:
            if not reason.startswith("livy-"):  # Livy's own reasons need --livy: tests/cli/test_livy_evidence.py
                assert (verdict.value, reason) in seen_reasons


def test_stale_age_comes_from_finish_time_else_mtime(incident, old_zk_server, prefix, yarn_rm):
    document = json.loads(scan_json(old_zk_server, prefix, yarn=[yarn_rm.url]).stdout)
    for session in document["sessions"]:
        if session["reason"] == "app-finished":
            assert session["finished"] is not None
        elif session["reason"] in ("app-forgotten", "never-submitted"):
            assert session["finished"] is None
            assert abs(session["age_seconds"] / 86400 - OLD_SERVER_OFFSET_DAYS) < 0.2


def test_young_session_without_app_is_live_within_grace(zk_server, zk_client, prefix, yarn_rm):
    tag = app_tag_for(SessionType.BATCH, 1, "0.9", __import__("random").Random(1))
    record = livy_record(SessionType.BATCH, 1, livy_version="0.9", app_tag=tag)
    running = yarn_rm.add_app(applicationTags="livy-batch-2-runs0002")["id"]  # the RM knows the store: it vouches
    other = livy_record(SessionType.BATCH, 2, livy_version="0.9", app_id=running, app_tag="livy-batch-2-runs0002")
    seed(zk_client, prefix, [SeedZnode(SessionType.BATCH, "1", encode_record(record)),
                             SeedZnode(SessionType.BATCH, "2", encode_record(other))], counters={SessionType.BATCH: 3})
    document = json.loads(scan_json(zk_server, prefix, yarn=[yarn_rm.url]).stdout)
    assert [(s["verdict"], s["reason"]) for s in document["sessions"]][:1] == [("live", "within-grace")]
    shorter = json.loads(scan_json(zk_server, prefix, "--grace", "0s", yarn=[yarn_rm.url]).stdout)
    assert [(s["verdict"], s["reason"]) for s in shorter["sessions"]] == [("stale", "never-submitted"),
                                                                         ("live", "app-active")]


def test_chroot_and_custom_prefix(zk_server, zk_client, yarn_rm):
    chroot, custom_prefix = "/apps/spark", "team-a/livy"
    scenario = build_scenario(50, seed=5, now_ms=int(time.time() * 1000))
    zk_client.ensure_path(chroot)
    zk_client.chroot = chroot
    seed(zk_client, custom_prefix, scenario.old_znodes + scenario.recent_znodes, counters=scenario.counters)
    zk_client.chroot = ""
    result = scan_json(zk_server, custom_prefix, yarn=[yarn_rm.url])
    # without the chroot the store is not there: a clear error, exit 2
    assert result.exit_code == 2
    assert "no Livy state store at /team-a/livy" in result.stderr
    result = run_cli(["scan", "--zk", zk_server.connect_string + chroot, "--prefix", custom_prefix,
                      "--yarn", yarn_rm.url, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["sessions"] == len(scenario.expected)
    assert all(s["path"].startswith(f"/{custom_prefix}/v1/") for s in document["sessions"])


def test_ha_standby_first_in_the_list(incident, old_zk_server, prefix, yarn_rm, yarn_standby):
    result = scan_json(old_zk_server, prefix, yarn=[yarn_standby.url, yarn_rm.url])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    expected = seeded_expectations(incident, incident.old_znodes)
    assert document["summary"]["unknown"] == sum(1 for v, _ in expected.values() if v == "unknown")
    assert document["source_error"] is None


def test_yarn_unreachable_makes_everything_unknown_and_exits_3(incident, old_zk_server, prefix):
    result = scan_json(old_zk_server, prefix, "--timeout", "1", yarn=[f"http://127.0.0.1:{closed_port()}"])
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    verdicts = {s["verdict"] for s in document["sessions"]}
    assert verdicts <= {"unknown", "corrupt"}
    assert {s["reason"] for s in document["sessions"] if s["verdict"] == "unknown"} == {"source-unreachable"}
    assert "warning" in result.stderr and "YARN" in result.stderr


def test_no_source_configured_warns_and_reports_unknown(incident, old_zk_server, prefix):
    result = scan_json(old_zk_server, prefix)
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert {s["reason"] for s in document["sessions"] if s["verdict"] == "unknown"} == {"no-source"}
    assert "--yarn" in result.stderr


def test_zookeeper_unreachable_exits_3_within_the_timeout():
    started = time.monotonic()
    result = run_cli(["scan", "--zk", f"127.0.0.1:{closed_port()}", "--timeout", "2"])
    assert result.exit_code == 3
    assert time.monotonic() - started < 15
    assert result.stderr.count("\n") == 1 and "cannot connect to ZooKeeper" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--zk", "nohostport"], "invalid ZooKeeper address"),
        (["--zk", "h:99999"], "invalid ZooKeeper address"),
        (["--grace", "ten minutes"], "invalid duration"),
        (["--yarn", "ftp://rm:8088"], "--yarn"),
        (["--livy-conf", "/nonexistent/livy.conf"], "livy.conf not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run_cli(["scan", *args])
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_secrets_never_appear_in_any_output(incident, old_zk_server, prefix, yarn_rm):
    secrets = incident_secrets(incident)
    assert secrets, "the scenario must carry secrets for this test to mean anything"
    outputs = []
    for fmt in ("json", "table"):
        result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                          "--format", fmt, "--show", "all"])
        outputs += [result.stdout, result.stderr]
    for secret in secrets:
        assert not any(secret in text for text in outputs)


def incident_secrets(scenario) -> set:
    """The rsc:// userinfo secrets and conf values the scenario wrote into znodes."""
    found = set()
    for znode in scenario.old_znodes:
        try:
            record = json.loads(znode.data)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        uri = record.get("rscDriverUri")
        if isinstance(uri, str) and "@" in uri:
            found.add(uri.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1])
        conf = record.get("conf")
        if isinstance(conf, dict):
            found.update(v for v in conf.values() if isinstance(v, str) and len(v) >= 8)
    return found


def test_table_output_summarises_and_hints(incident, old_zk_server, prefix, yarn_rm):
    result = run_cli(["scan", "--zk", old_zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url])
    assert result.exit_code == 0, result.stderr
    for word in ("live", "stale", "unknown", "corrupt", "nextSessionId", "--show stale"):
        assert word in result.stdout


def test_markup_and_surrogates_in_znode_data_print_literally(zk_server, zk_client, prefix, yarn_rm):
    """An owner that looks like rich markup, or holds a lone surrogate, must not crash or style the table."""
    owners = {1: "[red]mallory[/red]", 2: "[/chroot]", 3: "\\ud800"}  # the last is a JSON escape
    znodes = []
    for session_id, owner in owners.items():
        tag = f"livy-batch-{session_id}-abcdefgh"
        data = ('{"id":%d,"name":null,"appId":null,"appTag":"%s","owner":"%s","proxyUser":null,"version":1}'
                % (session_id, tag, owner)).encode()
        znodes.append(SeedZnode(SessionType.BATCH, str(session_id), data))
    seed(zk_client, prefix, znodes, counters={SessionType.BATCH: 4})
    result = run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--show", "all"])
    assert result.exit_code == 0, result.stderr
    assert "[red]mallory[/red]" in result.stdout
    assert "[/chroot]" in result.stdout
    assert "\\ud800" in result.stdout
    document = json.loads(run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix,
                                   "--yarn", yarn_rm.url, "--format", "json"]).stdout)
    assert {s["owner"] for s in document["sessions"]} == {"[red]mallory[/red]", "[/chroot]", "\ud800"}


def test_driver_uri_is_shown_without_its_secret(incident, old_zk_server, prefix, yarn_rm):
    document = json.loads(scan_json(old_zk_server, prefix, yarn=[yarn_rm.url]).stdout)
    uris = [s["driver_uri"] for s in document["sessions"] if s["type"] == "interactive" and s["driver_uri"]]
    assert uris, "the scenario's interactive sessions carry driver URIs"
    assert all(uri.startswith("rsc://***@") for uri in uris)


def test_a_long_warning_stays_on_one_line(incident, old_zk_server, prefix):
    result = scan_json(old_zk_server, prefix)  # no --yarn: one long warning
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning:") and "--yarn" in warnings[0]


def test_sessions_are_listed_batch_first_then_by_id(incident, old_zk_server, prefix, yarn_rm):
    result = scan_json(old_zk_server, prefix, yarn=[yarn_rm.url])
    assert result.exit_code == 0, result.stderr
    listed = [(s["type"], s["id"]) for s in json.loads(result.stdout)["sessions"]]
    assert {t for t, _ in listed} == {"batch", "interactive"}
    assert listed == sorted(listed)


def test_the_library_reads_batch_first_then_by_numeric_id_whatever_order_it_is_given(zk_client, prefix):
    def znode(session_type: SessionType, session_id: int) -> SeedZnode:
        record = livy_record(session_type, session_id, livy_version="0.9", app_tag=f"livy-{session_id}-abcdefgh")
        return SeedZnode(session_type, str(session_id), encode_record(record))

    znodes = [znode(t, i) for t in (SessionType.INTERACTIVE, SessionType.BATCH) for i in (100, 2, 10)]
    seed(zk_client, prefix, znodes)
    inventory = read_inventory(zk_client, prefix, [SessionType.INTERACTIVE, SessionType.BATCH])
    assert [(s.type.value, s.id) for s in inventory.sessions] == [
        ("batch", 2), ("batch", 10), ("batch", 100), ("interactive", 2), ("interactive", 10), ("interactive", 100)
    ]


def test_a_kazoo_whose_private_request_api_changed_falls_back_to_pipelined_reads(
        zk_server, zk_client, prefix, yarn_rm, monkeypatch, caplog):
    from zkjanitor.zk import multiread, reader

    def changed_api(client, paths):
        raise AttributeError("'Connection' object has no attribute '_submit'")  # as a kazoo upgrade could

    monkeypatch.setattr(multiread, "multiread_async", changed_api)
    monkeypatch.setattr(reader, "_multiread_support", type(reader._multiread_support)())
    seed_scenario(zk_client, prefix, yarn_rm, 20, seed=7, recent=True)
    result = scan_json(zk_server, prefix, yarn=[yarn_rm.url])
    assert result.exit_code == 0, result.stderr  # before: exit 70, internal error
    assert json.loads(result.stdout)["summary"]["sessions"] == 20
    assert "multiRead does not work with this kazoo (AttributeError" in caplog.text
