"""Application state from Spark History Servers (``/api/v1``): what YARN forgot, Spark may remember.

Facts this relies on (docs/dev/spark-history-server.md, measured on SHS 3.5.9 and 4.3.0):

* ``GET /api/v1/applications`` lists every application the server has parsed, in
  ONE reply (no paging; ``limit`` keeps the newest-ended, so it cannot page).
  ``minDate`` (``yyyy-MM-dd``, GMT) keeps the applications with an attempt
  started since then: the listing is bounded by the oldest session asked about
  (its application started after Livy created the session), less a day for
  clocks. Gzip is honoured (9x smaller).
* An application's ``attempts`` are newest first and only ``attempts[0]``
  decides (the server's own rule). ``completed: true`` means the driver wrote
  ``ApplicationEnd`` and the log was closed: the application ended (success and
  failure look alike), at ``endTimeEpoch``. That is evidence: ``FINISHED``.
* ``completed: false`` is a log still named ``.inprogress``: a running
  application, or a driver that died without closing its log (kill -9, a lost
  node), which stays "running" forever. No verdict on that alone: ``UNKNOWN``
  (``history-in-progress``). YARN, asked first, knows every application that runs.
* An application the server does not list (``404 unknown app``) was never
  seen, is not parsed yet (a server still scanning after its start lists
  ``[]``), or its log was cleaned up: ``NOT_FOUND``, never authoritative
  (``history-cannot-vouch``).
* There is no way to ask by tag (``spark.yarn.tags`` is only in each log's
  environment): a session whose appId is null is not this source's business
  (``no-app-id``).

Several ``--spark-history`` URLs are several servers (e.g. one per Spark line),
not an HA set: each is listed once and an application any of them lists is
judged by its newest attempt. When one of them cannot be asked, the source
fails as a whole (a chain warns and the other sources' answers stand): an
attempt only the silent server holds could be the newest.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, wait
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import quote

from zkjanitor.advice import Finding
from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource
from zkjanitor.sources.http_client import HttpClient, Reply, RequestFailed
from zkjanitor.sources.yarn import YarnAuth, _basic_authorization, _in_background, validate_urls

log = logging.getLogger(__name__)

SOURCE = "spark-history"
OPTION = "--spark-history"
APPS_PATH = "/api/v1/applications"
VERSION_PATH = "/api/v1/version"
AUTH_KINDS = ("none", "basic", "kerberos")
MIN_DATE_MARGIN_MS = 24 * 3600 * 1000
"""How much earlier than the oldest session the listing starts: clocks of ZooKeeper and the cluster differ."""
COMPLETED, INCOMPLETE = "COMPLETED", "INCOMPLETE"
"""The record's ``state``: the server's own words (its UI's "incomplete applications"), never YARN's."""
GMT_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"

IN_PROGRESS_DETAIL = "history-in-progress"
NOT_LISTED = Lookup(AppPhase.NOT_FOUND, detail="history-cannot-vouch", source=SOURCE, authoritative=False)
NO_APP_ID = Lookup(AppPhase.UNKNOWN, detail="no-app-id", source=SOURCE, authoritative=False)
SOURCE_ERROR = Lookup(AppPhase.UNKNOWN, detail="source-error", source=SOURCE)


class _Malformed(Exception):
    """A reply without the documented shape."""


def min_date(queries: Sequence[AppQuery]) -> Optional[str]:
    """The listing's ``minDate``: the day (GMT) of the oldest session's creation less a day; None when unknown."""
    created = [query.created_ms for query in queries if query.app_id and query.created_ms]
    if not created:
        return None
    start = datetime.fromtimestamp(max(0, min(created) - MIN_DATE_MARGIN_MS) / 1000, timezone.utc)
    return start.strftime("%Y-%m-%d")


def _epoch_ms(attempt: Mapping[str, Any], key: str) -> Optional[int]:
    """``<key>Epoch`` in ms, else the ``<key>`` string of servers without epochs; None for -1 (not yet)."""
    value = attempt.get(key + "Epoch")
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value > 0 else None
    text = attempt.get(key)
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.strptime(text.replace("GMT", "+0000"), GMT_FORMAT)
    except ValueError:
        raise _Malformed(f"{key} {text[:40]!r} is not a time") from None
    ms = int(moment.timestamp() * 1000)
    return ms if ms > 0 else None


class _Newest:
    """One application as a server lists it: the answer it gives, and when its newest attempt started."""

    __slots__ = ("answer", "started_ms")

    def __init__(self, app: Any) -> None:
        if not isinstance(app, dict) or not isinstance(app.get("id"), str):
            raise _Malformed("an application without a string id")
        attempts = app.get("attempts")
        if not isinstance(attempts, list) or not attempts or not isinstance(attempts[0], dict):
            raise _Malformed(f"application {app['id']} has no attempts")
        newest = attempts[0]
        completed = newest.get("completed")
        if not isinstance(completed, bool):
            raise _Malformed(f"application {app['id']} has no completed flag")
        started = _epoch_ms(newest, "startTime")
        self.started_ms = started or 0
        if completed:
            record = AppRecord(app["id"], COMPLETED, started_ms=started, finished_ms=_epoch_ms(newest, "endTime"))
            self.answer = Lookup(AppPhase.FINISHED, record, source=SOURCE)
        else:
            record = AppRecord(app["id"], INCOMPLETE, started_ms=started)
            self.answer = Lookup(AppPhase.UNKNOWN, record, detail=IN_PROGRESS_DETAIL, source=SOURCE,
                                 authoritative=False)

    def newer_than(self, other: "_Newest") -> bool:
        """Of two servers' views of one application: the newer attempt, and a completed one on a tie."""
        if self.started_ms != other.started_ms:
            return self.started_ms > other.started_ms
        return self.answer.phase is AppPhase.FINISHED and other.answer.phase is not AppPhase.FINISHED


class _HistoryIndex:
    """The applications the servers list, by id, each held as its answer; :meth:`add` one server's listing."""

    def __init__(self) -> None:
        self._newest: Dict[str, _Newest] = {}

    def add(self, apps: Sequence[Any]) -> None:
        """Add one server's applications; raises _Malformed for one without the documented shape."""
        newest = self._newest
        for app in apps:
            seen = _Newest(app)
            app_id = app["id"]
            if app_id not in newest or seen.newer_than(newest[app_id]):
                newest[app_id] = seen

    def __len__(self) -> int:
        return len(self._newest)

    def answer(self, query: AppQuery) -> Lookup:
        if not query.app_id:
            return NO_APP_ID
        seen = self._newest.get(query.app_id)
        return NOT_LISTED if seen is None else seen.answer


class SparkHistorySource(AppStateSource):
    """Asks one or more Spark History Servers about Livy's applications (see the module docstring).

    ``urls`` are the servers' base URLs (``http://shs:18080``). ``auth``:
    ``none``, ``basic`` (a gateway: user and password) or ``kerberos``
    (SPNEGO). ``timeout``, ``retries`` and ``verify`` are as for
    :class:`~zkjanitor.sources.yarn.YarnSource`; requests go through
    :class:`~zkjanitor.sources.http_client.HttpClient`.
    """

    name = SOURCE

    def __init__(
        self,
        urls: Sequence[str],
        *,
        auth: YarnAuth = YarnAuth(),
        timeout: float = 10.0,
        retries: int = 2,
        verify: Union[bool, str] = True,
    ) -> None:
        if not urls:
            raise ConfigError("no Spark History Server URL given: pass --spark-history http://<shs>:18080")
        if auth.kind not in AUTH_KINDS:
            raise ConfigError(f"unknown Spark History Server auth {auth.kind!r}: use one of {', '.join(AUTH_KINDS)}")
        self.urls = validate_urls(urls, OPTION)
        self.auth_kind = auth.kind
        basic = _basic_authorization(auth)
        self._http = HttpClient(
            self.urls, timeout=timeout, retries=retries, verify=verify,
            headers={"Authorization": basic} if basic is not None else {}, params={},
            kerberos=auth.kind == "kerberos", refused=self._refused_message, name="Spark History Server",
        )
        self._prefetched: Optional[Tuple[Optional[str], "Future[_HistoryIndex]"]] = None
        self._run_index: Optional[Tuple[Optional[str], _HistoryIndex]] = None
        """The run's listing and its bound (:meth:`lookup_many`)."""

    # ------------------------------------------------------------------ the AppStateSource API

    def lookup(self, query: AppQuery) -> Lookup:
        """One application: ``GET /api/v1/applications/<id>`` from every server."""
        if not query.app_id:
            return NO_APP_ID
        path = f"{APPS_PATH}/{quote(query.app_id, safe='')}"
        index = _HistoryIndex()
        for base in self.urls:
            response = self._get(base, path, {})
            if response.status_code == 404 and response.body.lstrip().startswith(b"unknown app"):
                continue
            if response.status_code != 200:
                log.warning("Spark History Server %s answered HTTP %d for %s", base, response.status_code,
                            query.app_id)
                return SOURCE_ERROR
            self._add(index, base, path, [self._json(base, path, response)])
        return index.answer(query)

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """All answers from one listing per server and run, bounded by the oldest session asked about.

        Uses the listing :meth:`prefetch_for` started when its bound covers these
        queries; a later batch is answered from the run's listing when it covers
        that batch too (the store is read oldest first), else it lists again.
        """
        if not any(query.app_id for query in queries):
            return [NO_APP_ID] * len(queries)  # nothing to ask: no request
        bound = min_date(queries)
        if self._run_index is None or not _covers(self._run_index[0], bound):
            prefetched, self._prefetched = self._prefetched, None
            if prefetched is not None and _covers(prefetched[0], bound):
                self._run_index = (prefetched[0], prefetched[1].result())
            else:
                if prefetched is not None:
                    wait([prefetched[1]])  # its connections are free again (one thread per server at a time)
                self._run_index = (bound, self._index(bound))
        index = self._run_index[1]
        return [index.answer(query) for query in queries]

    def start_run(self) -> None:
        self._run_index = None  # prefetch_for starts the listing, once the first batch's bound is known

    def prefetch_for(self, queries: Sequence[AppQuery]) -> None:
        """Start the listing for ``queries`` in a background thread, for the next :meth:`lookup_many`."""
        if self._prefetched is None and any(query.app_id for query in queries):
            bound = min_date(queries)
            if self._run_index is not None and _covers(self._run_index[0], bound):
                return  # the run's listing answers them
            self._prefetched = (bound, _in_background(lambda: self._index(bound), "zkjanitor-history-prefetch"))

    def check(self) -> List[Finding]:
        """Every server answers the REST API; one that lists no application is a warning."""
        findings = []
        fix = "check --spark-history and --spark-history-auth"
        for base in self.urls:
            try:
                version = self._version(base)
                listed = _HistoryIndex()
                self._add(listed, base, APPS_PATH, self._list(base, {"limit": "1"}))
            except SourceUnavailable as exc:
                findings.append(Finding("error", SOURCE, base, str(exc), fix))
                continue
            if not listed:
                findings.append(Finding(
                    "warning", SOURCE, base, "the Spark History Server lists no application",
                    "its spark.history.fs.logDirectory is empty or not where Spark writes spark.eventLog.dir, "
                    "or it is still scanning after a start: until it lists them it knows nothing"))
            else:
                answers = f"Spark History Server {version} answers" if version else "Spark History Server answers"
                findings.append(Finding("ok", SOURCE, base, answers, ""))
        return findings

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._http.requests_made

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ requests

    def _index(self, bound: Optional[str]) -> _HistoryIndex:
        params = {"minDate": bound} if bound else {}
        index = _HistoryIndex()
        for base in self.urls:
            self._add(index, base, APPS_PATH, self._list(base, params))
        log.info("the Spark History Server(s) list %d applications since %s", len(index), bound or "ever")
        return index

    def _add(self, index: _HistoryIndex, base: str, path: str, apps: Sequence[Any]) -> None:
        try:
            index.add(apps)
        except _Malformed as exc:
            raise self._malformed(base, path, exc) from None

    def _list(self, base: str, params: Mapping[str, str]) -> List[Any]:
        response = self._get(base, APPS_PATH, params)
        if response.status_code != 200:
            lines = response.body[:200].decode("utf-8", "replace").strip().splitlines()
            detail = lines[0] if lines and not lines[0].startswith("<") else ""  # not Jetty's HTML page
            raise SourceUnavailable(
                f"Spark History Server {base} answered HTTP {response.status_code} to {APPS_PATH}"
                f"{': ' + detail if detail else ''}; check {OPTION}")
        listing = self._json(base, APPS_PATH, response)
        if not isinstance(listing, list):
            raise self._malformed(base, APPS_PATH, _Malformed("not a list of applications"))
        return listing

    def _version(self, base: str) -> str:
        response = self._get(base, VERSION_PATH, {})
        try:
            return str(response.json()["spark"]) if response.status_code == 200 else ""
        except (ValueError, KeyError, TypeError):
            return ""

    def _json(self, base: str, path: str, response: Reply) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise self._malformed(base, path, exc) from None

    def _get(self, base: str, path: str, params: Mapping[str, str]) -> Reply:
        try:
            return self._http.get(base, path, params)
        except RequestFailed as exc:
            raise SourceUnavailable(
                f"Spark History Server {base} did not answer {path} ({exc.reason}); check {OPTION}") from None

    @staticmethod
    def _malformed(base: str, path: str, exc: Exception) -> SourceUnavailable:
        why = "not JSON" if isinstance(exc, ValueError) else str(exc)
        return SourceUnavailable(
            f"Spark History Server {base} sent a malformed reply to {path} ({why}); "
            f"is {OPTION} a Spark History Server URL?")

    def _refused_message(self, base: str, status: int) -> str:
        if self.auth_kind == "none":
            return (f"the Spark History Server requires authentication (HTTP {status}) at {base}: "
                    "pass --spark-history-auth basic|kerberos")
        hint = ("check your Kerberos ticket (kinit)" if self.auth_kind == "kerberos"
                else "check --yarn-user / ZKJANITOR_YARN_PASSWORD")
        return f"the Spark History Server refused the credentials (HTTP {status}) at {base}: {hint}"


def _covers(prefetched: Optional[str], wanted: Optional[str]) -> bool:
    """Whether a listing since ``prefetched`` holds everything a listing since ``wanted`` would."""
    return prefetched is None or (wanted is not None and prefetched <= wanted)
