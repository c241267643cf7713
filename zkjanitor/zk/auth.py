"""From the ``--zk-auth``, ``--zk-sasl`` and ``--zk-tls`` options to ZooKeeper credentials.

Secrets never come from the command line, where ``ps`` and ``/proc`` show them
to every user of the machine: the password for ``--zk-auth`` (digest) and
``--zk-sasl DIGEST-MD5`` is read from ``$ZKJANITOR_ZK_PASSWORD`` or from the
file named by ``--zk-auth-file``; a TLS key's password from
``--zk-key-password-file``. No error message here ever quotes a secret.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import List, Mapping, NamedTuple, Optional, Tuple

from zkjanitor.errors import ConfigError
from zkjanitor.zk.client import DEFAULT_SASL_SERVICE, ZkSasl, ZkTls, validate_tls

ZK_PASSWORD_ENV = "ZKJANITOR_ZK_PASSWORD"
DIGEST_SCHEME = "digest"
CLIENT_KEYTAB_ENV = "KRB5_CLIENT_KTNAME"
"""MIT Kerberos's client keytab: ``--zk-sasl GSSAPI`` (and ``--yarn-auth kerberos``) log in from it without kinit."""


class ZkAuthArgs(NamedTuple):
    """The ZooKeeper security options as given (command line, environment or config file).

    Field names are the click parameter names.
    """

    zk_auth: Optional[str] = None
    zk_auth_file: Optional[Path] = None
    zk_sasl: Optional[str] = None
    zk_sasl_user: Optional[str] = None
    zk_sasl_service: str = DEFAULT_SASL_SERVICE
    zk_sasl_principal: Optional[str] = None
    zk_tls: bool = False
    zk_ca: Optional[Path] = None
    zk_cert: Optional[Path] = None
    zk_key: Optional[Path] = None
    zk_key_password_file: Optional[Path] = None
    zk_tls_no_verify: bool = False


class ZkCredentials(NamedTuple):
    """What :class:`~zkjanitor.zk.client.ZkOptions` needs besides the address."""

    auth_data: Tuple[Tuple[str, str], ...] = ()
    sasl: Optional[ZkSasl] = None
    tls: Optional[ZkTls] = None


def resolve_zk_auth(args: ZkAuthArgs, environ: Mapping[str, str]) -> ZkCredentials:
    """Check the options, read the secrets, load the TLS files; raise ConfigError (exit 2) on any problem."""
    auth_data: Tuple[Tuple[str, str], ...] = ()
    if args.zk_auth:
        scheme, user = _parse_zk_auth(args.zk_auth)
        auth_data = ((scheme, f"{user}:{_password(args, environ, user, '--zk-auth')}"),)
    sasl = _sasl(args, environ)
    sasl_password = sasl is not None and sasl.mechanism == "DIGEST-MD5"
    if args.zk_auth_file is not None and not (auth_data or sasl_password):
        raise ConfigError("--zk-auth-file holds the password for --zk-auth or --zk-sasl DIGEST-MD5; give one of them")
    if auth_data and sasl_password:
        raise ConfigError(
            "--zk-auth and --zk-sasl DIGEST-MD5 would share one password; use one of them "
            "(ZooKeeper's SASL users live in the server's JAAS file, digest users in znode ACLs)"
        )
    return ZkCredentials(auth_data, sasl, _tls(args))


def zk_auth_warnings(args: ZkAuthArgs) -> List[str]:
    """What the operator should fix: verification switched off, secret files others can read."""
    warnings = []
    if args.zk_tls_no_verify:
        warnings.append(
            "--zk-tls-no-verify: the ZooKeeper server's certificate and host name are NOT checked, so anyone "
            "on the network path can pose as ZooKeeper and read every credential and znode; use --zk-ca instead"
        )
    for option, path in (("--zk-auth-file", args.zk_auth_file), ("--zk-key", args.zk_key),
                         ("--zk-key-password-file", args.zk_key_password_file)):
        mode = _mode(path)
        if mode is not None and mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(f"{option} {path} is readable by other users (mode {mode:04o}): chmod 600 {path}")
    return warnings


