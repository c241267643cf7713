"""An HTTP double of the YARN ResourceManager REST API, on a free loopback port.

Used by the test suite, ``make demo`` and the benchmarks. It follows the
documented API (docs/dev/platform-facts.md section 3; Hadoop's ``ResourceManagerRest.md``,
``RMWebServices``, ``RMWebAppFilter``, ``DeSelectFields``):

* ``GET /ws/v1/cluster/info`` (and ``/ws/v1/cluster``) -> ``{"clusterInfo": {...}}``;
* ``GET /ws/v1/cluster/apps`` with Hadoop's query parameters; an empty match
  is exactly ``{"apps": null}``;
* ``GET /ws/v1/cluster/apps/{appid}`` -> ``{"app": {...}}``, 404/400 with a
  ``RemoteException`` body;
* RM HA: a STANDBY answers ``/ws/v1/cluster/info`` itself and every other
  request with HTTP 307 to the active RM (or, with no active RM known, a 307
  carrying a ``Refresh`` header and no ``Location``);
* retention of only the last ``max-completed-applications`` finished apps;
* simple auth without anonymous access (``?user.name=``), HTTP basic auth
  (an HDInsight-style gateway), and Kerberos SPNEGO with hadoop-auth's
  ``hadoop.auth`` cookie (``spnego``, a :class:`~zkjanitor.testing.spnego.SpnegoAuthenticator`).

Tests drive it with :meth:`YarnDouble.add_app` and friends, inspect
:attr:`YarnDouble.requests`, and inject faults with :meth:`YarnDouble.fail_next`,
:attr:`YarnDouble.delay_seconds` or :meth:`YarnDouble.stop`.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import re
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from zkjanitor.testing.http_double import LOOPBACK, HttpDouble, Reply, Request, _HttpError

if TYPE_CHECKING:
    from zkjanitor.testing.spnego import SpnegoAuthenticator

WS_PREFIX = "/ws/v1/cluster"
INFO_PATH = WS_PREFIX + "/info"
APPS_PATH = WS_PREFIX + "/apps"
UI_ABOUT_PATH = "/cluster/cluster"
RM_VERSION = "3.3.6"
ZK_RM_STATE_STORE = "org.apache.hadoop.yarn.server.resourcemanager.recovery.ZKRMStateStore"
NODE_MANAGER_ADDRESS = f"{LOOPBACK}:8042"

HA_STATES = ("INITIALIZING", "ACTIVE", "STANDBY", "STOPPED")
APP_STATES = (
    "NEW",
    "NEW_SAVING",
    "SUBMITTED",
    "ACCEPTED",
    "RUNNING",
    "FINISHED",
    "FAILED",
    "KILLED",
)
TERMINAL_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
FINAL_STATUS_OF_STATE = {"FINISHED": "SUCCEEDED", "FAILED": "FAILED", "KILLED": "KILLED"}

# DeSelectFields.DeSelectType literals (YARN-6280, YARN-6871) and the app field each removes.
DESELECTABLE_FIELDS = {
    "resourceRequests": "resourceRequests",
    "timeouts": "timeouts",
    "appNodeLabelExpression": "appNodeLabelExpression",
    "amNodeLabelExpression": "amNodeLabelExpression",
    "resourceInfo": "resourceInfo",
}

# RMWebAppFilter: BASIC_SLEEP_TIME; Hadoop randomises it by +-50 %, the double does not.
NO_ACTIVE_RETRY_SECONDS = 5
NEXT_REFRESH_INTERVAL_PARAM = "next.refresh.interval"

_LIVY_TAG = re.compile(r"^(livy-(?:batch|session)-\d+)-[a-z0-9]+$")


def _remote_exception(status: int, exception: str, message: str) -> _HttpError:
    """The RM's JSON error body (``GenericExceptionHandler``)."""
    body = {
        "RemoteException": {
            "exception": exception,
            "message": message,
            "javaClassName": f"org.apache.hadoop.yarn.webapp.{exception}",
        }
    }
    return _HttpError(status, body)


