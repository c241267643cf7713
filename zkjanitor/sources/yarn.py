"""Application state from the YARN ResourceManager REST API.

Facts this relies on (platform-facts.md section 3, livy-state-store.md 4.1-4.2):

* with RM HA every RM's ``/ws/v1/cluster/info`` says whether it is ACTIVE; a
  standby answers every other request with HTTP 307. Redirects are never
  followed (credentials must not travel to a host nobody configured); the
  active RM is found by probing.
* ``GET /ws/v1/cluster/apps`` lists everything the RM remembers in ONE request;
  an empty list is ``{"apps": null}``. Older Hadoop ignores the ``deSelects``
  parameter it does not know, so sending it is safe. The listing has no
  ``applicationTypes`` filter: an app of any type (``SPARK-STREAMING``...) is
  judged by its own record, as Livy judges a known appId.
* the RM stores tags lowercased; Livy 0.3-0.8 wrote mixed-case tags, so tags
  compare lowercased.
* 404 for an app id means "the RM does not remember it" (retention), which is
  what NOT_FOUND means here, but only when the RM can vouch that it would know
  the application (platform-facts.md section 3.x): an id whose cluster
  timestamp is newer than every configured RM's start was not accepted by
  this cluster (``app-newer-than-rm``), and an RM that knows none of the
  store's applications may be another cluster's (``rm-cannot-vouch``).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timezone
from functools import partial
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Union,
)
from urllib.parse import quote, urlencode, urlsplit

from zkjanitor import __version__
from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppRecord, Lookup, LookupStatus
from zkjanitor.redact import redact_url_credentials
from zkjanitor.sources.base import AppQuery, AppStateSource

if TYPE_CHECKING:  # imported when the first request is made: http.client imports ssl, which costs
    import ssl  # start-up time that a run answered without YARN never needs back
    from http.client import HTTPConnection

log = logging.getLogger(__name__)

INFO_PATH = "/ws/v1/cluster/info"
APPS_PATH = "/ws/v1/cluster/apps"
AUTH_KINDS = ("none", "simple", "basic", "kerberos")
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
RETRY_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
YARN_APP_ID = re.compile(r"application_[0-9]+_[0-9]+")
KERBEROS_MISSING = "Kerberos needs the optional extra: pip install 'zkjanitor[kerberos]'"
SPNEGO_MECHANISM = "1.3.6.1.5.5.2"
"""The OID requests-gssapi asked for: a SPNEGO token, which gateways in front of an RM expect too."""
USER_AGENT = f"zkjanitor/{__version__}"
UNRESERVED_IN_PATHS = "/%!$&'()*+,;=:@~"
"""Characters of a base URL's path prefix sent as they are (the rest is percent-encoded)."""

NOT_A_YARN_APP = Lookup(LookupStatus.UNKNOWN, detail="not-a-yarn-app")
NOTHING_TO_ASK = Lookup(LookupStatus.UNKNOWN, detail="source-error")
NOT_FOUND = Lookup(LookupStatus.NOT_FOUND)
NEWER_THAN_RM = Lookup(LookupStatus.UNKNOWN, detail="app-newer-than-rm")
CANNOT_VOUCH = Lookup(LookupStatus.UNKNOWN, detail="rm-cannot-vouch")
APP_ID_TIMESTAMP_AT = len("application_")


class YarnAuth(NamedTuple):
    """How to authenticate to the RM.

    ``kind``: ``none``, ``simple`` (``?user.name=<user>``), ``basic`` (HTTP basic,
    e.g. an HDInsight gateway) or ``kerberos`` (SPNEGO).
    """

    kind: str = "none"
    user: Optional[str] = None
    password: Optional[str] = None

    def __repr__(self) -> str:
        password = None if self.password is None else "***"
        return f"YarnAuth(kind={self.kind!r}, user={self.user!r}, password={password!r})"


class _RmFailure(Exception):
    """One RM could not answer (after retries); ``reason`` is short and credential-free."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Malformed(Exception):
    """The RM's JSON does not have the documented shape."""


