"""The seeder writes Livy's state store exactly as Livy would, and its scenarios tell the truth."""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from typing import Dict, List, Optional

import pytest
from kazoo.client import KazooClient

from tests.conftest import OLD_SERVER_OFFSET_DAYS
from zkjanitor.model import REASONS, SessionType, Verdict
from zkjanitor.testing.seeder import (
    CORRUPT_PAYLOADS,
    LIVY_VERSIONS,
    MAX_SINGLE_ZNODE_BYTES,
    MIX_CATEGORIES,
    Scenario,
    SeedError,
    SeedZnode,
    app_tag_for,
    build_scenario,
    deeply_nested_payload,
    encode_record,
    livy_record,
    oversized_payload,
    seed,
    yarn_app,
    yarn_app_id,
)

BATCH = SessionType.BATCH
INTERACTIVE = SessionType.INTERACTIVE
NOW_MS = 1_760_000_000_000
DAY_MS = 86_400_000

BATCH_KEYS_TO_0_5 = ["id", "appId", "appTag", "owner", "proxyUser", "version"]
BATCH_KEYS_FROM_0_6 = ["id", "name", "appId", "appTag", "owner", "proxyUser", "version"]
INTERACTIVE_KEYS_TO_0_5 = [
    "id", "appId", "appTag", "kind", "heartbeatTimeoutS", "owner", "proxyUser",
    "rscDriverUri", "version",
]
INTERACTIVE_KEYS_0_6_TO_0_7 = INTERACTIVE_KEYS_TO_0_5[:1] + ["name"] + INTERACTIVE_KEYS_TO_0_5[1:]
INTERACTIVE_KEYS_0_8 = [
    "id", "name", "appId", "appTag", "kind", "heartbeatTimeoutS", "owner", "ttl",
    "driverMemory", "driverCores", "executorMemory", "executorCores", "conf", "archives",
    "files", "jars", "numExecutors", "pyFiles", "queue", "proxyUser", "rscDriverUri", "version",
]
INTERACTIVE_KEYS_0_9 = (
    INTERACTIVE_KEYS_0_8[:8] + ["idleTimeout"] + INTERACTIVE_KEYS_0_8[8:]
)
EXPECTED_KEYS = {
    BATCH: {v: BATCH_KEYS_TO_0_5 if v in ("0.3", "0.4", "0.5") else BATCH_KEYS_FROM_0_6
            for v in LIVY_VERSIONS},
    INTERACTIVE: {
        "0.3": INTERACTIVE_KEYS_TO_0_5, "0.4": INTERACTIVE_KEYS_TO_0_5,
        "0.5": INTERACTIVE_KEYS_TO_0_5, "0.6": INTERACTIVE_KEYS_0_6_TO_0_7,
        "0.7": INTERACTIVE_KEYS_0_6_TO_0_7, "0.8": INTERACTIVE_KEYS_0_8,
        "0.9": INTERACTIVE_KEYS_0_9,
    },
}
"""docs/dev/livy-state-store.md 2.4 and 2.5, in Jackson's (constructor) order."""

YARN_APP_ID = re.compile(r"^application_\d{13}_\d{4,}$")
KUBERNETES_APP_ID = re.compile(r"^spark-[0-9a-f]{32}$")


def rejection(data: bytes, session_id: int) -> Optional[str]:
    """Why Livy could not load ``data`` as session ``session_id`` (a test oracle), or None."""
    if not data:
        return "empty"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not-utf8"
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        return "bad-json"
    if not isinstance(record, dict):
        return "not-an-object"
    if type(record.get("id")) is not int:
        return "missing-id"
    if record["id"] != session_id:
        return "id-mismatch"
    if not isinstance(record.get("appTag"), str):
        return "missing-app-tag"
    if record.get("appId") is not None and not isinstance(record["appId"], str):
        return "bad-field"
    return None


# --------------------------------------------------------------------------- records


@pytest.mark.parametrize("session_type", list(SessionType))
@pytest.mark.parametrize("livy_version", LIVY_VERSIONS)
def test_record_has_exactly_the_keys_livy_writes_in_order(session_type, livy_version):
    record = livy_record(session_type, 3, livy_version=livy_version, app_tag="livy-x-3-abcdefgh")
    assert list(record) == EXPECTED_KEYS[session_type][livy_version]
    assert list(json.loads(encode_record(record))) == EXPECTED_KEYS[session_type][livy_version]
    assert record["version"] == 1
    assert record["appId"] is None and record["owner"] is None and record["proxyUser"] is None