def _bad_request(message: str) -> _HttpError:
    """HTTP 400 as ``new BadRequestException(String)`` renders it."""
    return _remote_exception(400, "BadRequestException", f"java.lang.Exception: {message}")


def _now_ms() -> int:
    """The wall clock in milliseconds since the epoch, as YARN reports times."""
    return int(time.time() * 1000)


def _normalize_tags(tags: Any) -> str:
    """YARN's stored form of application tags: lowercased, de-duplicated, comma-joined.

    Accepts one comma-separated string or an iterable of tags.
    """
    parts = tags.split(",") if isinstance(tags, str) else list(tags)
    unique: Dict[str, None] = {}
    for tag in parts:
        cleaned = str(tag).strip().lower()
        if cleaned:
            unique[cleaned] = None
    return ",".join(unique)


def _check_app_id(app_id: str) -> None:
    """Raise HTTP 400 for an id ``ApplicationId.fromString`` rejects."""
    prefix = "application_"
    if not app_id.startswith(prefix):
        raise _remote_exception(
            400,
            "BadRequestException",
            f"java.lang.IllegalArgumentException: Invalid ApplicationId prefix: {app_id}. "
            "The valid ApplicationId should start with prefix application",
        )
    parts = app_id[len(prefix) :].split("_")
    numeric = len(parts) == 2 and all(part.isdigit() for part in parts)
    if numeric and int(parts[0]) < 2**63 and int(parts[1]) < 2**31:
        return
    raise _remote_exception(
        400,
        "BadRequestException",
        f"java.lang.IllegalArgumentException: Invalid ApplicationId: {app_id}",
    )


