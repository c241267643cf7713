"""ZooKeeper authentication and TLS, end to end: the real CLI against real ZooKeeper servers.

- digest (``--zk-auth``) on the shared plain server, with znodes whose ACLs
  only the digest user may read;
- SASL DIGEST-MD5 on the plain port of a :class:`SecureZooKeeperServer`
  (JAAS users), with ``sasl:`` ACLs;
- TLS on the same server's ``secureClientPort``, with certificates this test
  session generates, and ``x509:`` ACLs for the client certificate;
- GSSAPI's options (the real thing, against a KDC, is in tests/compat/test_kerberos_zk.py);
- secrets never in any output, log, metrics file, backup header, error
  message or the process list.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import pytest
from kazoo.client import KazooClient
from kazoo.security import make_acl, make_digest_acl

from tests.support.helpers import run_cli
from tests.support.paths import REPO
from zkjanitor.model import SessionType
from zkjanitor.testing.seeder import DAY_MS, encode_record, livy_record, seed, store_path, yarn_app, yarn_app_id
from zkjanitor.testing.zksecure import CLIENT_CERT_SUBJECT, SecureZooKeeperServer, TlsMaterial, generate_tls_material
from zkjanitor.testing.zkserver import LOOPBACK
from zkjanitor.zk.auth import ZK_PASSWORD_ENV, ZkAuthArgs, resolve_zk_auth
from zkjanitor.zk.client import ZkSasl

USER = "livy"
DIGEST_PASSWORD = f"dg-{secrets.token_hex(8)}"
SASL_PASSWORD = f"sl-{secrets.token_hex(8)}"
RSC_SECRET = f"rsc-{secrets.token_hex(8)}"
CONF_SECRET = f"cf-{secrets.token_hex(8)}"
FAIL_FAST = ("--timeout", "1")
"""Failing connections wait for --timeout; keep those tests quick."""
COMMANDS = ("scan", "check", "prune", "restore", "doctor")
OPTIONS = ("--zk-auth", "--zk-auth-file", "--zk-sasl", "--zk-sasl-user", "--zk-sasl-service", "--zk-sasl-principal",
           "--zk-tls", "--zk-ca", "--zk-cert", "--zk-key", "--zk-key-password-file", "--zk-tls-no-verify")


# --- servers and stores -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls(tmp_path_factory) -> TlsMaterial:
    return generate_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def secure_zk(tls) -> Iterator[SecureZooKeeperServer]:
    with SecureZooKeeperServer(tls, {USER: SASL_PASSWORD}) as server:
        yield server


@pytest.fixture(scope="session")
def secure_zk_client(secure_zk) -> Iterator[KazooClient]:
    """An unauthenticated client on the secure server's plain port, for seeding."""
    client = KazooClient(hosts=secure_zk.connect_string, timeout=10)
    client.start(timeout=15)
    yield client
    client.stop()
    client.close()


def seed_sessions(client: KazooClient, prefix: str, session_type: SessionType, ids: Iterable[int],
                  acl: Optional[list] = None, *, interactive_secrets: bool = False) -> Dict[int, str]:
    """Livy 0.9 sessions (with ``acl``, else open), their parents and counter; returns id -> app tag."""
    ids = list(ids)
    seed(client, prefix, [], counters={session_type: max(ids) + 1})
    tags = {}
    for session_id in ids:
        tags[session_id] = f"livy-{session_type.value}-{session_id}-q7w8e9r0"
        extra = {}
        if interactive_secrets:
            extra = {"rsc_driver_uri": f"rsc://{RSC_SECRET}@10.1.2.3:39127", "conf": {"spark.secret": CONF_SECRET}}
        record = livy_record(session_type, session_id, livy_version="0.9", app_tag=tags[session_id],
                             app_id=yarn_app_id(1_700_000_000_000, session_id + 1), **extra)
        client.create(store_path(prefix, session_type, str(session_id)), encode_record(record), acl=acl)
    return tags


