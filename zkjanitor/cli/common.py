"""What every command shares: options, settings resolution, errors, output streams.

Precedence (docs/contract.md): command-line option > environment variable > config file
(``--config``) > ``--livy-conf`` > built-in default. click resolves the first
three (the config file feeds click's ``default_map``); :func:`resolve_settings`
adds the last two.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import click

from zkjanitor.classify import Policy
from zkjanitor.errors import ConfigError, ZkJanitorError
from zkjanitor.inventory import normalise_prefix
from zkjanitor.janitor import Janitor
from zkjanitor.livyconf import LivyConf, load_livy_conf
from zkjanitor.metrics import MetricSet, add_run_metrics, check_writable, write_atomically
from zkjanitor.model import SessionType
from zkjanitor.retention import LIVY_RETENTION
from zkjanitor.sources.base import AppStateSource
from zkjanitor.sources.chain import ChainSource
from zkjanitor.sources.livy import PASSWORD_ENV as LIVY_PASSWORD_ENV
from zkjanitor.sources.livy import LivyAuth, LivySource
from zkjanitor.sources.livy import validate_urls as validate_livy_urls
from zkjanitor.sources.spark_history import SparkHistorySource
from zkjanitor.sources.yarn import YarnAuth, YarnSource, validate_urls
from zkjanitor.sources.yarn_timeline import YarnTimelineSource
from zkjanitor.units import parse_duration
from zkjanitor.zk.auth import ZK_PASSWORD_ENV, ZkAuthArgs, resolve_zk_auth, zk_auth_warnings
from zkjanitor.zk.client import DEFAULT_SASL_SERVICE, SASL_MECHANISMS, ZkOptions, validate_connect_string
from zkjanitor.zk.store import ZooKeeperStore

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_ZK = "127.0.0.1:2181"
EXIT_INTERNAL = 70
DEFAULT_PREFIX = "livy"
YARN_PASSWORD_ENV = "ZKJANITOR_YARN_PASSWORD"


class Settings(NamedTuple):
    """Fully resolved settings shared by every command."""

    zk: ZkOptions
    prefix: str
    yarn_urls: Tuple[str, ...]
    yarn_auth: YarnAuth
    yarn_timeout: float
    types: Tuple[SessionType, ...]
    output_format: str
    metrics_file: Optional[Path]
    policy: Policy
    livy_conf: Optional[LivyConf]
    read_method: str = "auto"
    verbosity: int = 0
    trust_yarn_absence: bool = False
    livy_urls: Tuple[str, ...] = ()
    livy_auth: LivyAuth = LivyAuth()
    spark_history_urls: Tuple[str, ...] = ()
    spark_history_auth: YarnAuth = YarnAuth()
    yarn_timeline_url: Optional[str] = None

    @property
    def has_source(self) -> bool:
        """Whether any evidence source is configured."""
        return bool(self.livy_urls or self.yarn_urls or self.yarn_timeline_url or self.spark_history_urls)

    @property
    def app_lookup_timeout_seconds(self) -> float:
        """How long Livy itself waits for a session's YARN application (livy.conf's, else Livy's 120 s)."""
        return (self.livy_conf or LivyConf({})).app_lookup_timeout_ms / 1000.0

    def app_source(self) -> Optional[AppStateSource]:
        """The configured evidence sources, most authoritative first (Livy, YARN, its Timeline server, the Spark
        History Server): one alone, several as a chain; None when there is none."""
        sources: List[AppStateSource] = []
        if self.livy_urls:
            sources.append(LivySource(self.livy_urls, auth=self.livy_auth, timeout=self.yarn_timeout))
        if self.yarn_urls:
            sources.append(YarnSource(self.yarn_urls, auth=self.yarn_auth, timeout=self.yarn_timeout,
                                      trust_absence=self.trust_yarn_absence))
        if self.yarn_timeline_url:
            sources.append(YarnTimelineSource(self.yarn_timeline_url, auth=self.yarn_auth, timeout=self.yarn_timeout))
        if self.spark_history_urls:
            sources.append(SparkHistorySource(self.spark_history_urls, auth=self.spark_history_auth,
                                              timeout=self.yarn_timeout))
        if len(sources) > 1:
            return ChainSource(sources)
        return sources[0] if sources else None