class YarnDouble(HttpDouble):
    """A YARN ResourceManager's REST API, served on ``http://127.0.0.1:<free port>``.

    ``ha_state`` is what ``/ws/v1/cluster/info`` reports (``None`` leaves the
    field out, as very old non-HA RMs do); ``max_completed_apps`` keeps only
    that many most recently finished apps (``None``: all); ``user_name_required``
    refuses requests without ``?user.name=`` (simple auth, anonymous disabled);
    ``basic_auth`` is ``(user, password)`` required as HTTP basic auth;
    ``spnego`` requires Kerberos (SPNEGO, then the ``hadoop.auth`` cookie it issues);
    ``cluster_timestamp`` is the RM's start in ms (default: now), reported as
    ``clusterInfo.id`` and ``startedOn`` and given to new application ids, as a
    real RM does. Apps of any ``applicationType`` can be added; the listing
    filters by type only when asked (``applicationTypes``, case-insensitive).
    """

    def __init__(
        self,
        *,
        ha_state: Optional[str] = "ACTIVE",
        max_completed_apps: Optional[int] = None,
        user_name_required: bool = False,
        basic_auth: Optional[Tuple[str, str]] = None,
        spnego: Optional["SpnegoAuthenticator"] = None,
        cluster_timestamp: Optional[int] = None,
    ) -> None:
        if max_completed_apps is not None and max_completed_apps < 0:
            raise ValueError("max_completed_apps must be >= 0")
        super().__init__()
        self._ha_state = self._checked_ha_state(ha_state)
        self.max_completed_apps = max_completed_apps
        self.user_name_required = user_name_required
        self.basic_auth = basic_auth
        self.spnego = spnego
        self.cluster_ts = _now_ms() if cluster_timestamp is None else cluster_timestamp
        self._apps: Dict[str, Dict[str, Any]] = {}
        self._finished_heap: List[Tuple[int, int, str]] = []
        self._finished_seq: Dict[str, int] = {}
        self._sequence = itertools.count(1)
        self._app_numbers = itertools.count(1)
        self._active: Optional[YarnDouble] = None

    # ------------------------------------------------------------------ HA

    @property
    def ha_state(self) -> Optional[str]:
        """What ``/ws/v1/cluster/info`` reports as ``haState``."""
        return self._ha_state

    def set_ha_state(self, state: Optional[str]) -> None:
        """Change the ``haState`` this RM reports (and whether it redirects)."""
        self._ha_state = self._checked_ha_state(state)

    def set_active(self, other: Optional["YarnDouble"]) -> None:
        """The RM a STANDBY redirects to; ``None``: no active RM is known."""
        self._active = other

    @staticmethod
    def _checked_ha_state(state: Optional[str]) -> Optional[str]:
        if state is not None and state not in HA_STATES:
            raise ValueError(f"ha_state must be one of {HA_STATES} or None, not {state!r}")
        return state

    # ------------------------------------------------------------------ apps

    def add_app(self, **fields: Any) -> Dict[str, Any]:
        """Add (or replace, by ``id``) one app; returns the stored app object.

        ``fields`` use the RM's JSON names; missing ones get realistic defaults
        (a new id, ``state`` RUNNING, ``applicationType`` SPARK, ...).
        ``applicationTags`` (a comma-separated string or a list) is lowercased
        as the RM does on submit.
        """
        with self._lock:
            app = self._store(fields)
            self._forget_old_finished_apps()
            return dict(app)

    def add_apps(self, apps: Iterable[Mapping[str, Any]]) -> None:
        """Add many apps (see :meth:`add_app`); retention is applied once, at the end."""
        with self._lock:
            for fields in apps:
                self._store(fields)
            self._forget_old_finished_apps()

    def finish_app(
        self,
        app_id: str,
        state: str = "FINISHED",
        *,
        final_status: Optional[str] = None,
        finished_time: Optional[int] = None,
    ) -> None:
        """Move a known app to a terminal ``state`` (retention then applies)."""
        if state not in TERMINAL_STATES:
            raise ValueError(f"state must be one of {sorted(TERMINAL_STATES)}")
        with self._lock:
            app = dict(self._apps[app_id])
            finished = finished_time if finished_time is not None else _now_ms()
            app.update(
                state=state,
                finalStatus=final_status or FINAL_STATUS_OF_STATE[state],
                finishedTime=finished,
                elapsedTime=max(0, finished - int(app.get("startedTime", finished))),
                progress=100.0,
                trackingUI="History",
                allocatedMB=-1,
                allocatedVCores=-1,
                runningContainers=-1,
            )
            app.pop("resourceRequests", None)
            self._store(app)
            self._forget_old_finished_apps()

    def remove_app(self, app_id: str) -> None:
        """Forget one app (no error if it is not known)."""
        with self._lock:
            self._apps.pop(app_id, None)
            self._finished_seq.pop(app_id, None)

    def clear(self) -> None:
        """Forget every app."""
        with self._lock:
            self._apps.clear()
            self._finished_seq.clear()
            self._finished_heap.clear()

    def app_ids(self) -> List[str]:
        """The ids the RM currently remembers, in the order they were added."""
        with self._lock:
            return list(self._apps)

    def _store(self, fields: Mapping[str, Any]) -> Dict[str, Any]:
        app = self._with_defaults(fields)
        app_id = app["id"]
        self._apps.pop(app_id, None)
        self._finished_seq.pop(app_id, None)
        self._apps[app_id] = app
        if app["state"] in TERMINAL_STATES:
            sequence = next(self._sequence)
            self._finished_seq[app_id] = sequence
            heapq.heappush(self._finished_heap, (int(app["finishedTime"]), sequence, app_id))
        return app

    def _forget_old_finished_apps(self) -> None:
        """Keep the ``max_completed_apps`` most recently finished apps (RMAppManager)."""
        if self.max_completed_apps is None:
            return
        while len(self._finished_seq) > self.max_completed_apps:
            _, sequence, app_id = heapq.heappop(self._finished_heap)
            if self._finished_seq.get(app_id) == sequence:
                del self._finished_seq[app_id]
                del self._apps[app_id]

    def _with_defaults(self, fields: Mapping[str, Any]) -> Dict[str, Any]:
        """A complete RM app object: ``fields`` over realistic defaults."""
        state = str(fields.get("state", "RUNNING")).upper()
        if state not in APP_STATES:
            raise ValueError(f"state must be one of {APP_STATES}, not {state!r}")
        terminal = state in TERMINAL_STATES
        running = state == "RUNNING"
        app_id = str(fields.get("id") or self._new_app_id())
        tags = _normalize_tags(fields.get("applicationTags", ""))
        first_tag = tags.split(",")[0]
        livy_name = _LIVY_TAG.match(first_tag)
        user = str(fields.get("user", "livy"))
        started = int(fields.get("startedTime", _now_ms() - 60_000))
        finished = int(fields.get("finishedTime", _now_ms() if terminal else 0))
        elapsed = max(0, (finished if terminal else _now_ms()) - started)
        app: Dict[str, Any] = {
            "id": app_id,
            "user": user,
            "name": livy_name.group(1) if livy_name else "spark-app",
            "queue": "default",
            "state": state,
            "finalStatus": FINAL_STATUS_OF_STATE.get(state, "UNDEFINED"),
            "progress": 100.0 if terminal else (10.0 if running else 0.0),
            "trackingUI": "History"
            if terminal
            else ("ApplicationMaster" if running else "UNASSIGNED"),
            "trackingUrl": f"http://{LOOPBACK}:8088/proxy/{app_id}/",
            "diagnostics": "",
            "clusterId": self.cluster_ts,
            "applicationType": "SPARK",
            "priority": 0,
            "startedTime": started,
            "launchTime": started + 2000 if terminal or running else 0,
            "finishedTime": finished if terminal else 0,
            "elapsedTime": elapsed,
            "amContainerLogs": f"http://{NODE_MANAGER_ADDRESS}/node/containerlogs/"
            f"container_{app_id.replace('application_', '', 1)}_01_000001/{user}",
            "amHostHttpAddress": NODE_MANAGER_ADDRESS,
            "amNodeLabelExpression": "",
            "allocatedMB": 2048 if running else -1,
            "allocatedVCores": 2 if running else -1,
            "runningContainers": 2 if running else -1,
            "memorySeconds": elapsed * 2048 // 1000,
            "vcoreSeconds": elapsed * 2 // 1000,
            "logAggregationStatus": "SUCCEEDED" if terminal else "NOT_START",
            "unmanagedApplication": False,
            "timeouts": {
                "timeout": [
                    {"type": "LIFETIME", "expiryTime": "UNLIMITED", "remainingTimeInSeconds": -1}
                ]
            },
            "resourceInfo": {"resourceUsagesByPartition": []},
        }
        if not terminal:
            app["resourceRequests"] = [
                {
                    "capability": {"memory": 2048, "vCores": 1},
                    "nodeLabelExpression": "",
                    "numContainers": 1,
                    "priority": 1,
                    "relaxLocality": True,
                    "resourceName": "*",
                }
            ]
        app.update(fields)
        app.update(id=app_id, state=state, applicationTags=tags)
        return app

    def _new_app_id(self) -> str:
        while True:
            app_id = f"application_{self.cluster_ts}_{next(self._app_numbers):04d}"
            if app_id not in self._apps:
                return app_id

    # ------------------------------------------------------------------ serving

    def _handle(self, request: Request) -> Reply:
        """Auth, the HA filter, then the API; the RM serves GET only."""
        if request.method != "GET":
            raise _HttpError(405, "HTTP method not allowed", {"Allow": "GET"})
        granted: Dict[str, str] = {}
        try:
            granted = self._authenticate(request.query, request.headers)
            self._redirect_if_standby(request.path, request.raw_path)
            return Reply(200, self._route(request.path, request.query), granted)
        except _HttpError as error:
            raise _HttpError(error.status, error.body, {**granted, **error.headers}) from None

    def _authenticate(self, query: Mapping[str, List[str]], headers: Mapping[str, str]) -> Dict[str, str]:
        """Basic auth (gateway) first, then Kerberos or Hadoop's simple auth; the headers a success adds."""
        if self.basic_auth is not None:
            supplied = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            if not self._basic_credentials_match(supplied):
                raise _HttpError(
                    401, "Unauthorized", {"WWW-Authenticate": 'Basic realm="YARN ResourceManager"'}
                )
        if self.spnego is not None:
            answer = self.spnego.authenticate(headers)
            if answer.user is None:
                raise _HttpError(answer.status, answer.body, answer.headers)
            return answer.headers
        if self.user_name_required and not (query.get("user.name") or [""])[0]:
            # Hadoop's PseudoAuthenticationHandler with anonymous access disabled.
            raise _HttpError(403, "Authentication required", {"WWW-Authenticate": "PseudoAuth"})
        return {}

    def _basic_credentials_match(self, authorization: str) -> bool:
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic" or self.basic_auth is None:
            return False
        try:
            user, _, password = (
                base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == tuple(self.basic_auth)

    def _redirect_if_standby(self, path: str, raw_path: str) -> None:
        """RMWebAppFilter: a standby serves only cluster/info and the About page."""
        if self._ha_state != "STANDBY" or path in (INFO_PATH, UI_ABOUT_PATH):
            return
        active = self._active
        if active is not None and active._port is not None:
            location = active.url + raw_path
            raise _HttpError(
                307, f"This is standby RM. The redirect url is: {location}", {"Location": location}
            )
        separator = "&" if "?" in raw_path else "?"
        retry_url = f"{self.url}{raw_path}{separator}{NEXT_REFRESH_INTERVAL_PARAM}=1"
        raise _HttpError(
            307,
            f"Can not find any active RM. Will retry in next {NO_ACTIVE_RETRY_SECONDS} seconds.\n"
            "HA Zookeeper Connection State: CONNECTED",
            {"Refresh": f"{NO_ACTIVE_RETRY_SECONDS};url={retry_url}"},
        )

    def _route(self, path: str, query: Mapping[str, List[str]]) -> Any:
        if path in (WS_PREFIX, INFO_PATH):
            return self._cluster_info()
        if path == APPS_PATH:
            return self._list_apps(query)
        if path.startswith(APPS_PATH + "/") and path.count("/") == 5:
            return self._one_app(path[len(APPS_PATH) + 1 :], query)
        raise _HttpError(404, f"Not Found: {path}")

    def _cluster_info(self) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            "id": self.cluster_ts,
            "startedOn": self.cluster_ts,
            "state": "STARTED",
            "haState": self._ha_state,
            "rmStateStoreName": ZK_RM_STATE_STORE,
            "resourceManagerVersion": RM_VERSION,
            "resourceManagerBuildVersion": f"{RM_VERSION} from zkjanitor YarnDouble",
            "hadoopVersion": RM_VERSION,
            "hadoopBuildVersion": f"{RM_VERSION} from zkjanitor YarnDouble",
            "haZooKeeperConnectionState": "CONNECTED",
        }
        if self._ha_state is None:
            del info["haState"]
        return {"clusterInfo": info}

    def _one_app(self, app_id: str, query: Mapping[str, List[str]]) -> Dict[str, Any]:
        _check_app_id(app_id)
        deselected = _deselected_fields(query)
        with self._lock:
            app = self._apps.get(app_id)
        if app is None:
            raise _remote_exception(
                404, "NotFoundException", f"java.lang.Exception: app with id: {app_id} not found"
            )
        return {"app": _without(app, deselected)}

    def _list_apps(self, query: Mapping[str, List[str]]) -> Dict[str, Any]:
        """``GET /ws/v1/cluster/apps`` filtered as ``getApps`` does; none -> ``{"apps": null}``."""
        matches = _AppFilter(query)
        deselected = _deselected_fields(query)
        with self._lock:
            apps = list(self._apps.values())
        selected: List[Dict[str, Any]] = []
        for app in apps:
            if matches(app):
                selected.append(_without(app, deselected))
                if len(selected) >= matches.limit:
                    break
        return {"apps": {"app": selected} if selected else None}


