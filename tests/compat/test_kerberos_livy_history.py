"""`--livy-auth kerberos` and `--spark-history-auth kerberos` against doubles that speak real SPNEGO.

The Livy and Spark History Server doubles take the same hadoop-auth SPNEGO as
the ResourceManager double (``HTTP/127.0.0.1@ZKJANITOR.TEST``, then the
``hadoop.auth`` cookie); the client is zkjanitor's own, with the real
``gssapi`` and a ticket from the test KDC.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from tests.compat.conftest import Realm
from tests.support.fault_support import seed_store
from tests.support.helpers import run_cli
from zkjanitor.testing.livy_double import LivyDouble
from zkjanitor.testing.spark_history_double import SparkHistoryDouble
from zkjanitor.testing.spnego import SpnegoAuthenticator, SpnegoHttpAuthenticator

STALE, LIVE = 3, 2


@pytest.fixture
def spnego(realm: Realm, tmp_path) -> SpnegoAuthenticator:
    return SpnegoAuthenticator(realm.http_keytab, tmp_path / "rcache")


@pytest.fixture
def store(zk_client, prefix, yarn_rm):
    return seed_store(zk_client, prefix, yarn_rm, stale=STALE, live=LIVE)


@pytest.fixture
def kerberized_livy(spnego, zk_client, prefix) -> Iterator[LivyDouble]:
    with LivyDouble(zk_client=zk_client, zk_prefix=prefix, authenticator=SpnegoHttpAuthenticator(spnego)) as livy:
        yield livy


def scan(zk_server, prefix: str, *args: str, env):
    return run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--format", "json", *args], env=env)


def test_livy_with_kerberos_decides_what_it_holds(zk_server, realm, store, prefix, kerberized_livy, spnego):
    kerberized_livy.add_batch(id=0, state="running")  # YARN says finished: Livy's word wins

    result = scan(zk_server, prefix, "--livy", kerberized_livy.url, "--livy-auth", "kerberos",
                  env=realm.env(realm.livy_ccache))

    assert result.exit_code == 0, result.stderr
    sessions = {s["id"]: (s["verdict"], s["reason"], s["source"]) for s in json.loads(result.stdout)["sessions"]}
    assert sessions[0] == ("live", "livy-active", "livy")
    assert spnego.users == [realm.livy] and spnego.refusals == 0  # one login, then the cookie


def test_livy_without_a_ticket_is_refused_in_one_line(zk_server, realm, store, prefix, kerberized_livy, spnego):
    env = realm.env(realm.kdc.directory / "nobody-ran-kinit.ccache")

    result = scan(zk_server, prefix, "--livy", kerberized_livy.url, "--livy-auth", "kerberos", env=env)

    assert result.exit_code == 3, result.stderr  # Livy was the only source
    assert (f"Livy refused the credentials (HTTP 401) at {kerberized_livy.url}: check your Kerberos ticket (kinit)"
            in " ".join(result.stderr.split()))
    assert "Traceback" not in result.stderr


def test_spark_history_with_kerberos(zk_server, realm, store, prefix, yarn_rm, spnego):
    with SparkHistoryDouble(authenticator=SpnegoHttpAuthenticator(spnego)) as history:
        result = scan(zk_server, prefix, "--yarn", yarn_rm.url, "--spark-history", history.url,
                      "--spark-history-auth", "kerberos", env=realm.env(realm.livy_ccache))
        refused = scan(zk_server, prefix, "--spark-history", history.url, "--spark-history-auth", "kerberos",
                       env=realm.env(realm.kdc.directory / "none.ccache"))

    assert result.exit_code == 0, result.stderr
    assert spnego.users == [realm.livy]
    assert refused.exit_code == 3, refused.stderr  # the only source refused us: nothing can be judged
    assert "Traceback" not in refused.stderr and "HTTP 401" in refused.stderr
