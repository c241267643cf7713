"""Review a ``livy.conf`` for settings that break recovery or make stale sessions pile up.

Each rule follows from how Livy itself reads and uses the setting (see
``docs/dev/livy-state-store.md`` sections 1, 4 and 5); findings are written for the
operator: what happens to the cluster, and the value to use instead.
"""

from __future__ import annotations

import re
from typing import Callable, List, NamedTuple, Optional, Sequence

from zkjanitor.livyconf import (
    LEGACY_ZK_RETRY_POLICY,
    RECOVERY_MODE,
    SESSION_STATE_RETAIN,
    SESSION_TIMEOUT,
    SESSION_TIMEOUT_CHECK,
    SESSION_TIMEOUT_CHECK_SKIP_BUSY,
    SESSION_TTL,
    SESSION_TTL_CHECK,
    SPARK_MASTER,
    STATE_STORE,
    STATE_STORE_URL,
    TIME_SETTING_DEFAULTS,
    YARN_APP_LOOKUP_TIMEOUT,
    ZK_RETRY_POLICY,
    ZOOKEEPER_URL,
    LivyConf,
)
from zkjanitor.units import format_duration, parse_livy_time_ms

ERROR = "error"
WARNING = "warning"
INFO = "info"
_SEVERITY_ORDER = {ERROR: 0, WARNING: 1, INFO: 2}

ONE_DAY_MS = 24 * 3600 * 1000
APP_LOOKUP_NOTICE_MS = 10 * 60 * 1000
"""Five times Livy's 120 s default: from here on a restart visibly stalls."""

GC_INTERVAL_MS = 60 * 1000
"""Livy's session GC thread runs once a minute (hard-coded)."""

_STARTUP_TIME_SETTINGS = (SESSION_TIMEOUT, SESSION_STATE_RETAIN, SESSION_TTL)
"""Read by Livy's session managers as they start: a bad value stops Livy starting."""

_SHORT_BARE_NUMBER_EFFECTS = {
    SESSION_STATE_RETAIN: "Finished sessions then vanish from Livy's REST API at the next"
    " GC pass (within a minute), often before clients read their final state.",
    SESSION_TIMEOUT: "Interactive sessions are then stopped after about a minute without activity.",
}
_RETRY_POLICY_PATTERN = re.compile(r"\s*(\d+)\s*,\s*(\d+)\s*", re.ASCII)
_JAVA_INT_MAX = 2**31 - 1
_BARE_NUMBER = re.compile(r"[0-9]+", re.ASCII)


class Finding(NamedTuple):
    """One piece of advice about one Livy setting."""

    severity: str
    """``error`` (Livy fails), ``warning`` (sessions pile up) or ``info``."""
    setting: str
    value: Optional[str]
    """The value written in livy.conf, or None when the file leaves it unset."""
    problem: str
    """What happens to the cluster, in one or two plain sentences."""
    recommendation: str
    """A concrete value or action."""


PROBLEM_SEVERITIES = ("error", "warning")
"""Severities that need the operator's attention (``doctor`` exits 1 on them)."""


def has_problems(findings: Sequence[Finding]) -> bool:
    return any(f.severity in PROBLEM_SEVERITIES for f in findings)


def review_livy_conf(conf: LivyConf) -> List[Finding]:
    """Return every finding for ``conf``: errors first, then warnings, then info."""
    rules: List[Callable[[LivyConf], List[Finding]]] = [
        _byte_order_mark,
        _recovery_setup,
        _zookeeper_connection,
        _time_syntax,
        _pile_up,
        _ttl_without_check,
        _app_lookup_timeout,
    ]
    findings = [finding for rule in rules for finding in rule(conf)]
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


def _byte_order_mark(conf: LivyConf) -> List[Finding]:
    """A UTF-8 byte-order mark turns the first setting into an unknown key."""
    return [
        Finding(
            WARNING,
            key[1:],
            value,
            "livy.conf starts with a byte-order mark, which Livy reads as part of the"
            f" first key, so Livy ignores {key[1:]} and uses its default.",
            "Save livy.conf as UTF-8 without a byte-order mark.",
        )
        for key, value in conf.settings.items()
        if key.startswith("\ufeff")
    ]