@contextmanager
def open_janitor(settings: Settings, *, with_source: bool = True) -> Iterator[Janitor]:
    """The janitor of the ZooKeeper store the settings name, connected; it closes the source and the connection."""
    with ZooKeeperStore.open(settings.zk, settings.prefix, read_method=settings.read_method) as store:
        with Janitor(store, settings.app_source() if with_source else None, settings.policy, types=settings.types,
                     app_lookup_timeout_seconds=settings.app_lookup_timeout_seconds) as janitor:
            yield janitor


class DurationType(click.ParamType):
    """``90m``, ``12h``, ``1d``, ``2w`` -> seconds (float)."""

    name = "duration"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class CommaList(click.ParamType):
    """A repeatable option whose environment variable is comma-separated."""

    name = "url"

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return [part.strip() for part in rv.split(",") if part.strip()]


class OlderThanType(DurationType):
    """A duration, or ``livy-retention``: livy.conf's ``livy.server.session.state-retain.sec`` (resolved later)."""

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> Any:
        if isinstance(value, str) and value.strip() == LIVY_RETENTION:
            return LIVY_RETENTION
        return super().convert(value, param, ctx)


DURATION = DurationType()
OLDER_THAN = OlderThanType()


def store_options(func: Callable) -> Callable:
    """The options every command accepts (contract: after the command name)."""
    return _shared_options(func, hide_session_options=False)


def store_options_without_sessions(func: Callable) -> Callable:
    """The shared options for a command that neither reads nor classifies sessions (restore).

    The contract has every command accept every shared option, so the options about
    reading and classifying sessions (YARN, --type, --grace, --read-method) are still
    accepted (and ignored), but left out of ``--help``.
    """
    return _shared_options(func, hide_session_options=True)


