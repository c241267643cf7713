"""Application state from the YARN ResourceManager REST API.

Facts this relies on (platform-facts.md section 3, livy-state-store.md 4.1-4.2):

* with RM HA every RM's ``/ws/v1/cluster/info`` says whether it is ACTIVE; a
  standby answers every other request with HTTP 307. Redirects are never
  followed (``requests`` drops ``Authorization`` on cross-host redirects);
  the active RM is found by probing.
* ``GET /ws/v1/cluster/apps`` lists everything the RM remembers in ONE request;
  an empty list is ``{"apps": null}``. Older Hadoop ignores the ``deSelects``
  parameter it does not know, so sending it is safe.
* the RM stores tags lowercased; Livy 0.3-0.8 wrote mixed-case tags, so tags
  compare lowercased.
* 404 for an app id means "the RM does not remember it" (retention), which is
  what NOT_FOUND means here.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
from concurrent.futures import Future
from typing import (
    Any,
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
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppRecord, Lookup, LookupStatus
from zkjanitor.redact import redact_url_credentials
from zkjanitor.sources.base import AppQuery, AppStateSource

log = logging.getLogger(__name__)

INFO_PATH = "/ws/v1/cluster/info"
APPS_PATH = "/ws/v1/cluster/apps"
SPARK_APP_TYPE = "SPARK"
AUTH_KINDS = ("none", "simple", "basic", "kerberos")
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
RETRY_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 2.0
YARN_APP_ID = re.compile(r"application_[0-9]+_[0-9]+")
KERBEROS_MISSING = "Kerberos needs the optional extra: pip install 'zkjanitor[kerberos]'"

NOT_A_YARN_APP = Lookup(LookupStatus.UNKNOWN, detail="not-a-yarn-app")
NOTHING_TO_ASK = Lookup(LookupStatus.UNKNOWN, detail="source-error")
NOT_FOUND = Lookup(LookupStatus.NOT_FOUND)


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


def _http_auth(auth: YarnAuth) -> Optional[requests.auth.AuthBase]:
    """The ``requests`` auth handler for ``auth``; validates it first."""
    if auth.kind not in AUTH_KINDS:
        raise ConfigError(f"unknown YARN auth {auth.kind!r}: use one of {', '.join(AUTH_KINDS)}")
    if auth.kind in ("simple", "basic") and not auth.user:
        raise ConfigError(f"YARN auth {auth.kind} needs a user: pass --yarn-user")
    if auth.kind == "basic":
        if auth.password is None:
            raise ConfigError("YARN basic auth needs a password: set $ZKJANITOR_YARN_PASSWORD")
        return requests.auth.HTTPBasicAuth(auth.user or "", auth.password)
    if auth.kind == "kerberos":
        try:
            import requests_gssapi
        except ImportError:
            raise ConfigError(KERBEROS_MISSING) from None
        return requests_gssapi.HTTPSPNEGOAuth()
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it wraps (urllib3 nests them), each once."""
    seen: Set[int] = set()
    pending = [exc]
    while pending and len(seen) < 32:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *current.args,
        ]
        pending.extend(item for item in linked if isinstance(item, BaseException))


def _connection_problem(exc: requests.RequestException) -> str:
    """A few words on why a connection failed, without URLs or credentials."""
    causes = list(_causes(exc))
    # Most specific first: urllib3's NewConnectionError is also a TimeoutError.
    for kinds, problem in (
        ((ConnectionRefusedError,), "connection refused"),
        ((ConnectionResetError,), "connection reset"),
        ((socket.gaierror,), "host not found"),
        ((ssl.SSLError,), "TLS error: check the certificate"),
        ((socket.timeout, urllib3.exceptions.TimeoutError), "timed out"),
    ):
        if any(isinstance(cause, kinds) for cause in causes):
            return problem
    return f"cannot connect ({type(exc).__name__})"