def _recovery_setup(conf: LivyConf) -> List[Finding]:
    """Recovery mode and state store: does Livy start, and does it write znodes at all."""
    mode = conf.recovery_mode
    if mode == "off":
        return [
            Finding(
                INFO,
                RECOVERY_MODE,
                conf.get(RECOVERY_MODE),
                "Session recovery is off: Livy forgets its sessions when it stops and"
                " writes no session znodes, so zkjanitor has nothing to clean.",
                "Nothing to do. With livy.server.recovery.mode = recovery and"
                " livy.server.recovery.state-store = zookeeper, Livy keeps one znode per"
                f" session under /{conf.key_prefix}/v1/batch and /{conf.key_prefix}/v1/interactive;"
                " those are what zkjanitor cleans.",
            )
        ]
    if mode != "recovery":
        return [
            Finding(
                ERROR,
                RECOVERY_MODE,
                mode,
                f"Livy refuses to start ('Unsupported recovery mode {mode}'): the only"
                " values it accepts are 'off' and 'recovery', in lower case.",
                "Set livy.server.recovery.mode = recovery to keep sessions across"
                " restarts, or off.",
            )
        ]
    findings = []
    store = conf.state_store
    if store == "filesystem":
        url = conf.get(STATE_STORE_URL) or "livy.server.recovery.state-store.url"
        findings.append(
            Finding(
                INFO,
                STATE_STORE,
                store,
                f"Livy keeps its recovery records as files under {url}, not in"
                " ZooKeeper, so zkjanitor has nothing to clean.",
                f"Nothing to do in ZooKeeper; the same per-session records are the"
                f" files under {url} in v1/batch and v1/interactive.",
            )
        )
    elif store != "zookeeper":
        as_livy_prints = "null" if store is None else store
        findings.append(
            Finding(
                ERROR,
                STATE_STORE,
                store,
                f"Livy refuses to start ('Unsupported state store {as_livy_prints}'):"
                " recovery needs the state store 'zookeeper' or 'filesystem', in lower case.",
                "Set livy.server.recovery.state-store = zookeeper (or filesystem).",
            )
        )
    master = conf.get(SPARK_MASTER)
    master = "local" if master is None else master
    if not master.startswith(("yarn", "k8s")):
        findings.append(
            Finding(
                ERROR,
                SPARK_MASTER,
                conf.get(SPARK_MASTER),
                f"Livy refuses to start with recovery on while sessions run on '{master}':"
                " 'Session recovery requires YARN' (or Kubernetes, from Livy 0.9).",
                "Set livy.spark.master = yarn, or turn recovery off.",
            )
        )
    return findings


def _zookeeper_connection(conf: LivyConf) -> List[Finding]:
    """With the ZooKeeper store, Livy needs a connect string and a valid Curator retry policy."""
    if conf.state_store != "zookeeper":
        return []
    findings = []
    if conf.zookeeper_url is None:
        legacy_url = conf.get(STATE_STORE_URL)
        if conf.get(ZOOKEEPER_URL) is not None and legacy_url:
            problem = (
                "livy.server.zookeeper.url is present but empty, so Livy 0.8+ ignores"
                f" livy.server.recovery.state-store.url and refuses to start"
                f" ('Please config {ZOOKEEPER_URL}.')."
            )
        elif legacy_url and conf.get(ZOOKEEPER_URL) is None:
            problem = (
                f"livy.server.recovery.state-store.url is '{legacy_url}', a filesystem"
                " URL, not a ZooKeeper connect string, so Livy cannot reach ZooKeeper."
            )
        else:
            problem = (
                "Livy refuses to start: the ZooKeeper state store needs a connect string"
                f" ('Please config {ZOOKEEPER_URL}.')."
            )
        findings.append(
            Finding(
                ERROR,
                ZOOKEEPER_URL,
                conf.get(ZOOKEEPER_URL),
                problem,
                f"Set {ZOOKEEPER_URL} = zk1:2181,zk2:2181,zk3:2181 (on Livy 0.7 and"
                f" older: {STATE_STORE_URL}).",
            )
        )
    policy = conf.zk_retry_policy
    if not _is_valid_retry_policy(policy):
        setting = (
            ZK_RETRY_POLICY if conf.get(ZK_RETRY_POLICY) is not None else LEGACY_ZK_RETRY_POLICY
        )
        findings.append(
            Finding(
                ERROR,
                setting,
                policy,
                "Livy refuses to start: the ZooKeeper retry policy must be"
                " '<max retry count>,<sleep ms between retry>', e.g. 5,100.",
                f"Set {setting} = 5,100 (the default), or remove the line.",
            )
        )
    return findings


