"""`--yarn-auth kerberos` against a ResourceManager double that speaks real SPNEGO.

The double accepts ``Authorization: Negotiate`` with a keytab for
``HTTP/127.0.0.1@ZKJANITOR.TEST`` and hands out hadoop-auth's ``hadoop.auth``
cookie, as an RM with ``hadoop.http.authentication.type=kerberos`` does. The
client side is zkjanitor's own, with the real ``gssapi`` and a ticket from the
test KDC.
"""

from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from tests.compat.conftest import Realm
from tests.support.fault_support import seed_store
from tests.support.helpers import run_cli
from zkjanitor.errors import SourceUnavailable
from zkjanitor.model import AppPhase
from zkjanitor.sources.base import AppQuery
from zkjanitor.sources.yarn import YarnAuth, YarnSource
from zkjanitor.testing.spnego import COOKIE_NAME, SpnegoAuthenticator
from zkjanitor.testing.yarn_double import YarnDouble

STALE, LIVE = 4, 2


@pytest.fixture
def spnego(realm: Realm, tmp_path) -> SpnegoAuthenticator:
    return SpnegoAuthenticator(realm.http_keytab, tmp_path / "rcache")


@pytest.fixture
def kerberized_rm(spnego) -> Iterator[YarnDouble]:
    with YarnDouble(spnego=spnego, max_completed_apps=1000) as rm:
        yield rm


@pytest.fixture
def store(zk_client, prefix, kerberized_rm):
    return seed_store(zk_client, prefix, kerberized_rm, stale=STALE, live=LIVE)


def scan(zk_server, prefix: str, rm: YarnDouble, env):
    return run_cli(["scan", "--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", rm.url,
                    "--yarn-auth", "kerberos", "--format", "json"], env=env)


def verdicts(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return {session["id"]: (session["verdict"], session["reason"]) for session in json.loads(result.stdout)["sessions"]}


@pytest.mark.parametrize("credentials", ["ticket-cache", "keytab"])
def test_scan_tells_live_from_stale_through_a_kerberized_rm(zk_server, realm, store, prefix, kerberized_rm, spnego,
                                                            credentials):
    env = (realm.env(realm.livy_ccache) if credentials == "ticket-cache"
           else realm.env(realm.fresh_ccache(f"yarn-{prefix.split('/')[0]}"), keytab=realm.livy_keytab))

    found = verdicts(scan(zk_server, prefix, kerberized_rm, env))

    assert found == {**{i: ("stale", "app-finished") for i in range(STALE)},
                     **{i: ("live", "app-active") for i in range(STALE, STALE + LIVE)}}
    assert spnego.users == [realm.livy]  # one Kerberos login for the whole run
    assert spnego.refusals == 0
    assert spnego.cookie_logins == kerberized_rm.request_count - 1


def test_the_cookie_is_reused_and_a_new_login_follows_its_expiry(realm, kerberized_rm, spnego, monkeypatch):
    for name, value in realm.kdc.client_env(realm.livy_ccache).items():
        monkeypatch.setenv(name, value)
    ids = [kerberized_rm.add_app(state="RUNNING")["id"] for _ in range(3)]
    with YarnSource([kerberized_rm.url], auth=YarnAuth("kerberos")) as yarn:
        first = yarn.lookup_many([AppQuery(app_id, "t") for app_id in ids])
        assert spnego.negotiations == 1
        requests = kerberized_rm.requests
        assert "Authorization" in requests[0].headers and "Cookie" not in requests[0].headers
        assert all(request.headers.get("Cookie", "").startswith(f"{COOKIE_NAME}=") and
                   "Authorization" not in request.headers for request in requests[1:])

        spnego.advance_clock(11 * 3600)  # past hadoop-auth's 10 h token validity
        yarn.start_run()  # the next scan lists again
        second = yarn.lookup_many([AppQuery(app_id, "t") for app_id in ids])

    assert [r.phase for r in first] == [r.phase for r in second] == [AppPhase.ACTIVE] * 3
    assert spnego.negotiations == 2  # the expired cookie cost one more login, no error
    assert spnego.refusals == 1  # the 401 that told the source its cookie had expired


def test_without_a_ticket_the_scan_says_to_kinit(zk_server, realm, store, prefix, kerberized_rm, spnego):
    env = realm.env(realm.kdc.directory / "nobody-ran-kinit.ccache")
    result = scan(zk_server, prefix, kerberized_rm, env)
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert f"YARN refused the credentials (HTTP 401) at {kerberized_rm.url}: check your Kerberos ticket (kinit)" in (
        " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.stderr
    assert spnego.negotiations == 0


def test_a_token_the_rm_cannot_accept_is_refused(realm, spnego, monkeypatch):
    """A ticket for another service (the RM's keytab does not hold it): hadoop-auth answers 403."""
    for name, value in realm.kdc.client_env(realm.livy_ccache).items():
        monkeypatch.setenv(name, value)
    with YarnDouble(spnego=SpnegoAuthenticator(realm.zookeeper_keytab, spnego.rcache_dir)) as rm:
        with YarnSource([rm.url], auth=YarnAuth("kerberos")) as yarn, pytest.raises(SourceUnavailable) as caught:
            yarn.lookup_many([AppQuery(rm.add_app()["id"], "t")])
    assert str(caught.value) == (
        f"YARN refused the credentials (HTTP 403) at {rm.url}: check your Kerberos ticket (kinit)"
    )


def test_an_expired_ticket_is_refused_with_the_kinit_hint(zk_server, realm, store, prefix, kerberized_rm, spnego,
                                                          tmp_path):
    """The reason (expired) is in the -v log only; ZooKeeper's GSSAPI error names it (test_kerberos_zk.py)."""
    ccache = realm.kdc.kinit(realm.livy, tmp_path / "short.ccache", keytab=realm.livy_keytab, lifetime="2s")
    time.sleep(3)  # the ticket's whole life
    result = scan(zk_server, prefix, kerberized_rm, realm.env(ccache))
    stderr = " ".join(result.stderr.split())
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert f"YARN refused the credentials (HTTP 401) at {kerberized_rm.url}: check your Kerberos ticket (kinit)" in (
        stderr)
    assert "Traceback" not in stderr
    assert spnego.negotiations == 0
