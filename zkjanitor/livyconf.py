"""Read Livy's own ``livy.conf`` the way Livy reads it.

Livy loads the file with ``java.util.Properties.load(Reader)`` over a UTF-8
reader and then trims every value (``org.apache.livy.Utils.loadProperties``).
:func:`parse_properties` implements the Properties syntax; :func:`load_livy_conf`
adds the file handling and Livy's trimming; :class:`LivyConf` answers the
questions zkjanitor asks, with Livy's key fallbacks and defaults.

Encoding: Livy decodes the file as UTF-8 and, like any Java ``InputStreamReader``,
replaces bytes that are not UTF-8 with U+FFFD instead of failing. zkjanitor does
the same, so it sees exactly the values Livy sees (a file Livy accepts is never
rejected here). A UTF-8 byte-order mark is likewise kept as part of the first
key, as Java keeps it, so that setting is ignored by both.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

from zkjanitor.errors import ConfigError
from zkjanitor.units import parse_livy_time_ms

RECOVERY_MODE = "livy.server.recovery.mode"
STATE_STORE = "livy.server.recovery.state-store"
STATE_STORE_URL = "livy.server.recovery.state-store.url"
ZOOKEEPER_URL = "livy.server.zookeeper.url"
KEY_PREFIX = "livy.server.recovery.zk-state-store.key-prefix"
ZK_RETRY_POLICY = "livy.server.zk.retry-policy"
LEGACY_ZK_RETRY_POLICY = "livy.server.recovery.zk-state-store.retry-policy"
SPARK_MASTER = "livy.spark.master"
SESSION_TIMEOUT = "livy.server.session.timeout"
SESSION_TIMEOUT_CHECK = "livy.server.session.timeout-check"
SESSION_TIMEOUT_CHECK_SKIP_BUSY = "livy.server.session.timeout-check.skip-busy"
SESSION_STATE_RETAIN = "livy.server.session.state-retain.sec"
SESSION_TTL = "livy.server.session.ttl"
SESSION_TTL_CHECK = "livy.server.session.ttl-check"
YARN_APP_LOOKUP_TIMEOUT = "livy.server.yarn.app-lookup-timeout"

DEFAULT_KEY_PREFIX = "livy"
DEFAULT_RECOVERY_MODE = "off"
DEFAULT_ZK_RETRY_POLICY = "5,100"

TIME_SETTING_DEFAULTS: Mapping[str, str] = {
    SESSION_TIMEOUT: "1h",
    SESSION_STATE_RETAIN: "600s",
    SESSION_TTL: "8h",
    "livy.server.heartbeat-watchdog.interval": "1m",
    YARN_APP_LOOKUP_TIMEOUT: "120s",
    "livy.server.yarn.poll-interval": "5s",
    "livy.server.yarn.app-leakage.check-timeout": "600s",
    "livy.server.yarn.app-leakage.check-interval": "60s",
    "livy.server.kubernetes.app-lookup-timeout": "600s",
    "livy.server.kubernetes.poll-interval": "15s",
    "livy.server.kubernetes.app-leakage.check-timeout": "600s",
    "livy.server.kubernetes.app-leakage.check-interval": "60s",
}
"""Livy settings read with ``getTimeAsMs``, with Livy's defaults (0.5 and later)."""

_JAVA_TRIM_CHARACTERS = "".join(chr(code) for code in range(0x21))
_PROPERTIES_WHITESPACE = " \t\f"
_NATURAL_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SIMPLE_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/")


def parse_properties(text: str) -> Dict[str, str]:
    """Parse ``text`` with ``java.util.Properties.load`` semantics; the last occurrence wins.

    Supports ``key=value``, ``key: value`` and ``key value``; ``#``/``!`` comment
    lines; blank lines; a trailing odd backslash continuing the line (the next
    line's leading whitespace dropped); escapes ``\\t \\n \\r \\f \\uXXXX`` and
    ``\\<any>`` for that character. Values keep trailing whitespace, as Java does.
    Raises ``ValueError`` naming the line for a malformed ``\\uXXXX`` escape,
    which Java rejects too.
    """
    properties: Dict[str, str] = {}
    for line_number, logical_line in _logical_lines(text):
        raw_key, raw_value = _split_key_value(logical_line)
        try:
            properties[_unescape(raw_key)] = _unescape(raw_value)
        except ValueError as error:
            raise ValueError(f"line {line_number}: {error}") from None
    return properties


