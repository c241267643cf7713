"""Application state from YARN's Timeline server (v1 application history): what the RM forgot, in YARN's words.

Facts this relies on (docs/dev/spark-history-server.md section 9, from Hadoop's
``AHSWebServices``, ``WebServices`` and ``ApplicationHistoryManagerOnTimelineStore``):

* ``GET /ws/v1/applicationhistory/apps`` lists what the RM published, newest
  first, with ``appState``, ``finalAppStatus``, ``finishedTime`` and
  ``applicationTags`` (one lowercase CSV string, absent when there are none).
  There is no tag filter: tags are matched here, lowercased, as the RM source
  does. The shipped server writes ``{"app": [...]}``; Jersey's JAXB style
  (``{"apps": {"app": [...]}}``, ``{"apps": null}``) is accepted too.
* the listing holds at most
  ``yarn.timeline-service.generic-application-history.max-applications``
  (10,000) applications, and the store forgets them after
  ``yarn.timeline-service.ttl-ms`` (7 days): an application it does not list
  may still exist, so its "not found" is never authoritative
  (``timeline-cannot-vouch``).
* ``GET .../apps/{appid}`` answers one application (uncapped), and 404
  ``NotFoundException`` when the store does not hold it.
* its states are YARN's: :func:`zkjanitor.sources.yarn.found` turns them into phases.

Authentication is Hadoop's, as the RM's (``--yarn-auth``): simple
(``?user.name=``), basic through a gateway, or SPNEGO.
"""

from __future__ import annotations

import logging
from typing import Any, List, Mapping, Sequence, Union

from zkjanitor.advice import Finding
from zkjanitor.errors import SourceUnavailable
from zkjanitor.model import AppPhase, AppRecord, Lookup
from zkjanitor.sources.base import AppQuery, AppStateSource
from zkjanitor.sources.http_client import HttpClient, Reply, RequestFailed
from zkjanitor.sources.yarn import (
    AppFields,
    RunListing,
    YarnAuth,
    _AppIndex,
    _basic_authorization,
    _Malformed,
    app_record,
    found,
    is_yarn_app_id,
    validate_urls,
)

log = logging.getLogger(__name__)

SOURCE = "yarn-timeline"
OPTION = "--yarn-timeline"
AHS_PATH = "/ws/v1/applicationhistory"
APPS_PATH = AHS_PATH + "/apps"
ABOUT_PATH = AHS_PATH + "/about"

NOT_LISTED = Lookup(AppPhase.NOT_FOUND, detail="timeline-cannot-vouch", source=SOURCE, authoritative=False)
NOT_A_YARN_APP = Lookup(AppPhase.UNKNOWN, detail="not-a-yarn-app", source=SOURCE)
SOURCE_ERROR = Lookup(AppPhase.UNKNOWN, detail="source-error", source=SOURCE)


class _TimelineIndex(_AppIndex):
    """The RM source's index, answering in the Timeline server's name: its "not found" cannot vouch."""

    source = SOURCE
    not_found = NOT_LISTED
    not_a_yarn_app = NOT_A_YARN_APP
    no_tag = SOURCE_ERROR


TIMELINE_FIELDS = AppFields(id="appId", state="appState", final_status="finalAppStatus")
"""The AHS ``AppInfo``'s names for what the RM calls ``id``, ``state`` and ``finalStatus``."""


def _records(payload: Any) -> List[AppRecord]:
    """A listing's apps: ``{"app": [...]}`` (Jackson), or ``{"apps": {"app": [...]}}``, ``{"apps": null}`` (JAXB)."""
    if isinstance(payload, dict) and "apps" in payload:
        payload = payload["apps"]
        if payload is None:
            return []
    if not isinstance(payload, dict):
        raise _Malformed('neither {"app": [...]} nor {"apps": ...}')
    items = payload.get("app", [])
    if items is None:
        return []
    if isinstance(items, dict):  # a lone app rendered as an object
        items = [items]
    if not isinstance(items, list):
        raise _Malformed('"app" is not a list')
    return [app_record(item, TIMELINE_FIELDS) for item in items]


def _one(payload: Any) -> AppRecord:
    """The app of ``/apps/{appid}``: the bare AppInfo (Jackson) or ``{"app": {...}}`` (JAXB)."""
    if isinstance(payload, dict) and "appId" not in payload and isinstance(payload.get("app"), dict):
        payload = payload["app"]
    return app_record(payload, TIMELINE_FIELDS)


def _not_found_exception(response: Reply) -> bool:
    """A 404 the server itself made for an app it does not hold (either JSON style), not a wrong URL's."""
    try:
        body = response.json()
        body = body.get("RemoteException", body)
        return body["exception"] == "NotFoundException"
    except (ValueError, KeyError, TypeError, AttributeError):
        return False