def test_records_match_the_documented_examples_byte_for_byte():
    old_batch = livy_record(
        BATCH, 41, livy_version="0.5", app_tag="livy-batch-41-Xq3kP9aZ",
        app_id="application_1712345678901_0042", owner="alice",
    )
    assert encode_record(old_batch) == (
        b'{"id":41,"appId":"application_1712345678901_0042","appTag":"livy-batch-41-Xq3kP9aZ",'
        b'"owner":"alice","proxyUser":null,"version":1}'
    )
    new_batch = livy_record(
        BATCH, 41, livy_version="0.9", app_tag="livy-batch-41-xq3kp9az", name="nightly-etl",
        app_id="application_1712345678901_0042", owner="alice", proxy_user="etl",
    )
    assert encode_record(new_batch) == (
        b'{"id":41,"name":"nightly-etl","appId":"application_1712345678901_0042",'
        b'"appTag":"livy-batch-41-xq3kp9az","owner":"alice","proxyUser":"etl","version":1}'
    )
    interactive_0_8 = livy_record(
        INTERACTIVE, 3, livy_version="0.8", app_tag="livy-session-3-aB9dE2fG", name="nb-bob",
        kind="shared", heartbeat_timeout_s=60, owner="bob", ttl="2h", driver_memory="4g",
        conf={"spark.dynamicAllocation.enabled": "true"}, queue="default", proxy_user="bob",
    )
    assert encode_record(interactive_0_8) == (
        b'{"id":3,"name":"nb-bob","appId":null,"appTag":"livy-session-3-aB9dE2fG","kind":"shared",'
        b'"heartbeatTimeoutS":60,"owner":"bob","ttl":null,"driverMemory":"4g","driverCores":null,'
        b'"executorMemory":null,"executorCores":null,'
        b'"conf":{"spark.dynamicAllocation.enabled":"true"},"archives":[],"files":[],"jars":[],'
        b'"numExecutors":null,"pyFiles":[],"queue":"default","proxyUser":"bob",'
        b'"rscDriverUri":null,"version":1}'
    )


def test_livy_0_9_persists_ttl_and_idle_timeout():
    record = livy_record(
        INTERACTIVE, 3, livy_version="0.9", app_tag="livy-session-3-ab9de2fg",
        ttl="8h", idle_timeout="30m",
    )
    assert (record["ttl"], record["idleTimeout"], record["conf"]) == ("8h", "30m", {})


def test_encoding_is_compact_utf8_like_jackson():
    record = livy_record(BATCH, 1, livy_version="0.7", app_tag="livy-batch-1-aaaaaaaa",
                         owner="j\u00f6rg")
    data = encode_record(record)
    assert b" " not in data
    assert "j\u00f6rg".encode("utf-8") in data


@pytest.mark.parametrize(
    "livy_version, session_type, field",
    [
        ("0.5", BATCH, {"name": "etl"}),
        ("0.9", BATCH, {"rsc_driver_uri": "rsc://a:b@127.0.0.1:1"}),
        ("0.9", BATCH, {"conf": {"a": "b"}}),
        ("0.7", INTERACTIVE, {"conf": {"a": "b"}}),
        ("0.8", INTERACTIVE, {"idle_timeout": "30m"}),
    ],
)
def test_record_refuses_what_that_livy_could_not_store(livy_version, session_type, field):
    with pytest.raises(ValueError, match="cannot store"):
        livy_record(session_type, 1, livy_version=livy_version, app_tag="t", **field)


def test_unknown_livy_version_is_refused():
    with pytest.raises(ValueError, match="unknown Livy version"):
        livy_record(BATCH, 1, livy_version="1.0", app_tag="t")


@pytest.mark.parametrize("livy_version", LIVY_VERSIONS)
def test_app_tags_are_lowercase_only_from_0_9(livy_version):
    rng = random.Random(7)
    tags = [app_tag_for(BATCH, 12, livy_version, rng) for _ in range(50)]
    tags.append(app_tag_for(INTERACTIVE, 12, livy_version, rng))
    assert all(re.fullmatch(r"livy-batch-12-[A-Za-z0-9]{8}", tag) for tag in tags[:-1])
    assert re.fullmatch(r"livy-session-12-[A-Za-z0-9]{8}", tags[-1])
    has_upper = any(tag != tag.lower() for tag in tags)
    assert has_upper == (livy_version != "0.9")


