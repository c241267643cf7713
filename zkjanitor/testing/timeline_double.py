"""An HTTP double of YARN's Timeline v1 server: the Application History (AHS) REST API.

It lives beside the ResourceManager double (:mod:`zkjanitor.testing.yarn_double`):
the RM forgets finished apps beyond ``max-completed-applications``; the
timeline server remembers what the RM published, within its own caps. It
follows Hadoop 3.x (sources: docs/dev/spark-history-server.md
section 9, docs/dev/platform-facts.md section 3, Hadoop's
``TimelineServer.md`` "Generic Data REST APIs" and ``AHSWebServices``,
``WebServices``, ``ApplicationHistoryManagerOnTimelineStore``,
``GenericExceptionHandler``, ``AHSWebApp``):

* ``GET /ws/v1/applicationhistory/apps``: newest first; the store hands over at
  most ``max_applications`` apps (``limit`` replaces that cap), within
  ``startedTimeBegin`` (exclusive) .. ``startedTimeEnd``; then ``states``
  (final states only), ``finalStatus``, ``user``, ``queue``,
  ``applicationTypes``, ``finishedTimeBegin``/``End`` filter that list. There
  is no ``applicationTags`` filter;
* ``GET /ws/v1/applicationhistory/apps/{appid}``: one app, read directly (not
  capped); an app the store does not hold is 404 ``NotFoundException``;
* ``GET /ws/v1/applicationhistory/about`` and ``GET /ws/v1/timeline``: identity;
* apps older than ``ttl_ms`` (``yarn.timeline-service.ttl-ms``, 7 days) are gone.

JSON: the shipped server (``AHSWebApp`` binds ``YarnJacksonJaxbJsonProvider``)
writes no root element: a list is ``{"app": [...]}``, one app is the bare
object, an error is ``{"exception", "message", "javaClassName"}``. With
``wrap_root=True`` the double writes what Jersey's JAXB "natural" notation
gives (Hadoop's own ``TestAHSWebServices`` and the RM): ``{"apps": {"app":
[...]}}``, ``{"app": {...}}``, ``{"RemoteException": {...}}``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

from zkjanitor.testing.http_double import (
    Authenticator,
    BasicAuth,
    HttpDouble,
    HttpError,
    Reply,
    Request,
    SimpleAuth,
)
from zkjanitor.testing.yarn_double import (
    APP_STATES,
    LOOPBACK,
    RM_VERSION,
    _check_app_id,
    _first,
    _normalize_tags,
    _now_ms,
    _remote_exception,
    _values,
)

AHS_PREFIX = "/ws/v1/applicationhistory"
APPS_PATH = AHS_PREFIX + "/apps"
ABOUT_PATH = AHS_PREFIX + "/about"
TIMELINE_PATH = "/ws/v1/timeline"

#: yarn.timeline-service.generic-application-history.max-applications
DEFAULT_MAX_APPLICATIONS = 10_000
#: yarn.timeline-service.ttl-ms (with yarn.timeline-service.ttl-enable=true)
DEFAULT_TTL_MS = 7 * 24 * 3600 * 1000

#: What an app's timeline entity can say: ACCEPTED until an update or the finish event.
AHS_APP_STATES = ("ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED")
FINAL_STATES = ("FINISHED", "FAILED", "KILLED")
FINAL_APP_STATUSES = ("UNDEFINED", "SUCCEEDED", "FAILED", "KILLED", "ENDED")
FINAL_STATUS_OF_STATE = {"FINISHED": "SUCCEEDED", "FAILED": "FAILED", "KILLED": "KILLED"}

_JAVA_LONG = re.compile(r"[+-]?[0-9]+")
_LONG_MAX = 2**63 - 1


def _error(status: int, exception: str, message: str, java_class: str) -> HttpError:
    """GenericExceptionHandler's RemoteExceptionData (rendered per the double's JSON style)."""
    body = {"RemoteException": {"exception": exception, "message": message, "javaClassName": java_class}}
    return HttpError(status, body)


def _bad_request(message: str) -> HttpError:
    """``new BadRequestException(String)``: Hadoop 3.3 reports the wrapped ``java.lang.Exception``."""
    return _remote_exception(400, "BadRequestException", f"java.lang.Exception: {message}")


def _java_long(query: Mapping[str, List[str]], name: str) -> Optional[int]:
    """``Long.parseLong`` of the first value (None when absent or empty); a non-number is 400."""
    raw = _first(query, name)
    if raw is None:
        return None
    if _JAVA_LONG.fullmatch(raw) and -(2**63) <= int(raw) <= _LONG_MAX:
        return int(raw)
    raise _error(400, "NumberFormatException", f'For input string: "{raw}"', "java.lang.NumberFormatException")


def _states(query: Mapping[str, List[str]]) -> List[str]:
    """AHSWebServices.validateStates, then WebServices.parseQueries: lowercased, final states only."""
    raw_values = list(query.get("states", []))
    state = _first(query, "state")  # deprecated, folded in
    if state is not None:
        raw_values.append(state)
    found: List[str] = []
    for raw in raw_values:
        for part in raw.split(","):
            value = part.strip()
            if not value:
                continue
            if value.upper() not in APP_STATES:
                raise _bad_request(
                    f"Invalid application-state {value} specified. It should be one of [{', '.join(APP_STATES)}]"
                )
            found.append(value.lower())
    for value in found:
        if value.upper() not in FINAL_STATES:
            raise _bad_request(f"Invalid application-state {value} specified. It should be a final state")
    return found


class _AppsQuery:
    """``getApps``'s parameters, validated in Hadoop's order."""

    def __init__(self, query: Mapping[str, List[str]]) -> None:
        self.states = set(_states(query))
        limit = _java_long(query, "limit")
        if limit is not None and limit <= 0:
            raise _bad_request("limit value must be greater then 0")
        self.limit = _LONG_MAX if limit is None else limit
        started_begin = _java_long(query, "startedTimeBegin")
        if started_begin is not None and started_begin < 0:
            raise _bad_request("startedTimeBegin must be greater than 0")
        started_end = _java_long(query, "startedTimeEnd")
        if started_end is not None and started_end < 0:
            raise _bad_request("startedTimeEnd must be greater than 0")
        self.started = (started_begin or 0, _LONG_MAX if started_end is None else started_end)
        if self.started[0] > self.started[1]:
            raise _bad_request("startedTimeEnd must be greater than startTimeBegin")
        finished_begin = _java_long(query, "finishedTimeBegin")
        if finished_begin is not None and finished_begin < 0:
            raise _bad_request("finishTimeBegin must be greater than 0")
        finished_end = _java_long(query, "finishedTimeEnd")
        if finished_end is not None and finished_end < 0:
            raise _bad_request("finishTimeEnd must be greater than 0")
        self.check_finished = finished_begin is not None or finished_end is not None
        self.finished = (finished_begin or 0, _LONG_MAX if finished_end is None else finished_end)
        if self.finished[0] > self.finished[1]:
            raise _bad_request("finishTimeEnd must be greater than finishTimeBegin")
        self.types = set(_values(query, "applicationTypes"))
        self.final_status = _first(query, "finalStatus")
        self.user = _first(query, "user")
        self.queue = _first(query, "queue")

    def __call__(self, app: Mapping[str, Any]) -> bool:
        """The loop over the store's reports: the first failing check skips the app."""
        if self.states and str(app["appState"]).lower() not in self.states:
            return False
        if self.final_status is not None:
            if self.final_status not in FINAL_APP_STATUSES:  # FinalApplicationStatus.valueOf, per app
                raise _error(
                    400,
                    "IllegalArgumentException",
                    f"No enum constant org.apache.hadoop.yarn.api.records.FinalApplicationStatus.{self.final_status}",
                    "java.lang.IllegalArgumentException",
                )
            if str(app["finalAppStatus"]).lower() != self.final_status.lower():
                return False
        if self.user is not None and app.get("user") != self.user:
            return False
        if self.queue is not None and app.get("queue") != self.queue:
            return False
        if self.types and str(app.get("type", "")).strip().lower() not in self.types:
            return False
        finished = int(app.get("finishedTime", 0))
        return not (self.check_finished and not self.finished[0] <= finished <= self.finished[1])