def is_yarn_app_id(app_id: str) -> bool:
    """True for ``application_<cluster timestamp>_<sequence>``."""
    return YARN_APP_ID.fullmatch(app_id) is not None


def validate_urls(urls: Sequence[str]) -> List[str]:
    """Base URLs without a trailing slash; ConfigError for anything that is not one."""
    if not urls:
        raise ConfigError("no YARN ResourceManager URL given: pass --yarn http://<rm>:8088")
    validated = []
    for url in urls:
        shown = redact_url_credentials(url)  # error messages must not echo a password
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError:
            raise ConfigError(f"invalid --yarn URL {shown!r}: expected http(s)://host:port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"invalid --yarn URL {shown!r}: expected http(s)://host:port")
        if parts.username is not None or parts.password is not None:
            raise ConfigError(
                "do not put credentials in --yarn URLs: "
                "use --yarn-user and $ZKJANITOR_YARN_PASSWORD"
            )
        if parts.query or parts.fragment:
            raise ConfigError(
                f"invalid --yarn URL {shown!r}: give the base URL without ?query or #fragment"
            )
        validated.append(url.strip().rstrip("/"))
    return validated


def _basic_authorization(auth: YarnAuth) -> Optional[str]:
    """Checks ``auth``; the ``Authorization`` header of HTTP basic auth, else None."""
    if auth.kind not in AUTH_KINDS:
        raise ConfigError(f"unknown YARN auth {auth.kind!r}: use one of {', '.join(AUTH_KINDS)}")
    if auth.kind in ("simple", "basic") and not auth.user:
        raise ConfigError(f"YARN auth {auth.kind} needs a user: pass --yarn-user")
    if auth.kind != "basic":
        return None
    if auth.password is None:
        raise ConfigError("YARN basic auth needs a password: set $ZKJANITOR_YARN_PASSWORD")
    credentials = f"{auth.user}:{auth.password}"
    try:  # Latin-1 where it can be, as requests sent it; UTF-8 (RFC 7617) for the rest
        raw = credentials.encode("latin-1")
    except UnicodeEncodeError:
        raw = credentials.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _gssapi_module() -> Any:
    """The ``gssapi`` package SPNEGO needs; ConfigError when the optional extra is missing."""
    try:
        import gssapi
    except ImportError:
        raise ConfigError(KERBEROS_MISSING) from None
    return gssapi


def _tls_context(verify: Union[bool, str]) -> "ssl.SSLContext":
    """How to check an https RM: the system's CAs (True), nothing (False), or the CA file or directory ``verify``."""
    import ssl

    if isinstance(verify, str) and verify:
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _Endpoint(NamedTuple):
    """Where one RM base URL's requests go."""

    https: bool
    host: str
    port: Optional[int]
    prefix: str
    """The base URL's path (a gateway's ``/yarn``), percent-encoded, without a trailing slash."""


def _endpoint(base: str) -> _Endpoint:
    parts = urlsplit(base)
    return _Endpoint(
        parts.scheme == "https",
        parts.hostname or "",
        parts.port,
        quote(parts.path.rstrip("/"), safe=UNRESERVED_IN_PATHS),
    )


class _Reply(NamedTuple):
    """An RM's answer: the HTTP status and the (decompressed) body."""

    status_code: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not JSON (or not UTF-8/16/32)."""
        return json.loads(self.body)


class _UndecodableBody(Exception):
    """A gzip body that does not decompress."""


def _decoded(body: bytes, content_encoding: Optional[str]) -> bytes:
    """``body`` without the gzip encoding the request allowed (``Accept-Encoding: gzip``)."""
    if (content_encoding or "").strip().lower() not in ("gzip", "x-gzip"):
        return body
    import zlib

    try:
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    except zlib.error:
        raise _UndecodableBody("a gzip body that does not decompress") from None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it wraps or was raised while handling, each once."""
    seen: Set[int] = set()
    pending = [exc]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(item for item in (current.__cause__, current.__context__) if item is not None)


def _connection_problem(exc: BaseException) -> str:
    """A few words on why a request failed, without URLs or credentials."""
    from http.client import HTTPException

    causes = list(_causes(exc))
    ssl = sys.modules.get("ssl")  # not imported: no TLS was tried
    certificate_errors = (ssl.SSLCertVerificationError,) if ssl is not None else ()
    tls_errors = (ssl.SSLError,) if ssl is not None else ()
    if any(isinstance(cause, tls_errors) and _not_a_tls_server(cause) for cause in causes):
        return "not a TLS server: try http://"
    # Most specific first (ssl.SSLError is also an OSError).
    for kinds, problem in (
        ((ConnectionRefusedError,), "connection refused"),
        ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), "connection reset"),
        ((socket.gaierror,), "host not found"),
        (certificate_errors, "TLS error: check the certificate"),
        (tls_errors, "TLS handshake failed"),
        ((socket.timeout,), "timed out"),
    ):
        if any(isinstance(cause, kinds) for cause in causes):
            return problem
    if isinstance(exc, HTTPException):
        return f"bad HTTP reply ({type(exc).__name__})"
    return f"cannot connect ({type(exc).__name__})"