def test_yarn_app_looks_like_the_resource_manager_answer():
    app_id = yarn_app_id(1708412345678, 7)
    assert app_id == "application_1708412345678_0007"
    assert yarn_app_id(1708412345678, 40217) == "application_1708412345678_40217"
    finished = yarn_app(app_id, "livy-batch-38211-Qk3Hz0pA", state="FINISHED", user="adfuser",
                        started_ms=NOW_MS - 400_000, finished_ms=NOW_MS)
    assert finished["applicationTags"] == "livy-batch-38211-qk3hz0pa"
    assert finished["finalStatus"] == "SUCCEEDED"
    assert finished["finishedTime"] == NOW_MS
    assert finished["name"] == "livy-batch-38211"
    assert finished["applicationType"] == "SPARK"
    running = yarn_app(app_id, "t", state="RUNNING", user="u", started_ms=NOW_MS - 5, finished_ms=NOW_MS)
    assert (running["finalStatus"], running["finishedTime"]) == ("UNDEFINED", 0)
    assert yarn_app(app_id, "t", state="KILLED", user="u", started_ms=1, finished_ms=2)[
        "finalStatus"] == "KILLED"
    assert yarn_app(app_id, "t", state="FINISHED", user="u", started_ms=1, finished_ms=2,
                    final_status="FAILED")["finalStatus"] == "FAILED"


# --------------------------------------------------------------------------- hostile payloads


def test_there_is_a_corrupt_payload_for_every_corrupt_reason_and_it_is_that_reason():
    assert set(CORRUPT_PAYLOADS) == set(REASONS[Verdict.CORRUPT])
    record = livy_record(INTERACTIVE, 9, livy_version="0.9", app_tag="livy-session-9-abcdefgh",
                         app_id="application_1708412345678_0007")
    assert rejection(encode_record(record), 9) is None
    for reason, build in CORRUPT_PAYLOADS.items():
        assert rejection(build(record), 9) == reason


def test_deeply_nested_payload_defeats_a_recursive_parser():
    record = livy_record(BATCH, 1, livy_version="0.7", app_tag="livy-batch-1-aaaaaaaa")
    data = deeply_nested_payload(record, depth=50_000)
    assert data.count(b"[") == 50_000
    with pytest.raises(RecursionError):
        json.loads(data)


def test_oversized_payload_is_a_valid_record_just_under_one_megabyte():
    record = livy_record(BATCH, 1, livy_version="0.7", app_tag="livy-batch-1-aaaaaaaa")
    data = oversized_payload(record)
    assert len(data) == MAX_SINGLE_ZNODE_BYTES < 1024 * 1024
    assert rejection(data, 1) is None
    assert len(oversized_payload(record, size=300_000)) == 300_000


# --------------------------------------------------------------------------- seed


def _children_data(client: KazooClient, parent: str) -> Dict[str, bytes]:
    """Every child's data under ``parent``, read pipelined."""
    names = client.get_children(parent)
    pending = [(name, client.get_async(f"{parent}/{name}")) for name in names]
    return {name: result.get(timeout=30)[0] for name, result in pending}


def test_seed_writes_livy_layout_counters_and_exactly_the_znodes(zk_client, prefix):
    znodes = [
        SeedZnode(BATCH, "0", encode_record(livy_record(
            BATCH, 0, livy_version="0.9", app_tag="livy-batch-0-abcdefgh", owner="j\u00f6rg"))),
        SeedZnode(BATCH, "0012", b"{}"),
        SeedZnode(BATCH, "-1", b"\xff\xfe"),
        SeedZnode(INTERACTIVE, "x.tmp", b""),
        SeedZnode(INTERACTIVE, "4", b'{"id":4}'),
    ]
    created = seed(zk_client, prefix, znodes, counters={BATCH: 13, INTERACTIVE: 5})

    assert created == len(znodes)
    for path in (f"/{prefix}", f"/{prefix}/v1", f"/{prefix}/v1/batch", f"/{prefix}/v1/interactive"):
        assert zk_client.get(path)[0] == b""
    batch = _children_data(zk_client, f"/{prefix}/v1/batch")
    interactive = _children_data(zk_client, f"/{prefix}/v1/interactive")
    assert batch == {"state": b'{"nextSessionId":13}', "0": znodes[0].data, "0012": b"{}",
                     "-1": b"\xff\xfe"}
    assert interactive == {"state": b'{"nextSessionId":5}', "x.tmp": b"", "4": b'{"id":4}'}


def test_seed_overwrites_counters_and_keeps_existing_znodes(zk_client, prefix):
    seed(zk_client, prefix, [SeedZnode(BATCH, "1", b"one")], counters={BATCH: 2})
    created = seed(zk_client, prefix, [SeedZnode(BATCH, "2", b"two")], counters={BATCH: 3})
    assert created == 1
    assert _children_data(zk_client, f"/{prefix}/v1/batch") == {
        "state": b'{"nextSessionId":3}', "1": b"one", "2": b"two"}