def _shared_options(func: Callable, hide_session_options: bool) -> Callable:
    options = [
        click.option("--zk", "zk", envvar="ZKJANITOR_ZK", metavar="CONNECT",
                     help=f"ZooKeeper connect string host:port[,host:port...][/chroot]  [default: {DEFAULT_ZK}]"),
        click.option("--prefix", envvar="ZKJANITOR_PREFIX", metavar="PREFIX",
                     help="Livy's livy.server.recovery.zk-state-store.key-prefix  [default: livy]"),
        click.option("--yarn", "yarn", hidden=hide_session_options, multiple=True, type=CommaList(),
                     envvar="ZKJANITOR_YARN", metavar="URL",
                     help="ResourceManager base URL, e.g. http://rm1:8088; repeat for an HA pair."),
        click.option("--yarn-auth", hidden=hide_session_options,
                     type=click.Choice(["none", "simple", "basic", "kerberos"]),
                     envvar="ZKJANITOR_YARN_AUTH", default="none", show_default=True,
                     help="How to authenticate to YARN: simple adds ?user.name=, basic reads the "
                          f"password from ${YARN_PASSWORD_ENV}, kerberos uses SPNEGO."),
        click.option("--yarn-user", hidden=hide_session_options, envvar="ZKJANITOR_YARN_USER", metavar="USER",
                     help="User for --yarn-auth simple or basic."),
        click.option("--livy", "livy", hidden=hide_session_options, multiple=True, type=CommaList(),
                     envvar="ZKJANITOR_LIVY", metavar="URL",
                     help="Livy's REST URL, e.g. http://livy1:8998 (a gateway's path prefix is kept); repeat for "
                          "every server of an HA group. Livy's own view of its sessions decides first "
                          "(default: livy.conf's livy.server.host and port)."),
        click.option("--livy-auth", hidden=hide_session_options, type=click.Choice(["none", "basic", "kerberos"]),
                     envvar="ZKJANITOR_LIVY_AUTH", default="none", show_default=True,
                     help=f"How to authenticate to Livy: basic (LDAP, Knox) reads the password from "
                          f"${LIVY_PASSWORD_ENV}, kerberos uses SPNEGO."),
        click.option("--livy-user", hidden=hide_session_options, envvar="ZKJANITOR_LIVY_USER", metavar="USER",
                     help="User for --livy-auth basic."),
        click.option("--yarn-timeline", "yarn_timeline", hidden=hide_session_options, envvar="ZKJANITOR_YARN_TIMELINE",
                     metavar="URL", help="YARN Timeline server base URL (yarn.timeline-service.webapp.address, e.g. "
                     "http://ats:8188), asked about what the ResourceManager forgot; uses the YARN auth options."),
        click.option("--spark-history", "spark_history", hidden=hide_session_options, multiple=True,
                     type=CommaList(), envvar="ZKJANITOR_SPARK_HISTORY", metavar="URL",
                     help="Spark History Server base URL (spark.yarn.historyServer.address, e.g. http://shs:18080), "
                          "asked about what YARN forgot; repeat for several servers."),
        click.option("--spark-history-auth", hidden=hide_session_options,
                     type=click.Choice(["none", "basic", "kerberos"]), envvar="ZKJANITOR_SPARK_HISTORY_AUTH",
                     default="none", show_default=True,
                     help="How to authenticate to the Spark History Server: basic uses --yarn-user and "
                          f"${YARN_PASSWORD_ENV}, kerberos uses SPNEGO."),
        click.option("--livy-conf", type=click.Path(dir_okay=False, path_type=Path), envvar="ZKJANITOR_LIVY_CONF",
                     metavar="FILE", help="Read the ZooKeeper URL, the prefix and Livy's app-lookup timeout "
                     "from Livy's livy.conf, and flag its risky settings."),
        click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
                     show_default=True, help="table for people; json: one JSON document on stdout."),
        click.option("--type", "session_type", hidden=hide_session_options,
                     type=click.Choice(["batch", "interactive", "all"]), default="all",
                     show_default=True, help="Which session type."),
        click.option("--grace", hidden=hide_session_options, type=DURATION, default="10m", show_default=True,
                     help="Sessions younger than this are never stale (Livy waits up to 120s for YARN)."),
        click.option("--timeout", type=click.FloatRange(min=0.5, max=600), default=10.0, show_default=True,
                     metavar="SECONDS",
                     help=("Connect/request timeout for ZooKeeper." if hide_session_options
                           else "Connect/request timeout for ZooKeeper and YARN.")),
        click.option("--trust-yarn-absence", hidden=hide_session_options, is_flag=True,
                     help="Take the ResourceManager's word that an app it does not list is gone, even when it "
                          "cannot vouch for it (it knows none of the store's apps, or the appId is newer than its "
                          "start). Only when you know it is Livy's cluster; see docs/concepts.md."),
        click.option("--read-method", hidden=hide_session_options,
                     type=click.Choice(["auto", "multiread", "pipelined"]), default="auto",
                     envvar="ZKJANITOR_READ_METHOD", show_default=True,
                     help="How to read znodes: multiread (ZooKeeper 3.6+, fastest), pipelined (any version), "
                          "or auto (probe once)."),
        click.option("-v", "--verbose", "verbose", count=True, help="Log what zkjanitor does to stderr (-vv: debug)."),
        click.option("-q", "--quiet", is_flag=True, help="Print no warnings, only errors."),
        click.option("--metrics-file", type=click.Path(dir_okay=False, path_type=Path),
                     envvar="ZKJANITOR_METRICS_FILE", metavar="PATH",
                     help="Also write Prometheus text-format metrics here (atomically)."),
        *zk_security_options(),
    ]
    decorated: Any = func
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def zk_security_options() -> List[Callable[[Callable], Callable]]:
    """ZooKeeper authentication and TLS (docs/security.md); secrets only from the environment or files."""
    secret_file = click.Path(dir_okay=False, path_type=Path)
    pem_file = click.Path(exists=True, dir_okay=False, path_type=Path)
    return [
        click.option("--zk-auth", envvar="ZKJANITOR_ZK_AUTH", metavar="SCHEME:USER",
                     help=f"ZooKeeper digest auth, e.g. digest:livy. The password comes from ${ZK_PASSWORD_ENV} "
                          "or --zk-auth-file, never from the command line."),
        click.option("--zk-auth-file", type=secret_file, envvar="ZKJANITOR_ZK_AUTH_FILE", metavar="FILE",
                     help="File (mode 0600) holding the password, or USER:PASSWORD, for --zk-auth or "
                          f"--zk-sasl DIGEST-MD5; used instead of ${ZK_PASSWORD_ENV}."),
        click.option("--zk-sasl", type=click.Choice(SASL_MECHANISMS, case_sensitive=False),
                     envvar="ZKJANITOR_ZK_SASL", metavar="[DIGEST-MD5|GSSAPI]",
                     help="Authenticate with SASL: DIGEST-MD5 (--zk-sasl-user, password as for --zk-auth) or "
                          "GSSAPI (Kerberos: uses this process's ticket cache, run kinit first)."),
        click.option("--zk-sasl-user", envvar="ZKJANITOR_ZK_SASL_USER", metavar="USER",
                     help="User for --zk-sasl DIGEST-MD5."),
        click.option("--zk-sasl-service", envvar="ZKJANITOR_ZK_SASL_SERVICE", metavar="NAME",
                     default=DEFAULT_SASL_SERVICE, show_default=True,
                     help="Service part of the ZooKeeper server's Kerberos principal (NAME/host@REALM)."),
        click.option("--zk-sasl-principal", envvar="ZKJANITOR_ZK_SASL_PRINCIPAL", metavar="PRINCIPAL",
                     help="Client principal for --zk-sasl GSSAPI, e.g. livy@EXAMPLE.COM (default: the ticket "
                          "cache's)."),
        click.option("--zk-tls", is_flag=True, envvar="ZKJANITOR_ZK_TLS",
                     help="Connect with TLS to ZooKeeper's secureClientPort; implied by --zk-ca, --zk-cert, "
                          "--zk-key and --zk-tls-no-verify."),
        click.option("--zk-ca", type=pem_file, envvar="ZKJANITOR_ZK_CA", metavar="FILE",
                     help="PEM file of the CA that signed ZooKeeper's certificate (default: the system's CAs)."),
        click.option("--zk-cert", type=pem_file, envvar="ZKJANITOR_ZK_CERT", metavar="FILE",
                     help="Client certificate (PEM) for servers with ssl.clientAuth; may also hold the key."),
        click.option("--zk-key", type=pem_file, envvar="ZKJANITOR_ZK_KEY", metavar="FILE",
                     help="Private key (PEM) of --zk-cert."),
        click.option("--zk-key-password-file", type=secret_file, envvar="ZKJANITOR_ZK_KEY_PASSWORD_FILE",
                     metavar="FILE", help="File holding the password of an encrypted --zk-key."),
        click.option("--zk-tls-no-verify", is_flag=True, envvar="ZKJANITOR_ZK_TLS_NO_VERIFY",
                     help="INSECURE: do not check ZooKeeper's certificate or host name (warns on every run)."),
    ]