def _logical_lines(text: str) -> List[Tuple[int, str]]:
    """Join continued natural lines; return (first line number, logical line) pairs.

    Follows the JDK 9+ ``Properties.LineReader``: a comment or blank line is
    recognised whenever the logical line is still empty, even after a line that
    held nothing but a continuation backslash. (One quirk is not copied: Java
    adds an empty key when the file ends in such a lone backslash.)
    """
    logical_lines: List[Tuple[int, str]] = []
    pending = ""
    first_line_number = 0
    for line_number, natural_line in enumerate(_NATURAL_LINE_BREAK.split(text), start=1):
        segment = natural_line.lstrip(_PROPERTIES_WHITESPACE)
        if not pending:
            if not segment or segment[0] in "#!":
                continue
            first_line_number = line_number
        if _ends_with_odd_backslashes(segment):
            pending += segment[:-1]
            continue
        logical_lines.append((first_line_number, pending + segment))
        pending = ""
    if pending:
        logical_lines.append((first_line_number, pending))
    return logical_lines


def _ends_with_odd_backslashes(segment: str) -> bool:
    """True when ``segment`` ends in an unescaped backslash (a line continuation)."""
    return (len(segment) - len(segment.rstrip("\\"))) % 2 == 1


def _split_key_value(line: str) -> Tuple[str, str]:
    """Split a logical line at the first unescaped ``=``, ``:`` or whitespace."""
    position = 0
    escaped = False
    while position < len(line):
        character = line[position]
        if not escaped and (character in "=:" or character in _PROPERTIES_WHITESPACE):
            break
        escaped = character == "\\" and not escaped
        position += 1
    key = line[:position]
    terminator = line[position : position + 1]
    rest = line[position + 1 :].lstrip(_PROPERTIES_WHITESPACE)
    if terminator not in ("=", ":") and rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(_PROPERTIES_WHITESPACE)
    return key, rest


def _unescape(raw: str) -> str:
    """Resolve Properties backslash escapes; ``\\uXXXX`` surrogate pairs combine as in Java."""
    characters: List[str] = []
    position = 0
    while position < len(raw):
        character = raw[position]
        position += 1
        if character != "\\" or position >= len(raw):
            characters.append(character)
            continue
        escaped = raw[position]
        position += 1
        if escaped == "u":
            hex_digits = raw[position : position + 4]
            if not re.fullmatch(r"[0-9A-Fa-f]{4}", hex_digits):
                raise ValueError("malformed \\uxxxx escape")
            characters.append(chr(int(hex_digits, 16)))
            position += 4
        else:
            characters.append(_SIMPLE_ESCAPES.get(escaped, escaped))
    joined = "".join(characters)
    return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


class InvalidTimeSetting(NamedTuple):
    """A time setting whose value Livy cannot parse, with Livy's own error message."""

    key: str
    value: str
    error: str


