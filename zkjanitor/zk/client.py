"""Connecting to ZooKeeper with bounded timeouts and retries, authenticated and over TLS.

kazoo retries forever by default; a cron job must not. Every failure to connect
becomes a one-line :class:`~zkjanitor.errors.ZooKeeperUnavailable` (exit 3)
that says what to check. Credentials never reach a log line or an error
message: kazoo logs through a :class:`_ClientLog` that redacts them (at debug
level kazoo prints every request, the digest ``Auth`` packet included).
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import sys
import warnings
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, ConnectionDropped, KazooException
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import KazooState, KeeperState

from zkjanitor.errors import ConfigError, ZooKeeperUnavailable
from zkjanitor.redact import REDACTED, redact_secrets
from zkjanitor.zk.handler import PollingHandler

_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
_SSL_SOURCE_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)")

SASL_MECHANISMS = ("DIGEST-MD5", "GSSAPI")
DEFAULT_SASL_SERVICE = "zookeeper"


class ZkSasl(NamedTuple):
    """SASL authentication (kazoo's ``sasl_options``, done by pure-sasl).

    DIGEST-MD5 needs ``username`` and ``password`` (a user of the server's JAAS
    ``DigestLoginModule``). GSSAPI (Kerberos) uses the process's ticket cache
    (``kinit``); ``principal`` picks one of its principals and ``service`` is
    the first part of the server's principal (``zookeeper/<host>@REALM``).
    """

    mechanism: str
    service: str = DEFAULT_SASL_SERVICE
    username: Optional[str] = None
    password: Optional[str] = None
    principal: Optional[str] = None

    def kazoo_options(self) -> Dict[str, str]:
        """The ``sasl_options`` dict kazoo passes to pure-sasl (no unset keys)."""
        options = {"mechanism": self.mechanism, "service": self.service}
        if self.mechanism == "DIGEST-MD5":
            options.update(username=self.username or "", password=self.password or "")
        elif self.principal:
            options["principal"] = self.principal
        return options

    def __repr__(self) -> str:
        password = None if self.password is None else REDACTED
        return (f"ZkSasl(mechanism={self.mechanism!r}, service={self.service!r}, username={self.username!r}, "
                f"password={password!r}, principal={self.principal!r})")


class ZkTls(NamedTuple):
    """TLS to ZooKeeper's ``secureClientPort`` (Netty on the server side).

    ``ca`` is a PEM file of the CA(s) that signed the server's certificate
    (None: the system's CAs). ``certfile``/``keyfile`` are the client's PEM
    certificate and key, for servers that want one (``ssl.clientAuth``);
    ``keyfile`` None means ``certfile`` holds both. The key may be encrypted
    with ``keyfile_password``. ``verify`` False skips
    checking the server's certificate and host name (insecure).
    """

    ca: Optional[str] = None
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    keyfile_password: Optional[str] = None
    verify: bool = True

    def kazoo_options(self) -> Dict[str, Any]:
        """kazoo's TLS keyword arguments.

        The host name is checked whenever the certificate is, as ZooKeeper's
        own Java client does by default (``zookeeper.ssl.hostnameVerification``).
        """
        return {
            "use_ssl": True,
            "ca": self.ca,
            "certfile": self.certfile,
            "keyfile": self.keyfile or self.certfile,
            "keyfile_password": self.keyfile_password,
            "verify_certs": self.verify,
            "check_hostname": self.verify,
        }

    def __repr__(self) -> str:
        password = None if self.keyfile_password is None else REDACTED
        return (f"ZkTls(ca={self.ca!r}, certfile={self.certfile!r}, keyfile={self.keyfile!r}, "
                f"keyfile_password={password!r}, verify={self.verify!r})")


class ZkOptions(NamedTuple):
    """How to reach and authenticate to ZooKeeper.

    ``auth_data`` holds ``addAuth`` credentials such as ``("digest", "user:password")``.
    """

    connect: str
    timeout: float = 10.0
    auth_data: Tuple[Tuple[str, str], ...] = ()
    sasl: Optional[ZkSasl] = None
    tls: Optional[ZkTls] = None

    def secrets(self) -> Tuple[str, ...]:
        """Every secret these options carry, for redaction."""
        found: List[Optional[str]] = [credential.partition(":")[2] for _, credential in self.auth_data]
        found.append(self.sasl.password if self.sasl else None)
        found.append(self.tls.keyfile_password if self.tls else None)
        return tuple(secret for secret in found if secret)

    def __repr__(self) -> str:
        auth = tuple((scheme, redact_secrets(credential, self.secrets())) for scheme, credential in self.auth_data)
        return (f"ZkOptions(connect={self.connect!r}, timeout={self.timeout!r}, auth_data={auth!r}, "
                f"sasl={self.sasl!r}, tls={self.tls!r})")


def validate_connect_string(connect: str) -> str:
    """Check ``host:port[,host:port...][/chroot]`` and return it stripped.

    Raises :class:`ConfigError` with a one-line explanation otherwise.
    """
    text = connect.strip()
    hosts, _, chroot = text.partition("/")
    if not hosts:
        raise ConfigError(f"invalid ZooKeeper connect string {connect!r}: expected host:port[,host:port...][/chroot]")
    for host in hosts.split(","):
        match = _HOST_PORT.match(host.strip())
        if not match or not 0 < int(match.group(1)) < 65536:
            raise ConfigError(
                f"invalid ZooKeeper address {host!r} in {connect!r}: expected host:port, e.g. zk1:2181"
            )
    if chroot and any(part in ("", ".", "..") for part in chroot.split("/")):
        raise ConfigError(
            f"invalid chroot '/{chroot}' in {connect!r}: use a path like /apps (no trailing '/', '//', '.' or '..')"
        )
    return text


def split_chroot(connect: str) -> Tuple[str, str]:
    """``"zk1:2181,zk2:2181/apps"`` -> ``("zk1:2181,zk2:2181", "/apps")``; chroot may be ``""``."""
    hosts, slash, chroot = connect.partition("/")
    return hosts, (slash + chroot) if chroot else ""


def session_timeout(timeout: float) -> float:
    """The ZooKeeper session timeout asked for (seconds): ``--timeout``, at least 4 s.

    It also bounds reconnecting: past it the session has expired, and a prune
    must stop anyway, since its lock went with the session.
    """
    return max(timeout, 4.0)


def connect(options: ZkOptions) -> KazooClient:
    """Start an authenticated client, or raise :class:`ZooKeeperUnavailable` within about ``options.timeout``.

    With credentials, one ``exists("/")`` after the handshake confirms them:
    kazoo reports the session as connected before SASL has finished, and a
    server that rejects SASL closes the session only then.
    """
    validate_connect_string(options.connect)
    retry = {"max_tries": 3, "delay": 0.2, "backoff": 2, "max_delay": 2.0}
    log = _ClientLog(options.secrets())
    kwargs: Dict[str, Any] = {
        "hosts": options.connect,
        "timeout": session_timeout(options.timeout),
        # Ride out a leader election by reconnecting for as long as the session can survive; no longer.
        "connection_retry": dict(retry, max_tries=-1, deadline=session_timeout(options.timeout)),
        "command_retry": dict(retry),
        "auth_data": list(options.auth_data) or None,
        "logger": log,
        "handler": PollingHandler(),  # kazoo's, with a select that is one system call (zk/handler.py)
    }
    if options.sasl:
        kwargs["sasl_options"] = options.sasl.kazoo_options()
    if options.tls:
        kwargs.update(options.tls.kazoo_options())
    if options.sasl and options.sasl.mechanism == "GSSAPI":
        _check_kerberos_credentials(options.connect, options.sasl)
    client = KazooClient(**kwargs)
    rejection = _RejectionWatch(client)
    client.add_listener(rejection)
    stage = "connect"
    try:
        with warnings.catch_warnings():
            # kazoo warns when the chroot does not exist; reading the store then says so in one line.
            warnings.filterwarnings("ignore", message="No chroot path exists", category=UserWarning)
            client.start(timeout=options.timeout)
        if options.auth_data or options.sasl:
            stage = "authenticate"
            client.exists_async("/").get(timeout=options.timeout)
    except (KazooTimeoutError, KazooException, OSError) as exc:
        # Stopping waits for kazoo's connection thread to end, so `rejection` is final from here on.
        _discard(client)
        if rejection.rejected or isinstance(exc, AuthFailedError):
            raise ZooKeeperUnavailable(_rejected_message(options, log.last_error)) from None
        if isinstance(exc, KazooTimeoutError) and stage == "authenticate":
            raise ZooKeeperUnavailable(_unconfirmed_message(options, log.last_error)) from None
        if isinstance(exc, KazooTimeoutError):
            raise ZooKeeperUnavailable(_unreachable_message(options, log.last_error)) from None
        raise ZooKeeperUnavailable(
            f"cannot connect to ZooKeeper at {options.connect}: {log.redact(describe(exc))}"
        ) from None
    client.remove_listener(rejection)
    return client


class _RejectionWatch:
    """A kazoo state listener that remembers whether the server ever rejected the credentials.

    Which error a failed login surfaces as is a race, so it cannot tell a
    rejection from an unreachable server. kazoo reports the session as
    connected before SASL (or the ``auth_data`` packets) has finished; when
    the server then rejects the login, kazoo's connection thread goes to
    ``AUTH_FAILED`` and at once to ``CLOSED``. Depending on when the caller's
    thread looks, ``start()`` saw the connection come and go and raises its
    "Connection time-out", or ``exists()`` gets ``AuthFailedError``,
    ``ConnectionLoss`` or ``ConnectionClosedError``; ``client_state`` read
    afterwards says ``CLOSED``. The listener runs on the connection thread,
    with ``client_state`` already ``AUTH_FAILED``, before that thread moves on.
    """

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self.rejected = False

    def __call__(self, state: KazooState) -> None:
        if self._client.client_state == KeeperState.AUTH_FAILED:
            self.rejected = True


def _check_kerberos_credentials(connect: str, sasl: ZkSasl) -> None:
    """Raise :class:`ZooKeeperUnavailable` now if the Kerberos credentials of ``--zk-sasl-principal`` are missing.

    pure-sasl looks the principal up when kazoo's connection thread starts the
    SASL login; a principal with no ticket (and no client keytab) there raises
    in that thread, which prints a traceback and leaves the caller with a bare
    "ConnectionLoss". Without a principal nothing is looked up until the first
    token, whose failure kazoo reports as an ordinary rejection.
    """
    if not sasl.principal:
        return
    import kerberos  # pykerberos, pure-sasl's GSSAPI binding (checked by zk.auth)

    host = split_chroot(connect)[0].split(",")[0].strip().rsplit(":", 1)[0].strip("[]")
    try:
        _, context = kerberos.authGSSClientInit(f"{sasl.service}@{host}", principal=sasl.principal)
    except kerberos.GSSError as exc:
        raise ZooKeeperUnavailable(
            f"no Kerberos credentials for {sasl.principal} ({_gss_reason(exc)}): run kinit for it, "
            "or point KRB5_CLIENT_KTNAME at its keytab; check --zk-sasl-principal"
        ) from None
    with contextlib.suppress(Exception):
        kerberos.authGSSClientClean(context)


def _gss_reason(error: BaseException) -> str:
    """The Kerberos reason in a pykerberos ``GSSError`` (its minor status text, e.g. "Ticket expired")."""
    messages = [part[0] for part in error.args if isinstance(part, tuple) and part and isinstance(part[0], str)]
    minor = messages[-1] if messages else str(error)
    return minor or (messages[0] if messages else type(error).__name__)


def _kerberos_failure(error: Optional[BaseException]) -> Optional[BaseException]:
    """The pykerberos error behind a failed SASL login (kazoo wraps it in AuthFailedError("Unknown error"))."""
    seen = 0
    while error is not None and seen < 8:
        if type(error).__name__ == "GSSError":
            return error
        error, seen = error.__cause__, seen + 1
    return None


def _unconfirmed_message(options: ZkOptions, error: Optional[BaseException]) -> str:
    """Connected, but the server did not answer once authentication began."""
    detail = f" ({_short_error(error)})" if error is not None else ""
    return (
        f"ZooKeeper at {options.connect} did not answer within {options.timeout:g}s after the connection "
        f"was opened{detail}: authentication did not finish; {_credential_hint(options)}"
    )


def _unreachable_message(options: ZkOptions, error: Optional[BaseException]) -> str:
    """Why no session was established, and what to check."""
    detail = f" ({_short_error(error)})" if error is not None else ""
    if options.tls:
        ca = (
            "check that --zk-ca is the CA that signed the server's certificate"
            if options.tls.ca
            else "give --zk-ca with the CA that signed the server's certificate (only the system's CAs are trusted)"
        )
        return (
            f"TLS connection to ZooKeeper at {options.connect} failed within {options.timeout:g}s{detail}: "
            f"{ca}, check that the host name in --zk is in that certificate and that the port is "
            "ZooKeeper's secureClientPort"
        )
    message = (
        f"cannot connect to ZooKeeper at {options.connect} within {options.timeout:g}s{detail}: "
        "is it running and reachable from here? Check --zk (host:port[,host:port][/chroot])."
    )
    if _closed_by_server(error):
        message += " If that port is ZooKeeper's secureClientPort, add --zk-tls and --zk-ca."
    return message


def _rejected_message(options: ZkOptions, error: Optional[BaseException]) -> str:
    """The server refused our credentials: name the options that hold them."""
    kerberos_error = _kerberos_failure(error)
    if kerberos_error is not None:
        return (f"Kerberos login to ZooKeeper at {options.connect} failed ({_gss_reason(kerberos_error)}): "
                f"{_credential_hint(options)}")
    detail = _short_error(error) if error is not None else ""
    detail = f" ({detail})" if detail and detail != "AuthFailedError" else ""
    return f"ZooKeeper at {options.connect} rejected the credentials{detail}: {_credential_hint(options)}"


def _credential_hint(options: ZkOptions) -> str:
    if options.sasl and options.sasl.mechanism == "GSSAPI":
        return "check the Kerberos ticket (kinit, klist), --zk-sasl-principal and --zk-sasl-service"
    if options.sasl:
        return "check --zk-sasl-user and its password"
    return "check --zk-auth and its password"


def _closed_by_server(error: Optional[BaseException]) -> bool:
    """True when the server accepted the TCP connection and then closed it.

    That is what a TLS port does with a client speaking plain ZooKeeper. A
    refused or unreachable address shows as a socket error instead.
    """
    return isinstance(error, ConnectionDropped) and not isinstance(error.__context__, OSError)


def _short_error(error: BaseException) -> str:
    """kazoo's message for a connection failure, without OpenSSL's source location."""
    return _SSL_SOURCE_LOCATION.sub("", str(error)) or type(error).__name__


def validate_tls(tls: ZkTls) -> None:
    """Load the TLS files as kazoo will, so that a bad file is a ConfigError (exit 2) before connecting.

    Also refuses an encrypted key without a password: OpenSSL would otherwise
    prompt for it on the terminal, or hang a cron job.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if tls.ca:
        try:
            context.load_verify_locations(tls.ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot use --zk-ca {tls.ca}: {_file_error(exc)} (expected PEM certificates)") from None
    if tls.keyfile and not tls.certfile:
        raise ConfigError("--zk-key needs --zk-cert (the client certificate that goes with the key)")
    if tls.certfile:

        def password() -> str:
            if tls.keyfile_password is None:
                raise _KeyPasswordNeeded
            return tls.keyfile_password

        try:
            context.load_cert_chain(tls.certfile, tls.keyfile or tls.certfile, password=password)
        except _KeyPasswordNeeded:
            raise ConfigError(
                f"the key {tls.keyfile or tls.certfile} is encrypted: give its password with --zk-key-password-file"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot use --zk-cert {tls.certfile} with --zk-key {tls.keyfile or tls.certfile}: {_file_error(exc)} "
                "(expected PEM files holding the certificate and its matching key; is the key password right?)"
            ) from None


class _KeyPasswordNeeded(Exception):
    """OpenSSL asked for the password of an encrypted key and none was given."""


def _file_error(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return _SSL_SOURCE_LOCATION.sub("", exc.reason or str(exc))
    return getattr(exc, "strerror", None) or str(exc)


class _ClientLog(logging.LoggerAdapter):
    """kazoo's logger for one client: redacts secrets, remembers the last connection error.

    At debug level kazoo logs every request and response it handles: znode
    data (Livy's RSC secret and Spark conf), SASL tokens, the session
    password and the digest ``Auth`` packet. Every ``bytes`` value is shown as
    its length, and the credentials of these options as ``***``.

    kazoo logs connection failures as warnings with the exception as an
    argument (``"Connection dropped: %s", exc``); the last one explains a
    failed start better than kazoo's bare "Connection time-out".
    """

    def __init__(self, secrets: Tuple[str, ...]) -> None:
        super().__init__(logging.getLogger("kazoo.client"), {})
        self._secrets = secrets
        self.last_error: Optional[BaseException] = None

    def redact(self, text: str) -> str:
        return redact_secrets(text, self._secrets)

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if level >= logging.WARNING:
            logged = sys.exc_info()[1] if kwargs.get("exc_info") else None
            error = next((arg for arg in args if isinstance(arg, BaseException)), logged)
            self.last_error = error or self.last_error
        if self.isEnabledFor(level):
            text = str(msg) % tuple(_without_payloads(arg) for arg in args) if args else str(msg)
            self.logger.log(level, self.redact(text), **kwargs)


def _without_payloads(value: Any) -> Any:
    """``value`` with every ``bytes`` inside (namedtuples, lists, tuples) replaced by ``<N bytes>``."""
    if isinstance(value, (bytes, bytearray)):
        return _ByteCount(len(value))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)._make(_without_payloads(item) for item in value)  # type: ignore[attr-defined]
    if isinstance(value, (list, tuple)):
        return type(value)(_without_payloads(item) for item in value)
    return value


class _ByteCount(int):
    """Stands in for a payload in a log line: its repr is ``<N bytes>``."""

    def __repr__(self) -> str:
        return f"<{int(self)} bytes>"

    __str__ = __repr__


@contextlib.contextmanager
def connected(options: ZkOptions) -> Iterator[KazooClient]:
    """``with connected(options) as client:`` always stops and closes the client."""
    client = connect(options)
    try:
        yield client
    finally:
        _discard(client)


def _discard(client: KazooClient) -> None:
    with contextlib.suppress(Exception):
        client.stop()
    with contextlib.suppress(Exception):
        client.close()


def describe(exc: BaseException) -> str:
    """A short, user-readable name for a kazoo or socket error."""
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text and text != name else name
