"""A real ZooKeeper with SASL and TLS for tests, and throwaway certificates for it.

* :func:`generate_tls_material` makes a CA, a server certificate for
  ``127.0.0.1`` only (so ``localhost`` is a name it does not match) and a
  client certificate (plain and encrypted key) with ``openssl``, in a
  directory of the caller's (nothing is committed).
* :class:`SecureZooKeeperServer` is a :class:`ZooKeeperServer` with Netty
  (``NettyServerCnxnFactory``, which TLS needs), a ``secureClientPort`` next to
  the plain ``clientPort``, SASL DIGEST-MD5 users from a JAAS file, and the
  x509 provider, so that a client certificate's subject can appear in ACLs
  (``x509:CN=...``). ``ssl.clientAuth=want``: a client certificate is checked
  when given, not required.

Debian's ZooKeeper ships Netty, but its jar's manifest leaves out
``netty-codec``, which the Netty server needs; it is added to the classpath.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple

from zkjanitor.testing.zkserver import (
    LOOPBACK,
    NETTY_CODEC_JAR,
    ZooKeeperServer,
    ZooKeeperServerError,
    free_port,
)

CLIENT_CERT_SUBJECT = "CN=zkjanitor-client"
CERT_DAYS = 2
OPENSSL_TIMEOUT_S = 30.0


class TlsMaterial(NamedTuple):
    """PEM files made by :func:`generate_tls_material` (keys unencrypted unless named so)."""

    ca: Path
    server_keystore: Path
    """The server's key followed by its certificate, as ZooKeeper's PEM keystore wants."""
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    client_key_password_file: Path
    """Mode 0600; holds the password of ``client_key_encrypted``."""


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ZooKeeperServerError("`openssl` not found: apt-get install openssl")
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=OPENSSL_TIMEOUT_S)
    if done.returncode != 0:
        raise ZooKeeperServerError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _new_key_and_csr(directory: Path, name: str, subject: str) -> None:
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/{subject}", cwd=directory)


def _sign(directory: Path, name: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", str(CERT_DAYS), "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory)


def generate_tls_material(directory: Path) -> TlsMaterial:
    """Make a fresh CA and the server and client certificates it signs (EC P-256, 2 days)."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", str(CERT_DAYS), "-subj", "/CN=zkjanitor test CA",
             cwd=directory)
    _new_key_and_csr(directory, "server", f"CN={LOOPBACK}")
    _sign(directory, "server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _new_key_and_csr(directory, "client", CLIENT_CERT_SUBJECT)
    _sign(directory, "client", "extendedKeyUsage=clientAuth\n")
    keystore = directory / "server-keystore.pem"
    keystore.write_text((directory / "server.key").read_text() + (directory / "server.pem").read_text())
    password_file = directory / "client-key.password"
    password_file.touch(mode=0o600)
    password_file.write_text(secrets.token_urlsafe(16) + "\n")
    _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "client.key", "-out", "client-encrypted.key",
             "-passout", f"file:{password_file.name}", cwd=directory)
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return TlsMaterial(
        ca=directory / "ca.pem",
        server_keystore=keystore,
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        client_key_encrypted=directory / "client-encrypted.key",
        client_key_password_file=password_file,
    )


def jaas_server_section(users: Mapping[str, str]) -> str:
    """A JAAS ``Server`` section declaring DIGEST-MD5 ``users`` (name -> password)."""

    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"  user_{name}={quoted(password)}" for name, password in users.items()]
    body = "\n".join(["  org.apache.zookeeper.server.auth.DigestLoginModule required", *lines])
    return f"Server {{\n{body};\n}};\n"


