"""An HTTP double of Apache Livy's REST server, on a free loopback port.

It answers as Livy 0.9 does (sources: docs/dev/livy-rest.md section 4,
docs/dev/livy-state-store.md sections 2 and 6, and Livy's
``SessionServlet``, ``BatchSessionServlet``, ``InteractiveSessionServlet``,
``JsonServlet``, ``CsrfFilter``, ``AccessManager``, ``SessionManager``):

* ``GET /batches`` and ``GET /sessions``: ``from`` (default 0) and ``size``
  (default 100), ``{"from", "total", "sessions"}``: the array key is
  ``sessions`` for batches too, ``total`` counts every session held, the order
  is registration order (recovered sessions first, in the store's listing order);
* ``GET /{batches|sessions}/{id-or-name}``, ``.../state``, ``.../log``;
  a session not held is 404 ``{"msg": "Session '<id>' not found."}``;
  a non-integer ``from``/``size`` (or an all-digit id beyond an int) is 400
  ``{"msg": "For input string: ..."}``;
* ``DELETE /{batches|sessions}/{id}``: stops the session (optionally killing
  its YARN app in a :class:`~zkjanitor.testing.yarn_double.YarnDouble`),
  deletes ``/<prefix>/v1/<type>/<id>`` from a real ZooKeeper, forgets the
  session, and only then answers 200 ``{"msg": "deleted"}``;
* CSRF protection (``X-Requested-By`` on anything but GET/OPTIONS/HEAD),
  basic auth (Livy's LDAP handler) or any :class:`~zkjanitor.testing.http_double.Authenticator`,
  access control for DELETE, and Cloudera's HA (a passive instance answers 307).

Sessions are seeded with :meth:`LivyDouble.add_session` or read from a store
with :meth:`LivyDouble.recover`, as Livy recovers them at startup.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from typing import Any, Callable, Collection, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple
from urllib.parse import unquote

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from zkjanitor.testing.http_double import Authenticator, BasicAuth, HttpDouble, HttpError, Reply, Request, header

BATCH = "batch"
INTERACTIVE = "interactive"
SESSION_TYPES = (BATCH, INTERACTIVE)
#: The REST collection of each session type (the znode directory name is the type itself).
COLLECTION_OF_TYPE = {BATCH: "batches", INTERACTIVE: "sessions"}
TYPE_OF_COLLECTION = {collection: kind for kind, collection in COLLECTION_OF_TYPE.items()}

#: core/.../sessions/SessionState.scala.
ALL_STATES = (
    "not_started",
    "starting",
    "recovering",
    "idle",
    "running",
    "busy",
    "shutting_down",
    "error",
    "dead",
    "killed",
    "success",
)
#: What a batch reports: BatchSession starts in starting (recovering after a restart), then its
#: SparkApp's state maps RUNNING -> running, FINISHED -> success, KILLED -> killed, else dead.
BATCH_STATES = ("starting", "recovering", "running", "success", "dead", "killed")
#: What an interactive session reports: while running, the REPL's state stands in for "running"
#: (busy when the REPL state is unknown); stopping goes through shutting_down to dead.
INTERACTIVE_STATES = (
    "not_started",
    "starting",
    "recovering",
    "idle",
    "busy",
    "shutting_down",
    "error",
    "dead",
    "killed",
)
STATES_OF_TYPE = {BATCH: BATCH_STATES, INTERACTIVE: INTERACTIVE_STATES}
#: FinishedSessionState: what Livy's GC expires after state-retain.
FINISHED_STATES = frozenset({"error", "dead", "killed", "success"})
#: States in which Livy still thinks a batch's YARN app runs, so DELETE kills it.
_BATCH_APP_LIVE = frozenset({"starting", "recovering", "running"})

#: Kind.scala (0.5+) and the aliases its deserializer accepts.
INTERACTIVE_KINDS = ("spark", "pyspark", "sparkr", "shared", "sql")
KIND_ALIASES = {"scala": "spark", "python": "pyspark", "r": "sparkr"}

CSRF_HEADER = "X-Requested-By"
CSRF_MESSAGE = "Missing Required Header for CSRF protection."
CSRF_EXEMPT_METHODS = frozenset({"GET", "OPTIONS", "HEAD"})
AUTH_REQUIRED_MESSAGE = "Authentication required"
DEFAULT_FROM = 0
DEFAULT_SIZE = 100
#: Batch and interactive views show the last 10 log lines.
VIEW_LOG_LINES = 10
LIVY_VERSION = "0.9.0-incubating"
JETTY_SERVER = "Jetty(9.3.24.v20180605)"
HA_ROLES = ("active", "passive")
ZK_TIMEOUT_SECONDS = 10.0

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_TAG_ALPHABET = string.ascii_lowercase + string.digits


class LivyStartupError(RuntimeError):
    """What makes a real Livy fail to start while recovering (two recovered sessions share a name)."""


class RecoveryFailure(NamedTuple):
    """A znode :meth:`LivyDouble.recover` skipped, as Livy logs and skips it."""

    path: str
    reason: str


class _Hook(NamedTuple):
    callback: Callable[["LivyDouble"], None]
    method: Optional[str]
    path: Optional[str]


def session_type_name(session_type: Any) -> str:
    """``"batch"`` or ``"interactive"`` from that string or anything with such a ``.value``."""
    name = str(getattr(session_type, "value", session_type))
    if name not in SESSION_TYPES:
        raise ValueError(f"session type must be one of {SESSION_TYPES}, not {session_type!r}")
    return name


def znode_path(prefix: str, session_type: Any, session_id: int) -> str:
    """Where Livy keeps a session: ``/<prefix>/v1/<type>/<id>`` (the prefix is used verbatim)."""
    return f"/{prefix}/v1/{session_type_name(session_type)}/{session_id}"


def java_int(text: str) -> int:
    """Scala's ``String.toInt`` (``Integer.parseInt``); raises ValueError with Java's message."""
    if _JAVA_INT.fullmatch(text):
        value = int(text)
        if _INT_MIN <= value <= _INT_MAX:
            return value
    raise ValueError(f'For input string: "{text}"')


def jetty_error_page(status: int, message: str, path: str) -> str:
    """The HTML page Jetty 9.3 sends for ``response.sendError(status, message)``."""
    return (
        "<html>\n<head>\n"
        '<meta http-equiv="Content-Type" content="text/html;charset=ISO-8859-1"/>\n'
        f"<title>Error {status} {message}</title>\n"
        "</head>\n"
        f"<body><h2>HTTP ERROR {status}</h2>\n"
        f"<p>Problem accessing {path}. Reason:\n"
        f"<pre>    {message}</pre></p><hr><i><small>Powered by Jetty://</small></i><hr/>\n\n"
        "</body>\n</html>"
    )


def _jetty_error(status: int, message: str, path: str, headers: Optional[Mapping[str, str]] = None) -> Reply:
    return Reply(
        status,
        jetty_error_page(status, message, path),
        dict(headers or {}),
        content_type="text/html;charset=iso-8859-1",
        reason=message,
    )


def _msg(status: int, message: str) -> HttpError:
    """Livy's ``ResponseMessage``: ``{"msg": message}``."""
    return HttpError(status, {"msg": message})