def _is_valid_retry_policy(policy: str) -> bool:
    """True when Livy can build its Curator ``RetryNTimes`` from ``policy``."""
    match = _RETRY_POLICY_PATTERN.fullmatch(policy.strip())
    return match is not None and all(int(number) <= _JAVA_INT_MAX for number in match.groups())


def _time_syntax(conf: LivyConf) -> List[Finding]:
    """Time values Livy cannot parse, and bare numbers Livy reads as milliseconds."""
    findings = []
    for invalid in conf.invalid_time_settings:
        consequence = (
            "Livy reads it as it starts, so Livy does not start."
            if invalid.key in _STARTUP_TIME_SETTINGS
            else "Livy fails wherever it uses this setting."
        )
        findings.append(
            Finding(
                ERROR,
                invalid.key,
                invalid.value,
                f"Livy cannot read this time ({invalid.error}). {consequence}",
                "Write a whole number and a unit (us, ms, s, m, min, h or d), e.g."
                f" {invalid.key} = {TIME_SETTING_DEFAULTS[invalid.key]} (Livy's default).",
            )
        )
    for key in sorted(TIME_SETTING_DEFAULTS):
        value = conf.get(key)
        milliseconds = _valid_time_ms(conf, key)
        if (
            value is None
            or milliseconds is None
            or not _BARE_NUMBER.fullmatch(value)
            or int(value) == 0
        ):
            continue
        meant = format_duration(int(value))
        problem = (
            f"Livy reads a time without a unit as milliseconds: {value} is"
            f" {_describe_milliseconds(milliseconds)}, not {value} seconds ({meant})."
        )
        if milliseconds < GC_INTERVAL_MS and key in _SHORT_BARE_NUMBER_EFFECTS:
            problem += " " + _SHORT_BARE_NUMBER_EFFECTS[key]
        findings.append(
            Finding(
                WARNING,
                key,
                value,
                problem,
                f"Write the unit: {key} = {value}s if you meant {meant}"
                f" (or {value}ms if milliseconds are really intended).",
            )
        )
    return findings


