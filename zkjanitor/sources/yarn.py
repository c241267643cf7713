"""Application state from the YARN ResourceManager REST API.

Facts this relies on (docs/dev/platform-facts.md section 3, docs/dev/livy-state-store.md 4.1-4.2):

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
  the application (docs/dev/platform-facts.md section 3.x): an id whose cluster
  timestamp is newer than every configured RM's start was not accepted by
  this cluster (``app-newer-than-rm``), and an RM that knows none of the
  store's applications may be another cluster's (``rm-cannot-vouch``).

HTTP itself (retries, keep-alive, gzip, TLS, SPNEGO) is ``sources/http_client.py``'s.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import datetime, timezone
from functools import partial
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

from zkjanitor.advice import Finding
from zkjanitor.errors import ConfigError, SourceUnavailable
from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource
from zkjanitor.sources.http_client import (
    HttpClient,
    Reply,
    RequestFailed,
    basic_authorization,
    validate_base_urls,
)

log = logging.getLogger(__name__)

INFO_PATH = "/ws/v1/cluster/info"
APPS_PATH = "/ws/v1/cluster/apps"
AUTH_KINDS = ("none", "simple", "basic", "kerberos")
ACTIVE_STATES = frozenset({"NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING"})
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
YARN_APP_ID = re.compile(r"application_[0-9]+_[0-9]+")
SOURCE = "yarn"

NOT_A_YARN_APP = Lookup(AppPhase.UNKNOWN, detail="not-a-yarn-app", source=SOURCE)
SOURCE_ERROR = Lookup(AppPhase.UNKNOWN, detail="source-error", source=SOURCE)
NOT_FOUND = Lookup(AppPhase.NOT_FOUND, source=SOURCE)
NEWER_THAN_RM = Lookup(AppPhase.NOT_FOUND, detail="app-newer-than-rm", source=SOURCE, authoritative=False)
CANNOT_VOUCH = Lookup(AppPhase.NOT_FOUND, detail="rm-cannot-vouch", source=SOURCE, authoritative=False)


def found(record: AppRecord, source: str = SOURCE) -> Lookup:
    """The answer for an app YARN lists, in any source's words: its state names stay in the record.

    ``source`` names who listed it: the RM, or its Timeline server (the same state names).
    """
    state = record.state.upper()
    if state in ACTIVE_STATES:
        return Lookup(AppPhase.ACTIVE, record, source=source)
    if state in TERMINAL_STATES:
        return Lookup(AppPhase.FINISHED, record, source=source)
    return Lookup(AppPhase.UNKNOWN, record, detail="unrecognised-app-state", source=source)
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


class _Malformed(Exception):
    """The RM's JSON does not have the documented shape."""


def is_yarn_app_id(app_id: str) -> bool:
    """True for ``application_<cluster timestamp>_<sequence>``."""
    return YARN_APP_ID.fullmatch(app_id) is not None


def validate_urls(urls: Sequence[str], option: str = "--yarn") -> List[str]:
    """Base URLs (of ``option``: YARN's RM, Timeline or a History Server) without a trailing slash; else ConfigError."""
    if not urls:
        raise ConfigError("no YARN ResourceManager URL given: pass --yarn http://<rm>:8088")
    return validate_base_urls(urls, option=option, credentials="--yarn-user and $ZKJANITOR_YARN_PASSWORD")


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
    return basic_authorization(auth.user or "", auth.password)


