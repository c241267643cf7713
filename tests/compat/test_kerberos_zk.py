"""`--zk-sasl GSSAPI` against a Kerberized ZooKeeper and a real MIT KDC.

The server (Debian's ZooKeeper) logs in from its keytab as
``zookeeper/127.0.0.1@ZKJANITOR.TEST`` and refuses clients that do not log in
with SASL. The store is written as Livy writes it with
``livy.server.zk.sasl.enabled``: by the ``livy`` principal, every znode with
the ACL ``sasl:livy@ZKJANITOR.TEST``. zkjanitor runs as ``livy`` from a ticket
cache (``kinit``) or from a keytab (``KRB5_CLIENT_KTNAME``, no ``kinit``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

from tests.compat.conftest import Realm, kerberos_client
from tests.support.fault_support import read_tree, seed_store, store_root
from tests.support.helpers import run_cli
from zkjanitor.testing.zksecure import KerberosZooKeeperServer
from zkjanitor.zk.lock import prune_lock

GSSAPI = ("--zk-sasl", "GSSAPI")
STALE, LIVE = 6, 2


@pytest.fixture(scope="session")
def kerberized_zk(realm: Realm) -> Iterator[KerberosZooKeeperServer]:
    with KerberosZooKeeperServer(krb5_conf=realm.kdc.krb5_conf, keytab=realm.zookeeper_keytab,
                                 principal=realm.zookeeper_principal) as server:
        yield server


@pytest.fixture
def livy_client(kerberized_zk):
    client = kerberos_client(kerberized_zk.connect_string)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def store(livy_client, prefix, yarn_rm):
    """Batch sessions 0-5 stale (apps finished weeks ago), 6-7 live; every znode ``sasl:livy@REALM`` only."""
    return seed_store(livy_client, prefix, yarn_rm, stale=STALE, live=LIVE)


def cli(server, command: str, prefix: str, *args: str, env: Dict[str, Optional[str]]):
    return run_cli([command, "--zk", server.connect_string, "--prefix", prefix, *args], env=env)


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zkjanitor: error: "), result.stderr
    return lines[0]


def by_verdict(result) -> Dict[str, list]:
    assert result.exit_code == 0, result.stderr
    grouped: Dict[str, list] = {}
    for session in json.loads(result.stdout)["sessions"]:
        grouped.setdefault(session["verdict"], []).append(session["id"])
    return grouped


def test_the_store_is_livys_alone(store, livy_client, prefix):
    acl, _ = livy_client.get_acls(store.stale[0])
    assert [(entry.id.scheme, entry.id.id) for entry in acl] == [("sasl", "livy@ZKJANITOR.TEST")]


@pytest.mark.parametrize("credentials", ["ticket-cache", "keytab"])
def test_scan_prune_restore_as_livy(kerberized_zk, realm, store, livy_client, prefix, yarn_rm, workdir, credentials):
    if credentials == "ticket-cache":
        env, principal = realm.env(realm.livy_ccache), ()
    else:  # a service account: no kinit, MIT Kerberos gets the ticket from the keytab itself
        ccache = realm.fresh_ccache(f"cron-{prefix.split('/')[0]}")
        env, principal = realm.env(ccache, keytab=realm.livy_keytab), ("--zk-sasl-principal", realm.livy)
    before = read_tree(livy_client, store_root(prefix))
    yarn = ("--yarn", yarn_rm.url)

    scanned = by_verdict(cli(kerberized_zk, "scan", prefix, *GSSAPI, *principal, *yarn, "--format", "json", env=env))
    assert scanned == {"stale": list(range(STALE)), "live": list(range(STALE, STALE + LIVE))}

    backup = workdir / "backup.jsonl"
    pruned = cli(kerberized_zk, "prune", prefix, *GSSAPI, *principal, *yarn, "--older-than", "1d", "--apply",
                 "--yes", "--backup", str(backup), "--format", "json", env=env)
    assert pruned.exit_code == 0, pruned.stderr
    assert json.loads(pruned.stdout)["deleted"] == STALE
    after = read_tree(livy_client, store_root(prefix))
    assert set(before) - set(after) == set(store.stale)

    restored = run_cli(["restore", str(backup), "--zk", kerberized_zk.connect_string, "--prefix", prefix,
                        *GSSAPI, *principal, "--apply", "--yes", "--format", "json"], env=env)
    assert restored.exit_code == 0, restored.stderr
    assert read_tree(livy_client, store_root(prefix)) == before
    if credentials == "keytab":
        assert ccache.exists()  # where the ticket from the keytab went


def test_a_prune_holding_the_lock_makes_the_next_one_exit_5(kerberized_zk, realm, store, livy_client, prefix,
                                                            yarn_rm, workdir):
    before = read_tree(livy_client, store_root(prefix))
    with prune_lock(livy_client, prefix, identifier="cron@edge1 pid 4242 started 2026-01-01T03:00:00Z"):
        result = cli(kerberized_zk, "prune", prefix, *GSSAPI, "--yarn", yarn_rm.url, "--older-than", "1d",
                     "--apply", "--yes", env=realm.env(realm.livy_ccache))
    assert result.exit_code == 5, result.stderr
    assert "cron@edge1 pid 4242" in result.stderr
    assert read_tree(livy_client, store_root(prefix)) == before


def test_a_principal_the_acls_do_not_name_is_refused_and_deletes_nothing(kerberized_zk, realm, store, livy_client,
                                                                       prefix, yarn_rm, workdir):
    """Livy's Curator gives the type directories the same ``sasl:livy`` ACL: another principal cannot even list."""
    env = realm.env(realm.other_ccache)
    before = read_tree(livy_client, store_root(prefix))
    line = one_line_error(cli(kerberized_zk, "scan", prefix, *GSSAPI, env=env), 3)
    assert f"ZooKeeper refused to list /{prefix}/v1/batch (NoAuth)" in line, line
    line = one_line_error(cli(kerberized_zk, "prune", prefix, *GSSAPI, "--yarn", yarn_rm.url, "--older-than", "1d",
                              "--apply", "--yes", env=env), 3)
    assert f"cannot take the prune lock /{prefix}/zkjanitor-lock: NoAuthError" in line, line
    assert read_tree(livy_client, store_root(prefix)) == before