def resolve_settings(
    *,
    zk: Optional[str],
    prefix: Optional[str],
    yarn: Sequence[str],
    yarn_auth: str,
    yarn_user: Optional[str],
    livy_conf: Optional[Path],
    output_format: str,
    session_type: str,
    grace: float,
    timeout: float,
    metrics_file: Optional[Path],
    read_method: str = "auto",
    verbose: int = 0,
    quiet: bool = False,
    zk_auth: Optional[ZkAuthArgs] = None,
    trust_yarn_absence: bool = False,
    livy: Sequence[str] = (),
    livy_auth: str = "none",
    livy_user: Optional[str] = None,
    spark_history: Sequence[str] = (),
    spark_history_auth: str = "none",
    yarn_timeline: Optional[str] = None,
) -> Settings:
    """Turn click's values into :class:`Settings`, filling gaps from livy.conf, then defaults."""
    conf = load_livy_conf(livy_conf) if livy_conf else None
    if zk is not None and not zk.strip():
        raise ConfigError("--zk is empty: give a connect string host:port[,host:port...][/chroot]")
    connect = zk or (conf.zookeeper_url if conf else None) or DEFAULT_ZK
    try:
        resolved_prefix = normalise_prefix(prefix if prefix is not None else
                                           (conf.key_prefix if conf else None) or DEFAULT_PREFIX)
    except ConfigError as exc:
        where = "--prefix" if prefix is not None else "livy.conf's livy.server.recovery.zk-state-store.key-prefix"
        raise ConfigError(f"{where}: {exc}") from None
    types = tuple(SessionType) if session_type == "all" else (SessionType(session_type),)
    return Settings(
        zk=ZkOptions(connect=validate_connect_string(connect), timeout=timeout,
                     **resolve_zk_auth(zk_auth or ZkAuthArgs(), os.environ)._asdict()),
        prefix=resolved_prefix,
        yarn_urls=tuple(validate_urls(yarn)) if yarn else (),
        yarn_auth=_yarn_auth(yarn_auth, yarn_user),
        yarn_timeout=timeout,
        types=types,
        output_format=output_format,
        metrics_file=metrics_file,
        policy=Policy(grace_seconds=grace),
        livy_conf=conf,
        read_method=read_method,
        verbosity=-1 if quiet else verbose,
        trust_yarn_absence=trust_yarn_absence,
        livy_urls=_livy_urls(livy, conf),
        livy_auth=_livy_auth(livy_auth, livy_user),
        spark_history_urls=tuple(validate_urls(spark_history, "--spark-history")) if spark_history else (),
        spark_history_auth=_spark_history_auth(spark_history_auth, yarn_user) if spark_history else YarnAuth(),
        yarn_timeline_url=validate_urls([yarn_timeline], "--yarn-timeline")[0] if yarn_timeline is not None else None,
    )