class LivyDouble(HttpDouble):
    """Apache Livy's REST API, served on ``http://127.0.0.1:<free port>``.

    ZooKeeper: ``zk_client`` (a started KazooClient, not closed here) or
    ``zk_hosts`` (a connect string; the double then owns a client, opened on
    :meth:`start`, closed on :meth:`stop`), with ``zk_prefix`` as
    ``livy.server.recovery.zk-state-store.key-prefix`` (default ``livy``).
    Without either, DELETE only forgets the session.

    ``csrf_protection`` is ``livy.server.csrf-protection.enabled``;
    ``basic_auth`` (``(user, password)`` or a mapping of users) is LDAP auth
    (``livy.server.auth.type=ldap``); ``authenticator`` replaces it (the SPNEGO
    seam). ``modify_users`` turns access control on
    (``livy.server.access-control.enabled``) with these users (superusers
    included; ``*`` for everyone) allowed to delete others' sessions.
    ``ha_role`` is None (upstream Livy: no HA), ``"active"`` or ``"passive"``
    (Cloudera's ``livy.server.recovery.mode=ha``); ``ha_status_enabled``
    serves Cloudera's unauthenticated ``GET /ha-status``.
    ``yarn`` (a YarnDouble, or anything with ``app_ids()`` and
    ``finish_app(app_id, state)``) gets the YARN app of a live batch killed on
    DELETE; ``stop_seconds`` is how long stopping a session takes before its
    znode goes (a YARN kill, an RPC shutdown).
    """

    server_header = JETTY_SERVER
    json_content_type = "application/json;charset=utf-8"

    def __init__(
        self,
        *,
        zk_client: Optional[KazooClient] = None,
        zk_hosts: Optional[str] = None,
        zk_prefix: str = "livy",
        csrf_protection: bool = False,
        basic_auth: Any = None,
        authenticator: Optional[Authenticator] = None,
        modify_users: Optional[Collection[str]] = None,
        ha_role: Optional[str] = None,
        ha_status_enabled: bool = False,
        yarn: Any = None,
        stop_seconds: float = 0.0,
        version: str = LIVY_VERSION,
    ) -> None:
        if zk_client is not None and zk_hosts is not None:
            raise ValueError("give zk_client or zk_hosts, not both")
        if basic_auth is not None and authenticator is not None:
            raise ValueError("give basic_auth or authenticator, not both")
        if basic_auth is not None:
            # LdapAuthenticationHandlerImpl answers "WWW-Authenticate: Basic"; hadoop-auth's filter
            # then sends Jetty's error page for "Authentication required".
            authenticator = BasicAuth(basic_auth, challenge="Basic", body=AUTH_REQUIRED_MESSAGE)
        super().__init__(authenticator=authenticator)
        self.zk_prefix = zk_prefix.strip("/")
        self.csrf_protection = csrf_protection
        self.modify_users = None if modify_users is None else frozenset(modify_users)
        self._ha_role = self._checked_role(ha_role)
        self.ha_status_enabled = ha_status_enabled
        self.yarn = yarn
        self.stop_seconds = stop_seconds
        self.version = version
        self._zk_hosts = zk_hosts
        self._zk_client = zk_client
        self._owned_zk: Optional[KazooClient] = None
        self._active: Optional[LivyDouble] = None
        self._sessions: Dict[str, Dict[int, Dict[str, Any]]] = {kind: {} for kind in SESSION_TYPES}
        self._next_id: Dict[str, int] = {kind: 0 for kind in SESSION_TYPES}
        self._hooks: List[List[Any]] = []
        #: Znodes :meth:`recover` skipped (unreadable JSON, an unknown kind, ...).
        self.recovery_failures: List[RecoveryFailure] = []
        #: ``(path, exception)`` of every znode removal that failed during a DELETE (the client still got 200).
        self.failed_removals: List[Tuple[str, BaseException]] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "LivyDouble":
        if self._zk_hosts is not None and self._owned_zk is None:
            client = KazooClient(
                hosts=self._zk_hosts,
                timeout=ZK_TIMEOUT_SECONDS,
                connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
                command_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
            )
            client.start(timeout=ZK_TIMEOUT_SECONDS)
            self._owned_zk = client
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        client, self._owned_zk = self._owned_zk, None
        if client is not None:
            client.stop()
            client.close()

    def __enter__(self) -> "LivyDouble":
        return self.start()

    @property
    def zk(self) -> Optional[KazooClient]:
        """The ZooKeeper client DELETE and :meth:`recover` use (None: no store)."""
        return self._zk_client if self._zk_client is not None else self._owned_zk

    # ------------------------------------------------------------------ HA

    @property
    def ha_role(self) -> Optional[str]:
        return self._ha_role

    def set_ha_role(self, role: Optional[str]) -> None:
        """Become ``"active"``, ``"passive"`` or a server without HA (None), e.g. for a failover."""
        self._ha_role = self._checked_role(role)

    def set_active(self, other: Optional["LivyDouble"]) -> None:
        """The instance a passive one redirects to (None: no active instance is known)."""
        self._active = other

    @staticmethod
    def _checked_role(role: Optional[str]) -> Optional[str]:
        if role is not None and role not in HA_ROLES:
            raise ValueError(f"ha_role must be one of {HA_ROLES} or None, not {role!r}")
        return role

    # ------------------------------------------------------------------ sessions

    def add_session(self, session_type: Any = BATCH, **fields: Any) -> Dict[str, Any]:
        """Register one session, as a new or recovered session of the running Livy; returns its REST view.

        ``fields`` use the recovery-metadata names (``id``, ``name``, ``appId``,
        ``appTag``, ``owner``, ``proxyUser``, ``kind``, ``conf``, ...) plus
        ``state`` (default: running for a batch, idle for an interactive
        session), ``log`` (a list of lines) and ``appInfo`` (a dict). A missing
        ``id`` takes the next one; a missing ``appTag`` is generated the way
        Livy 0.9 does. A name another session of this type holds is refused
        (``ValueError``), as Livy refuses it.
        """
        kind = session_type_name(session_type)
        with self._lock:
            session = self._new_session(kind, fields)
            self._register(session)
            return self._view(session)

    def add_batch(self, **fields: Any) -> Dict[str, Any]:
        """:meth:`add_session` for a batch."""
        return self.add_session(BATCH, **fields)

    def add_interactive(self, **fields: Any) -> Dict[str, Any]:
        """:meth:`add_session` for an interactive session."""
        return self.add_session(INTERACTIVE, **fields)

    def recover(self, *, state: str = "recovering") -> Dict[str, List[int]]:
        """Read the store under ``zk_prefix`` as Livy does at startup; returns the ids held, per type.

        For each type: ``v1/<type>/state`` sets the next id (missing: 0); every
        child whose name parses as an int is read at ``v1/<type>/<int>`` (so
        ``0012`` is read as ``12``) and decoded; a node that is gone, not JSON,
        not an object or of an unknown kind is skipped and listed in
        :attr:`recovery_failures`. The session's id is the record's ``id``
        (missing: 0), which is also the znode a later DELETE removes. Sessions
        are registered in ZooKeeper's listing order, in ``state``. Two
        recovered sessions of one type with the same name raise
        :class:`LivyStartupError`: Livy's ``register`` throws, and recovery runs
        while the server starts.
        """
        for kind in SESSION_TYPES:
            _check_state(kind, state)
        client = self._require_zk()
        recovered: Dict[str, List[int]] = {}
        for kind in SESSION_TYPES:
            parent = f"/{self.zk_prefix}/v1/{kind}"
            next_id = _read_next_id(client, parent)
            sessions = []
            for name in _children(client, parent):
                try:
                    number = java_int(name)
                except ValueError:
                    continue
                path = f"{parent}/{number}"
                try:
                    data = client.get_async(path).get(timeout=ZK_TIMEOUT_SECONDS)[0]
                except NoNodeError:
                    continue
                try:
                    record = _decode_record(kind, data)
                except ValueError as exc:
                    self.recovery_failures.append(RecoveryFailure(path, str(exc)))
                    continue
                record["state"] = state
                sessions.append(record)
            with self._lock:
                self._next_id[kind] = max(self._next_id[kind], next_id)
                for fields in sessions:
                    session = self._new_session(kind, fields, recovered=True)
                    if self._name_taken(session):
                        raise LivyStartupError(
                            f"Duplicate session name: Some({session['name']}) for session {session['id']}"
                        )
                    self._register(session)
                recovered[kind] = [int(fields["id"]) for fields in sessions]
        return recovered

    def set_state(self, session_type: Any, session_id: int, state: str) -> None:
        """Change the state a held session reports."""
        kind = session_type_name(session_type)
        _check_state(kind, state)
        with self._lock:
            self._held(kind, session_id)["state"] = state

    def transition_after(
        self,
        session_type: Any,
        session_id: int,
        state: str,
        *,
        requests: int = 1,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Change a session's state once ``requests`` more matching requests have been answered.

        Matching is by ``method`` and exact ``path`` (None: any). The change
        happens after the last of them is decided and before its reply is sent,
        so the client's next request sees the new state.
        """
        kind = session_type_name(session_type)
        _check_state(kind, state)
        self.after_requests(
            lambda double: double._set_state_if_held(kind, session_id, state),
            requests=requests,
            method=method,
            path=path,
        )

    def after_requests(
        self,
        callback: Callable[["LivyDouble"], None],
        *,
        requests: int = 1,
        method: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """Call ``callback(double)`` once ``requests`` more matching requests have been answered."""
        if requests < 1:
            raise ValueError("requests must be >= 1")
        with self._lock:
            self._hooks.append([requests, _Hook(callback, method, path)])

    def expire(self, session_type: Any, session_id: int) -> None:
        """Livy's GC (or its heartbeat watchdog) deletes a session: its znode, then the session."""
        kind = session_type_name(session_type)
        client = self.zk
        if client is not None:
            try:
                client.delete_async(znode_path(self.zk_prefix, kind, session_id)).get(timeout=ZK_TIMEOUT_SECONDS)
            except NoNodeError:
                pass
        self.forget(kind, session_id)

    def forget(self, session_type: Any, session_id: int) -> None:
        """Drop a held session from memory only (its znode stays): Livy restarted without it."""
        kind = session_type_name(session_type)
        with self._lock:
            self._sessions[kind].pop(session_id, None)

    def clear(self) -> None:
        """Forget every session and pending hook; ids start again at 0."""
        with self._lock:
            for kind in SESSION_TYPES:
                self._sessions[kind].clear()
                self._next_id[kind] = 0
            self._hooks.clear()

    def session(self, session_type: Any, session_id: int) -> Optional[Dict[str, Any]]:
        """The REST view of a held session, or None."""
        kind = session_type_name(session_type)
        with self._lock:
            session = self._sessions[kind].get(session_id)
            return None if session is None else self._view(session)

    def session_ids(self, session_type: Any) -> List[int]:
        """The ids held, in registration order (the order of the REST listing)."""
        kind = session_type_name(session_type)
        with self._lock:
            return list(self._sessions[kind])

    # ------------------------------------------------------------------ sessions: internals

    def _new_session(self, kind: str, fields: Mapping[str, Any], *, recovered: bool = False) -> Dict[str, Any]:
        session_id = fields.get("id")
        if session_id is None:
            session_id = self._next_id[kind]
        session_id = int(session_id)
        state = str(fields.get("state") or ("running" if kind == BATCH else "idle"))
        _check_state(kind, state)
        prefix = "livy-batch" if kind == BATCH else "livy-session"
        tag_random = random.Random(f"{kind}-{session_id}")
        default_tag = f"{prefix}-{session_id}-" + "".join(tag_random.choice(_TAG_ALPHABET) for _ in range(8))
        session: Dict[str, Any] = {
            "type": kind,
            "id": session_id,
            "name": fields.get("name"),
            "appId": fields.get("appId"),
            "appTag": fields.get("appTag") if recovered else fields.get("appTag", default_tag),
            "owner": fields.get("owner"),
            "proxyUser": fields.get("proxyUser"),
            "state": state,
            "log": list(fields.get("log") or ()),
            "appInfo": {
                "driverLogUrl": None,
                "sparkUiUrl": None,
                "executorLogUrls": None,
                **dict(fields.get("appInfo") or {}),
            },
        }
        if kind == INTERACTIVE:
            session.update(
                kind=None if recovered and fields.get("kind") is None else _checked_kind(fields.get("kind") or "spark"),
                ttl=fields.get("ttl"),
                idleTimeout=fields.get("idleTimeout"),
                driverMemory=fields.get("driverMemory"),
                driverCores=fields.get("driverCores"),
                executorMemory=fields.get("executorMemory"),
                executorCores=fields.get("executorCores"),
                conf=fields.get("conf", None if recovered else {}),
                archives=fields.get("archives", None if recovered else []),
                files=fields.get("files", None if recovered else []),
                heartbeatTimeoutS=fields.get("heartbeatTimeoutS", fields.get("heartbeatTimeoutInSecond", 0)),
                jars=fields.get("jars", None if recovered else []),
                numExecutors=fields.get("numExecutors"),
                pyFiles=fields.get("pyFiles", None if recovered else []),
                queue=fields.get("queue"),
            )
        return session

    def _name_taken(self, session: Mapping[str, Any]) -> bool:
        name = session["name"]
        if name is None:
            return False
        return any(
            other["name"] == name and other["id"] != session["id"]
            for other in self._sessions[session["type"]].values()
        )

    def _register(self, session: Dict[str, Any]) -> None:
        """SessionManager.register: a unique name, then put (a re-used id keeps its place)."""
        if self._name_taken(session):
            raise ValueError(f"Duplicate session name: Some({session['name']}) for session {session['id']}")
        kind = session["type"]
        self._sessions[kind][session["id"]] = session
        self._next_id[kind] = max(self._next_id[kind], session["id"] + 1)

    def _held(self, kind: str, session_id: int) -> Dict[str, Any]:
        session = self._sessions[kind].get(session_id)
        if session is None:
            raise KeyError(f"no {kind} session {session_id} is held")
        return session

    def _set_state_if_held(self, kind: str, session_id: int, state: str) -> None:
        with self._lock:
            session = self._sessions[kind].get(session_id)
            if session is not None:
                session["state"] = state

    def _require_zk(self) -> KazooClient:
        client = self.zk
        if client is None:
            raise RuntimeError("LivyDouble has no ZooKeeper client (give zk_client or zk_hosts, then start it)")
        return client

    @staticmethod
    def _view(session: Mapping[str, Any]) -> Dict[str, Any]:
        """BatchSessionView, or HttpMessages.SessionInfo, in their field order."""
        log = list(session["log"][-VIEW_LOG_LINES:])
        if session["type"] == BATCH:
            return {
                "id": session["id"],
                "name": session["name"],
                "owner": session["owner"],
                "proxyUser": session["proxyUser"],
                "state": session["state"],
                "appId": session["appId"],
                "appInfo": dict(session["appInfo"]),
                "log": log,
            }
        return {
            "id": session["id"],
            "name": session["name"],
            "appId": session["appId"],
            "owner": session["owner"],
            "proxyUser": session["proxyUser"],
            "state": session["state"],
            "kind": session["kind"],
            "appInfo": dict(session["appInfo"]),
            "log": log,
            "ttl": session["ttl"],
            "idleTimeout": session["idleTimeout"],
            "driverMemory": session["driverMemory"],
            "driverCores": session["driverCores"] or 0,
            "executorMemory": session["executorMemory"],
            "executorCores": session["executorCores"] or 0,
            "conf": session["conf"],
            "archives": session["archives"],
            "files": session["files"],
            "heartbeatTimeoutInSecond": session["heartbeatTimeoutS"] or 0,
            "jars": session["jars"],
            "numExecutors": session["numExecutors"] or 0,
            "pyFiles": session["pyFiles"],
            "queue": session["queue"],
        }

    # ------------------------------------------------------------------ serving

    def _before_auth(self, request: Request) -> Optional[Reply]:
        """Cloudera HA: a passive instance redirects every request (but ``/ha-status``) to the active one."""
        if self._ha_role != "passive" or (request.path == "/ha-status" and self.ha_status_enabled):
            return None
        active = self._active
        if active is None or not active.running:
            # Not documented by Cloudera; the double says so plainly.
            return Reply(503, {"msg": "This is a passive Livy server and no active one is known."})
        location = active.url + request.raw_path
        return Reply(
            307,
            f"This is a standby Livy Instance. The redirect url is: {location}",
            {"Location": location},
        )

    def _exempt_from_auth(self, request: Request) -> bool:
        return request.path == "/ha-status" and self.ha_status_enabled

    def _error_reply(self, request: Request, error: HttpError) -> Reply:
        """An authentication filter's refusal is ``sendError``: Jetty's HTML page; Livy's own errors are JSON."""
        if isinstance(error.body, str) and error.status in (401, 403):
            return _jetty_error(error.status, error.body, request.path, error.headers)
        return super()._error_reply(request, error)

    def _handle(self, request: Request) -> Reply:
        if request.path == "/ha-status" and self.ha_status_enabled:
            if self._ha_role == "passive":
                return Reply(503, {"status": "follower"})
            return Reply(200, {"status": "leader"})
        if (
            self.csrf_protection
            and request.method not in CSRF_EXEMPT_METHODS
            and header(request.headers, CSRF_HEADER) is None
        ):
            return _jetty_error(400, CSRF_MESSAGE, request.path)
        parts = [unquote(part) for part in request.path.strip("/").split("/")] if request.path != "/" else []
        if not parts:
            if request.method == "GET":  # the UI redirect servlet
                return Reply(302, None, {"Location": f"{self.url}/ui/"})
            raise HttpError(404, "Not Found")
        if parts == ["version"]:
            self._only(request, "GET")
            return Reply(200, self._version_info())
        kind = TYPE_OF_COLLECTION.get(parts[0])
        if kind is None:
            raise HttpError(404, "Not Found")
        if len(parts) == 1:
            if request.method == "POST":
                raise HttpError(501, f"LivyDouble does not model POST {request.path}")
            self._only(request, "GET", "POST")
            return Reply(200, self._list(kind, request))
        if len(parts) == 2:
            self._only(request, "GET", "DELETE")
            session = self._lookup(kind, parts[1])
            if request.method == "DELETE":
                return self._delete(kind, session, request)
            return Reply(200, self._view(session))
        if len(parts) == 3 and parts[2] == "state":
            self._only(request, "GET")
            session = self._lookup(kind, parts[1])
            return Reply(200, {"id": session["id"], "state": session["state"]})
        if len(parts) == 3 and parts[2] == "log":
            self._only(request, "GET")
            return Reply(200, self._log(self._lookup(kind, parts[1]), request))
        if request.method == "POST":
            raise HttpError(501, f"LivyDouble does not model POST {request.path}")
        raise HttpError(404, "Not Found")

    @staticmethod
    def _only(request: Request, *methods: str) -> None:
        if request.method not in methods:
            raise HttpError(405, "Method Not Allowed", {"Allow": ", ".join(methods)})

    def _version_info(self) -> Dict[str, Any]:
        return {
            "version": self.version,
            "user": "livy",
            "revision": "0" * 40,
            "branch": "HEAD",
            "date": "2026-01-02T00:00:00Z",
            "url": "https://github.com/apache/incubator-livy",
        }

    def _list(self, kind: str, request: Request) -> Dict[str, Any]:
        """``get("/")``: ``sessions.view(from, from + size)`` over every session held."""
        start = _int_param(request.query, "from", DEFAULT_FROM)
        size = _int_param(request.query, "size", DEFAULT_SIZE)
        until = _wrap_int(start + size)
        with self._lock:
            sessions = list(self._sessions[kind].values())
            page = sessions[max(start, 0) : max(until, 0)] if until > start else []
            return {"from": start, "total": len(sessions), "sessions": [self._view(s) for s in page]}

    @staticmethod
    def _log(session: Mapping[str, Any], request: Request) -> Dict[str, Any]:
        """``get("/:id/log")``: size 100 and the last lines by default."""
        lines = list(session["log"])
        size = _int_param(request.query, "size", DEFAULT_SIZE)
        start = _int_param(request.query, "from", -1)
        if size < 0:
            size = len(lines)
        if start < 0:
            start = max(0, len(lines) - size)
        until = _wrap_int(start + size)
        return {
            "id": session["id"],
            "from": start,
            "total": len(lines),
            "log": lines[start:until] if until > start else [],
        }

    def _lookup(self, kind: str, id_or_name: str) -> Dict[str, Any]:
        """``doWithSession``: all digits is an id (an int, else 400), anything else a name."""
        with self._lock:
            if id_or_name.isdigit() and id_or_name.isascii():
                try:
                    session_id = java_int(id_or_name)
                except ValueError as exc:
                    raise _msg(400, str(exc)) from None
                session = self._sessions[kind].get(session_id)
            else:
                session = next((s for s in self._sessions[kind].values() if s["name"] == id_or_name), None)
            if session is None:
                raise _msg(404, f"Session '{id_or_name}' not found.")
            return session

    def _may_modify(self, session: Mapping[str, Any], user: Optional[str]) -> bool:
        """AccessManager.hasModifyAccess."""
        if user is None or self.modify_users is None:
            return True
        return (
            user == session["owner"]
            or user == (session["proxyUser"] or "")
            or "*" in self.modify_users
            or user in self.modify_users
        )

    def _delete(self, kind: str, session: Dict[str, Any], request: Request) -> Reply:
        """SessionManager.delete, awaited: stop, remove the znode, forget; 200 even if the removal failed."""
        if not self._may_modify(session, request.user):
            return Reply(403, None)
        session_id = session["id"]
        path = znode_path(self.zk_prefix, kind, session_id)
        if kind == INTERACTIVE:
            # stopSession: transition(ShuttingDown) already removes the znode, then the RPC stop.
            self._set_state_if_held(kind, session_id, "shutting_down")
            removed = self._remove_znode(path)
            self._pause(self.stop_seconds)
        else:
            self._pause(self.stop_seconds)
            self._kill_yarn_app(session)
            removed = self._remove_znode(path)
        with self._lock:
            if removed:
                if self._sessions[kind].get(session_id) is session:
                    del self._sessions[kind][session_id]
            elif kind == INTERACTIVE:
                session["state"] = "dead"
        return Reply(200, {"msg": "deleted"})

    def _remove_znode(self, path: str) -> bool:
        """ZooKeeperStateStore.remove: a missing node is only a warning; any other error fails the delete."""
        client = self.zk
        if client is None:
            return True
        try:
            client.delete_async(path).get(timeout=ZK_TIMEOUT_SECONDS)
        except NoNodeError:
            return True
        except Exception as exc:  # Livy keeps the session and still answers 200
            with self._lock:
                self.failed_removals.append((path, exc))
            return False
        return True

    def _kill_yarn_app(self, session: Mapping[str, Any]) -> None:
        """SparkYarnApp.kill: a batch Livy thinks is running gets its YARN application killed."""
        app_id = session["appId"]
        if self.yarn is None or not app_id or session["state"] not in _BATCH_APP_LIVE:
            return
        if app_id in self.yarn.app_ids():
            self.yarn.finish_app(app_id, "KILLED")

    @staticmethod
    def _pause(seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def _after(self, request: Request, reply: Reply) -> None:
        due: List[Callable[[LivyDouble], None]] = []
        with self._lock:
            for entry in list(self._hooks):
                hook: _Hook = entry[1]
                if (hook.method is None or hook.method == request.method) and (
                    hook.path is None or hook.path == request.path
                ):
                    entry[0] -= 1
                    if entry[0] <= 0:
                        self._hooks.remove(entry)
                        due.append(hook.callback)
        for callback in due:
            callback(self)


# ---------------------------------------------------------------------- helpers


def _check_state(kind: str, state: str) -> None:
    allowed = STATES_OF_TYPE[kind]
    if state not in allowed:
        raise ValueError(f"a {kind} session reports one of {allowed}, not {state!r}")


def _checked_kind(kind: Any) -> str:
    name = str(kind)
    name = KIND_ALIASES.get(name, name)
    if name not in INTERACTIVE_KINDS:
        raise ValueError(f"Invalid kind: {kind}")
    return name


def _int_param(query: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    """``params.get(name).map(_.toInt)``: the first value; not an int -> 400 with Java's message."""
    values = query.get(name)
    if not values:
        return default
    try:
        return java_int(values[0])
    except ValueError as exc:
        raise _msg(400, str(exc)) from None


def _wrap_int(value: int) -> int:
    """Java int overflow (``from + size`` wraps)."""
    return (value - _INT_MIN) % 2**32 + _INT_MIN


def _children(client: KazooClient, parent: str) -> Iterable[str]:
    try:
        return list(client.get_children_async(parent).get(timeout=ZK_TIMEOUT_SECONDS))
    except NoNodeError:
        return []


def _read_next_id(client: KazooClient, parent: str) -> int:
    """SessionStore.getNextSessionId: ``{"nextSessionId": N}``, 0 when the node is missing."""
    try:
        data = client.get_async(f"{parent}/state").get(timeout=ZK_TIMEOUT_SECONDS)[0]
    except NoNodeError:
        return 0
    value = json.loads(data.decode("utf-8"))["nextSessionId"]
    return int(value)


def _decode_record(kind: str, data: bytes) -> Dict[str, Any]:
    """A recovery-metadata record as Jackson + the Scala module reads it, or ValueError."""
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    raw_id = record.get("id", 0)
    if raw_id is None:
        raw_id = 0
    if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)):
        raise ValueError(f"id is not an int: {raw_id!r}")
    try:
        session_id = java_int(str(raw_id))
    except ValueError as exc:
        raise ValueError(f"id: {exc}") from None
    fields = {key: value for key, value in record.items() if key != "state"}
    fields["id"] = session_id
    if kind == INTERACTIVE and record.get("kind") is not None:
        fields["kind"] = _checked_kind(record["kind"])
    return fields
