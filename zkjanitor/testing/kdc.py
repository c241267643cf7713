"""A throwaway MIT Kerberos KDC on a free loopback port, for tests.

Needs Debian's ``krb5-kdc``, ``krb5-admin-server`` and ``krb5-user``
(``make test-compat`` installs them). :class:`MitKdc` makes a realm in a temp
directory (``kdb5_util create``), starts ``krb5kdc`` in the foreground on
``127.0.0.1``, and creates principals, keytabs (``kadmin.local``) and client
ticket caches (``kinit``). Every tool runs with ``KRB5_CONFIG`` and
``KRB5_KDC_PROFILE`` naming this directory's files, and the ``krb5.conf``
written there names a default ticket cache, keytab, client keytab and replay
cache in the same directory, so nothing reads or writes the machine's own
Kerberos set-up (``/etc/krb5.conf``, ``/tmp/krb5cc_*``, ``/etc/krb5.keytab``).

A process that should use the realm gets :meth:`MitKdc.client_env` (for a
ticket cache) in its environment; a JVM gets :attr:`MitKdc.krb5_conf` as
``-Djava.security.krb5.conf``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional

from zkjanitor.testing.local_server import LocalServer
from zkjanitor.testing.zkserver import LOOPBACK

REALM = "ZKJANITOR.TEST"
DEBIAN_PACKAGES = ("krb5-kdc", "krb5-admin-server", "krb5-user", "libkrb5-dev")
TOOL_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")
TOOL_TIMEOUT_S = 30.0
ENCTYPES = "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"
"""Enctypes that MIT Kerberos, python-gssapi and Java 17's Kerberos all speak."""
MAX_TICKET_LIFE = "1h"


class KdcError(RuntimeError):
    """The KDC could not be set up, started, or asked for something."""


def kerberos_tool(name: str) -> str:
    """The path of an MIT Kerberos program (``krb5kdc`` lives in /usr/sbin, often not on PATH)."""
    found = shutil.which(name) or next(
        (str(Path(d) / name) for d in TOOL_DIRS if os.access(Path(d) / name, os.X_OK)), None
    )
    if found is None:
        raise KdcError(
            f"`{name}` not found: install MIT Kerberos ({' '.join(DEBIAN_PACKAGES)}); `make test-compat` does it"
        )
    return found