def _livy_urls(given: Sequence[str], conf: Optional[LivyConf]) -> Tuple[str, ...]:
    """``--livy``'s URLs, else the one livy.conf's ``livy.server.host`` and ``port`` name (if any)."""
    if given or conf is None or conf.rest_url is None:
        return tuple(validate_livy_urls(given))
    try:
        return tuple(validate_livy_urls([conf.rest_url]))
    except ConfigError as exc:
        raise ConfigError(f"livy.conf's livy.server.host and livy.server.port: {exc}; fix them or pass --livy") \
            from None


def _livy_auth(kind: str, user: Optional[str]) -> LivyAuth:
    if kind != "basic":
        return LivyAuth(kind=kind)
    _needs_user("--livy-auth basic", user, "--livy-user (or ZKJANITOR_LIVY_USER)")
    return LivyAuth(kind="basic", user=user, password=_password("--livy-auth basic", LIVY_PASSWORD_ENV))


def _yarn_auth(kind: str, user: Optional[str]) -> YarnAuth:
    if kind in ("simple", "basic"):
        _needs_user(f"--yarn-auth {kind}", user, YARN_USER_OPTION)
    password = _password("--yarn-auth basic", YARN_PASSWORD_ENV) if kind == "basic" else None
    return YarnAuth(kind=kind, user=user, password=password)


def _spark_history_auth(kind: str, user: Optional[str]) -> YarnAuth:
    """--spark-history-auth: basic takes the YARN user and password (one gateway in front of both)."""
    if kind != "basic":
        return YarnAuth(kind=kind)
    _needs_user("--spark-history-auth basic", user, YARN_USER_OPTION)
    return YarnAuth(kind=kind, user=user, password=_password("--spark-history-auth basic", YARN_PASSWORD_ENV))