class YarnTimelineSource(AppStateSource):
    """Asks a YARN Timeline server (application history, v1) about what the ResourceManager forgot.

    ``url`` is its base URL (``http://timeline:8188``); ``auth`` is the RM's
    (:class:`~zkjanitor.sources.yarn.YarnAuth`); ``timeout``, ``retries`` and
    ``verify`` as for :class:`~zkjanitor.sources.yarn.YarnSource`.
    """

    name = SOURCE

    def __init__(
        self,
        url: str,
        *,
        auth: YarnAuth = YarnAuth(),
        timeout: float = 10.0,
        retries: int = 2,
        verify: Union[bool, str] = True,
    ) -> None:
        self.url = validate_urls([url], OPTION)[0]
        self.auth_kind = auth.kind
        basic = _basic_authorization(auth)
        self._http = HttpClient(
            [self.url], timeout=timeout, retries=retries, verify=verify,
            headers={"Authorization": basic} if basic is not None else {},
            params={"user.name": auth.user or ""} if auth.kind == "simple" else {},
            kerberos=auth.kind == "kerberos", refused=self._refused_message, name="YARN Timeline",
        )
        self._listing = RunListing(self._index, "zkjanitor-timeline-prefetch")

    # ------------------------------------------------------------------ the AppStateSource API

    def lookup(self, query: AppQuery) -> Lookup:
        """One app: ``GET /apps/{id}``; or (null appId) the listing's apps carrying the session's tag."""
        if not query.app_id:
            return self._index().answer(query)
        if not is_yarn_app_id(query.app_id):
            return NOT_A_YARN_APP
        response = self._get(f"{APPS_PATH}/{query.app_id}", {})
        if response.status_code == 404:
            return NOT_LISTED if _not_found_exception(response) else SOURCE_ERROR
        if response.status_code != 200:
            log.warning("YARN Timeline answered HTTP %d for %s", response.status_code, query.app_id)
            return SOURCE_ERROR
        try:
            record = _one(response.json())
        except (ValueError, _Malformed) as exc:
            raise self._malformed(APPS_PATH + "/<id>", exc) from None
        return found(record, SOURCE)

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """All answers from one listing per run (the one :meth:`prefetch` started, if any)."""
        if not any(query.app_id or (query.app_tag or "").strip() for query in queries):
            return list(map(_TimelineIndex(()).answer, queries))  # nothing to ask: no request
        return list(map(self._listing.get().answer, queries))

    def start_run(self) -> None:
        self._listing.forget()
        self.prefetch()

    def prefetch(self) -> None:
        """List the server's apps in a background thread, for the run's :meth:`lookup_many`."""
        self._listing.prefetch()

    def check(self) -> List[Finding]:
        """The server answers ``/about`` as an application history service."""
        fix = "check --yarn-timeline (yarn.timeline-service.webapp.address) and the YARN auth options"
        try:
            response = self._get(ABOUT_PATH, {})
            about = response.json() if response.status_code == 200 else {}
            version = about.get("hadoop-version") if isinstance(about, dict) else None
        except ValueError:
            about, version = {}, None
        except SourceUnavailable as exc:
            return [Finding("error", SOURCE, self.url, str(exc), fix)]
        if not isinstance(about, dict) or "About" not in about:
            return [Finding("error", SOURCE, self.url, f"{ABOUT_PATH} did not answer as a YARN Timeline server",
                            fix)]
        hadoop = f" (Hadoop {version})" if version else ""
        return [Finding("ok", SOURCE, self.url, f"YARN Timeline server{hadoop} answers", "")]

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._http.requests_made

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ requests

    def _index(self) -> _TimelineIndex:
        response = self._get(APPS_PATH, {})
        if response.status_code != 200:
            raise SourceUnavailable(
                f"YARN Timeline server {self.url} answered HTTP {response.status_code} to {APPS_PATH}; "
                f"check {OPTION}")
        try:
            index = _TimelineIndex(_records(response.json()))
        except (ValueError, _Malformed) as exc:
            raise self._malformed(APPS_PATH, exc) from None
        log.info("the YARN Timeline server lists %d applications", len(index.by_id))
        return index

    def _get(self, path: str, params: Mapping[str, str]) -> Reply:
        try:
            return self._http.get(self.url, path, params)
        except RequestFailed as exc:
            raise SourceUnavailable(
                f"YARN Timeline server {self.url} did not answer {path} ({exc.reason}); check {OPTION}") from None

    def _malformed(self, path: str, exc: Exception) -> SourceUnavailable:
        why = "not JSON" if isinstance(exc, ValueError) else str(exc)
        return SourceUnavailable(
            f"YARN Timeline server {self.url} sent a malformed reply to {path} ({why}); "
            f"is {OPTION} a Timeline server URL?")

    def _refused_message(self, base: str, status: int) -> str:
        if self.auth_kind == "none":
            return (f"the YARN Timeline server requires authentication (HTTP {status}) at {base}: "
                    "pass --yarn-auth simple|basic|kerberos (it is used for the Timeline server too)")
        hint = ("check your Kerberos ticket (kinit)" if self.auth_kind == "kerberos"
                else "check --yarn-user / ZKJANITOR_YARN_PASSWORD")
        return f"the YARN Timeline server refused the credentials (HTTP {status}) at {base}: {hint}"
