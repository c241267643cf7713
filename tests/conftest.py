"""Shared fixtures: real ZooKeeper servers, started once per test session.

``zk_server`` runs on the real clock. ``old_zk_server`` runs under libfaketime
10 days in the past, so every znode created there looks 10 days old. Each test
gets its own ``prefix`` so tests never see each other's znodes.
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from kazoo.client import KazooClient

from tests.support.zk_helpers import remove_test_tree
from zkjanitor.testing.livy_double import LivyDouble
from zkjanitor.testing.spark_history_double import SparkHistoryDouble
from zkjanitor.testing.timeline_double import TimelineDouble
from zkjanitor.testing.yarn_double import YarnDouble
from zkjanitor.testing.zkserver import ZooKeeperServer

OLD_SERVER_OFFSET_DAYS = 10


@pytest.fixture(scope="session")
def zk_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer() as server:
        yield server


@pytest.fixture(scope="session")
def old_zk_server() -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(faketime=f"-{OLD_SERVER_OFFSET_DAYS}d") as server:
        yield server


def _client(server: ZooKeeperServer) -> KazooClient:
    client = KazooClient(
        hosts=server.connect_string,
        timeout=10,
        connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
        command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
    )
    client.start(timeout=15)
    return client


@pytest.fixture
def zk_client(zk_server: ZooKeeperServer) -> Iterator[KazooClient]:
    client = _client(zk_server)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def old_zk_client(old_zk_server: ZooKeeperServer) -> Iterator[KazooClient]:
    client = _client(old_zk_server)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def prefix() -> str:
    """A Livy key prefix unique to this test (Livy allows '/' inside a prefix)."""
    return f"t{uuid.uuid4().hex[:10]}/livy"


@pytest.fixture
def parent(zk_client: KazooClient, prefix: str) -> Iterator[str]:
    """A session parent path of this test's store; its tree is removed afterwards."""
    path = f"/{prefix}/v1/batch"
    yield path
    remove_test_tree(zk_client, path)


@pytest.fixture
def yarn_rm():
    """An ACTIVE ResourceManager double that remembers the last 1000 finished apps (Hadoop 3)."""
    with YarnDouble(max_completed_apps=1000) as rm:
        yield rm


@pytest.fixture
def yarn_standby(yarn_rm):
    """A STANDBY ResourceManager double that redirects to ``yarn_rm``."""
    with YarnDouble(ha_state="STANDBY") as standby:
        standby.set_active(yarn_rm)
        yield standby


@pytest.fixture
def livy_server(zk_client: KazooClient, prefix: str) -> Iterator[LivyDouble]:
    """A Livy REST double holding no session yet; its DELETEs remove znodes under this test's ``prefix``.

    Seed it with ``add_batch``/``add_interactive`` or ``recover()`` from znodes the test created.
    """
    with LivyDouble(zk_client=zk_client, zk_prefix=prefix) as livy:
        yield livy


@pytest.fixture
def yarn_timeline() -> Iterator[TimelineDouble]:
    """A YARN Timeline (application history) server double with Hadoop's caps: 10,000 apps, 7 days."""
    with TimelineDouble() as timeline:
        yield timeline


@pytest.fixture(scope="session")
def _spark_history_double() -> Iterator[SparkHistoryDouble]:
    with SparkHistoryDouble() as history:
        yield history


@pytest.fixture
def shs_double(_spark_history_double: SparkHistoryDouble) -> Iterator[SparkHistoryDouble]:
    """A Spark History Server double (started once per session), emptied for this test: no app, no auth."""
    history = _spark_history_double
    history.clear()
    history.reset_requests()
    history.scanning = False
    history.authenticator = None
    history.delay_seconds = 0.0
    yield history
    history.clear()