YARN_USER_OPTION = "--yarn-user (or ZKJANITOR_YARN_USER)"


def _needs_user(auth: str, user: Optional[str], user_option: str) -> None:
    if not user:
        raise ConfigError(f"{auth} needs {user_option}")


def _password(auth: str, env: str) -> str:
    """A basic auth's password, from the environment only (never an option: ps would show it)."""
    password = os.environ.get(env)
    if not password:
        raise ConfigError(f"{auth} reads the password from ${env}, which is not set")
    return password


def settings_from(kwargs: Dict[str, Any]) -> Settings:
    """Pop the shared options out of a command's kwargs and resolve them."""
    names = ("zk", "prefix", "yarn", "yarn_auth", "yarn_user", "livy_conf", "output_format",
             "session_type", "grace", "timeout", "metrics_file", "read_method", "verbose", "quiet",
             "trust_yarn_absence", "livy", "livy_auth", "livy_user", "spark_history", "spark_history_auth",
             "yarn_timeline")
    zk_auth = ZkAuthArgs(**{name: kwargs.pop(name) for name in ZkAuthArgs._fields})
    settings = resolve_settings(**{name: kwargs.pop(name) for name in names}, zk_auth=zk_auth)
    configure_logging(settings.verbosity)
    for message in zk_auth_warnings(zk_auth):
        warn(message)
    if settings.trust_yarn_absence and settings.yarn_urls:
        warn("--trust-yarn-absence: an application the ResourceManager does not list counts as gone, "
             "even where the RM cannot vouch for it")
    return settings


def configure_logging(verbosity: int) -> None:
    """-v logs zkjanitor's steps, -vv also kazoo's; default and -q log nothing below warnings."""
    level = {1: logging.INFO, 2: logging.DEBUG}.get(min(verbosity, 2), logging.ERROR)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kazoo").setLevel(logging.DEBUG if verbosity >= 2 else logging.CRITICAL)
    global _QUIET
    _QUIET = verbosity < 0


# rich is imported where it is used: JSON output and unattended runs never need it.


def stderr_console() -> "Console":
    """Progress, warnings and logs go here, never to stdout."""
    from rich.console import Console

    return Console(stderr=True, no_color=_no_color(), highlight=False)


# Wide enough that session tables are not truncated in cron logs and pipes.
UNATTENDED_WIDTH = 200


def stdout_console() -> "Console":
    """Tables for people: the terminal's width, or a wide page when piped or logged."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else UNATTENDED_WIDTH
    console = Console(no_color=_no_color(), highlight=False, soft_wrap=False, width=width)
    console.on_broken_pipe = _stdout_closed  # type: ignore[method-assign]  # rich would exit 1 (check's "limit exceeded")
    return console


def _stdout_closed() -> None:
    """The reader of stdout went away: handled like any closed stdout (exit 141, see cli/__init__.py)."""
    raise BrokenPipeError("stdout was closed")


def _no_color() -> bool:
    return "NO_COLOR" in os.environ


_QUIET = False


def warn(message: str) -> None:
    """A warning on stderr, unless --quiet; one line however long (grep-able in cron logs)."""
    if _QUIET:
        return
    from rich.markup import escape

    stderr_console().print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True, highlight=False,
                           soft_wrap=True)


EXIT_INTERRUPTED = 130  # the shell's convention for SIGINT
EXIT_TERMINATED = 143  # and for SIGTERM (systemd, `timeout`, Kubernetes)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread wherever the run is, as Ctrl-C raises KeyboardInterrupt."""


def raise_terminated(signum: int, frame: Any) -> None:
    """The SIGTERM handler of every command: stop like Ctrl-C (see :func:`sigterm_at_batch_boundaries`)."""
    raise Terminated()


