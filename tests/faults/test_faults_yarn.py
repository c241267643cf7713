"""YARN faults during ``scan`` and ``prune --apply``: no trustworthy answer, nothing deleted.

The ResourceManager is the YARN double (real HTTP on loopback) with faults
injected: no ACTIVE RM, 5xx answers, answers slower than ``--timeout``, replies
that are not the RM's JSON, a stopped RM, and an HA failover in the middle of the
run. Whenever zkjanitor cannot trust the answer, every session is ``unknown``,
prune exits 3 saying nothing was deleted, writes no backup, and ZooKeeper is
byte-for-byte unchanged. A transient error that a retry or a completed failover
overcomes must not stop the prune, and must not make it delete a live session.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest
from click.testing import Result

from tests.support.fault_support import read_tree, seed_store, store_root
from tests.support.helpers import run_cli
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import SeedZnode, encode_record, livy_record
from zkjanitor.testing.yarn_double import APPS_PATH, YarnDouble

STALE = 6
LIVE = 3
KUBERNETES_SESSION = SeedZnode(
    SessionType.BATCH, "100",
    encode_record(livy_record(SessionType.BATCH, 100, livy_version="0.7", app_tag="livy-batch-100-kubernet",
                              app_id="spark-0123456789abcdef0123456789abcdef")),
)
"""A session whose app is not a YARN app: unknown however YARN answers."""


@pytest.fixture
def rm_pair() -> Iterator[Tuple[YarnDouble, YarnDouble]]:
    """An HA pair: rm1 ACTIVE, rm2 STANDBY redirecting to it."""
    with YarnDouble(max_completed_apps=1000) as rm1, YarnDouble(ha_state="STANDBY") as rm2:
        rm2.set_active(rm1)
        yield rm1, rm2


@pytest.fixture
def store(zk_client, prefix, rm_pair):
    """Stale and live sessions plus a non-YARN one; both RMs know every app."""
    rm1, rm2 = rm_pair
    seeded = seed_store(zk_client, prefix, rm1, stale=STALE, live=LIVE, extra=[KUBERNETES_SESSION])
    rm2.add_apps(seeded.apps)
    return seeded


def _prune(zk_server, prefix: str, rms: List[YarnDouble], backup: Path, *extra: str) -> Result:
    args = ["prune", "--zk", zk_server.connect_string, "--prefix", prefix, "--older-than", "1d", "--apply",
            "--yes", "--backup", str(backup), "--format", "json", *extra]
    for rm in rms:
        args += ["--yarn", rm.url]
    return run_cli(args)


def _scan(zk_server, prefix: str, rms: List[YarnDouble], *extra: str) -> Result:
    args = ["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--format", "json", *extra]
    for rm in rms:
        args += ["--yarn", rm.url]
    return run_cli(args)


def _no_active_rm(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.set_ha_state("STANDBY")
    rm1.set_active(None)
    rm2.set_active(None)


def _every_request_503(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.fail_next(100, 503)
    rm2.fail_next(100, 503)


def _apps_listing_500(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.fail_next(100, 500, path=APPS_PATH)
    rm2.fail_next(100, 500, path=APPS_PATH)


def _apps_listing_not_json(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.fail_next(100, 200, path=APPS_PATH, body="<html><body>Gateway login</body></html>")


def _apps_listing_404(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.fail_next(100, 404, path=APPS_PATH, body="Not Found")


def _both_stopped(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.stop()
    rm2.stop()


def _slower_than_the_timeout(rm1: YarnDouble, rm2: YarnDouble) -> None:
    rm1.delay_seconds = 3.0
    rm2.stop()


FAULTS: List[Tuple[str, Callable[[YarnDouble, YarnDouble], None], str]] = [
    ("no-active-rm", _no_active_rm, "no active YARN ResourceManager"),
    ("every-request-503", _every_request_503, "HTTP 503"),
    ("apps-listing-500", _apps_listing_500, "HTTP 500"),
    ("apps-listing-not-json", _apps_listing_not_json, "malformed reply"),
    ("apps-listing-404", _apps_listing_404, "HTTP 404"),
    ("rms-down", _both_stopped, "no active YARN ResourceManager"),
    ("slower-than-timeout", _slower_than_the_timeout, "timed out"),
]


@pytest.mark.parametrize("fault, message", [(f, m) for _, f, m in FAULTS], ids=[name for name, _, _ in FAULTS])
def test_without_a_trustworthy_answer_prune_deletes_nothing_and_exits_3(
    zk_server, zk_client, prefix, rm_pair, store, tmp_path, fault, message
):
    before = read_tree(zk_client, store_root(prefix))
    fault(*rm_pair)
    backup = tmp_path / "backup.jsonl"
    started = time.monotonic()
    result = _prune(zk_server, prefix, list(rm_pair), backup, "--timeout", "1")

    assert result.exit_code == 3, result.stderr
    assert time.monotonic() - started < 30
    assert message in result.stderr and "nothing was deleted" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("zkjanitor: error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not backup.exists()
    assert read_tree(zk_client, store_root(prefix)) == before


@pytest.mark.parametrize("fault", [f for _, f, _ in FAULTS[:3]], ids=[name for name, _, _ in FAULTS[:3]])
def test_without_a_trustworthy_answer_scan_reports_every_session_unknown(
    zk_server, prefix, rm_pair, store, fault
):
    fault(*rm_pair)
    result = _scan(zk_server, prefix, list(rm_pair), "--timeout", "1")

    assert result.exit_code == 3, result.stderr
    document = json.loads(result.stdout)
    assert document["summary"]["unknown"] == document["summary"]["sessions"] == STALE + LIVE + 1
    assert {session["reason"] for session in document["sessions"]} == {"source-unreachable"}
    assert document["source_error"]


def test_a_transient_5xx_is_retried_and_the_prune_deletes_only_stale_sessions(
    zk_server, zk_client, prefix, rm_pair, store, tmp_path
):
    rm1, _ = rm_pair
    rm1.fail_next(1, 503, path=APPS_PATH)
    before = read_tree(zk_client, store_root(prefix))
    result = _prune(zk_server, prefix, list(rm_pair), tmp_path / "backup.jsonl")

    assert result.exit_code == 0, result.stderr
    assert {s["path"]: s["action"] for s in json.loads(result.stdout)["sessions"]} == {
        path: "deleted" for path in store.stale
    }
    after = read_tree(zk_client, store_root(prefix))
    assert set(before) - set(after) == set(store.stale)
    assert all(after[path] == before[path] for path in after)


class FailoverAfterListingStarts(threading.Thread):
    """Switches rm1 to STANDBY while it is answering the apps listing, as an RM failover would.

    rm1 sleeps ``delay_seconds`` before answering each request, after recording
    it; this thread flips the HA state during that sleep, so the listing is
    answered by a standby: HTTP 307.
    """

    def __init__(self, rm1: YarnDouble, rm2: YarnDouble, *, new_active: bool) -> None:
        super().__init__(name="rm-failover", daemon=True)
        self.rm1, self.rm2, self.new_active = rm1, rm2, new_active
        self.flipped = threading.Event()
        rm1.delay_seconds = 0.5

    def run(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(request.path == APPS_PATH for request in self.rm1.requests):
                self.rm1.set_ha_state("STANDBY")
                if self.new_active:
                    self.rm2.set_ha_state("ACTIVE")
                    self.rm2.set_active(None)
                    self.rm1.set_active(self.rm2)
                else:
                    self.rm1.set_active(None)
                    self.rm2.set_active(None)
                self.flipped.set()
                return
            time.sleep(0.01)


def test_a_failover_with_no_new_active_rm_mid_run_deletes_nothing(
    zk_server, zk_client, prefix, rm_pair, store, tmp_path
):
    before = read_tree(zk_client, store_root(prefix))
    failover = FailoverAfterListingStarts(*rm_pair, new_active=False)
    failover.start()
    backup = tmp_path / "backup.jsonl"
    result = _prune(zk_server, prefix, list(rm_pair), backup)
    failover.join(timeout=30)

    assert failover.flipped.is_set()
    assert result.exit_code == 3, result.stderr
    assert "no active YARN ResourceManager" in result.stderr and "nothing was deleted" in result.stderr
    assert not backup.exists()
    assert read_tree(zk_client, store_root(prefix)) == before


def test_a_completed_failover_mid_run_is_followed_to_the_new_active_rm(
    zk_server, zk_client, prefix, rm_pair, store, tmp_path
):
    rm1, rm2 = rm_pair
    failover = FailoverAfterListingStarts(rm1, rm2, new_active=True)
    failover.start()
    result = _prune(zk_server, prefix, list(rm_pair), tmp_path / "backup.jsonl")
    failover.join(timeout=30)

    assert failover.flipped.is_set()
    assert result.exit_code == 0, result.stderr
    assert any(request.path == APPS_PATH for request in rm2.requests)
    actions = {s["path"]: s["action"] for s in json.loads(result.stdout)["sessions"]}
    assert actions == {path: "deleted" for path in store.stale}
    assert all(zk_client.exists(path) for path in store.live)