def free_tcp_and_udp_port() -> int:
    """A loopback port free for both TCP and UDP (the KDC listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOOPBACK, 0))
            port = int(tcp.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise KdcError("no loopback port is free for both TCP and UDP")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


class MitKdc(LocalServer):
    """One MIT KDC for a throwaway realm; a context manager that always stops it and removes its files.

    ``directory`` holds the database, configuration, logs, keytabs and ticket
    caches (a new temp directory when None, removed by :meth:`cleanup`).
    """

    LOG_TAIL_LINES = 20

    def __init__(self, realm: str = REALM, *, directory: Optional[Path] = None) -> None:
        self.realm = realm
        self.directory = Path(directory or tempfile.mkdtemp(prefix="zkjanitor-kdc-"))
        super().__init__(self.directory if directory is None else None)
        self.port = free_tcp_and_udp_port()

    # ------------------------------------------------------------------ files and environment

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.directory / "kdc.conf"

    @property
    def log_path(self) -> Path:
        return self.directory / "krb5kdc.log"

    @property
    def env(self) -> Dict[str, str]:
        """The variables that point Kerberos libraries and tools at this realm only."""
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5RCACHEDIR": str(self.directory / "rcache"),
        }

    def client_env(self, ccache: Optional[Path] = None, *, keytab: Optional[Path] = None) -> Dict[str, str]:
        """:attr:`env` plus ``KRB5CCNAME`` (a ticket cache) and, given, ``KRB5_CLIENT_KTNAME`` (a client keytab).

        A client keytab lets MIT Kerberos get the initial ticket itself, into
        ``ccache`` (which may not exist yet), as a service account does.
        """
        env = dict(self.env)
        env["KRB5CCNAME"] = f"FILE:{ccache or self.directory / 'no-such-ccache'}"
        if keytab is not None:  # else krb5.conf's default_client_keytab_name, a file that does not exist
            env["KRB5_CLIENT_KTNAME"] = f"FILE:{keytab}"
        return env

    def principal(self, name: str) -> str:
        """``name`` qualified with this realm (``zookeeper/127.0.0.1`` -> ``zookeeper/127.0.0.1@REALM``)."""
        return name if "@" in name else f"{name}@{self.realm}"

    def _write_config(self) -> None:
        d = self.directory
        (d / "rcache").mkdir(parents=True, exist_ok=True)
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"  default_realm = {self.realm}\n"
            "  dns_lookup_realm = false\n"
            "  dns_lookup_kdc = false\n"
            "  dns_canonicalize_hostname = false\n"
            "  rdns = false\n"
            "  udp_preference_limit = 1\n"
            f"  ticket_lifetime = {MAX_TICKET_LIFE}\n"
            "  forwardable = false\n"
            f"  default_ccache_name = FILE:{d / 'default.ccache'}\n"
            f"  default_keytab_name = FILE:{d / 'default.keytab'}\n"
            f"  default_client_keytab_name = FILE:{d / 'default-client.keytab'}\n"
            f"  default_tkt_enctypes = {ENCTYPES.replace(':normal', '')}\n"
            f"  default_tgs_enctypes = {ENCTYPES.replace(':normal', '')}\n"
            f"  permitted_enctypes = {ENCTYPES.replace(':normal', '')}\n"
            "[realms]\n"
            f"  {self.realm} = {{\n"
            f"    kdc = {LOOPBACK}:{self.port}\n"
            "  }\n"
            "[domain_realm]\n"
            f"  {LOOPBACK} = {self.realm}\n"
            f"  localhost = {self.realm}\n"
        )
        self.kdc_conf.write_text(
            "[kdcdefaults]\n"
            f"  kdc_listen = {LOOPBACK}:{self.port}\n"
            f"  kdc_tcp_listen = {LOOPBACK}:{self.port}\n"
            "[realms]\n"
            f"  {self.realm} = {{\n"
            f"    database_name = {d / 'principal'}\n"
            f"    key_stash_file = {d / 'stash'}\n"
            f"    acl_file = {d / 'kadm5.acl'}\n"
            f"    max_life = {MAX_TICKET_LIFE}\n"
            "    max_renewable_life = 0\n"
            f"    supported_enctypes = {ENCTYPES}\n"
            "  }\n"
            "[logging]\n"
            f"  kdc = FILE:{self.log_path}\n"
            f"  admin_server = FILE:{d / 'kadmin.log'}\n"
            f"  default = FILE:{d / 'krb5lib.log'}\n"
        )
        (d / "kadm5.acl").write_text("")

    def _run(self, *command: str, env: Optional[Mapping[str, str]] = None, input: Optional[str] = None) -> str:
        """Run a Kerberos tool against this realm; KdcError (with its stderr) if it fails."""
        full_env = {**os.environ, **self.env, **(env or {})}
        try:
            done = subprocess.run(list(command), env=full_env, input=input, capture_output=True, text=True,
                                  timeout=TOOL_TIMEOUT_S, check=False, stdin=None if input is not None else
                                  subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise KdcError(f"{Path(command[0]).name} did not finish within {TOOL_TIMEOUT_S:g}s") from None
        if done.returncode != 0:
            raise KdcError(f"{Path(command[0]).name} {' '.join(command[1:3])} failed: "
                           f"{(done.stderr or done.stdout).strip()}")
        return done.stdout

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> "MitKdc":
        """Create the realm's database and start ``krb5kdc``; returns when it accepts connections."""
        if self._process is not None:
            raise KdcError("KDC already running")
        krb5kdc = kerberos_tool("krb5kdc")
        if not (self.directory / "principal").exists():
            self._write_config()
            self._run(kerberos_tool("kdb5_util"), "create", "-s", "-r", self.realm, "-P", secrets.token_urlsafe(18))
        self._log = open(self.directory / "krb5kdc.out", "ab")
        self._process = subprocess.Popen(
            [krb5kdc, "-n", "-r", self.realm, "-P", str(self.directory / "krb5kdc.pid")],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self._process.poll() is not None:
                tail = self.log_tail()
                self._process = None
                self._close_log()
                raise KdcError(f"krb5kdc exited during start-up; log tail:\n{tail}")
            if time.monotonic() > deadline:
                self.stop()
                raise KdcError(f"krb5kdc not listening on {LOOPBACK}:{self.port} after {timeout:g}s")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ``krb5kdc`` (SIGTERM, then SIGKILL); idempotent."""
        process, self._process = self._process, None
        if process is not None:
            for signum in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, signum)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._close_log()

    # ------------------------------------------------------------------ principals, keytabs, tickets

    def kadmin(self, query: str) -> str:
        """One ``kadmin.local`` query against this realm's database."""
        return self._run(kerberos_tool("kadmin.local"), "-r", self.realm, "-q", query)

    def add_principal(self, name: str, *, password: Optional[str] = None) -> str:
        """Create a principal (random key unless ``password``); returns its full name."""
        principal = self.principal(name)
        key = f'-pw "{password}"' if password is not None else "-randkey"
        out = self.kadmin(f"addprinc {key} {principal}")
        if "created" not in out:
            raise KdcError(f"kadmin.local did not create {principal}: {out.strip()}")
        return principal

    def delete_principal(self, name: str) -> None:
        self.kadmin(f"delprinc -force {self.principal(name)}")

    def keytab(self, path: Path, principals: Iterable[str]) -> Path:
        """Write the keys of ``principals`` (existing ones, keys unchanged) into the keytab ``path`` (mode 0600)."""
        names = [self.principal(name) for name in principals]
        if not names:
            raise KdcError("a keytab needs at least one principal")
        for principal in names:
            self.kadmin(f"ktadd -k {path} -norandkey {principal}")
        path.chmod(0o600)
        return path

    def kinit(self, principal: str, ccache: Path, *, keytab: Optional[Path] = None,
              password: Optional[str] = None, lifetime: Optional[str] = None) -> Path:
        """Get a TGT for ``principal`` into the ticket cache ``ccache`` (from a keytab or a password)."""
        command: List[str] = [kerberos_tool("kinit"), "-c", f"FILE:{ccache}"]
        if lifetime:
            command += ["-l", lifetime]
        if keytab is not None:
            command += ["-k", "-t", str(keytab), self.principal(principal)]
            self._run(*command)
        elif password is not None:
            self._run(*command, self.principal(principal), input=password + "\n")
        else:
            raise KdcError("kinit needs a keytab or a password")
        ccache.chmod(0o600)
        return ccache

    def klist(self, ccache: Path) -> str:
        """``klist`` of a ticket cache (for test diagnostics)."""
        return self._run(kerberos_tool("klist"), "-c", f"FILE:{ccache}")
