"""An HTTP double of a Spark History Server's REST API (``/api/v1``), for the fast tests.

It answers as the real server measured in docs/dev/spark-history-server.md
section 6 (SHS 3.5.9; ``tests/history`` runs the same checks against a real
one, so the two cannot drift apart unnoticed):

* ``GET /api/v1/applications``: every application, completed ones by end time
  descending, then incomplete ones; ``status`` (``completed``/``running``,
  repeatable, any case; anything else is Jetty's HTML 404), ``minDate`` /
  ``maxDate`` (an attempt's start), ``minEndDate`` / ``maxEndDate`` (a running
  app passes them while ``maxEndDate`` is ahead; a completed app needs an
  attempt that started and ended in range: its open attempts never count, as
  in Spark's ``ApplicationListResource``), ``limit`` (the first N; 0 or less: none).
  Dates are ``yyyy-MM-dd`` or ``yyyy-MM-dd'T'HH:mm:ss.SSS'GMT'``; anything else
  is 400 with the plain-text body ``Couldn't parse date: <value>``;
* ``GET /api/v1/applications/<id>``: one application, or 404 ``text/plain``
  ``unknown app: <id>`` (ids are case-sensitive); ``/<id>/<attempt>``: the bare attempt;
* ``GET /api/v1/version``: ``{"spark": "<version>"}``;
* gzip for a client that sends ``Accept-Encoding: gzip``.

An application is :meth:`SparkHistoryDouble.add_app`'ed attempt by attempt
(newest first by start, ``attemptId`` absent in client mode); ``completed`` is
what the log's file name says. ``scanning = True`` is a server still scanning
after its start: it lists nothing and knows no id.
"""

from __future__ import annotations

import gzip
import re
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import unquote

from zkjanitor.testing.http_double import Authenticator, BasicAuth, HttpDouble, HttpError, Reply, Request, header

API = "/api/v1"
APPS_PATH = API + "/applications"
VERSION_PATH = API + "/version"
INCOMPLETE_END = "1969-12-31T23:59:59.999GMT"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FULL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}GMT")
_JETTY_404 = ("<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n"
              "<title>Error 404 Not Found</title>\n</head>\n<body><h2>HTTP ERROR 404 Not Found</h2>\n"
              "</body>\n</html>\n")
GZIP_MIN_BYTES = 32
"""Jetty's GzipHandler leaves smaller bodies alone."""


def gmt(ms: int) -> str:
    """The server's time format: ``2026-12-02T13:28:40.000GMT``."""
    moment = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}GMT"