class LivyConf(NamedTuple):
    """The settings of one ``livy.conf`` (values already trimmed as Livy trims them).

    ``source`` is the file it came from, for messages; None when built in memory.
    """

    settings: Mapping[str, str]
    source: Optional[str] = None

    def get(self, key: str) -> Optional[str]:
        """Return the value written for ``key``, or None when the file does not set it."""
        return self.settings.get(key)

    @property
    def recovery_mode(self) -> str:
        """``livy.server.recovery.mode``: ``off`` (default) or ``recovery``; Livy rejects others."""
        return self.settings.get(RECOVERY_MODE, DEFAULT_RECOVERY_MODE)

    @property
    def state_store(self) -> Optional[str]:
        """``livy.server.recovery.state-store``: ``zookeeper``, ``filesystem`` or None (unset)."""
        return self.settings.get(STATE_STORE)

    @property
    def zookeeper_url(self) -> Optional[str]:
        """The ZooKeeper connect string Livy would use, or None.

        Like Livy 0.8+, ``livy.server.zookeeper.url`` wins whenever it is present,
        even when empty (then Livy refuses to start, and this is None). Otherwise
        ``livy.server.recovery.state-store.url`` is used, unless the state store is
        ``filesystem`` or the value is a filesystem URL (``hdfs:///``, ``file:/``).
        """
        if ZOOKEEPER_URL in self.settings:
            return self.settings[ZOOKEEPER_URL].strip(_JAVA_TRIM_CHARACTERS) or None
        legacy_url = (self.settings.get(STATE_STORE_URL) or "").strip(_JAVA_TRIM_CHARACTERS)
        if not legacy_url or self.state_store == "filesystem" or _URL_SCHEME.match(legacy_url):
            return None
        return legacy_url

    @property
    def rest_url(self) -> Optional[str]:
        """Livy's REST URL from ``livy.server.host`` and ``livy.server.port`` (8998), or None.

        None when the host is unset or a wildcard (``0.0.0.0``: Livy listens
        everywhere and the file does not say where to reach it). https when
        ``livy.keystore`` is set, as Livy then serves TLS only.
        """
        host = (self.settings.get("livy.server.host") or "").strip(_JAVA_TRIM_CHARACTERS)
        if not host or host in ("0.0.0.0", "::"):
            return None
        port = (self.settings.get("livy.server.port") or "8998").strip(_JAVA_TRIM_CHARACTERS)
        scheme = "https" if self.settings.get("livy.keystore") else "http"
        return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"

    @property
    def key_prefix(self) -> str:
        """``livy.server.recovery.zk-state-store.key-prefix`` (default ``livy``), used verbatim."""
        return self.settings.get(KEY_PREFIX, DEFAULT_KEY_PREFIX)

    @property
    def zk_retry_policy(self) -> str:
        """The Curator retry policy Livy 0.8+ reads: the new key if present, else the old one."""
        if ZK_RETRY_POLICY in self.settings:
            return self.settings[ZK_RETRY_POLICY]
        return self.settings.get(LEGACY_ZK_RETRY_POLICY, DEFAULT_ZK_RETRY_POLICY)

    def time_ms(self, key: str) -> int:
        """Return time setting ``key`` in milliseconds as Livy reads it (its default when unset).

        ``key`` must be one of :data:`TIME_SETTING_DEFAULTS`. Raises ConfigError
        when the value is one Livy cannot parse either.
        """
        value = self.settings.get(key, TIME_SETTING_DEFAULTS.get(key))
        if value is None:
            raise KeyError(f"{key} is not a Livy time setting zkjanitor knows")
        try:
            return parse_livy_time_ms(value)
        except ValueError as error:
            where = f" in {self.source}" if self.source else ""
            raise ConfigError(
                f"{key} = {value!r}{where} is not a valid Livy time: {error}"
            ) from None

    @property
    def session_timeout_ms(self) -> int:
        """Idle timeout of interactive sessions (``livy.server.session.timeout``, default 1h)."""
        return self.time_ms(SESSION_TIMEOUT)

    @property
    def state_retain_ms(self) -> int:
        """How long Livy keeps finished sessions (``...session.state-retain.sec``, default 600s)."""
        return self.time_ms(SESSION_STATE_RETAIN)

    @property
    def app_lookup_timeout_ms(self) -> int:
        """How long Livy looks for a session's YARN app (``...yarn.app-lookup-timeout``, 120s)."""
        return self.time_ms(YARN_APP_LOOKUP_TIMEOUT)

    @property
    def invalid_time_settings(self) -> List[InvalidTimeSetting]:
        """Every known time setting in the file whose value Livy cannot parse, in key order."""
        invalid = []
        for key in sorted(TIME_SETTING_DEFAULTS):
            value = self.settings.get(key)
            if value is None:
                continue
            try:
                parse_livy_time_ms(value)
            except ValueError as error:
                invalid.append(InvalidTimeSetting(key, value, str(error)))
        return invalid


def load_livy_conf(path: Union[str, os.PathLike[str]]) -> LivyConf:
    """Read and parse the ``livy.conf`` at ``path``; raise ConfigError with a one-line reason.

    Malformed time values do not fail here: see :attr:`LivyConf.invalid_time_settings`.
    """
    shown_path = os.fspath(path)
    hint = "(check --livy-conf or ZKJANITOR_LIVY_CONF)"
    try:
        with open(shown_path, "rb") as conf_file:
            content = conf_file.read()
    except FileNotFoundError:
        raise ConfigError(f"livy.conf not found: {shown_path} {hint}") from None
    except IsADirectoryError:
        raise ConfigError(f"livy.conf is a directory, not a file: {shown_path} {hint}") from None
    except PermissionError:
        raise ConfigError(f"livy.conf is not readable (permission denied): {shown_path}") from None
    except OSError as error:
        raise ConfigError(
            f"cannot read livy.conf {shown_path}: {error.strerror or error}"
        ) from None
    try:
        properties = parse_properties(content.decode("utf-8", errors="replace"))
    except ValueError as error:
        raise ConfigError(
            f"cannot parse livy.conf {shown_path}: {error} (Livy cannot load it either)"
        ) from None
    trimmed = {key: value.strip(_JAVA_TRIM_CHARACTERS) for key, value in properties.items()}
    return LivyConf(settings=trimmed, source=shown_path)