def finish_apps(yarn, session_type: SessionType, tags: Dict[int, str], days_ago: float = 2) -> None:
    """Tell YARN each session's application finished ``days_ago``."""
    finished = int(time.time() * 1000) - int(days_ago * DAY_MS)
    yarn.add_apps(
        yarn_app(yarn_app_id(1_700_000_000_000, session_id + 1), tag, state="FINISHED", user=USER,
                 started_ms=finished - 60_000, finished_ms=finished)
        for session_id, tag in tags.items()
    )


def secret_file(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.write_text(text)
    return path


def scan(connect: str, prefix: str, *args: str, env: Optional[Dict[str, str]] = None):
    return run_cli(["scan", "--zk", connect, "--prefix", prefix, "--format", "json", *args], env=env)


def session_ids(result) -> List[int]:
    assert result.exit_code == 0, result.stderr
    return sorted(session["id"] for session in json.loads(result.stdout)["sessions"])


def unreadable(result) -> List[str]:
    return sorted(entry["error"] for entry in json.loads(result.stdout)["unreadable"])


def warnings_of(result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zkjanitor: error: "), result.stderr
    return lines[0]


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_documents_the_zookeeper_security_options(command):
    text = run_cli([command, "--help"]).stdout
    for option in OPTIONS:
        assert option in text
    assert ZK_PASSWORD_ENV in text
    assert "never from the command line" in text


def test_zk_auth_without_a_secret_is_a_one_line_usage_error(zk_server, prefix):
    line = one_line_error(scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy"), 2)
    assert ZK_PASSWORD_ENV in line and "--zk-auth-file" in line


def test_a_password_on_the_command_line_is_refused_and_never_echoed(zk_server, prefix):
    result = scan(zk_server.connect_string, prefix, "--zk-auth", f"digest:livy:{DIGEST_PASSWORD}")
    line = one_line_error(result, 2)
    assert "never put the password on the command line" in line
    assert DIGEST_PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("content", [f"{DIGEST_PASSWORD}\n", f"{USER}:{DIGEST_PASSWORD}\n", DIGEST_PASSWORD])
def test_the_secret_file_holds_the_password_or_user_colon_password_and_beats_the_environment(tmp_path, content):
    path = secret_file(tmp_path / "zk.secret", content)
    args = ZkAuthArgs(zk_auth="digest:livy", zk_auth_file=path)
    credentials = resolve_zk_auth(args, {ZK_PASSWORD_ENV: "from-the-environment"})
    assert credentials.auth_data == (("digest", f"{USER}:{DIGEST_PASSWORD}"),)
    assert resolve_zk_auth(args._replace(zk_auth_file=None), {ZK_PASSWORD_ENV: "pw"}).auth_data == (
        ("digest", "livy:pw"),
    )


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    (f"{DIGEST_PASSWORD}\nsecond line\n", "exactly one line"),
    (f"{USER}:\n", "no password"),
])
def test_a_bad_secret_file_is_a_usage_error_that_does_not_quote_it(zk_server, prefix, tmp_path, content, message):
    path = secret_file(tmp_path / "zk.secret", content)
    result = scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", "--zk-auth-file", str(path))
    assert message in one_line_error(result, 2)
    assert DIGEST_PASSWORD not in result.stderr


def test_a_secret_file_others_can_read_is_warned_about(zk_server, zk_client, prefix, tmp_path):
    seed_sessions(zk_client, prefix, SessionType.BATCH, [1])
    path = secret_file(tmp_path / "zk.secret", DIGEST_PASSWORD)
    path.chmod(0o644)
    result = scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", "--zk-auth-file", str(path))
    assert result.exit_code == 0, result.stderr
    assert f"is readable by other users (mode 0644): chmod 600 {path}" in warnings_of(result)


def test_options_that_need_a_mechanism_are_usage_errors(zk_server, prefix):
    assert "--zk-sasl-user is for --zk-sasl DIGEST-MD5" in one_line_error(
        scan(zk_server.connect_string, prefix, "--zk-sasl-user", USER), 2)
    assert "needs --zk-sasl-user" in one_line_error(
        scan(zk_server.connect_string, prefix, "--zk-sasl", "DIGEST-MD5"), 2)
    assert "would share one password" in one_line_error(
        scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", "--zk-sasl", "digest-md5",
             "--zk-sasl-user", USER, env={ZK_PASSWORD_ENV: DIGEST_PASSWORD}), 2)