def test_seed_without_counters_writes_no_state_znode(zk_client, prefix):
    assert seed(zk_client, prefix, []) == 0
    assert zk_client.get_children(f"/{prefix}/v1/batch") == []
    assert zk_client.get_children(f"/{prefix}/v1/interactive") == []


def test_seed_reports_a_refused_znode_by_path(zk_client, prefix):
    seed(zk_client, prefix, [SeedZnode(BATCH, "5", b"first")])
    with pytest.raises(SeedError, match=rf"/{prefix}/v1/batch/5: NodeExistsError"):
        seed(zk_client, prefix, [SeedZnode(BATCH, "4", b"x"), SeedZnode(BATCH, "5", b"again")])
    too_big_to_share = b"x" * 600_000  # sent as a plain create, not in a transaction
    with pytest.raises(SeedError, match=rf"/{prefix}/v1/batch/5: NodeExistsError"):
        seed(zk_client, prefix, [SeedZnode(BATCH, "5", too_big_to_share)])
    assert zk_client.get(f"/{prefix}/v1/batch/5")[0] == b"first"


def test_seed_refuses_a_name_that_is_not_one_path_component(zk_client, prefix):
    with pytest.raises(ValueError, match="single path component"):
        seed(zk_client, prefix, [SeedZnode(BATCH, "a/b", b"")])


def test_large_records_are_split_under_the_servers_request_limit(zk_client, prefix):
    """Four 300 KB records in one request would exceed jute.maxbuffer and drop the connection."""
    record = livy_record(BATCH, 0, livy_version="0.7", app_tag="livy-batch-0-aaaaaaaa")
    znodes = []
    for session_id in range(30):
        size = (300_000, 100_000, 200)[session_id % 3]
        data = oversized_payload({**record, "id": session_id}, size=size)
        znodes.append(SeedZnode(BATCH, str(session_id), data))
    znodes.append(SeedZnode(INTERACTIVE, "0", oversized_payload(record)))

    assert seed(zk_client, prefix, znodes) == len(znodes)
    assert _children_data(zk_client, f"/{prefix}/v1/batch") == {
        z.name: z.data for z in znodes if z.type is BATCH}
    assert zk_client.get(f"/{prefix}/v1/interactive/0")[0] == znodes[-1].data


# --------------------------------------------------------------------------- scenarios


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return build_scenario(2000, seed=42, now_ms=NOW_MS)


def _records(scenario: Scenario) -> Dict[tuple, dict]:
    """The decodable session records of a scenario by (type, id)."""
    return {
        (z.type, int(z.name)): json.loads(z.data)
        for z in scenario.old_znodes + scenario.recent_znodes
        if scenario.expected[(z.type, int(z.name))][0] != "corrupt"
    }


def test_scenario_seeds_fully_and_expected_covers_every_session_znode(zk_client, prefix,
                                                                      scenario):
    znodes = scenario.old_znodes + scenario.recent_znodes
    created = seed(zk_client, prefix, scenario.old_znodes, counters=scenario.counters)
    created += seed(zk_client, prefix, scenario.recent_znodes)

    assert created == len(znodes) == 2000
    stored: Dict[tuple, bytes] = {}
    for session_type in SessionType:
        children = _children_data(zk_client, f"/{prefix}/v1/{session_type.value}")
        counter = json.loads(children.pop("state"))
        assert counter == {"nextSessionId": scenario.counters[session_type]}
        stored.update({(session_type, int(name)): data for name, data in children.items()})
    assert set(stored) == set(scenario.expected)
    assert stored == {(z.type, int(z.name)): z.data for z in znodes}


def test_scenario_expectations_use_every_promised_reason(scenario):
    found = Counter(scenario.expected.values())
    promised = {(Verdict.CORRUPT.value, reason) for reason in REASONS[Verdict.CORRUPT]} | {
        ("live", "app-active"), ("live", "within-grace"), ("stale", "app-finished"),
        ("stale", "app-forgotten"), ("stale", "never-submitted"), ("unknown", "not-a-yarn-app"),
    }
    assert set(found) == promised
    for verdict, reason in found:
        assert reason in REASONS[Verdict(verdict)]
    assert found[("stale", "app-forgotten")] > len(scenario.expected) / 2