class StopRequest:
    """Set by SIGTERM while deletes run: ``reason()`` tells the deleting loop to stop at its next batch."""

    def __init__(self) -> None:
        self.requested = False

    def reason(self) -> Optional[str]:
        return "stopped by SIGTERM" if self.requested else None


@contextmanager
def sigterm_at_batch_boundaries() -> Iterator[StopRequest]:
    """While deleting, SIGTERM asks the run to stop after the batch in flight instead of interrupting it."""
    import signal

    request = StopRequest()

    def ask_to_stop(signum: int, frame: Any) -> None:
        request.requested = True

    previous = signal.signal(signal.SIGTERM, ask_to_stop)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous)


def say(message: str) -> None:
    """A line on stderr that --quiet does not silence: what an operator must know to undo a run."""
    click.echo(f"zkjanitor: {message}", err=True)


@contextmanager
def progress_bar(label: str) -> Iterator[Optional[Callable[[int, int], None]]]:
    """A transient progress bar on stderr, as a ``(done, total)`` callback.

    None when stderr is not a terminal, so cron logs and pipes stay clean.
    """
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = stderr_console()
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn()]  # the ETA matters with --pause
    bar = Progress(*columns, console=console, transient=True)
    task: Optional[TaskID] = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:  # shown from the first update: a confirmation prompt may come before it
            bar.start()
            task = bar.add_task(label, total=None)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            bar.stop()