def test_without_pure_sasl_zk_sasl_says_which_extra_to_install(zk_server, prefix, monkeypatch):
    monkeypatch.setitem(sys.modules, "puresasl", None)
    result = scan(zk_server.connect_string, prefix, "--zk-sasl", "DIGEST-MD5", "--zk-sasl-user", USER,
                  env={ZK_PASSWORD_ENV: SASL_PASSWORD})
    assert "pip install 'zkjanitor[sasl]'" in one_line_error(result, 2)


def test_gssapi_without_the_kerberos_binding_says_which_extra_to_install(zk_server, prefix, monkeypatch):
    monkeypatch.setitem(sys.modules, "kerberos", None)
    result = scan(zk_server.connect_string, prefix, "--zk-sasl", "GSSAPI")
    assert "pip install 'zkjanitor[kerberos]'" in one_line_error(result, 2)


def test_sasl_options_for_kazoo(monkeypatch):
    monkeypatch.setitem(sys.modules, "kerberos", types.ModuleType("kerberos"))
    gssapi = resolve_zk_auth(ZkAuthArgs(zk_sasl="gssapi", zk_sasl_service="zk",
                                        zk_sasl_principal="livy@EXAMPLE.COM"), {}).sasl
    assert gssapi is not None
    assert gssapi.kazoo_options() == {"mechanism": "GSSAPI", "service": "zk", "principal": "livy@EXAMPLE.COM"}
    digest = resolve_zk_auth(ZkAuthArgs(zk_sasl="DIGEST-MD5", zk_sasl_user=USER), {ZK_PASSWORD_ENV: "pw"}).sasl
    assert digest == ZkSasl("DIGEST-MD5", "zookeeper", username=USER, password="pw")
    assert digest.kazoo_options() == {"mechanism": "DIGEST-MD5", "service": "zookeeper", "username": USER,
                                      "password": "pw"}
    assert "pw" not in repr(digest)


# --- digest ---------------------------------------------------------------------------------------


@pytest.fixture
def digest_store(zk_client, prefix) -> None:
    """Batch sessions 1 and 2 open, 3 and 4 readable only by the digest user."""
    seed_sessions(zk_client, prefix, SessionType.BATCH, [1, 2])
    acl = [make_digest_acl(USER, DIGEST_PASSWORD, all=True)]
    for session_id in (3, 4):
        record = livy_record(SessionType.BATCH, session_id, livy_version="0.9", app_tag=f"livy-batch-{session_id}-x")
        zk_client.create(store_path(prefix, SessionType.BATCH, str(session_id)), encode_record(record), acl=acl)


def test_without_credentials_protected_sessions_are_reported_unreadable(zk_server, prefix, digest_store):
    result = scan(zk_server.connect_string, prefix)
    assert session_ids(result) == [1, 2]
    assert unreadable(result) == ["NoAuth", "NoAuth"]
    assert "2 session znode(s) could not be read" in warnings_of(result) and "--zk-auth" in result.stderr


def test_digest_with_the_password_from_the_environment_reads_every_session(zk_server, prefix, digest_store):
    result = scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", env={ZK_PASSWORD_ENV: DIGEST_PASSWORD})
    assert session_ids(result) == [1, 2, 3, 4]
    assert unreadable(result) == []


def test_digest_with_the_password_from_a_file_reads_every_session(zk_server, prefix, digest_store, tmp_path):
    path = secret_file(tmp_path / "zk.secret", f"{USER}:{DIGEST_PASSWORD}\n")
    result = scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", "--zk-auth-file", str(path))
    assert session_ids(result) == [1, 2, 3, 4]
    assert "readable by other users" not in warnings_of(result)