def _values(query: Mapping[str, List[str]], *names: str) -> List[str]:
    """As RMWebServices.parseQueries: each comma-separated value, trimmed, lowercased, non-empty."""
    found: List[str] = []
    for name in names:
        for raw in query.get(name, []):
            found.extend(part.strip().lower() for part in raw.split(",") if part.strip())
    return found


def _first(query: Mapping[str, List[str]], name: str) -> Optional[str]:
    values = query.get(name)
    return values[0] if values and values[0] != "" else None


def _long(query: Mapping[str, List[str]], name: str, default: int) -> int:
    raw = _first(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"{name} value must be a number!") from None
    if value < 0 and name != "limit":
        raise _bad_request(f"{name} must be greater than 0")
    return value


def _deselected_fields(query: Mapping[str, List[str]]) -> Set[str]:
    """DeSelectFields.initFields: known literals (any case), else HTTP 400."""
    fields: Set[str] = set()
    canonical = {literal.lower(): field for literal, field in DESELECTABLE_FIELDS.items()}
    for raw in query.get("deSelects", []):
        for literal in raw.split(","):
            if not literal.strip():
                continue
            field = canonical.get(literal.lower())
            if field is None:
                raise _bad_request(
                    f"Invalid deSelects string {literal.strip()} specified. "
                    f"It should be one of [{', '.join(DESELECTABLE_FIELDS)}]"
                )
            fields.add(field)
    return fields