def _not_a_tls_server(error: BaseException) -> bool:
    """An SSL error that means the peer answered in plain text (an http port asked for https)."""
    reason = str(getattr(error, "reason", "") or "").upper()
    plain_text_reasons = ("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "RECORD_LAYER_FAILURE")
    return reason in plain_text_reasons or "wrong version number" in str(error)


def _remote_message(response: _Reply) -> str:
    """The RM's ``RemoteException`` message, if the body carries one."""
    try:
        body = response.json()
        message = body["RemoteException"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return str(message).splitlines()[0][:200] if message else ""


def _is_not_found_exception(response: _Reply) -> bool:
    """A 404 the RM itself produced for an unknown app (not a 404 from a wrong URL)."""
    try:
        return response.json()["RemoteException"]["exception"] == "NotFoundException"
    except (ValueError, KeyError, TypeError):
        return False


def _int_or_none(value: Any) -> Optional[int]:
    """Milliseconds as YARN reports them; 0 and null mean "not yet"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Malformed(f"time {value!r} is not a number")
    return int(value) or None


def _record(app: Any) -> AppRecord:
    """An AppRecord from one RM app object."""
    if (
        not isinstance(app, dict)
        or not isinstance(app.get("id"), str)
        or not isinstance(app.get("state"), str)
    ):
        raise _Malformed("an app without a string id and state")
    raw_tags = app.get("applicationTags") or ""
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.split(",")
    if not isinstance(raw_tags, list):
        raise _Malformed(f"applicationTags of {app['id']} is neither a string nor a list")
    final_status = app.get("finalStatus")
    return AppRecord(
        app_id=app["id"],
        state=app["state"].upper(),
        final_status=str(final_status) if final_status is not None else None,
        tags=tuple(str(tag).strip().lower() for tag in raw_tags if str(tag).strip()),
        started_ms=_int_or_none(app.get("startedTime")),
        finished_ms=_int_or_none(app.get("finishedTime")),
    )


def _records(payload: Any) -> List[AppRecord]:
    """The apps of a ``/ws/v1/cluster/apps`` reply; ``{"apps": null}`` is an empty list."""
    if not isinstance(payload, dict) or "apps" not in payload:
        raise _Malformed('no "apps" key')
    apps = payload["apps"]
    if apps is None:
        return []
    if not isinstance(apps, dict):
        raise _Malformed('"apps" is neither null nor an object')
    items = apps.get("app", [])
    if isinstance(items, dict):  # a lone app rendered as an object instead of a list
        items = [items]
    if not isinstance(items, list):
        raise _Malformed('"apps.app" is not a list')
    return [_record(item) for item in items]


def _preferred(current: Optional[AppRecord], candidate: AppRecord) -> AppRecord:
    """Of two apps with the same tag: a running one (never prune it), else the last to finish."""
    if current is None:
        return candidate
    current_active = current.state not in TERMINAL_STATES
    candidate_active = candidate.state not in TERMINAL_STATES
    if current_active != candidate_active:
        return current if current_active else candidate
    return candidate if (candidate.finished_ms or 0) > (current.finished_ms or 0) else current


class _AppIndex:
    """Apps by id and by each lowercased tag, each held as the ``FOUND`` answer for it."""

    def __init__(self, records: Sequence[AppRecord]) -> None:
        by_tag: Dict[str, AppRecord] = {}
        for record in records:
            for tag in record.tags:
                by_tag[tag] = _preferred(by_tag.get(tag), record)
        self.by_id: Dict[str, Lookup] = {record.app_id: Lookup(LookupStatus.FOUND, record) for record in records}
        self.by_tag: Dict[str, Lookup] = {tag: Lookup(LookupStatus.FOUND, record) for tag, record in by_tag.items()}

    def answer(self, query: AppQuery) -> Lookup:
        """The answer to any query: found, not found, or why YARN cannot be asked about it.

        Runs once per session of a scan: an app id the RM lists is answered with
        one dict lookup (the RM's ids are YARN ids); only a miss is checked further.
        """
        app_id = query.app_id
        app_tag = query.app_tag
        if app_id:
            found = self.by_id.get(app_id)
            if found is not None:
                return found
            return NOT_FOUND if is_yarn_app_id(app_id) else NOT_A_YARN_APP
        early = _answer_without_yarn(query)
        if early is not None:
            return early
        return self.by_tag.get((app_tag or "").strip().lower(), NOT_FOUND)


def _answer_without_yarn(query: AppQuery) -> Optional[Lookup]:
    """The answer when YARN cannot be asked about ``query`` at all, else None."""
    if query.app_id:
        return None if is_yarn_app_id(query.app_id) else NOT_A_YARN_APP
    if not (query.app_tag or "").strip():
        return NOTHING_TO_ASK
    return None


class _Probe(NamedTuple):
    """One RM's answer to ``/ws/v1/cluster/info``."""

    active: bool
    problem: str
    started_ms: Optional[int] = None
    refusal: Optional[SourceUnavailable] = None


def _in_background(call: Callable[[], Any], name: str) -> "Future[Any]":
    """``call()`` in a daemon thread (a hung RM never keeps a run alive), as a Future."""
    future: "Future[Any]" = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


class YarnSource(AppStateSource):
    """Asks a YARN ResourceManager (or an HA set of them) about Livy's applications.

    ``urls`` are RM base URLs (several = HA; the active one is found by probing
    ``/ws/v1/cluster/info``). Every HTTP request has ``timeout`` seconds (to
    connect, and for each read) and up to ``retries`` retries on connection
    errors, timeouts and 5xx. ``verify`` is how an https RM's certificate is
    checked: True against the system's CA store, False not at all, a path
    against the CAs in that PEM file (or ``c_rehash`` directory).

    Requests go straight to the RM (environment proxy variables are not used)
    over one kept-alive connection per RM, opened at the first request. A
    source is used by one thread at a time (:meth:`prefetch`'s thread, then
    the caller's).
    """

    name = "yarn"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        auth: YarnAuth = YarnAuth(),
        timeout: float = 10.0,
        retries: int = 2,
        verify: Union[bool, str] = True,
        trust_absence: bool = False,
    ) -> None:
        if timeout <= 0:
            raise ConfigError("the YARN timeout must be positive")
        if retries < 0:
            raise ConfigError("YARN retries must be >= 0")
        self.urls = validate_urls(urls)
        self.auth_kind = auth.kind
        self.timeout = timeout
        self.retries = retries
        self.trust_absence = trust_absence
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._endpoints = {base: _endpoint(base) for base in self.urls}
        self._headers = {"Accept": "application/json", "Accept-Encoding": "gzip", "User-Agent": USER_AGENT}
        basic = _basic_authorization(auth)
        if basic is not None:
            self._headers["Authorization"] = basic
        self._gssapi = _gssapi_module() if auth.kind == "kerberos" else None
        self._kerberos_failed = False
        self._auth_params = {"user.name": auth.user or ""} if auth.kind == "simple" else {}
        self._verify = verify
        self._tls: Optional["ssl.SSLContext"] = None
        self._connections: Dict[str, "HTTPConnection"] = {}
        if any(endpoint.https for endpoint in self._endpoints.values()):
            if isinstance(verify, str) and verify:
                try:  # a CA file that cannot be used is a usage error, found before any request
                    self._tls = _tls_context(verify)
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"cannot use the YARN CA file {verify!r}: {exc}") from None
            elif not verify:
                log.warning("the YARN ResourceManager's TLS certificate will not be checked")
        self._active: Optional[str] = None
        self._started_ms: Dict[str, int] = {}
        """Each RM's start (``clusterInfo.startedOn``) from the last probe: the newest cluster timestamp it gives."""
        self._prefetched: Optional["Future[_AppIndex]"] = None

    # ------------------------------------------------------------------ the AppStateSource API

    def lookup(self, query: AppQuery) -> Lookup:
        """One app: ``GET /apps/{id}``, or (null appId) the SPARK apps with the session's tag."""
        early = _answer_without_yarn(query)
        if early is not None:
            return early
        if query.app_id:
            answer = self._lookup_by_id(query.app_id)
        else:
            tag = (query.app_tag or "").strip().lower()
            answer = _AppIndex(self._list_apps({"applicationTags": tag})).answer(query)
        if answer is NOT_FOUND and not self.trust_absence and self._newer_than_every_rm(query.app_id):
            return NEWER_THAN_RM
        return answer

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """All answers from one listing of every app the RM remembers: a constant number of requests.

        Uses the listing :meth:`prefetch` started, if any (once: a later call
        lists again). Sets :attr:`cannot_vouch` when the RM knows none of the
        applications asked about: every "not found" is then ``rm-cannot-vouch``.
        """
        prefetched, self._prefetched = self._prefetched, None
        self.cannot_vouch = None
        if not any(_answer_without_yarn(query) is None for query in queries):
            index = _AppIndex(())  # nothing to ask YARN: every answer comes without it
        elif prefetched is not None:
            index = prefetched.result()
        else:
            index = self._index_apps()
        answers = list(map(index.answer, queries))
        return answers if self.trust_absence else self._vouched(queries, answers)

    def _vouched(self, queries: Sequence[AppQuery], answers: List[Lookup]) -> List[Lookup]:
        """``answers`` with every "not found" this RM cannot vouch for turned ``UNKNOWN`` (platform-facts.md 3.x).

        An appId newer than every RM's start was accepted elsewhere. And Livy
        submits to one cluster: an RM that knows none of the store's
        applications cannot tell "forgotten" from "never mine".
        """
        missing = [at for at, answer in enumerate(answers) if answer is NOT_FOUND]
        if not missing:
            return answers
        newer: Dict[str, bool] = {}  # per cluster timestamp: the ids of one store share a few
        for at in missing:
            app_id = queries[at].app_id
            if app_id:
                stamp = app_id[APP_ID_TIMESTAMP_AT:app_id.rindex("_")]
                if stamp not in newer:
                    newer[stamp] = self._newer_than_every_rm(app_id)
                if newer[stamp]:
                    answers[at] = NEWER_THAN_RM
        if any(answer.status is LookupStatus.FOUND for answer in answers):
            return answers
        still_missing = [at for at in missing if answers[at] is NOT_FOUND]
        if still_missing:
            self.cannot_vouch = self._cannot_vouch_message(queries, asked=len(missing))
            for at in still_missing:
                answers[at] = CANNOT_VOUCH
        return answers

    def _newer_than_every_rm(self, app_id: Optional[str]) -> bool:
        """True when ``app_id``'s cluster timestamp is after the start of every RM probed: no RM here gave it."""
        if not app_id or not self._started_ms:
            return False
        return int(app_id[APP_ID_TIMESTAMP_AT:app_id.rindex("_")]) > max(self._started_ms.values())

    def _cannot_vouch_message(self, queries: Sequence[AppQuery], asked: int) -> str:
        base = self._active or ", ".join(self.urls)
        started = self._started_ms.get(self._active or "")
        if started is None:
            why = "so it cannot vouch that they are gone"
        else:
            when = datetime.fromtimestamp(started / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            recent = sum(1 for query in queries if (query.created_ms or 0) > started)
            why = (f"although {recent:,} session(s) were created after it started ({when})" if recent else
                   f"and no session was created since it started ({when}), so it cannot vouch that they are gone")
        return (f"YARN ResourceManager {base} knows 0 of the store's {asked:,} applications, {why}: "
                "is this the cluster Livy submits to? (--trust-yarn-absence overrides)")

    def prefetch(self) -> None:
        """List the RM's apps in a background thread, for the next :meth:`lookup_many`."""
        if self._prefetched is None:  # its failure is raised by lookup_many
            self._prefetched = _in_background(self._index_apps, "zkjanitor-yarn-prefetch")

    def close(self) -> None:
        """Close the HTTP connections (a later request opens a new one)."""
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            connection.close()

    # ------------------------------------------------------------------ queries

    def _lookup_by_id(self, app_id: str) -> Lookup:
        base, response = self._get_from_active(f"{APPS_PATH}/{app_id}", {})
        if response.status_code == 404:
            return (
                NOT_FOUND
                if _is_not_found_exception(response)
                else Lookup(LookupStatus.UNKNOWN, detail="source-error")
            )
        if response.status_code != 200:
            log.warning(
                "YARN answered HTTP %d for %s: %s",
                response.status_code,
                app_id,
                _remote_message(response),
            )
            return Lookup(LookupStatus.UNKNOWN, detail="source-error")
        try:
            payload = response.json()
            record = _record(payload.get("app") if isinstance(payload, dict) else None)
        except (ValueError, _Malformed) as exc:
            raise self._malformed(base, APPS_PATH + "/<id>", exc) from None
        return Lookup(LookupStatus.FOUND, record)

    def _index_apps(self) -> _AppIndex:
        """Every app the RM remembers, of any type, indexed: the bulk query's one listing."""
        index = _AppIndex(self._list_apps({"deSelects": "resourceRequests"}))
        log.info("YARN remembers %d applications", len(index.by_id))
        return index

    def _list_apps(self, params: Mapping[str, str]) -> List[AppRecord]:
        base, response = self._get_from_active(APPS_PATH, params)
        if response.status_code != 200:
            detail = _remote_message(response)
            raise SourceUnavailable(
                f"YARN ResourceManager {base} answered HTTP {response.status_code} to {APPS_PATH}"
                f"{': ' + detail if detail else ''}; check --yarn"
            )
        try:
            return _records(response.json())
        except (ValueError, _Malformed) as exc:
            raise self._malformed(base, APPS_PATH, exc) from None

    @staticmethod
    def _malformed(base: str, path: str, exc: Exception) -> SourceUnavailable:
        why = "not JSON" if isinstance(exc, ValueError) else str(exc)
        return SourceUnavailable(
            f"YARN ResourceManager {base} sent a malformed reply to {path} ({why}); "
            "is --yarn a ResourceManager URL?"
        )

    # ------------------------------------------------------------------ HA

    def _get_from_active(self, path: str, params: Mapping[str, str]) -> Tuple[str, _Reply]:
        """GET ``path`` from the active RM; if it fails or turns standby, re-probe once."""
        failure = ""
        for attempt in range(2):
            if self._active is None:
                self._active = self.find_active()
            base = self._active
            try:
                response = self._get(base, path, params)
            except _RmFailure as exc:
                failure = exc.reason
            else:
                if response.status_code != 307:
                    return base, response
                failure = "no longer active (HTTP 307)"
            self._active = None
            log.warning(
                "YARN ResourceManager %s failed (%s)%s",
                base,
                failure,
                "; looking for the active RM again" if attempt == 0 else "",
            )
        raise SourceUnavailable(
            f"YARN ResourceManager {base} did not answer {path} ({failure}); check --yarn"
        )

    def find_active(self) -> str:
        """The first URL whose ``/ws/v1/cluster/info`` says ACTIVE (no haState: a non-HA RM).

        Every URL is asked at once, so a hanging RM costs at most one more
        ``timeout`` once an active one has answered. Remembers each answering
        RM's start time. A refusal (HTTP 401/403) from one RM is a warning
        when another is active. Raises :class:`SourceUnavailable` naming every
        URL tried and what it said (the refusal itself when that is all there is).
        """
        probes = {base: _in_background(partial(self._probe, base), f"zkjanitor-yarn-probe-{n}")
                  for n, base in enumerate(self.urls)}
        answered: Dict[str, _Probe] = {}
        active_since: Optional[float] = None
        while len(answered) < len(probes):
            waiting = [future for base, future in probes.items() if base not in answered]
            budget = None if active_since is None else max(0.0, active_since + self.timeout - time.monotonic())
            done, _ = wait(waiting, timeout=budget, return_when=FIRST_COMPLETED)
            if not done:
                break
            for base, future in probes.items():
                if future in done:
                    answered[base] = future.result()
                    if answered[base].active and active_since is None:
                        active_since = time.monotonic()
        self._started_ms = {base: p.started_ms for base, p in answered.items() if p.started_ms is not None}
        tried = []
        for base in self.urls:
            probe = answered.get(base)
            if probe is None:
                tried.append(f"{base} (no answer within {self.timeout:g}s)")
            elif not probe.active:
                tried.append(f"{base} ({probe.problem})")
        active = next((base for base in self.urls if base in answered and answered[base].active), None)
        if active is not None:
            for line in tried:
                log.warning("YARN ResourceManager %s; using %s", line, active)
            log.info("using YARN ResourceManager %s", active)
            return active
        refusals = [p.refusal for p in answered.values() if p.refusal is not None]
        if refusals and len(refusals) == len(self.urls):
            raise refusals[0]
        raise SourceUnavailable(f"no active YARN ResourceManager: {', '.join(tried)}; check --yarn")

    def _probe(self, base: str) -> "_Probe":
        """What one RM's ``/ws/v1/cluster/info`` says: active or why not, and when it started."""
        try:
            response = self._get(base, INFO_PATH, {})
        except _RmFailure as exc:
            return _Probe(False, exc.reason)
        except SourceUnavailable as exc:
            return _Probe(False, "refused the credentials", refusal=exc)
        if response.status_code != 200:
            return _Probe(False, f"HTTP {response.status_code}")
        try:
            info = response.json()["clusterInfo"]
            ha_state = info.get("haState")
        except (ValueError, KeyError, TypeError, AttributeError):
            return _Probe(False, "not a YARN ResourceManager")
        started = info.get("startedOn") or info.get("id")
        started_ms = started if isinstance(started, int) and not isinstance(started, bool) and started > 0 else None
        if ha_state is None or str(ha_state).upper() == "ACTIVE":
            return _Probe(True, "", started_ms)
        return _Probe(False, str(ha_state), started_ms)

    # ------------------------------------------------------------------ HTTP

    def _get(self, base: str, path: str, params: Mapping[str, str]) -> _Reply:
        """One GET, retried on connection errors, timeouts and 5xx; redirects are not followed.

        Raises _RmFailure when retries run out, SourceUnavailable on HTTP 401/403.
        """
        from http.client import HTTPException

        query = urlencode({**self._auth_params, **params})
        target = self._endpoints[base].prefix + path + (f"?{query}" if query else "")
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(MAX_BACKOFF_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))
            with self._count_lock:  # RMs are probed in parallel
                self.requests_made += 1
            try:
                response = self._exchange(base, target)
            except socket.timeout:
                problem = f"timed out after {self.timeout:g}s"
                continue
            except _UndecodableBody as exc:
                problem = str(exc)
                continue
            except (OSError, HTTPException, UnicodeError) as exc:
                problem = _connection_problem(exc)
                continue
            log.debug("GET %s%s: HTTP %d", base, path, response.status_code)
            if response.status_code in (401, 403):
                raise SourceUnavailable(self._refused_message(base, response.status_code))
            if response.status_code < 500:
                return response
            problem = f"HTTP {response.status_code}"
        attempts = self.retries + 1
        raise _RmFailure(problem if attempts == 1 else f"{problem}, {attempts} attempts")

    def _exchange(self, base: str, target: str) -> _Reply:
        """GET ``target`` over ``base``'s kept-alive connection, opening one if there is none.

        A kept-alive connection the RM (or a proxy) closed while it was idle is
        found when it is used again; the request is then sent once more on a new
        connection, which is not a retry. Any other failure closes the
        connection and raises.
        """
        from http.client import RemoteDisconnected

        while True:
            connection = self._connections.get(base)
            reused = connection is not None and connection.sock is not None
            if connection is None:
                connection = self._connections[base] = self._connect(base)
            try:
                connection.request("GET", target, headers=self._request_headers(base))
                response = connection.getresponse()
                body = response.read()
            except (RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self._drop(base)
                if not reused:
                    raise
                log.debug("YARN ResourceManager %s closed an idle connection; reconnecting", base)
                continue
            except BaseException:
                self._drop(base)
                raise
            return _Reply(response.status, _decoded(body, response.getheader("Content-Encoding")))

    def _connect(self, base: str) -> "HTTPConnection":
        """A connection to ``base``'s host (opened by its first request)."""
        import http.client

        endpoint = self._endpoints[base]
        if not endpoint.https:
            return http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self.timeout)
        if self._tls is None:
            self._tls = _tls_context(self._verify)
        return http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=self.timeout, context=self._tls)

    def _drop(self, base: str) -> None:
        connection = self._connections.pop(base, None)
        if connection is not None:
            connection.close()

    def _request_headers(self, base: str) -> Dict[str, str]:
        """The headers of one request: with Kerberos, a new SPNEGO token every time."""
        if self._gssapi is None:
            return self._headers
        token = self._spnego_token(self._endpoints[base].host)
        if token is None:
            return self._headers
        return {**self._headers, "Authorization": "Negotiate " + base64.b64encode(token).decode("ascii")}

    def _spnego_token(self, host: str) -> Optional[bytes]:
        """The first SPNEGO token for ``HTTP@host``, sent without waiting for a 401 challenge.

        None when there is no usable ticket: the request then goes without it,
        and the RM's 401 says to check the ticket.
        """
        gssapi = self._gssapi
        assert gssapi is not None  # only called with Kerberos set up (_request_headers)
        try:
            context = gssapi.SecurityContext(
                name=gssapi.Name(f"HTTP@{host}", gssapi.NameType.hostbased_service),
                usage="initiate",
                flags=[],
                mech=gssapi.OID.from_int_seq(SPNEGO_MECHANISM),
            )
            return bytes(context.step())
        except Exception as exc:  # gssapi.exceptions.GSSError, or a broken Kerberos set-up
            first_line = (str(exc).splitlines() or [""])[0][:200]
            level = logging.DEBUG if self._kerberos_failed else logging.WARNING
            self._kerberos_failed = True
            log.log(level, "no Kerberos token for HTTP@%s (%s): %s", host, type(exc).__name__, first_line)
            return None

    def _refused_message(self, base: str, status: int) -> str:
        """One actionable line for HTTP 401/403, naming the option to fix."""
        if self.auth_kind == "none":
            return (
                f"YARN requires authentication (HTTP {status}) at {base}: "
                "pass --yarn-auth simple|basic|kerberos"
            )
        if self.auth_kind == "kerberos":
            hint = "check your Kerberos ticket (kinit)"
        else:
            hint = "check --yarn-user / ZKJANITOR_YARN_PASSWORD"
        return f"YARN refused the credentials (HTTP {status}) at {base}: {hint}"