def test_digest_from_environment_variables_and_from_the_config_file(zk_server, prefix, digest_store, tmp_path):
    env = {"ZKJANITOR_ZK_AUTH": "digest:livy", ZK_PASSWORD_ENV: DIGEST_PASSWORD}
    assert session_ids(scan(zk_server.connect_string, prefix, env=env)) == [1, 2, 3, 4]
    path = secret_file(tmp_path / "zk.secret", DIGEST_PASSWORD)
    config = tmp_path / "zkjanitor.toml"
    config.write_text(f'zk-auth = "digest:livy"\nzk-auth-file = "{path}"\n')
    result = run_cli(["--config", str(config), "scan", "--zk", zk_server.connect_string, "--prefix", prefix,
                      "--format", "json"])
    assert session_ids(result) == [1, 2, 3, 4]


def test_a_wrong_digest_password_leaves_protected_sessions_unreadable_with_a_hint(zk_server, prefix, digest_store):
    # ZooKeeper accepts any digest credentials; only the ACL checks tell.
    result = scan(zk_server.connect_string, prefix, "--zk-auth", "digest:livy", env={ZK_PASSWORD_ENV: "wrong"})
    assert session_ids(result) == [1, 2]
    assert unreadable(result) == ["NoAuth", "NoAuth"]
    assert "check the ACLs and --zk-auth or --zk-sasl" in warnings_of(result)


def test_prune_deletes_what_the_acls_allow_and_reports_the_rest_failed(zk_server, zk_client, prefix, yarn_rm,
                                                                       tmp_path):
    protected = [make_digest_acl(USER, DIGEST_PASSWORD, all=True)]
    batch = seed_sessions(zk_client, prefix, SessionType.BATCH, [1, 2], protected)
    interactive = seed_sessions(zk_client, prefix, SessionType.INTERACTIVE, [7, 8], protected)
    # Deleting needs DELETE on the parent: the interactive one lets the digest user read only.
    interactive_parent = store_path(prefix, SessionType.INTERACTIVE)
    zk_client.set_acls(interactive_parent, [make_acl("world", "anyone", read=True, create=True),
                                            make_digest_acl(USER, DIGEST_PASSWORD, read=True)])
    finish_apps(yarn_rm, SessionType.BATCH, batch)
    finish_apps(yarn_rm, SessionType.INTERACTIVE, interactive)
    backup = tmp_path / "prune.jsonl"

    result = run_cli(["prune", "--zk", zk_server.connect_string, "--prefix", prefix, "--yarn", yarn_rm.url,
                      "--zk-auth", "digest:livy", "--older-than", "1d", "--apply", "--yes", "--backup", str(backup),
                      "--format", "json"], env={ZK_PASSWORD_ENV: DIGEST_PASSWORD})

    assert result.exit_code == 4, result.stderr
    outcomes = {(s["type"], s["id"]): (s["action"], s.get("detail")) for s in json.loads(result.stdout)["sessions"]}
    assert outcomes == {("batch", 1): ("deleted", None), ("batch", 2): ("deleted", None),
                        ("interactive", 7): ("failed", "NoAuthError"), ("interactive", 8): ("failed", "NoAuthError")}
    assert zk_client.get_children(store_path(prefix, SessionType.BATCH)) == ["state"]
    assert sorted(zk_client.get_children(interactive_parent)) == ["7", "8", "state"]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


# --- SASL -----------------------------------------------------------------------------------------


@pytest.fixture
def sasl_store(secure_zk_client, prefix) -> None:
    """Batch session 1 open, 2 readable only by the SASL user."""
    seed_sessions(secure_zk_client, prefix, SessionType.BATCH, [1])
    record = livy_record(SessionType.BATCH, 2, livy_version="0.9", app_tag="livy-batch-2-x")
    secure_zk_client.create(store_path(prefix, SessionType.BATCH, "2"), encode_record(record),
                            acl=[make_acl("sasl", USER, all=True)])


def sasl_args(user: str = USER) -> List[str]:
    return ["--zk-sasl", "DIGEST-MD5", "--zk-sasl-user", user]


def test_sasl_digest_md5_reads_sasl_protected_sessions(secure_zk, prefix, sasl_store):
    without = scan(secure_zk.connect_string, prefix)
    assert session_ids(without) == [1] and unreadable(without) == ["NoAuth"]
    result = scan(secure_zk.connect_string, prefix, *sasl_args(), env={ZK_PASSWORD_ENV: SASL_PASSWORD})
    assert session_ids(result) == [1, 2]
    assert unreadable(result) == []