def _pile_up(conf: LivyConf) -> List[Finding]:
    """With recovery on: GC settings that keep finished or idle sessions for days."""
    if conf.recovery_mode != "recovery":
        return []
    findings = []
    retain_ms = _valid_time_ms(conf, SESSION_STATE_RETAIN)
    if retain_ms is not None and retain_ms > ONE_DAY_MS:
        findings.append(
            Finding(
                WARNING,
                SESSION_STATE_RETAIN,
                conf.get(SESSION_STATE_RETAIN),
                "Finished sessions stay in Livy and in the state store for"
                f" {format_duration(retain_ms / 1000)} after they end, and that clock restarts"
                " at every Livy restart: restart more often and they are never cleaned, while"
                " each restart recovers all of them with one thread per session.",
                f"Set {SESSION_STATE_RETAIN} = 600s (the default).",
            )
        )
    timeout_ms = _valid_time_ms(conf, SESSION_TIMEOUT)
    timeout_check_on = _java_boolean(conf.get(SESSION_TIMEOUT_CHECK), default=True)
    if timeout_check_on and timeout_ms is not None and timeout_ms > ONE_DAY_MS:
        findings.append(
            Finding(
                WARNING,
                SESSION_TIMEOUT,
                conf.get(SESSION_TIMEOUT),
                "Idle interactive sessions keep their YARN application and their znode"
                f" for {format_duration(timeout_ms / 1000)}, and the idle clock restarts at every"
                " Livy restart. A reported Livy outage had a 24-day timeout and about"
                " 40 000 recovered sessions: Livy starts one thread per recovered session"
                " and ran out of memory on restart.",
                f"Set {SESSION_TIMEOUT} = 1h (the default), or the longest idle time"
                " your users really need.",
            )
        )
    timeout_check = conf.get(SESSION_TIMEOUT_CHECK)
    if not timeout_check_on:
        quirk = (
            ""
            if timeout_check is None or timeout_check.lower() == "false"
            else f" (Livy reads any value but 'true' as false, so '{timeout_check}' turns it off)"
        )
        findings.append(
            Finding(
                WARNING,
                SESSION_TIMEOUT_CHECK,
                timeout_check,
                "Livy never expires idle interactive sessions, so each one keeps its"
                f" YARN application and its znode until someone deletes it{quirk}.",
                f"Set {SESSION_TIMEOUT_CHECK} = true (the default).",
            )
        )
    elif _java_boolean(conf.get(SESSION_TIMEOUT_CHECK_SKIP_BUSY), default=False):
        findings.append(
            Finding(
                INFO,
                SESSION_TIMEOUT_CHECK_SKIP_BUSY,
                conf.get(SESSION_TIMEOUT_CHECK_SKIP_BUSY),
                "Busy sessions never idle-expire, so a session whose statement hangs"
                " keeps its YARN application and its znode until someone deletes it.",
                f"Keep {SESSION_TIMEOUT_CHECK_SKIP_BUSY} = false (the default) unless"
                " long statements are being cut off.",
            )
        )
    return findings


def _ttl_without_check(conf: LivyConf) -> List[Finding]:
    """A global session ttl does nothing unless ttl-check is on."""
    ttl = conf.get(SESSION_TTL)
    if ttl is None or _java_boolean(conf.get(SESSION_TTL_CHECK), default=False):
        return []
    return [
        Finding(
            INFO,
            SESSION_TTL,
            ttl,
            f"{SESSION_TTL} has no effect while {SESSION_TTL_CHECK} is not true:"
            " sessions are not limited to this lifetime.",
            f"Set {SESSION_TTL_CHECK} = true (Livy 0.9+) if you want a maximum"
            " session lifetime; otherwise remove the ttl line.",
        )
    ]


def _app_lookup_timeout(conf: LivyConf) -> List[Finding]:
    """A long YARN app lookup stalls restarts for sessions whose app was never found."""
    if conf.recovery_mode != "recovery":
        return []
    lookup_ms = _valid_time_ms(conf, YARN_APP_LOOKUP_TIMEOUT)
    if lookup_ms is None or lookup_ms <= APP_LOOKUP_NOTICE_MS:
        return []
    return [
        Finding(
            INFO,
            YARN_APP_LOOKUP_TIMEOUT,
            conf.get(YARN_APP_LOOKUP_TIMEOUT),
            "On restart, every recovered session whose YARN application id was never recorded"
            " searches YARN's application list for up to"
            f" {format_duration(lookup_ms / 1000)} before Livy marks it dead.",
            f"Set {YARN_APP_LOOKUP_TIMEOUT} = 120s (the default).",
        )
    ]


def _valid_time_ms(conf: LivyConf, key: str) -> Optional[int]:
    """The setting in milliseconds, or None when Livy cannot parse it (reported elsewhere)."""
    value = conf.get(key)
    try:
        return parse_livy_time_ms(TIME_SETTING_DEFAULTS[key] if value is None else value)
    except ValueError:
        return None


def _java_boolean(value: Optional[str], default: bool) -> bool:
    """Read a flag as Livy does (``Boolean.parseBoolean``): only 'true', any case, is true."""
    return default if value is None else value.lower() == "true"


def _describe_milliseconds(milliseconds: int) -> str:
    """Milliseconds in words an operator reads at a glance: '600 ms', '1m 40s'."""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    if milliseconds < 60 * 1000:
        return f"{milliseconds / 1000:g} s"
    return format_duration(milliseconds / 1000)