class TimelineDouble(HttpDouble):
    """YARN's Timeline v1 server (application history), served on ``http://127.0.0.1:<free port>``.

    ``max_applications`` is ``yarn.timeline-service.generic-application-history.max-applications``;
    ``ttl_ms`` is ``yarn.timeline-service.ttl-ms`` (None: ``ttl-enable=false``);
    ``clock`` returns "now" in epoch ms (for ages and the TTL; default: the
    wall clock); ``wrap_root`` picks the JSON style (see the module doc);
    ``user_name_required`` refuses requests without ``?user.name=`` (simple
    auth, anonymous disallowed); ``basic_auth`` puts a basic-auth gateway in
    front; ``authenticator`` replaces both (the SPNEGO seam);
    ``cluster_timestamp`` is used in new application ids.
    """

    server_header = "Jetty"
    json_content_type = "application/json; charset=utf-8"

    def __init__(
        self,
        *,
        max_applications: int = DEFAULT_MAX_APPLICATIONS,
        ttl_ms: Optional[int] = DEFAULT_TTL_MS,
        clock: Optional[Callable[[], int]] = None,
        wrap_root: bool = False,
        user_name_required: bool = False,
        basic_auth: Any = None,
        authenticator: Optional[Authenticator] = None,
        cluster_timestamp: Optional[int] = None,
        hadoop_version: str = RM_VERSION,
    ) -> None:
        if max_applications < 1:
            raise ValueError("max_applications must be >= 1")
        if authenticator is None and basic_auth is not None:
            authenticator = BasicAuth(basic_auth, challenge='Basic realm="YARN Timeline Server"', body="Unauthorized")
        if authenticator is None and user_name_required:
            authenticator = SimpleAuth(anonymous_allowed=False)
        super().__init__(authenticator=authenticator)
        self.max_applications = max_applications
        self.ttl_ms = ttl_ms
        self.clock: Callable[[], int] = clock or _now_ms
        self.wrap_root = wrap_root
        self.hadoop_version = hadoop_version
        self.cluster_ts = self.clock() if cluster_timestamp is None else cluster_timestamp
        self._apps: Dict[str, Dict[str, Any]] = {}
        self._app_numbers = itertools.count(1)

    # ------------------------------------------------------------------ apps

    def add_app(self, **fields: Any) -> Dict[str, Any]:
        """Store (or replace, by ``appId``) one app as the RM published it; returns the AHS app object.

        ``fields`` use the AHS JSON names (``appId``, ``appState``,
        ``finalAppStatus``, ``user``, ``name``, ``queue``, ``type``,
        ``startedTime``, ``finishedTime``, ``applicationTags`` as a
        comma-separated string or a list, ...); missing ones get realistic
        defaults (a new id, FINISHED, SPARK, started a minute ago).
        """
        with self._lock:
            app = self._with_defaults(fields)
            self._apps[app["appId"]] = app
            return dict(app)

    def add_apps(self, apps: Iterable[Mapping[str, Any]]) -> None:
        """Store many apps (see :meth:`add_app`)."""
        with self._lock:
            for fields in apps:
                app = self._with_defaults(fields)
                self._apps[app["appId"]] = app

    def add_rm_app(self, rm_app: Mapping[str, Any]) -> Dict[str, Any]:
        """Store an app given as the RM's REST API shows it (what ``YarnDouble.add_app`` returns).

        The RM's SystemMetricsPublisher sends the same facts to the timeline
        server; the AHS names them differently (``id`` -> ``appId``, ``state``
        -> ``appState``, ``finalStatus`` -> ``finalAppStatus``,
        ``applicationType`` -> ``type``, ``diagnostics`` -> ``diagnosticsInfo``).
        States before ACCEPTED are shown as ACCEPTED (the entity's default).
        """
        state = str(rm_app.get("state", "FINISHED"))
        fields: Dict[str, Any] = {
            "appId": rm_app["id"],
            "appState": state if state in AHS_APP_STATES else "ACCEPTED",
            "finalAppStatus": rm_app.get("finalStatus", "UNDEFINED"),
        }
        renamed = {"applicationType": "type", "diagnostics": "diagnosticsInfo"}
        for key in (
            "user",
            "name",
            "queue",
            "applicationType",
            "diagnostics",
            "trackingUrl",
            "startedTime",
            "launchTime",
            "finishedTime",
            "applicationTags",
            "priority",
            "unmanagedApplication",
        ):
            if key in rm_app:
                fields[renamed.get(key, key)] = rm_app[key]
        return self.add_app(**fields)

    def finish_app(
        self,
        app_id: str,
        state: str = "FINISHED",
        *,
        final_status: Optional[str] = None,
        finished_time: Optional[int] = None,
    ) -> None:
        """The RM published the app's end (``YARN_APPLICATION_FINISHED``)."""
        if state not in FINAL_STATES:
            raise ValueError(f"state must be one of {FINAL_STATES}")
        with self._lock:
            app = dict(self._apps[app_id])
            finished = self.clock() if finished_time is None else finished_time
            app.update(
                appState=state,
                finalAppStatus=final_status or FINAL_STATUS_OF_STATE[state],
                finishedTime=finished,
                progress=100.0,
            )
            app.pop("elapsedTime", None)
            self._apps[app_id] = self._with_defaults(app)

    def remove_app(self, app_id: str) -> None:
        """Forget one app (no error if it is not stored)."""
        with self._lock:
            self._apps.pop(app_id, None)

    def clear(self) -> None:
        """Forget every app."""
        with self._lock:
            self._apps.clear()

    def app_ids(self) -> List[str]:
        """The ids stored and not aged out, newest first (the store's order)."""
        with self._lock:
            return [app["appId"] for app in self._newest_first()]

    # ------------------------------------------------------------------ apps: internals

    def _with_defaults(self, fields: Mapping[str, Any]) -> Dict[str, Any]:
        """A complete AHS AppInfo (Hadoop 3.3 field order): ``fields`` over realistic defaults."""
        now = self.clock()
        state = str(fields.get("appState", "FINISHED")).upper()
        if state not in AHS_APP_STATES:
            raise ValueError(f"appState must be one of {AHS_APP_STATES}, not {state!r}")
        final_status = str(fields.get("finalAppStatus", FINAL_STATUS_OF_STATE.get(state, "UNDEFINED"))).upper()
        if final_status not in FINAL_APP_STATUSES:
            raise ValueError(f"finalAppStatus must be one of {FINAL_APP_STATUSES}, not {final_status!r}")
        terminal = state in FINAL_STATES
        app_id = str(fields.get("appId") or self._new_app_id())
        started = int(fields.get("startedTime", now - 60_000))
        finished = int(fields.get("finishedTime", now if terminal else 0))
        tags = _normalize_tags(fields.get("applicationTags") or "")
        app_type = str(fields.get("type", "SPARK"))
        app: Dict[str, Any] = {
            "appId": app_id,
            "currentAppAttemptId": "appattempt_" + app_id[len("application_") :] + "_000001",
            "user": "livy",
            "name": "spark-app",
            "queue": "default",
            "type": app_type,
            "host": "N/A",
            "rpcPort": -1,
            "appState": state,
            "runningContainers": 0,
            "progress": 100.0 if terminal else 0.0,
            "diagnosticsInfo": "",
            "originalTrackingUrl": f"http://{LOOPBACK}:18080/history/{app_id}/1"
            if app_type.upper() == "SPARK"
            else "N/A",
            "trackingUrl": f"http://{LOOPBACK}:8088/proxy/{app_id}/",
            "finalAppStatus": final_status,
            "submittedTime": started,
            "startedTime": started,
            "launchTime": started + 2000,
            "finishedTime": finished if terminal else 0,
            "elapsedTime": max(0, (finished if finished > 0 else now) - started),
            "applicationTags": tags,
            "priority": 0,
            "allocatedCpuVcores": 0,
            "allocatedMemoryMB": 0,
            "reservedCpuVcores": 0,
            "reservedMemoryMB": 0,
            "unmanagedApplication": False,
        }
        app.update(fields)
        app.update(
            appId=app_id,
            appState=state,
            finalAppStatus=final_status,
            startedTime=started,
            applicationTags=tags,
        )
        if not tags:
            # AppInfo sets applicationTags only for a non-empty set; Jackson leaves nulls out.
            del app["applicationTags"]
        return {key: value for key, value in app.items() if value is not None}

    def _new_app_id(self) -> str:
        while True:
            app_id = f"application_{self.cluster_ts}_{next(self._app_numbers):04d}"
            if app_id not in self._apps:
                return app_id

    def _alive(self, app: Mapping[str, Any], now: int) -> bool:
        """The LevelDB store's TTL: an entity whose start time is older than ``now - ttl`` is deleted."""
        return self.ttl_ms is None or int(app["startedTime"]) >= now - self.ttl_ms

    def _newest_first(self) -> List[Dict[str, Any]]:
        """The store's iteration order: start time descending, then id (the LevelDB key order)."""
        now = self.clock()
        alive = [app for app in self._apps.values() if self._alive(app, now)]
        return sorted(alive, key=lambda app: (-int(app["startedTime"]), app["appId"]))

    # ------------------------------------------------------------------ serving

    def _handle(self, request: Request) -> Reply:
        path = request.path
        if request.method != "GET":
            if path.startswith(TIMELINE_PATH):
                raise HttpError(501, f"TimelineDouble does not model {request.method} {path}")
            raise HttpError(405, "HTTP method not allowed", {"Allow": "GET"})
        if path == TIMELINE_PATH:
            return Reply(200, self._about("Timeline API"))
        if path == ABOUT_PATH:
            return Reply(200, self._about("Generic History Service API"))
        if path in (AHS_PREFIX, APPS_PATH):
            return Reply(200, self._list(request.query if path == APPS_PATH else {}))
        if path.startswith(APPS_PATH + "/"):
            rest = path[len(APPS_PATH) + 1 :].split("/")
            _check_app_id(rest[0])
            if len(rest) > 1:
                raise HttpError(501, f"TimelineDouble does not model {path}")
            return Reply(200, self._one(rest[0]))
        raise HttpError(404, "Not Found")

    def _error_reply(self, request: Request, error: HttpError) -> Reply:
        body = error.body
        if not self.wrap_root and isinstance(body, dict) and list(body) == ["RemoteException"]:
            body = body["RemoteException"]
        return Reply(error.status, body, error.headers)

    def _about(self, about: str) -> Dict[str, Any]:
        """TimelineUtils.createTimelineAbout (never wrapped: TimelineAbout has no JAXB context here)."""
        build = f"{self.hadoop_version} from zkjanitor TimelineDouble"
        return {
            "About": about,
            "timeline-service-version": self.hadoop_version,
            "timeline-service-build-version": build,
            "timeline-service-version-built-on": "2023-06-18T08:22Z",
            "hadoop-version": self.hadoop_version,
            "hadoop-build-version": build,
            "hadoop-version-built-on": "2023-06-18T08:22Z",
        }

    def _list(self, query: Mapping[str, List[str]]) -> Dict[str, Any]:
        matches = _AppsQuery(query)
        with self._lock:
            window = [
                app
                for app in self._newest_first()
                if matches.started[0] < int(app["startedTime"]) <= matches.started[1]
            ]
        store_limit = self.max_applications if matches.limit == _LONG_MAX else matches.limit
        selected = [dict(app) for app in window[:store_limit] if matches(app)]
        if self.wrap_root:
            return {"apps": {"app": selected} if selected else None}
        return {"app": selected}

    def _one(self, app_id: str) -> Dict[str, Any]:
        with self._lock:
            app = self._apps.get(app_id)
            alive = app is not None and self._alive(app, self.clock())
        if app is None or not alive:
            raise _error(
                404,
                "NotFoundException",
                "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException: "
                f"The entity for application {app_id} doesn't exist in the timeline store",
                "org.apache.hadoop.yarn.webapp.NotFoundException",
            )
        return {"app": dict(app)} if self.wrap_root else dict(app)