@pytest.mark.parametrize("user, password", [(USER, "wrong"), ("nobody", "also-wrong")])
def test_sasl_with_wrong_credentials_exits_3_in_one_line(secure_zk, prefix, sasl_store, user, password):
    result = scan(secure_zk.connect_string, prefix, *sasl_args(user), env={ZK_PASSWORD_ENV: password})
    line = one_line_error(result, 3)
    assert f"ZooKeeper at {secure_zk.connect_string} rejected the credentials" in line
    assert "--zk-sasl-user" in line
    assert result.stdout == ""


def test_sasl_over_tls(secure_zk, prefix, sasl_store, tls):
    result = scan(secure_zk.secure_connect_string, prefix, "--zk-ca", str(tls.ca), *sasl_args(),
                  env={ZK_PASSWORD_ENV: SASL_PASSWORD})
    assert session_ids(result) == [1, 2]


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def tls_store(secure_zk_client, prefix) -> None:
    """Batch session 1 open, 2 readable only with the test client certificate."""
    seed_sessions(secure_zk_client, prefix, SessionType.BATCH, [1])
    record = livy_record(SessionType.BATCH, 2, livy_version="0.9", app_tag="livy-batch-2-x")
    secure_zk_client.create(store_path(prefix, SessionType.BATCH, "2"), encode_record(record),
                            acl=[make_acl("x509", CLIENT_CERT_SUBJECT, all=True)])


def test_tls_with_the_ca_scans_the_secure_port(secure_zk, prefix, tls_store, tls):
    result = scan(secure_zk.secure_connect_string, prefix, "--zk-ca", str(tls.ca))
    assert session_ids(result) == [1]
    assert unreadable(result) == ["NoAuth"]  # no client certificate: not the x509 user


def test_a_certificate_for_another_host_name_is_refused(secure_zk, prefix, tls_store, tls):
    by_name = f"localhost:{secure_zk.secure_port}"  # the same server, but its certificate names 127.0.0.1 only
    line = one_line_error(scan(by_name, prefix, "--zk-ca", str(tls.ca), *FAIL_FAST), 3)
    assert "certificate is not valid for 'localhost'" in line
    assert "check that the host name in --zk is in that certificate" in line


@pytest.mark.parametrize("key", ["plain", "encrypted", "in-the-certificate-file"])
def test_a_client_certificate_is_an_identity_in_acls(secure_zk, prefix, tls_store, tls, tmp_path, key):
    args = ["--zk-ca", str(tls.ca)]
    if key == "plain":
        args += ["--zk-cert", str(tls.client_cert), "--zk-key", str(tls.client_key)]
    elif key == "encrypted":
        args += ["--zk-cert", str(tls.client_cert), "--zk-key", str(tls.client_key_encrypted),
                 "--zk-key-password-file", str(tls.client_key_password_file)]
    else:
        both = secret_file(tmp_path / "client.pem", tls.client_cert.read_text() + tls.client_key.read_text())
        args += ["--zk-cert", str(both)]
    result = scan(secure_zk.secure_connect_string, prefix, *args)
    assert session_ids(result) == [1, 2]


def test_tls_without_the_ca_exits_3_and_says_what_to_check(secure_zk, prefix, tls_store):
    result = scan(secure_zk.secure_connect_string, prefix, "--zk-tls", *FAIL_FAST)
    line = one_line_error(result, 3)
    assert "certificate verify failed" in line
    assert "give --zk-ca" in line and "secureClientPort" in line


def test_tls_against_the_plain_port_exits_3_and_names_the_secure_port(secure_zk, prefix, tls_store, tls):
    line = one_line_error(scan(secure_zk.connect_string, prefix, "--zk-ca", str(tls.ca), *FAIL_FAST), 3)
    assert f"TLS connection to ZooKeeper at {secure_zk.connect_string} failed" in line
    assert "secureClientPort" in line