def test_scenario_expectations_agree_with_the_records_and_the_resource_manager(scenario):
    apps_by_id = {app["id"]: app for app in scenario.apps}
    apps_by_tag = {app["applicationTags"]: app for app in scenario.apps}
    recent = {(z.type, int(z.name)) for z in scenario.recent_znodes}
    by_tag_active = 0
    for key, record in _records(scenario).items():
        _, reason = scenario.expected[key]
        app_id, tag_app = record["appId"], apps_by_tag.get(record["appTag"].lower())
        if reason == "app-finished":
            app = apps_by_id[app_id]
            assert app["state"] in ("FINISHED", "FAILED", "KILLED") and key not in recent
            assert DAY_MS < NOW_MS - app["finishedTime"] < 10 * DAY_MS
        elif reason == "app-forgotten":
            assert YARN_APP_ID.match(app_id) and app_id not in apps_by_id and key not in recent
        elif reason == "never-submitted":
            assert app_id is None and tag_app is None and key not in recent
        elif reason == "within-grace":
            assert app_id is None and tag_app is None and key in recent
        elif reason == "not-a-yarn-app":
            assert KUBERNETES_APP_ID.match(app_id)
        else:
            assert reason == "app-active"
            app = apps_by_id[app_id] if app_id is not None else tag_app
            assert app["state"] in ("ACCEPTED", "RUNNING") and app["finishedTime"] == 0
            by_tag_active += app_id is None
    assert by_tag_active > 0


def test_corrupt_znodes_are_undecodable_for_their_stated_reason(scenario):
    for znode in scenario.old_znodes + scenario.recent_znodes:
        verdict, reason = scenario.expected[(znode.type, int(znode.name))]
        expected_rejection = reason if verdict == "corrupt" else None
        assert rejection(znode.data, int(znode.name)) == expected_rejection


def test_scenario_looks_like_a_real_incident_store(scenario):
    records = list(_records(scenario).values())
    tags = [record["appTag"] for record in records]
    assert any(tag != tag.lower() for tag in tags) and any(tag == tag.lower() for tag in tags)
    assert any("name" not in r for r in records) and any("idleTimeout" in r for r in records)
    types = Counter(key[0] for key in scenario.expected)
    assert types[BATCH] > types[INTERACTIVE] > 0
    driver_uris = [r["rscDriverUri"] for r in records if r.get("rscDriverUri")]
    assert driver_uris and all(re.match(r"rsc://[^:@/]+:[^@/]+@", uri) for uri in driver_uris)
    assert any(any("secret" in key for key in r.get("conf", {})) for r in records)
    for session_type in SessionType:
        ids = sorted(session_id for kind, session_id in scenario.expected if kind is session_type)
        assert scenario.counters[session_type] == ids[-1] + 1
    gaps = sum(scenario.counters[t] for t in SessionType) - len(scenario.expected)
    assert gaps > 0


def test_scenario_is_deterministic_for_a_seed(scenario):
    assert build_scenario(2000, seed=42, now_ms=NOW_MS) == scenario
    assert build_scenario(2000, seed=43, now_ms=NOW_MS).old_znodes != scenario.old_znodes


def test_resource_manager_remembers_at_most_the_retained_finished_apps():
    small_memory = build_scenario(3000, seed=1, now_ms=NOW_MS, retained_finished_apps=40)
    finished = [a for a in small_memory.apps if a["state"] in ("FINISHED", "FAILED", "KILLED")]
    assert len(finished) == 40
    assert Counter(small_memory.expected.values())[("stale", "app-finished")] == 40


def test_mix_chooses_the_categories():
    only_young = build_scenario(20, now_ms=NOW_MS, mix={"within-grace": 1.0})
    assert set(only_young.expected.values()) == {("live", "within-grace")}
    assert only_young.old_znodes == [] and len(only_young.recent_znodes) == 20
    tiny = build_scenario(len(MIX_CATEGORIES), now_ms=NOW_MS)
    assert {reason for _, reason in tiny.expected.values()} >= set(MIX_CATEGORIES) - {"corrupt"}
    with pytest.raises(ValueError, match="unknown mix categories"):
        build_scenario(10, now_ms=NOW_MS, mix={"zombie": 1.0})


def test_old_znodes_seeded_on_a_clock_in_the_past_look_days_old(old_zk_client, prefix):
    small = build_scenario(60, seed=3, now_ms=int(time.time() * 1000))
    seed(old_zk_client, prefix, small.old_znodes, counters=small.counters)
    ages_days: List[float] = []
    for znode in small.old_znodes:
        _, stat = old_zk_client.get(f"/{prefix}/v1/{znode.type.value}/{znode.name}")
        ages_days.append((time.time() - stat.created) / 86400)
    assert ages_days and all(abs(age - OLD_SERVER_OFFSET_DAYS) < 0.1 for age in ages_days)
