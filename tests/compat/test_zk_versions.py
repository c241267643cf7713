"""The CLI on every ZooKeeper version of the matrix: 3.4.6, 3.6.3, Debian's 3.8.0, 3.9.3.

Each version runs from its released jars (``zkjanitor.testing.zkversions``).
What differs by version, and what zkjanitor does about it:

* multiRead (3.6+): scans use it; on 3.4 the probe gets "unimplemented" and
  scans read with pipelined gets instead;
* TLS (``secureClientPort``, 3.5.5+): on 3.4 ``--zk-tls`` fails in one line;
* SASL enforcement (3.6+): a 3.4 server lets unauthenticated clients connect,
  so only the ACLs keep them out;
* transactions (``multi``) with version checks exist since 3.4: prune uses them everywhere.

A 3.4 server answers the multiRead probe with "unimplemented" and then closes
the connection: the probe waits to see that close (zk/multiread.py) before it
calls the client usable, and prune re-reads with the scan's method instead of
probing again, so every test here runs the probe on 3.4 too (they once failed
at times with "lost ZooKeeper during the run (ConnectionLoss)").
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.security import CREATOR_ALL_ACL

from tests.compat.conftest import Realm, kerberos_client
from tests.support.fault_support import (
    CliProcess,
    backup_lines_on_disk,
    check_backup_lines,
    check_prune_account,
    check_restored,
    close_client,
    fault_client,
    prune_args,
    read_tree,
    restore_args,
    run_cli_process,
    seed_store,
    store_root,
    wait_until,
)
from tests.support.helpers import run_cli
from zkjanitor.testing.ensemble import ZooKeeperEnsemble
from zkjanitor.testing.zksecure import KerberosZooKeeperServer, SecureZooKeeperServer
from zkjanitor.testing.zkserver import ZooKeeperDistribution, ZooKeeperServer
from zkjanitor.zk.auth import ZK_PASSWORD_ENV
from zkjanitor.zk.lock import prune_lock

STALE, LIVE = 8, 2
PASSWORD = "compat-pw-4f1e"
SERVER_BUILDS = {"3.4.6": "3.4.6-1569965", "3.6.3": "3.6.3-", "3.8.0": "3.8.0-", "3.9.3": "3.9.3-"}


# --- servers, once per version --------------------------------------------------------------------


@pytest.fixture(scope="session")
def versioned_zk(zk_release: ZooKeeperDistribution) -> Iterator[ZooKeeperServer]:
    with ZooKeeperServer(distribution=zk_release) as server:
        yield server


@pytest.fixture(scope="session")
def versioned_secure(zk_release, tls_material) -> Iterator[SecureZooKeeperServer]:
    """SASL DIGEST-MD5 users on the plain port, TLS on a second port where the version has it."""
    tls = tls_material if zk_release.has_tls else None
    with SecureZooKeeperServer(tls, {"livy": PASSWORD}, distribution=zk_release) as server:
        yield server


@pytest.fixture(scope="session")
def versioned_kerberized(zk_release, realm: Realm) -> Iterator[KerberosZooKeeperServer]:
    with KerberosZooKeeperServer(krb5_conf=realm.kdc.krb5_conf, keytab=realm.zookeeper_keytab,
                                 principal=realm.zookeeper_principal, distribution=zk_release) as server:
        yield server


@pytest.fixture(scope="session")
def versioned_ensemble(zk_release) -> Iterator[ZooKeeperEnsemble]:
    with ZooKeeperEnsemble(3, distribution=zk_release) as ensemble:
        yield ensemble


def client_of(connect: str, **kwargs) -> KazooClient:
    client = KazooClient(hosts=connect, timeout=10, connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
                         command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1}, **kwargs)
    client.start(timeout=15)
    return client


@pytest.fixture
def vclient(versioned_zk) -> Iterator[KazooClient]:
    client = client_of(versioned_zk.connect_string)
    yield client
    close_client(client)


def cli(connect: str, command: str, prefix: str, *args: str, env=None):
    return run_cli([command, "--zk", connect, "--prefix", prefix, *args], env=env)


def verdicts(result) -> dict:
    assert result.exit_code == 0, result.stderr
    return {session["id"]: session["verdict"] for session in json.loads(result.stdout)["sessions"]}


EXPECTED = {**{i: "stale" for i in range(STALE)}, **{i: "live" for i in range(STALE, STALE + LIVE)}}


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zkjanitor: error: "), result.stderr
    return lines[0]


# --- the version ---------------------------------------------------------------------------------


def test_the_server_is_the_version_asked_for(versioned_zk, zk_release):
    assert versioned_zk.server_version().startswith(SERVER_BUILDS[zk_release.version])


# --- reading -------------------------------------------------------------------------------------


def test_scan_reads_every_session_with_multiread_where_the_server_has_it(versioned_zk, vclient, prefix, yarn_rm,
                                                                         zk_release, caplog):
    seed_store(vclient, prefix, yarn_rm, stale=STALE, live=LIVE)

    with caplog.at_level("INFO", logger="zkjanitor"):  # what -v prints (in-process, pytest takes the log)
        result = cli(versioned_zk.connect_string, "scan", prefix, "--yarn", yarn_rm.url, "--format", "json", "-v")

    assert verdicts(result) == EXPECTED
    method = "multiread" if zk_release.has_multiread else "pipelined"
    assert f"read and classified {STALE + LIVE} session records under /{prefix} ({method})" in caplog.text


def test_pipelined_reads_work_on_every_version(versioned_zk, vclient, prefix, yarn_rm):
    seed_store(vclient, prefix, yarn_rm, stale=STALE, live=LIVE)
    result = cli(versioned_zk.connect_string, "scan", prefix, "--yarn", yarn_rm.url, "--format", "json",
                 "--read-method", "pipelined")
    assert verdicts(result) == EXPECTED


def test_multiread_asked_for_explicitly(versioned_zk, vclient, prefix, yarn_rm, zk_release, request):
    seed_store(vclient, prefix, yarn_rm, stale=STALE, live=LIVE)
    result = cli(versioned_zk.connect_string, "scan", prefix, "--yarn", yarn_rm.url, "--format", "json",
                 "--read-method", "multiread")
    if zk_release.has_multiread:
        assert verdicts(result) == EXPECTED
    else:
        line = one_line_error(result, 3)
        assert "multiRead" in line, line


# --- prune, restore, the lock --------------------------------------------------------------------


def test_prune_deletes_with_version_checks_and_restore_gives_it_back(versioned_zk, vclient, prefix, yarn_rm,
                                                                     tmp_path):
    store = seed_store(vclient, prefix, yarn_rm, stale=STALE, live=LIVE)
    before = read_tree(vclient, store_root(prefix))
    rewritten = store.stale[-1]  # deleted last: Livy writes it while the prune runs

    run = CliProcess(prune_args(versioned_zk.connect_string, prefix, yarn_rm.url, tmp_path / "backup.jsonl",
                                "--batch-size", "2", "--pause", "0.4"), cwd=tmp_path)
    wait_until(lambda: backup_lines_on_disk(tmp_path / "backup.jsonl") >= 2, timeout=60, what="the first batch",
               process=run)
    changed = before[rewritten].replace(b'"id"', b'"id" ', 1)
    vclient.set(rewritten, changed)
    outcome = run.finish(timeout=120)

    assert outcome.code == 0, outcome.stderr
    actions = {session["path"]: session["action"] for session in outcome.json()["sessions"]}
    assert actions == {**{path: "deleted" for path in store.stale[:-1]}, rewritten: "skipped-changed"}
    after = read_tree(vclient, store_root(prefix))
    assert after[rewritten] == changed
    check_prune_account(outcome.json(), {**before, rewritten: changed}, after, tmp_path / "backup.jsonl")
    check_backup_lines(tmp_path / "backup.jsonl")

    restored = run_cli_process(restore_args(versioned_zk.connect_string, prefix, tmp_path / "backup.jsonl"),
                               cwd=tmp_path)
    check_restored(vclient, store_root(prefix), {**before, rewritten: changed}, restored)


def test_a_held_lock_stops_a_second_prune(versioned_zk, vclient, prefix, yarn_rm, workdir):
    seed_store(vclient, prefix, yarn_rm, stale=STALE, live=LIVE)
    before = read_tree(vclient, store_root(prefix))
    with prune_lock(vclient, prefix, identifier="cron@edge7 pid 77 started 2026-01-01T00:00:00Z"):
        result = cli(versioned_zk.connect_string, "prune", prefix, "--yarn", yarn_rm.url, "--older-than", "1d",
                     "--apply", "--yes")
    assert result.exit_code == 5, result.stderr
    assert "cron@edge7 pid 77" in result.stderr
    assert read_tree(vclient, store_root(prefix)) == before


# --- authentication and TLS ----------------------------------------------------------------------


def test_digest_acls(versioned_zk, prefix, yarn_rm, workdir, zk_release):
    livy = client_of(versioned_zk.connect_string, auth_data=[("digest", f"livy:{PASSWORD}")],
                     default_acl=CREATOR_ALL_ACL)
    try:
        store = seed_store(livy, prefix, yarn_rm, stale=STALE, live=LIVE)
        env = {ZK_PASSWORD_ENV: PASSWORD}
        assert verdicts(cli(versioned_zk.connect_string, "scan", prefix, "--zk-auth", "digest:livy", "--yarn",
                            yarn_rm.url, "--format", "json", env=env)) == EXPECTED
        line = one_line_error(cli(versioned_zk.connect_string, "scan", prefix, "--format", "json"), 3)
        assert "NoAuth" in line
        pruned = cli(versioned_zk.connect_string, "prune", prefix, "--zk-auth", "digest:livy", "--yarn", yarn_rm.url,
                     "--older-than", "1d", "--apply", "--yes", "--format", "json", env=env)
        assert pruned.exit_code == 0, pruned.stderr
        assert json.loads(pruned.stdout)["deleted"] == STALE
        assert all(livy.exists(path) is None for path in store.stale)
    finally:
        close_client(livy)


def test_sasl_digest_md5(versioned_secure, prefix, yarn_rm, zk_release):
    livy = client_of(versioned_secure.connect_string, default_acl=CREATOR_ALL_ACL,
                     sasl_options={"mechanism": "DIGEST-MD5", "username": "livy", "password": PASSWORD})
    try:
        seed_store(livy, prefix, yarn_rm, stale=STALE, live=LIVE)
    finally:
        close_client(livy)
    args = ("--zk-sasl", "DIGEST-MD5", "--zk-sasl-user", "livy", "--yarn", yarn_rm.url, "--format", "json")
    assert verdicts(cli(versioned_secure.connect_string, "scan", prefix, *args,
                        env={ZK_PASSWORD_ENV: PASSWORD})) == EXPECTED
    line = one_line_error(cli(versioned_secure.connect_string, "scan", prefix, *args, "--timeout", "2",
                              env={ZK_PASSWORD_ENV: "wrong"}), 3)
    assert "rejected the credentials" in line


def test_tls_where_the_version_has_it(versioned_secure, zk_release, tls_material, prefix, yarn_rm):
    if not zk_release.has_tls:
        # 3.4 has no secureClientPort: --zk-tls against its only port fails in one line.
        line = one_line_error(cli(versioned_secure.connect_string, "scan", prefix, "--zk-ca", str(tls_material.ca),
                                  "--timeout", "2"), 3)
        assert f"TLS connection to ZooKeeper at {versioned_secure.connect_string} failed" in line, line
        return
    livy = client_of(versioned_secure.connect_string, default_acl=CREATOR_ALL_ACL,
                     sasl_options={"mechanism": "DIGEST-MD5", "username": "livy", "password": PASSWORD})
    try:
        seed_store(livy, prefix, yarn_rm, stale=STALE, live=LIVE)
    finally:
        close_client(livy)
    result = cli(versioned_secure.secure_connect_string, "scan", prefix, "--zk-ca", str(tls_material.ca),
                 "--zk-sasl", "DIGEST-MD5", "--zk-sasl-user", "livy", "--yarn", yarn_rm.url, "--format", "json",
                 env={ZK_PASSWORD_ENV: PASSWORD})
    assert verdicts(result) == EXPECTED


def test_kerberos(versioned_kerberized, realm, zk_release, prefix, yarn_rm, workdir):
    livy = kerberos_client(versioned_kerberized.connect_string)
    try:
        store = seed_store(livy, prefix, yarn_rm, stale=STALE, live=LIVE)
        env = realm.env(realm.livy_ccache)
        args = ("--zk-sasl", "GSSAPI", "--yarn", yarn_rm.url, "--format", "json")
        assert verdicts(cli(versioned_kerberized.connect_string, "scan", prefix, *args, env=env)) == EXPECTED
        pruned = cli(versioned_kerberized.connect_string, "prune", prefix, *args, "--older-than", "1d", "--apply",
                     "--yes", env=env)
        assert pruned.exit_code == 0, pruned.stderr
        assert all(livy.exists(path) is None for path in store.stale)

        unauthenticated = cli(versioned_kerberized.connect_string, "scan", prefix, "--timeout", "2", env=env)
        line = one_line_error(unauthenticated, 3)
        if zk_release.version_tuple >= (3, 6):
            assert "ZooKeeper requires SASL authentication" in line, line  # the server refuses the session
        else:
            assert "NoAuth" in line, line  # 3.4 lets it in; the ACLs keep it out
    finally:
        close_client(livy)


# --- an ensemble losing its leader ---------------------------------------------------------------


def test_a_leader_killed_mid_prune(versioned_ensemble, prefix, yarn_rm, tmp_path):
    ensemble = versioned_ensemble
    client = fault_client(ensemble.connect_string)
    store = seed_store(client, prefix, yarn_rm, stale=24)
    before = read_tree(client, store_root(prefix))
    close_client(client)
    backup = tmp_path / "backup.jsonl"
    run = CliProcess(prune_args(ensemble.connect_string, prefix, yarn_rm.url, backup, "--batch-size", "2",
                                "--pause", "0.3"), cwd=tmp_path)
    wait_until(lambda: backup_lines_on_disk(backup) >= 4, timeout=60, what="4 backed-up znodes", process=run)
    leader = ensemble.leader()
    ensemble.kill(leader)
    outcome = run.finish(timeout=150)

    assert outcome.code in (0, 4), outcome.stderr
    assert "Traceback" not in outcome.stderr
    ensemble.start(leader)
    ensemble.wait_serving()
    client = fault_client(ensemble.connect_string)
    try:
        actions = check_prune_account(outcome.json(), before, read_tree(client, store_root(prefix)), backup)
        assert set(actions) <= set(store.stale)
        check_restored(client, store_root(prefix), before,
                       run_cli_process(restore_args(ensemble.connect_string, prefix, backup), cwd=tmp_path))
    finally:
        close_client(client)