def test_plain_zookeeper_against_the_tls_port_suggests_zk_tls(secure_zk, prefix, tls_store):
    line = one_line_error(scan(secure_zk.secure_connect_string, prefix, *FAIL_FAST), 3)
    assert "add --zk-tls and --zk-ca" in line


def test_no_verify_connects_without_a_ca_and_warns_loudly(secure_zk, prefix, tls_store):
    result = scan(secure_zk.secure_connect_string, prefix, "--zk-tls-no-verify")
    assert session_ids(result) == [1]
    assert "--zk-tls-no-verify: the ZooKeeper server's certificate and host name are NOT checked" in (
        warnings_of(result))


@pytest.mark.parametrize("problem, message", [
    ("not-pem", "cannot use --zk-ca"),
    ("encrypted-without-password", "is encrypted: give its password with --zk-key-password-file"),
    ("wrong-password", "is the key password right?"),
    ("key-without-cert", "--zk-key needs --zk-cert"),
])
def test_unusable_tls_files_are_usage_errors_before_connecting(tls, tmp_path, problem, message):
    args = {
        "not-pem": ["--zk-ca", str(secret_file(tmp_path / "ca.pem", "not a certificate"))],
        "encrypted-without-password": ["--zk-cert", str(tls.client_cert), "--zk-key", str(tls.client_key_encrypted)],
        "wrong-password": ["--zk-cert", str(tls.client_cert), "--zk-key", str(tls.client_key_encrypted),
                           "--zk-key-password-file", str(secret_file(tmp_path / "pw", "wrong"))],
        "key-without-cert": ["--zk-key", str(tls.client_key)],
    }[problem]
    result = run_cli(["scan", "--zk", f"{LOOPBACK}:1", *args])  # nothing listens there: never reached
    assert message in one_line_error(result, 2)
    assert tls.client_key_password_file.read_text().strip() not in result.stderr


# --- secrets never leak ------------------------------------------------------------------------------


def _command_lines(connect: str, prefix: str, yarn_url: str, tmp_path: Path) -> Dict[str, List[str]]:
    common = ["--zk", connect, "--prefix", prefix, "--yarn", yarn_url, "-vv"]
    return {
        f"{command}-{output}": [command, *common, *args, "--format", output,
                                "--metrics-file", str(tmp_path / f"{command}-{output}.prom")]
        for output in ("table", "json")
        for command, args in (("scan", ["--show", "all"]), ("check", ["--max-sessions", "1000"]),
                              ("prune", ["--older-than", "1d"]))
    }