@contextmanager
def progress_counter(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A :func:`progress_bar` fed by increments: the ``progress(n)`` callback of deletes and restores."""
    with progress_bar(label) as progress:
        done = 0

        def advance(increment: int) -> None:
            nonlocal done
            done += increment
            if progress is not None:
                progress(done, total)

        yield advance


def refuse_unconfirmed_apply(yes: bool) -> None:
    """Refuse (exit 2) an --apply nobody can confirm: no --yes and stdin is not a terminal.

    Commands call it first, so an unattended run fails before it connects or scans.
    """
    if not yes and not sys.stdin.isatty():
        raise ConfigError("refusing to --apply without confirmation: stdin is not a terminal; add --yes")


def abort_if_not_confirmed(prompt: str, yes: bool) -> None:
    """Ask on a terminal; refuse (exit 2) when stdin is not one and --yes was not given."""
    if yes:
        return
    refuse_unconfirmed_apply(yes)
    if not click.confirm(prompt, default=False, err=True):
        raise click.Abort()


def load_config_file(path: Path) -> Dict[str, Any]:
    """Read a TOML config file into click's ``default_map`` shape.

    Top-level keys apply to every command; ``[scan]``, ``[prune]``, ``[check]``
    and ``[restore]`` tables apply to one. Keys are option names without
    dashes' leading ``--`` (``older-than`` or ``older_than``).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on older Pythons only
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return document


def default_map_for(document: Dict[str, Any], commands: Mapping[str, click.Command], path: Path) -> Dict[str, Any]:
    """Check a config document against the commands' options; build click's default_map."""
    shared = {key: value for key, value in document.items() if not isinstance(value, dict)}
    tables = {key: value for key, value in document.items() if isinstance(value, dict)}
    for name in tables:
        if name not in commands:
            raise ConfigError(f"{path}: unknown section [{name}]; use one of {', '.join(sorted(commands))}")
    spellings = {name: _option_spellings(command) for name, command in commands.items()}
    for key in shared:
        if not any(_normalized(key) in options for options in spellings.values()):
            raise ConfigError(f"{path}: unknown setting {key!r}")
    result: Dict[str, Any] = {}
    for name, options in spellings.items():
        repeatable = {param.name for param in commands[name].params if getattr(param, "multiple", False)}
        values = {options[_normalized(k)]: v for k, v in shared.items() if _normalized(k) in options}
        for key, value in tables.get(name, {}).items():
            if _normalized(key) not in options:
                raise ConfigError(f"{path}: unknown setting {key!r} in [{name}]")
            values[options[_normalized(key)]] = value
        for param_name in repeatable & set(values):
            values[param_name] = _list_of_strings(values[param_name], param_name, path)
        result[name] = values
    return result


def _list_of_strings(value: Any, key: str, path: Path) -> List[str]:
    """A repeatable option's config value: a list of strings, or one string as a list of one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ConfigError(f'{path}: {key} must be a string or a list of strings, e.g. {key} = ["http://rm1:8088"]')


def _normalized(key: str) -> str:
    return key.lstrip("-").replace("-", "_")


def _option_spellings(command: click.Command) -> Dict[str, str]:
    """Every way a config key may name one of the command's options -> the parameter name."""
    spellings: Dict[str, str] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            spellings[param.name] = param.name
            spellings.update((_normalized(opt), param.name) for opt in param.opts)
    return spellings


OPTION_GROUPS = (
    ("Selection", ("older_than", "limit", "include_corrupt", "allow_young_sessions", "plan_file", "plan_max_age",
                   "session_type", "grace", "show", "by", "max_sessions", "max_stale", "max_bytes",
                   "allow_unreadable", "warn_children_bytes", "repair")),
    ("Safety", ("apply_changes", "yes", "backup", "plan_out", "batch_size", "pause_seconds", "into_other_store",
                "trust_yarn_absence")),
    ("Output", ("output_format", "utc", "verbose", "quiet", "metrics_file")),
    ("Connection", ("zk", "prefix", "livy_conf", "livy", "yarn", "yarn_timeline", "spark_history", "timeout",
                    "read_method", "zk_tls", "zk_ca", "zk_tls_no_verify")),
    ("Authentication", ("livy_auth", "livy_user", "yarn_auth", "yarn_user", "spark_history_auth", "zk_auth",
                        "zk_auth_file", "zk_sasl", "zk_sasl_user", "zk_sasl_service", "zk_sasl_principal", "zk_cert",
                        "zk_key", "zk_key_password_file")),
)
"""How ``--help`` groups every command's options, what matters first; an option in no group goes under "Other"."""


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options by :data:`OPTION_GROUPS`, each with its environment variable."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, click.Option) and param.envvar:
                param.show_envvar = True

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        group_of = {name: title for title, names in OPTION_GROUPS for name in names}
        sections: Dict[str, List[Tuple[str, str]]] = {title: [] for title, _ in OPTION_GROUPS}
        sections["Other options"] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                sections[group_of.get(param.name or "", "Other options")].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title if title == "Other options" else f"{title} options"):
                    formatter.write_dl(records)


def command_examples(*lines: str) -> str:
    """Format an Examples section for a command's --help (kept verbatim by click)."""
    body = "\n".join(f"  {line}" for line in lines)
    return f"\n\n\b\nExamples:\n{body}"


def pass_settings(func: Callable) -> Callable:
    """Resolve the shared options into ``settings``; record the run in ``--metrics-file``.

    The command gets ``settings`` and ``metrics`` (a MetricSet, or None without
    --metrics-file) and returns its exit code. The metrics file is written even
    when the command fails, so an alert can fire on a non-zero exit code.
    """

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> int:
        settings = settings_from(kwargs)
        if settings.metrics_file is not None:
            check_writable(settings.metrics_file)  # before the command changes anything (prune deletes)
        metrics = MetricSet() if settings.metrics_file else None
        started = time.time()
        code = EXIT_INTERNAL
        try:
            code = func(settings=settings, metrics=metrics, **kwargs)
            return code
        except ZkJanitorError as exc:
            code = exc.exit_code
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated): not a bug of ours
            code = EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
            raise
        finally:
            if metrics is not None and settings.metrics_file is not None:
                finished = time.time()
                add_run_metrics(metrics, click.get_current_context().info_name or "zkjanitor",
                                finished_at=finished, duration=finished - started, exit_code=code)
                write_atomically(settings.metrics_file, metrics.render())

    return wrapper