@pytest.mark.parametrize("case", ["principal-without-credentials", "wrong-service", "no-ticket"])
def test_a_login_that_cannot_work_is_one_line_exit_3(kerberized_zk, realm, store, prefix, case):
    env, args = realm.env(realm.livy_ccache), list(GSSAPI)
    if case == "principal-without-credentials":
        args += ["--zk-sasl-principal", "nobody@ZKJANITOR.TEST"]
        expected = "no Kerberos credentials for nobody@ZKJANITOR.TEST (Can't find client principal"
    elif case == "wrong-service":
        args += ["--zk-sasl-service", "zk"]
        expected = "failed (Server zk/127.0.0.1@ZKJANITOR.TEST not found in Kerberos database)"
    else:
        env = realm.env(realm.kdc.directory / "nobody-ran-kinit.ccache")
        expected = "failed (No Kerberos credentials available"
    line = one_line_error(cli(kerberized_zk, "scan", prefix, *args, "--timeout", "2", env=env), 3)
    assert expected in line, line
    assert "kinit" in line


def test_an_expired_ticket_says_so(kerberized_zk, realm, store, prefix, tmp_path):
    ccache = realm.kdc.kinit(realm.livy, tmp_path / "short.ccache", keytab=realm.livy_keytab, lifetime="2s")
    time.sleep(3)  # the ticket's whole life
    line = one_line_error(cli(kerberized_zk, "scan", prefix, *GSSAPI, "--timeout", "2",
                              env=realm.env(ccache)), 3)
    assert "failed (Ticket expired)" in line, line


def test_without_sasl_the_server_lets_nothing_through(kerberized_zk, realm, store, prefix):
    line = one_line_error(cli(kerberized_zk, "scan", prefix, "--timeout", "2", env=realm.env(realm.livy_ccache)), 3)
    assert "ZooKeeper requires SASL authentication" in line and "pass --zk-sasl" in line, line


def test_the_kdc_and_its_files_stay_in_their_own_directory(realm):
    assert Path(realm.kdc.env["KRB5_CONFIG"]).parent == realm.kdc.directory
    text = realm.kdc.krb5_conf.read_text()
    assert "127.0.0.1" in text and str(realm.kdc.directory) in text
    assert realm.kdc.running


def test_an_expired_ticket_is_renewed_from_a_client_keytab(kerberized_zk, realm, store, prefix, tmp_path):
    """What the cron set-up of docs/security.md relies on: KRB5_CLIENT_KTNAME outlives the ticket."""
    ccache = realm.kdc.kinit(realm.livy, tmp_path / "cron.ccache", keytab=realm.livy_keytab, lifetime="2s")
    time.sleep(3)
    result = cli(kerberized_zk, "scan", prefix, *GSSAPI, "--zk-sasl-principal", realm.livy, "--format", "json",
                 env=realm.env(ccache, keytab=realm.livy_keytab))
    assert result.exit_code == 0, result.stderr
    assert sorted(session["id"] for session in json.loads(result.stdout)["sessions"]) == list(range(STALE + LIVE))


def test_a_client_keytab_that_cannot_be_read_is_a_usage_error(kerberized_zk, realm, prefix, tmp_path):
    missing = tmp_path / "livy.keytab"
    result = cli(kerberized_zk, "scan", prefix, *GSSAPI, env=realm.env(realm.livy_ccache, keytab=missing))
    line = one_line_error(result, 2)
    assert f"$KRB5_CLIENT_KTNAME names the keytab {missing}, which cannot be read (No such file or directory)" in line