@pytest.mark.parametrize("method", ["digest-env", "digest-file", "sasl", "tls-key-password"])
def test_secrets_never_appear_in_output_logs_metrics_or_backups(zk_server, zk_client, secure_zk, secure_zk_client,
                                                                prefix, yarn_rm, tls, tmp_path, caplog, method):
    """Every command and format with -vv; the logs are what the log records say (pytest holds the handlers)."""
    password_file = secret_file(tmp_path / "zk.secret", DIGEST_PASSWORD)
    key_password = tls.client_key_password_file.read_text().strip()
    server, client, env, auth = {
        "digest-env": (zk_server, zk_client, {ZK_PASSWORD_ENV: DIGEST_PASSWORD}, ["--zk-auth", "digest:livy"]),
        "digest-file": (zk_server, zk_client, {}, ["--zk-auth", "digest:livy", "--zk-auth-file", str(password_file)]),
        "sasl": (secure_zk, secure_zk_client, {ZK_PASSWORD_ENV: SASL_PASSWORD}, sasl_args()),
        "tls-key-password": (secure_zk, secure_zk_client, {}, [
            "--zk-ca", str(tls.ca), "--zk-cert", str(tls.client_cert), "--zk-key", str(tls.client_key_encrypted),
            "--zk-key-password-file", str(tls.client_key_password_file)]),
    }[method]
    connect = server.secure_connect_string if method.startswith("tls") else server.connect_string
    credentials = [DIGEST_PASSWORD, SASL_PASSWORD, key_password]
    tags = seed_sessions(client, prefix, SessionType.INTERACTIVE, [1, 2, 3], interactive_secrets=True)
    finish_apps(yarn_rm, SessionType.INTERACTIVE, tags)
    caplog.clear()  # only zkjanitor's own logs from here (not this test's seeding client)

    outputs = []
    for name, args in _command_lines(connect, prefix, yarn_rm.url, tmp_path).items():
        result = run_cli([*args[:1], *auth, *args[1:]], env=env)
        assert result.exit_code == 0, (name, result.stderr)
        outputs += [result.stdout, result.stderr, (tmp_path / f"{name}.prom").read_text()]
    backup = tmp_path / "prune.jsonl"
    applied = run_cli(["prune", *auth, "--zk", connect, "--prefix", prefix, "--yarn", yarn_rm.url, "-vv",
                       "--older-than", "1d", "--apply", "--yes", "--backup", str(backup), "--format", "json"], env=env)
    assert json.loads(applied.stdout)["deleted"] == 3, applied.stderr
    restored = run_cli(["restore", str(backup), *auth, "--zk", connect, "--prefix", prefix, "-vv", "--apply", "--yes",
                        "--format", "json"], env=env)
    assert restored.exit_code == 0, restored.stderr
    outputs += [applied.stdout, applied.stderr, restored.stdout, restored.stderr, caplog.text]

    assert "Sending request" in caplog.text and "bytes>" in caplog.text, "-vv logs kazoo's traffic"
    for text in outputs:
        for secret in [*credentials, RSC_SECRET, CONF_SECRET]:
            assert secret not in text
    # The backup is private and holds the raw znode data (Livy's own secrets too), never our credentials.
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert not any(secret in backup.read_text() for secret in credentials)


@pytest.mark.parametrize("url", ["http://livy:{}@rm1:80x8", "ftp://livy:{}@rm1:8088"])
def test_a_bad_yarn_url_is_never_echoed_with_its_password(zk_server, prefix, url):
    result = scan(zk_server.connect_string, prefix, "--yarn", url.format(DIGEST_PASSWORD))
    assert "invalid --yarn URL" in one_line_error(result, 2)
    assert DIGEST_PASSWORD not in result.stderr


def test_credentials_in_failures_are_never_echoed(secure_zk, prefix, tmp_path):
    result = scan(secure_zk.connect_string, prefix, *sasl_args(), "-vv", env={ZK_PASSWORD_ENV: SASL_PASSWORD + "x"})
    assert result.exit_code == 3
    assert SASL_PASSWORD not in result.stdout + result.stderr


# --- the process list ------------------------------------------------------------------------------


def _subprocess_env(extra: Dict[str, str]) -> Dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ZKJANITOR_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def _every_command_line() -> bytes:
    """``ps -eo args`` for every process this user may see, read from /proc."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" "))
            except OSError:  # the process ended meanwhile
                continue
    return b"\n".join(lines)


@pytest.mark.parametrize("how", ["environment", "file"])
def test_credentials_passed_the_recommended_way_are_not_in_the_process_list(tmp_path, how):
    """While zkjanitor is mid-connect (to a port that accepts and never answers), read every command line."""
    password_file = secret_file(tmp_path / "zk.secret", DIGEST_PASSWORD)
    extra: Sequence[str] = ("--zk-auth-file", str(password_file)) if how == "file" else ()
    env = _subprocess_env({ZK_PASSWORD_ENV: DIGEST_PASSWORD} if how == "environment" else {})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)
        listener.settimeout(60)
        port = listener.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "zkjanitor", "scan", "--zk", f"{LOOPBACK}:{port}", "--zk-auth", "digest:livy",
             *extra, "--timeout", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        )
        try:
            connection, _ = listener.accept()  # options parsed, secret read, now connecting
            with connection:
                own = Path(f"/proc/{process.pid}/cmdline").read_bytes()
                everything = _every_command_line()
            stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    assert b"--zk-auth\0digest:livy" in own
    assert DIGEST_PASSWORD.encode() not in everything
    assert process.returncode == 3
    assert DIGEST_PASSWORD.encode() not in stdout + stderr