def _date(value: str) -> int:
    """``yyyy-MM-dd`` or the full GMT form, in epoch ms; HttpError 400 as the server words it."""
    try:
        if _DAY.fullmatch(value):
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        elif _FULL.fullmatch(value):
            moment = datetime.strptime(value[:-3], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
        else:
            raise ValueError(value)
    except ValueError:
        # The body is plain text although the content type says JSON (measured).
        raise HttpError(400, f"Couldn't parse date: {value}") from None
    return int(moment.timestamp() * 1000)


class SparkHistoryDouble(HttpDouble):
    """A Spark History Server on ``http://127.0.0.1:<free port>`` (see the module docstring).

    ``spark_version`` is what ``/version`` and ``appSparkVersion`` say;
    ``basic_auth`` puts a basic-auth gateway (Knox) in front; ``authenticator``
    replaces it (the SPNEGO seam); ``clock`` gives "now" in epoch ms (the
    ``lastUpdated`` of incomplete attempts).
    """

    server_header = "Jetty(9.4.54.v20240208)"
    json_content_type = "application/json"

    def __init__(self, *, spark_version: str = "3.5.9", basic_auth: Any = None,
                 authenticator: Optional[Authenticator] = None, clock: Optional[Any] = None) -> None:
        if authenticator is None and basic_auth is not None:
            authenticator = BasicAuth(basic_auth, challenge='Basic realm="Spark History"')
        super().__init__(authenticator=authenticator)
        self.spark_version = spark_version
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.scanning = False
        self._apps: Dict[str, Dict[str, Any]] = {}

    # ------------------------------------------------------------------ apps

    def add_app(self, app_id: str, *, completed: bool = True, start_ms: Optional[int] = None,
                end_ms: Optional[int] = None, attempt: Optional[str] = "1", name: str = "livy-batch",
                user: str = "livy") -> Dict[str, Any]:
        """Add one attempt's log (a new app, or another attempt of it); returns the app as listed.

        ``end_ms`` defaults to a minute after ``start_ms`` (an hour ago by
        default) for a completed attempt; an incomplete one has none.
        """
        start = self.clock() - 3_600_000 if start_ms is None else start_ms
        end = (start + 60_000 if end_ms is None else end_ms) if completed else None
        attempt_info: Dict[str, Any] = {} if attempt is None else {"attemptId": attempt}
        attempt_info.update({
            "startTime": gmt(start),
            "endTime": INCOMPLETE_END if end is None else gmt(end),
            "lastUpdated": gmt(self.clock() if end is None else end),
            "duration": 0 if end is None else end - start,
            "sparkUser": user,
            "completed": completed,
            "appSparkVersion": self.spark_version,
            "startTimeEpoch": start,
            "endTimeEpoch": -1 if end is None else end,
            "lastUpdatedEpoch": self.clock() if end is None else end,
        })
        with self._lock:
            app = self._apps.setdefault(app_id, {"id": app_id, "name": name, "attempts": []})
            attempts = [a for a in app["attempts"] if a.get("attemptId") != attempt] + [attempt_info]
            app["attempts"] = sorted(attempts, key=lambda a: -a["startTimeEpoch"])
            return self._copy(app)

    def remove_app(self, app_id: str) -> None:
        """Its log was deleted (the cleaner): gone from the listing."""
        with self._lock:
            self._apps.pop(app_id, None)

    def clear(self) -> None:
        with self._lock:
            self._apps.clear()

    @staticmethod
    def _copy(app: Mapping[str, Any]) -> Dict[str, Any]:
        return {"id": app["id"], "name": app["name"], "attempts": [dict(a) for a in app["attempts"]]}

    def _listing_order(self) -> List[Dict[str, Any]]:
        """Completed apps by end time descending, then incomplete ones (the server's endTime index, reversed)."""
        apps = list(self._apps.values())
        done = [a for a in apps if a["attempts"][0]["completed"]]
        running = [a for a in apps if not a["attempts"][0]["completed"]]
        done.sort(key=lambda a: -a["attempts"][0]["endTimeEpoch"])
        running.sort(key=lambda a: -a["attempts"][0]["startTimeEpoch"])
        return done + running

    # ------------------------------------------------------------------ serving

    def _handle(self, request: Request) -> Reply:
        if request.method != "GET":
            raise HttpError(405, "HTTP method not allowed")
        path = request.path
        if path == VERSION_PATH:
            return self._json(request, {"spark": self.spark_version})
        if path == APPS_PATH:
            return self._json(request, self._list(request.query))
        if path.startswith(APPS_PATH + "/"):
            parts = [unquote(part) for part in path[len(APPS_PATH) + 1:].split("/")]
            with self._lock:
                app = None if self.scanning else self._apps.get(parts[0])
                app = None if app is None else self._copy(app)
            if app is None:
                raise HttpError(404, f"unknown app: {parts[0]}")
            if len(parts) == 1:
                return self._json(request, app)
            if len(parts) == 2:
                match = [a for a in app["attempts"] if a.get("attemptId") == parts[1]]
                if not match:
                    raise HttpError(404, f"unknown app {parts[0]}, attempt {parts[1]}")
                return self._json(request, match[0])
            raise HttpError(501, f"SparkHistoryDouble does not model {path}")
        raise HttpError(404, _JETTY_404)

    def _error_reply(self, request: Request, error: HttpError) -> Reply:
        body = error.body
        if isinstance(body, str) and body.startswith("<html>"):
            return Reply(error.status, body.encode(), error.headers, content_type="text/html;charset=iso-8859-1")
        if error.status == 400:  # JAX-RS's BadParameterException: plain text under a JSON content type
            return Reply(400, body.encode() if isinstance(body, str) else body, error.headers,
                         content_type="application/json")
        return Reply(error.status, body.encode() if isinstance(body, str) else body, error.headers,
                     content_type="text/plain")

    def _list(self, query: Mapping[str, List[str]]) -> List[Dict[str, Any]]:
        statuses = {value.lower() for raw in query.get("status", []) for value in [raw]}
        if statuses - {"completed", "running"}:
            raise HttpError(404, _JETTY_404)
        include_completed = not statuses or "completed" in statuses
        include_running = not statuses or "running" in statuses
        earliest, latest = _date("2010-01-01"), _date("3000-01-01")  # the server's defaults
        min_date = _date(query["minDate"][0]) if "minDate" in query else earliest
        max_date = _date(query["maxDate"][0]) if "maxDate" in query else latest
        min_end = _date(query["minEndDate"][0]) if "minEndDate" in query else earliest
        max_end = _date(query["maxEndDate"][0]) if "maxEndDate" in query else latest
        limit = int(query["limit"][0]) if "limit" in query else None
        now = self.clock()

        def in_range(attempt: Mapping[str, Any], any_running: bool) -> bool:
            """An attempt started in [minDate, maxDate]; a running app's only if maxEndDate is ahead, a
            completed app's only if this attempt ended in [minEndDate, maxEndDate] (its open attempts never)."""
            started = min_date <= attempt["startTimeEpoch"] <= max_date
            if any_running:
                return started and max_end > now
            return started and min_end <= attempt["endTimeEpoch"] <= max_end

        with self._lock:
            if self.scanning:
                return []
            listed = []
            for app in self._listing_order():
                any_running = not app["attempts"][0]["completed"]
                wanted = (any_running and include_running) or (not any_running and include_completed)
                if wanted and any(in_range(a, any_running) for a in app["attempts"]):
                    listed.append(self._copy(app))
        if limit is not None:
            listed = listed[:max(0, limit)]
        return listed

    def _json(self, request: Request, body: Any) -> Reply:
        """JSON, gzipped when the client accepts it (Jetty's GzipHandler)."""
        import json

        payload = json.dumps(body, indent=2, separators=(",", " : ")).encode("utf-8")
        accepts = (header(request.headers, "Accept-Encoding") or "").lower()
        if "gzip" in accepts and len(payload) >= GZIP_MIN_BYTES:
            return Reply(200, gzip.compress(payload), {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
                         content_type="application/json")
        return Reply(200, payload, content_type="application/json")
