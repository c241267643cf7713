"""Connecting to ZooKeeper with bounded timeouts and retries.

kazoo retries forever by default; a cron job must not. Every failure to connect
becomes a one-line :class:`~zkjanitor.errors.ZooKeeperUnavailable` (exit 3).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Dict, Iterator, NamedTuple, Optional, Tuple

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, KazooException
from kazoo.handlers.threading import KazooTimeoutError

from zkjanitor.errors import ConfigError, ZooKeeperUnavailable

_HOST_PORT = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")


class ZkOptions(NamedTuple):
    """How to reach and authenticate to ZooKeeper."""

    connect: str
    timeout: float = 10.0
    auth_data: Tuple[Tuple[str, str], ...] = ()
    sasl: Optional[Dict[str, str]] = None
    tls: Optional[Dict[str, Any]] = None


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
    if chroot and (chroot.endswith("/") or "//" in chroot):
        raise ConfigError(f"invalid chroot '/{chroot}' in {connect!r}: use a path like /apps (no trailing '/')")
    return text


def split_chroot(connect: str) -> Tuple[str, str]:
    """``"zk1:2181,zk2:2181/apps"`` -> ``("zk1:2181,zk2:2181", "/apps")``; chroot may be ``""``."""
    hosts, slash, chroot = connect.partition("/")
    return hosts, (slash + chroot) if chroot else ""


def connect(options: ZkOptions) -> KazooClient:
    """Start a client, or raise :class:`ZooKeeperUnavailable` within ``options.timeout``."""
    validate_connect_string(options.connect)
    retry = {"max_tries": 2, "delay": 0.2, "backoff": 2, "max_delay": 2.0}
    kwargs: Dict[str, Any] = {
        "hosts": options.connect,
        "timeout": max(options.timeout, 4.0),
        "connection_retry": dict(retry),
        "command_retry": dict(retry, max_tries=3),
        "auth_data": list(options.auth_data) or None,
    }
    if options.sasl:
        kwargs["sasl_options"] = dict(options.sasl)
    if options.tls:
        kwargs.update(use_ssl=True, **options.tls)
    client = KazooClient(**kwargs)
    try:
        client.start(timeout=options.timeout)
    except KazooTimeoutError:
        _discard(client)
        raise ZooKeeperUnavailable(
            f"cannot connect to ZooKeeper at {options.connect} within {options.timeout:g}s: "
            "is it running and reachable from here? Check --zk (host:port[,host:port][/chroot])."
        ) from None
    except AuthFailedError:
        _discard(client)
        raise ZooKeeperUnavailable(
            f"ZooKeeper at {options.connect} rejected the credentials: check --zk-auth and its secret."
        ) from None
    except (KazooException, OSError) as exc:
        _discard(client)
        raise ZooKeeperUnavailable(
            f"cannot connect to ZooKeeper at {options.connect}: {describe(exc)}"
        ) from None
    return client


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