def read_secret_file(path: Path, option: str) -> str:
    """The one line of text in ``path`` (a trailing newline is dropped, nothing else)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{option} {path}: no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{option} {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {option} {path}: {exc.strerror}") from None
    secret = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if not secret:
        raise ConfigError(f"{option} {path} is empty")
    if "\n" in secret or "\r" in secret:
        raise ConfigError(f"{option} {path} must hold exactly one line (the password, or user:password)")
    return secret


def _parse_zk_auth(value: str) -> Tuple[str, str]:
    """``digest:livy`` -> ``("digest", "livy")``; the value is never quoted back (it may hold a password)."""
    scheme, _, user = value.partition(":")
    if scheme.strip().lower() != DIGEST_SCHEME or not user:
        raise ConfigError(
            "--zk-auth takes SCHEME:USER with the digest scheme, e.g. digest:livy "
            "(for SASL use --zk-sasl, for client certificates --zk-cert)"
        )
    if ":" in user:
        raise ConfigError(
            "--zk-auth takes SCHEME:USER only, e.g. digest:livy: never put the password on the command line "
            f"(other users can read it from the process list); set ${ZK_PASSWORD_ENV} or use --zk-auth-file"
        )
    return DIGEST_SCHEME, user


def _password(args: ZkAuthArgs, environ: Mapping[str, str], user: str, option: str) -> str:
    """The password of ``user``: --zk-auth-file (password or ``user:password``), else the environment."""
    if args.zk_auth_file is not None:
        secret = read_secret_file(args.zk_auth_file, "--zk-auth-file")
        if secret.startswith(f"{user}:"):
            secret = secret[len(user) + 1:]
        if not secret:
            raise ConfigError(f"--zk-auth-file {args.zk_auth_file} holds no password after '{user}:'")
        return secret
    password = environ.get(ZK_PASSWORD_ENV)
    if password:
        return password
    raise ConfigError(
        f"{option} needs a password: set ${ZK_PASSWORD_ENV} or give --zk-auth-file FILE "
        "(it is never taken from the command line)"
    )


def _sasl(args: ZkAuthArgs, environ: Mapping[str, str]) -> Optional[ZkSasl]:
    mechanism = args.zk_sasl.upper() if args.zk_sasl else None
    if args.zk_sasl_user and mechanism != "DIGEST-MD5":
        raise ConfigError("--zk-sasl-user is for --zk-sasl DIGEST-MD5")
    if args.zk_sasl_principal and mechanism != "GSSAPI":
        raise ConfigError("--zk-sasl-principal is for --zk-sasl GSSAPI")
    if mechanism is None:
        return None
    try:
        import puresasl  # noqa: F401  (kazoo's SASL support)
    except ImportError:
        raise ConfigError("--zk-sasl needs the pure-sasl library: pip install 'zkjanitor[sasl]'") from None
    service = args.zk_sasl_service or DEFAULT_SASL_SERVICE
    if mechanism == "DIGEST-MD5":
        if not args.zk_sasl_user:
            raise ConfigError("--zk-sasl DIGEST-MD5 needs --zk-sasl-user (a user of the server's JAAS Server section)")
        password = _password(args, environ, args.zk_sasl_user, "--zk-sasl DIGEST-MD5")
        return ZkSasl(mechanism, service, username=args.zk_sasl_user, password=password)
    try:
        import kerberos  # noqa: F401  (pure-sasl's GSSAPI binding, pykerberos)
    except ImportError:
        raise ConfigError(
            "--zk-sasl GSSAPI needs pure-sasl's Kerberos binding: pip install 'zkjanitor[kerberos]' "
            "(builds pykerberos; needs the Kerberos development headers, e.g. Debian's libkrb5-dev)"
        ) from None
    _check_client_keytab(environ)
    return ZkSasl(mechanism, service, principal=args.zk_sasl_principal)


def _check_client_keytab(environ: Mapping[str, str]) -> None:
    """A ``$KRB5_CLIENT_KTNAME`` file that cannot be read is a usage error (Kerberos would ignore it silently)."""
    name = environ.get(CLIENT_KEYTAB_ENV, "")
    kind, colon, rest = name.partition(":")
    if colon and kind.upper() in ("FILE", "WRFILE"):
        name = rest
    elif colon and not name.startswith("/"):
        return  # another keytab type (MEMORY:, KEYRING:, ...): nothing to check here
    if not name:
        return
    try:
        with open(name, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"${CLIENT_KEYTAB_ENV} names the keytab {name}, which cannot be read ({exc.strerror}): "
            "fix the path or its permissions, or unset it to use the ticket cache (kinit)"
        ) from None


def _tls(args: ZkAuthArgs) -> Optional[ZkTls]:
    files = (args.zk_ca, args.zk_cert, args.zk_key, args.zk_key_password_file)
    if not (args.zk_tls or args.zk_tls_no_verify or any(path is not None for path in files)):
        return None
    if args.zk_key_password_file is not None and args.zk_key is None and args.zk_cert is None:
        raise ConfigError("--zk-key-password-file is the password of --zk-key; give --zk-cert and --zk-key too")
    password = (
        read_secret_file(args.zk_key_password_file, "--zk-key-password-file")
        if args.zk_key_password_file is not None
        else None
    )
    tls = ZkTls(
        ca=_text(args.zk_ca),
        certfile=_text(args.zk_cert),
        keyfile=_text(args.zk_key),
        keyfile_password=password,
        verify=not args.zk_tls_no_verify,
    )
    validate_tls(tls)
    return tls


def _text(path: Optional[Path]) -> Optional[str]:
    return None if path is None else str(path)


def _mode(path: Optional[Path]) -> Optional[int]:
    if path is None:
        return None
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