def _remote_message(response: Reply) -> str:
    """The RM's ``RemoteException`` message, if the body carries one."""
    try:
        body = response.json()
        message = body["RemoteException"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return str(message).splitlines()[0][:200] if message else ""


def _is_not_found_exception(response: Reply) -> bool:
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


class AppFields(NamedTuple):
    """The JSON names of one YARN API's application object (the RM's ``app``, the Timeline server's ``AppInfo``)."""

    id: str = "id"
    state: str = "state"
    final_status: str = "finalStatus"


RM_FIELDS = AppFields()


def app_record(app: Any, fields: AppFields = RM_FIELDS) -> AppRecord:
    """An AppRecord from one YARN application object; ``_Malformed`` when it lacks a string id and state."""
    if (
        not isinstance(app, dict)
        or not isinstance(app.get(fields.id), str)
        or not isinstance(app.get(fields.state), str)
    ):
        raise _Malformed(f"an app without a string {fields.id} and {fields.state}")
    raw_tags = app.get("applicationTags") or ""
    if isinstance(raw_tags, str):
        raw_tags = raw_tags.split(",")
    if not isinstance(raw_tags, list):
        raise _Malformed(f"applicationTags of {app[fields.id]} is neither a string nor a list")
    final_status = app.get(fields.final_status)
    return AppRecord(
        app_id=app[fields.id],
        state=app[fields.state].upper(),
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
    return [app_record(item) for item in items]


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
    """Apps by id and by each lowercased tag, each held as the ``FOUND`` answer for it.

    The class attributes are the answers it gives in its source's name: the
    Timeline source subclasses it with its own (its "not found" cannot vouch).
    """

    source = SOURCE
    not_found = NOT_FOUND
    not_a_yarn_app = NOT_A_YARN_APP
    no_tag = SOURCE_ERROR

    def __init__(self, records: Sequence[AppRecord]) -> None:
        by_tag: Dict[str, AppRecord] = {}
        for record in records:
            for tag in record.tags:
                by_tag[tag] = _preferred(by_tag.get(tag), record)
        self.by_id: Dict[str, Lookup] = {record.app_id: found(record, self.source) for record in records}
        self.by_tag: Dict[str, Lookup] = {tag: found(record, self.source) for tag, record in by_tag.items()}

    def answer(self, query: AppQuery) -> Lookup:
        """The answer to any query: found, not found, or why YARN cannot be asked about it.

        Runs once per session of a scan: an app id the RM lists is answered with
        one dict lookup (the RM's ids are YARN ids); only a miss is checked further.
        """
        app_id = query.app_id
        if app_id:
            hit = self.by_id.get(app_id)
            if hit is not None:
                return hit
            return self.not_found if is_yarn_app_id(app_id) else self.not_a_yarn_app
        tag = (query.app_tag or "").strip().lower()
        if not tag:
            return self.no_tag
        return self.by_tag.get(tag, self.not_found)


def _answer_without_yarn(query: AppQuery) -> Optional[Lookup]:
    """The answer when YARN cannot be asked about ``query`` at all, else None."""
    if query.app_id:
        return None if is_yarn_app_id(query.app_id) else NOT_A_YARN_APP
    if not (query.app_tag or "").strip():
        return SOURCE_ERROR
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


class _RunCounts:
    """What one run of :class:`YarnSource` saw across its batches."""

    def __init__(self) -> None:
        self.found = False
        """Some application asked about is known to the RM."""
        self.missing = 0
        """Applications asked about that the RM does not know."""
        self.unvouched = 0
        """Of those, the ones no other fact explains (an appId newer than every RM's start does)."""
        self.recent = 0
        """Sessions created after the active RM started."""


T = TypeVar("T")


class RunListing(Generic[T]):
    """What a source lists once per run (every app the server remembers), and answers each batch from.

    Fetched in a daemon thread when asked ahead (:meth:`prefetch`), else when
    first needed (:meth:`get`); :meth:`forget` makes the next run list again.
    """

    def __init__(self, fetch: Callable[[], T], thread_name: str) -> None:
        self._fetch = fetch
        self._thread_name = thread_name
        self._pending: "Optional[Future[T]]" = None
        self._value: Optional[T] = None

    def prefetch(self) -> None:
        """Start the fetch in the background unless it is under way or done; never raises."""
        if self._pending is None and self._value is None:
            self._pending = _in_background(self._fetch, self._thread_name)

    def get(self) -> T:
        """The run's listing; the fetch's failure (e.g. SourceUnavailable) is raised here, and the next call retries."""
        if self._value is None:
            pending, self._pending = self._pending, None
            self._value = pending.result() if pending is not None else self._fetch()
        return self._value

    def forget(self) -> None:
        self._value = None


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

    name = SOURCE

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
        self.urls = validate_urls(urls)
        self.auth_kind = auth.kind
        self.timeout = timeout
        self.retries = retries
        self.trust_absence = trust_absence
        basic = _basic_authorization(auth)
        self._http = HttpClient(
            self.urls, timeout=timeout, retries=retries, verify=verify,
            headers={"Authorization": basic} if basic is not None else {},
            params={"user.name": auth.user or ""} if auth.kind == "simple" else {},
            kerberos=auth.kind == "kerberos", refused=self._refused_message, name="YARN",
        )
        self._active: Optional[str] = None
        self._started_ms: Dict[str, int] = {}
        """Each RM's start (``clusterInfo.startedOn``) from the last probe: the newest cluster timestamp it gives."""
        self._listing = RunListing(self._index_apps, "zkjanitor-yarn-prefetch")
        self._run = _RunCounts()
        self._knows_none: Optional[int] = None
        """Set by a run that found none of the store's applications: how many it asked about; the next run
        answers every "not found" ``rm-cannot-vouch``."""

    # ------------------------------------------------------------------ the AppStateSource API

    def lookup(self, query: AppQuery) -> Lookup:
        """One app: ``GET /apps/{id}``, or (null appId) the apps of any type carrying the session's tag."""
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
        """All answers from one listing of every app the RM remembers, per run: a constant number of requests.

        The listing :meth:`prefetch` started, if any, answers every batch of the
        run. An RM that knows none of the store's applications cannot vouch for
        its "not found" answers: a run is only known to be in that case at its
        end, when :meth:`end_run` asks for the run again; in that second run
        every "not found" is ``rm-cannot-vouch`` and :attr:`cannot_vouch` says why.
        """
        if not any(_answer_without_yarn(query) is None for query in queries):
            return list(map(_AppIndex(()).answer, queries))  # nothing to ask YARN: every answer comes without it
        answers = list(map(self._listing.get().answer, queries))
        return answers if self.trust_absence else self._vouched(queries, answers)

    def start_run(self) -> None:
        if self._knows_none is not None:  # asked again: from the same listing, with what the first run saw
            self.cannot_vouch = self._cannot_vouch_message()
            return
        self._listing.forget()
        self._run = _RunCounts()
        self.cannot_vouch = None
        self.prefetch()

    def end_run(self) -> bool:
        if self._knows_none is not None:  # the second run: its answers stand; the next scan starts afresh
            self._knows_none = None
            return False
        if self._run.unvouched and not self._run.found:
            self._knows_none = self._run.missing
            self.cannot_vouch = self._cannot_vouch_message()
            return True
        return False

    def _vouched(self, queries: Sequence[AppQuery], answers: List[Lookup]) -> List[Lookup]:
        """``answers`` with every "not found" this RM cannot vouch for made non-authoritative (platform facts, 3.x).

        An appId newer than every RM's start was accepted elsewhere. And Livy
        submits to one cluster: an RM that knows none of the store's
        applications cannot tell "forgotten" from "never mine" (see :meth:`lookup_many`).
        """
        missing = [at for at, answer in enumerate(answers) if answer is NOT_FOUND]
        counting = self._knows_none is None  # the second run asks the same again
        run = self._run
        if counting:
            started = self._started_ms.get(self._active or "")
            if started is not None:
                run.recent += sum(1 for query in queries if (query.created_ms or 0) > started)
            run.found = run.found or any(answer.record is not None for answer in answers)
            run.missing += len(missing)
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
        still_missing = [at for at in missing if answers[at] is NOT_FOUND]
        if counting:
            run.unvouched += len(still_missing)
        else:
            for at in still_missing:
                answers[at] = CANNOT_VOUCH
        return answers

    def _newer_than_every_rm(self, app_id: Optional[str]) -> bool:
        """True when ``app_id``'s cluster timestamp is after the start of every RM probed: no RM here gave it."""
        if not app_id or not self._started_ms:
            return False
        return int(app_id[APP_ID_TIMESTAMP_AT:app_id.rindex("_")]) > max(self._started_ms.values())

    def _cannot_vouch_message(self) -> str:
        base = self._active or ", ".join(self.urls)
        started = self._started_ms.get(self._active or "")
        recent = self._run.recent
        if started is None:
            why = "so it cannot vouch that they are gone"
        else:
            when = datetime.fromtimestamp(started / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            why = (f"although {recent:,} session(s) were created after it started ({when})" if recent else
                   f"and no session was created since it started ({when}), so it cannot vouch that they are gone")
        return (f"YARN ResourceManager {base} knows 0 of the store's {self._knows_none or 0:,} applications, {why}: "
                "is this the cluster Livy submits to? (--trust-yarn-absence overrides)")

    def prefetch(self) -> None:
        """List the RM's apps in a background thread, for the run's :meth:`lookup_many` (which raises its failure)."""
        self._listing.prefetch()

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._http.requests_made

    def close(self) -> None:
        """Close the HTTP connections (a later request opens a new one)."""
        self._http.close()

    # ------------------------------------------------------------------ queries

    def _lookup_by_id(self, app_id: str) -> Lookup:
        base, response = self._get_from_active(f"{APPS_PATH}/{app_id}", {})
        if response.status_code == 404:
            return (
                NOT_FOUND
                if _is_not_found_exception(response)
                else SOURCE_ERROR
            )
        if response.status_code != 200:
            log.warning(
                "YARN answered HTTP %d for %s: %s",
                response.status_code,
                app_id,
                _remote_message(response),
            )
            return SOURCE_ERROR
        try:
            payload = response.json()
            record = app_record(payload.get("app") if isinstance(payload, dict) else None)
        except (ValueError, _Malformed) as exc:
            raise self._malformed(base, APPS_PATH + "/<id>", exc) from None
        return found(record)

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

    def _get_from_active(self, path: str, params: Mapping[str, str]) -> Tuple[str, Reply]:
        """GET ``path`` from the active RM; if it fails or turns standby, re-probe once."""
        failure = ""
        for attempt in range(2):
            if self._active is None:
                self._active = self.find_active()
            base = self._active
            try:
                response = self._http.get(base, path, params)
            except RequestFailed as exc:
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

    def check(self) -> List[Finding]:
        """An active ResourceManager among the URLs, and every RM passed over and why."""
        try:
            active = self.find_active()
        except SourceUnavailable as exc:
            return [Finding("error", SOURCE, ", ".join(self.urls), str(exc), "check --yarn and the YARN auth options")]
        fix = "check that ResourceManager, --yarn and the YARN auth options"
        passed_over = [Finding("warning", SOURCE, None, note, fix) for note in self.notes]
        return passed_over + [Finding("ok", SOURCE, active, "active ResourceManager found", "")]

    def find_active(self) -> str:
        """The first URL whose ``/ws/v1/cluster/info`` says ACTIVE (no haState: a non-HA RM).

        Every URL is asked at once, so a hanging RM costs at most one more
        ``timeout`` once an active one has answered. Remembers each answering
        RM's start time. A refusal (HTTP 401/403) from one RM is a warning
        when another is active. Raises :class:`SourceUnavailable` naming every
        URL tried and what it said (the refusal itself when that is all there is).
        Every RM passed over for a reason other than being STANDBY is one line of
        :attr:`notes`.
        """
        self.notes = []
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
        passed_over: Dict[str, str] = {}  # every RM not used, and why
        for base in self.urls:
            probe = answered.get(base)
            if probe is None:
                passed_over[base] = f"no answer within {self.timeout:g}s"
            elif not probe.active:
                passed_over[base] = probe.problem
        active = next((base for base in self.urls if base in answered and answered[base].active), None)
        if active is not None:
            self.notes = [f"YARN ResourceManager {base} ({why}); using {active}"
                          for base, why in passed_over.items() if why.upper() != "STANDBY"]  # a standby is normal
            log.info("using YARN ResourceManager %s", active)
            return active
        refusals = [p.refusal for p in answered.values() if p.refusal is not None]
        if refusals and len(refusals) == len(self.urls):
            raise refusals[0]
        tried = ", ".join(f"{base} ({why})" for base, why in passed_over.items())
        raise SourceUnavailable(f"no active YARN ResourceManager: {tried}; check --yarn")

    def _probe(self, base: str) -> "_Probe":
        """What one RM's ``/ws/v1/cluster/info`` says: active or why not, and when it started."""
        try:
            response = self._http.get(base, INFO_PATH, {})
        except RequestFailed as exc:
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