def _remote_message(response: requests.Response) -> str:
    """The RM's ``RemoteException`` message, if the body carries one."""
    try:
        body = response.json()
        message = body["RemoteException"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return str(message).splitlines()[0][:200] if message else ""


def _is_not_found_exception(response: requests.Response) -> bool:
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
        app_id, app_tag = query
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


class YarnSource(AppStateSource):
    """Asks a YARN ResourceManager (or an HA set of them) about Livy's applications.

    ``urls`` are RM base URLs (several = HA; the active one is found by probing
    ``/ws/v1/cluster/info``). Every HTTP request has ``timeout`` seconds and up
    to ``retries`` retries on connection errors, timeouts and 5xx. ``verify``
    is passed to ``requests`` (False, or a CA bundle path, for https).
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
    ) -> None:
        if timeout <= 0:
            raise ConfigError("the YARN timeout must be positive")
        if retries < 0:
            raise ConfigError("YARN retries must be >= 0")
        self.urls = validate_urls(urls)
        self.auth_kind = auth.kind
        self.timeout = timeout
        self.retries = retries
        self.requests_made = 0
        self._session = requests.Session()
        self._session.auth = _http_auth(auth)
        self._session.verify = verify
        self._session.headers["Accept"] = "application/json"
        self._auth_params = {"user.name": auth.user or ""} if auth.kind == "simple" else {}
        self._active: Optional[str] = None
        self._prefetched: Optional["Future[_AppIndex]"] = None

    # ------------------------------------------------------------------ the AppStateSource API

    def lookup(self, query: AppQuery) -> Lookup:
        """One app: ``GET /apps/{id}``, or (null appId) the SPARK apps with the session's tag."""
        early = _answer_without_yarn(query)
        if early is not None:
            return early
        if query.app_id:
            return self._lookup_by_id(query.app_id)
        tag = (query.app_tag or "").strip().lower()
        records = self._list_apps({"applicationTypes": SPARK_APP_TYPE, "applicationTags": tag})
        return _AppIndex(records).answer(query)

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """All answers from one listing of the RM's SPARK apps: a constant number of requests.

        Uses the listing :meth:`prefetch` started, if any (once: a later call lists again).
        """
        prefetched, self._prefetched = self._prefetched, None
        if not any(_answer_without_yarn(query) is None for query in queries):
            index = _AppIndex(())  # nothing to ask YARN: every answer comes without it
        elif prefetched is not None:
            index = prefetched.result()
        else:
            index = self._index_spark_apps()
        return list(map(index.answer, queries))

    def prefetch(self) -> None:
        """List the RM's SPARK apps in a background thread, for the next :meth:`lookup_many`."""
        if self._prefetched is not None:
            return
        future: "Future[_AppIndex]" = Future()
        future.set_running_or_notify_cancel()

        def fetch() -> None:
            try:
                future.set_result(self._index_spark_apps())
            except BaseException as exc:  # handed to lookup_many, which raises it
                future.set_exception(exc)

        # A daemon thread: a hung RM never keeps an interrupted run alive (requests are bounded anyway).
        threading.Thread(target=fetch, name="zkjanitor-yarn-prefetch", daemon=True).start()
        self._prefetched = future

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

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

    def _index_spark_apps(self) -> _AppIndex:
        """Every SPARK app the RM remembers, indexed: the bulk query's one listing."""
        index = _AppIndex(
            self._list_apps({"applicationTypes": SPARK_APP_TYPE, "deSelects": "resourceRequests"})
        )
        log.info("YARN remembers %d SPARK applications", len(index.by_id))
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

    def _get_from_active(
        self, path: str, params: Mapping[str, str]
    ) -> Tuple[str, requests.Response]:
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

        Raises :class:`SourceUnavailable` naming every URL tried and what it said.
        """
        tried = []
        for base in self.urls:
            try:
                response = self._get(base, INFO_PATH, {})
            except _RmFailure as exc:
                tried.append(f"{base} ({exc.reason})")
                continue
            if response.status_code != 200:
                tried.append(f"{base} (HTTP {response.status_code})")
                continue
            try:
                info = response.json()["clusterInfo"]
                ha_state = info.get("haState")
            except (ValueError, KeyError, TypeError, AttributeError):
                tried.append(f"{base} (not a YARN ResourceManager)")
                continue
            if ha_state is None or str(ha_state).upper() == "ACTIVE":
                log.info("using YARN ResourceManager %s (haState %s)", base, ha_state or "n/a")
                return base
            tried.append(f"{base} ({ha_state})")
        raise SourceUnavailable(f"no active YARN ResourceManager: {', '.join(tried)}; check --yarn")

    # ------------------------------------------------------------------ HTTP

    def _get(self, base: str, path: str, params: Mapping[str, str]) -> requests.Response:
        """One GET, retried on connection errors, timeouts and 5xx; redirects are not followed.

        Raises _RmFailure when retries run out, SourceUnavailable on HTTP 401/403.
        """
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(MAX_BACKOFF_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))
            self.requests_made += 1
            try:
                response = self._session.get(
                    base + path,
                    params={**self._auth_params, **params},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout:
                problem = f"timed out after {self.timeout:g}s"
                continue
            except requests.RequestException as exc:
                problem = _connection_problem(exc)
                continue
            if response.status_code in (401, 403):
                raise SourceUnavailable(self._refused_message(base, response.status_code))
            if response.status_code < 500:
                return response
            problem = f"HTTP {response.status_code}"
        attempts = self.retries + 1
        raise _RmFailure(problem if attempts == 1 else f"{problem}, {attempts} attempts")

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