class SecureZooKeeperServer(ZooKeeperServer):
    """A standalone ZooKeeper with a plain port (SASL) and a TLS port (``secure_port``).

    ``sasl_users`` maps DIGEST-MD5 user names to passwords. ``tls`` None
    leaves TLS out (the plain NIO server with SASL only, as on ZooKeeper 3.4).
    Other keyword arguments go to :class:`ZooKeeperServer`.
    """

    def __init__(self, tls: Optional[TlsMaterial], sasl_users: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        jaas = self.data_dir / "jaas.conf"
        jaas.write_text(jaas_server_section(sasl_users))
        self.jvm_options.append(f"-Djava.security.auth.login.config={jaas}")
        self.extra_config["authProvider.1"] = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
        self.secure_port: Optional[int] = None
        if tls is not None:
            self._add_tls(tls)

    def _add_tls(self, tls: TlsMaterial) -> None:
        if not self.distribution.has_tls:
            raise ZooKeeperServerError(f"ZooKeeper {self.distribution.version} has no TLS (secureClientPort: 3.5.5+)")
        missing = [jar for jar in self.distribution.tls_classpath if not jar.exists()]
        if missing:
            hint = " (apt-get install libnetty-java)" if NETTY_CODEC_JAR in missing else ""
            raise ZooKeeperServerError(f"{', '.join(map(str, missing))} not found{hint}")
        secure_port = free_port()
        while secure_port == self.port:
            secure_port = free_port()
        self.secure_port = secure_port
        self.classpath.extend(self.distribution.tls_classpath)
        self.extra_config.update({
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "secureClientPort": str(self.secure_port),
            "secureClientPortAddress": LOOPBACK,
            "authProvider.x509": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
            "ssl.keyStore.location": str(tls.server_keystore),
            "ssl.keyStore.type": "PEM",
            "ssl.trustStore.location": str(tls.ca),
            "ssl.trustStore.type": "PEM",
            "ssl.clientAuth": "want",
        })

    @property
    def secure_connect_string(self) -> str:
        if self.secure_port is None:
            raise ZooKeeperServerError("this server has no TLS port")
        return f"{LOOPBACK}:{self.secure_port}"


def jaas_kerberos_server_section(keytab: Path, principal: str) -> str:
    """A JAAS ``Server`` section that logs the server in to Kerberos from ``keytab`` as ``principal``."""
    return (
        "Server {\n"
        "  com.sun.security.auth.module.Krb5LoginModule required\n"
        "  useKeyTab=true\n"
        f'  keyTab="{keytab}"\n'
        "  storeKey=true\n"
        "  useTicketCache=false\n"
        "  doNotPrompt=true\n"
        f'  principal="{principal}";\n'
        "};\n"
    )


def require_sasl_config(version: Tuple[int, ...]) -> Dict[str, str]:
    """The ``zoo.cfg`` lines that make a server refuse clients that did not log in with SASL.

    ``requireClientAuthScheme=sasl``, found in many how-tos, is read by no
    ZooKeeper release. 3.6 added ``sessionRequireClientSASLAuth``, 3.7
    ``enforce.auth.enabled`` with ``enforce.auth.schemes``; 3.4 and 3.5 cannot
    refuse an unauthenticated client (only znode ACLs protect the data).
    """
    if version >= (3, 7):
        return {"enforce.auth.enabled": "true", "enforce.auth.schemes": "sasl"}
    if version >= (3, 6):
        return {"sessionRequireClientSASLAuth": "true"}
    return {}


class KerberosZooKeeperServer(ZooKeeperServer):
    """A standalone ZooKeeper that authenticates clients with SASL GSSAPI (Kerberos).

    ``krb5_conf`` is the realm's ``krb5.conf`` (e.g. ``MitKdc.krb5_conf``);
    ``keytab`` holds the key of ``principal``, the server's own
    (``zookeeper/127.0.0.1@REALM``: clients ask for ``<service>/<host>``).
    With ``require_sasl`` the server refuses clients that do not log in (where
    its version can, see :func:`require_sasl_config`). The principal's host and
    realm are kept in the ACL identity (``sasl:livy@REALM``), so a
    principal of another realm never matches. Other keyword arguments go to
    :class:`ZooKeeperServer`.
    """

    def __init__(self, *, krb5_conf: Path, keytab: Path, principal: str, require_sasl: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.principal = principal
        jaas = self.data_dir / "jaas.conf"
        jaas.write_text(jaas_kerberos_server_section(keytab, principal))
        self.jvm_options += [
            f"-Djava.security.auth.login.config={jaas}",
            f"-Djava.security.krb5.conf={krb5_conf}",
            "-Dsun.security.krb5.disableReferrals=true",
        ]
        self.extra_config["authProvider.1"] = "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
        self.extra_config["kerberos.removeHostFromPrincipal"] = "false"
        self.extra_config["kerberos.removeRealmFromPrincipal"] = "false"
        if require_sasl:
            self.extra_config.update(require_sasl_config(self.distribution.version_tuple))