def _without(app: Mapping[str, Any], fields: Set[str]) -> Dict[str, Any]:
    return {key: value for key, value in app.items() if key not in fields}


class _AppFilter:
    """The ``getApps`` query parameters, validated; calling it tests one app."""

    def __init__(self, query: Mapping[str, List[str]]) -> None:
        self.states = set(_values(query, "states", "state"))
        for state in self.states:
            if state.upper() not in APP_STATES:
                raise _bad_request(
                    f"Invalid application-state {state} specified. "
                    f"It should be one of [{', '.join(APP_STATES)}]"
                )
        self.final_status = (_first(query, "finalStatus") or "").lower()
        self.user = _first(query, "user")
        self.queue = _first(query, "queue")
        self.name = _first(query, "name")
        self.types = set(_values(query, "applicationTypes"))
        self.tags = set(_values(query, "applicationTags"))
        self.limit = _long(query, "limit", 2**63 - 1)
        if self.limit <= 0:
            raise _bad_request("limit value must be greater then 0")
        self.started = self._range(query, "startedTimeBegin", "startedTimeEnd")
        self.finished = self._range(query, "finishedTimeBegin", "finishedTimeEnd")

    @staticmethod
    def _range(query: Mapping[str, List[str]], begin_name: str, end_name: str) -> Tuple[int, int]:
        begin, end = _long(query, begin_name, 0), _long(query, end_name, 2**63 - 1)
        if begin > end:
            raise _bad_request(f"{end_name} must be greater than {begin_name}")
        return begin, end

    def __call__(self, app: Mapping[str, Any]) -> bool:
        return (
            (not self.states or str(app["state"]).lower() in self.states)
            and (
                not self.final_status
                or str(app.get("finalStatus", "")).lower() == self.final_status
            )
            and (self.user is None or app.get("user") == self.user)
            and (self.queue is None or app.get("queue") == self.queue)
            and (self.name is None or app.get("name") == self.name)
            and (not self.types or str(app.get("applicationType", "")).lower() in self.types)
            and (not self.tags or not self.tags.isdisjoint(_app_tags(app)))
            and self.started[0] <= int(app.get("startedTime", 0)) <= self.started[1]
            and self.finished[0] <= int(app.get("finishedTime", 0)) <= self.finished[1]
        )


def _app_tags(app: Mapping[str, Any]) -> Sequence[str]:
    tags = app.get("applicationTags") or ""
    return tags.split(",") if tags else ()
