"""Livy's own view of its sessions, from its REST API: the first and most authoritative evidence source.

Facts this relies on (docs/dev/livy-rest.md section 4):

* ``GET /batches`` and ``GET /sessions`` page with ``from`` and ``size``
  (default 100) and answer ``{"from", "total", "sessions": [...]}``: the array
  key is ``sessions`` for batches too; ``total`` counts the sessions Livy holds
  in memory, not znodes. Each element has ``id``, ``appId`` and ``state``.
* States: ``not_started, starting, recovering, idle, running, busy,
  shutting_down, error, dead, killed, success``. Only ``success``, ``dead`` and
  ``killed`` are terminal here; every other state is live whatever YARN says
  (Livy would kill a running application on ``DELETE``).
* A session Livy does not hold says nothing: Livy may have failed to recover
  it, or it was written after Livy started. Those come back at Livy's next
  restart, so they are reported (:attr:`LivySource.notes`), not judged.
* ``DELETE /batches/{id}`` (``/sessions/{id}``) stops the session, removes its
  znode and drops it from Livy's memory before answering 200: the one way to
  free a running Livy of dead sessions. It kills a running application, so
  ``prune`` sends it only for a session Livy, asked again just before, reports
  ended; with ``X-Requested-By`` (Livy's CSRF protection wants it).
* Cloudera's HA: a passive Livy answers every request with HTTP 307 to the
  active one. Redirects are not followed (credentials go only to URLs the
  operator gave): the active one must be among ``--livy``, and the 307 says
  which it is.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple
from urllib.parse import urlsplit

from zkjanitor.advice import Finding
from zkjanitor.backup import BackupWriter
from zkjanitor.errors import ConfigError, SourceUnavailable, ZkJanitorError
from zkjanitor.model import AppPhase, AppRecord, Lookup, SessionReport, SessionType
from zkjanitor.prune import Outcome, Progress, PruneOutcome, PruneResult
from zkjanitor.sources.base import AppQuery, AppStateSource
from zkjanitor.sources.http_client import HttpClient, Reply, RequestFailed, basic_authorization, validate_base_urls

log = logging.getLogger(__name__)

SOURCE = "livy"
TERMINAL_STATES = frozenset({"success", "dead", "killed"})
LIST_PATHS = {SessionType.BATCH: "/batches", SessionType.INTERACTIVE: "/sessions"}
PAGE_SIZE = 1000
MAX_PAGES = 10_000
"""Bound on the pages of one listing (ten million sessions): a server that never stops paging is an error."""
AUTH_KINDS = ("none", "basic", "kerberos")
PASSWORD_ENV = "ZKJANITOR_LIVY_PASSWORD"
DELETES_IN_FLIGHT = 4
"""Sessions deleted through Livy at once: each DELETE waits for Livy to stop the session and remove its znode."""
DELETE_BATCH = 50
"""Sessions backed up (and their outcomes recorded) together."""

NOT_HELD = Lookup(AppPhase.NOT_FOUND, source=SOURCE, authoritative=False)
"""Livy does not hold the session: no evidence either way (see the module docstring)."""


class LivyAuth(NamedTuple):
    """How to authenticate to Livy: ``none``, ``basic`` (LDAP, Knox) or ``kerberos`` (SPNEGO)."""

    kind: str = "none"
    user: Optional[str] = None
    password: Optional[str] = None

    def __repr__(self) -> str:
        return f"LivyAuth(kind={self.kind!r}, user={self.user!r}, password={'***' if self.password else None})"


class Held(NamedTuple):
    """One session as Livy reports it."""

    state: str
    app_id: Optional[str]


def validate_urls(urls: Sequence[str]) -> List[str]:
    """``--livy`` base URLs (a gateway's path prefix stays); ConfigError for anything that is not one."""
    return validate_base_urls(urls, option="--livy", credentials=f"--livy-user and ${PASSWORD_ENV}")


def _authorization(auth: LivyAuth) -> Optional[str]:
    if auth.kind not in AUTH_KINDS:
        raise ConfigError(f"unknown Livy auth {auth.kind!r}: use one of {', '.join(AUTH_KINDS)}")
    if auth.kind != "basic":
        return None
    if not auth.user or auth.password is None:
        raise ConfigError(f"Livy basic auth needs --livy-user and ${PASSWORD_ENV}")
    return basic_authorization(auth.user, auth.password)


def _reason(error: Exception) -> str:
    return error.reason if isinstance(error, RequestFailed) else str(error)


def _state_of(reply: Reply) -> Optional[str]:
    """The ``state`` of a ``GET .../state`` answer, or None when it is not one."""
    if reply.status_code != 200:
        return None
    try:
        body = reply.json()
    except ValueError:
        return None
    state = body.get("state") if isinstance(body, dict) else None
    return state if isinstance(state, str) else None


def _message(reply: Reply) -> str:
    """Livy's ``{"msg": ...}``, or the start of whatever else it sent."""
    try:
        body = reply.json()
        return str(body.get("msg")) if isinstance(body, dict) and body.get("msg") else ""
    except ValueError:
        return reply.body[:120].decode("utf-8", "replace").strip()


def _looks_like_a_listing(reply: Reply) -> bool:
    try:
        body = reply.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("sessions"), list)


def answer_for(held: Held, query: AppQuery) -> Lookup:
    """Livy's state as evidence for the store's session of the same type and id.

    Not terminal is live (``livy-active``). Terminal is finished
    (``livy-finished``) only when Livy's appId is the store record's: a
    ``DELETE`` follows, and a Livy of another store (or one whose session
    differs) must not be believed, nor asked to delete. Livy naming another
    application than the record says nothing of the record at all.
    """
    if held.app_id and query.app_id and held.app_id != query.app_id:
        return NOT_HELD
    record = AppRecord(held.app_id or "", held.state)
    if held.state not in TERMINAL_STATES:
        return Lookup(AppPhase.ACTIVE, record, detail="livy-active", source=SOURCE)
    if query.app_id and held.app_id == query.app_id:
        return Lookup(AppPhase.FINISHED, record, detail="livy-finished", source=SOURCE)
    return NOT_HELD


class _LivyRun:
    """What one run of :class:`LivySource` listed and saw across its batches."""

    def __init__(self) -> None:
        self.listed: Dict[SessionType, Dict[int, Held]] = {}
        """Per session type asked about, every session Livy holds (one paged listing per run)."""
        self.asked_held: Set[Tuple[Optional[SessionType], Optional[int]]] = set()
        self.only_in_store = 0
        self.unconfirmed = 0


class LivySource(AppStateSource):
    """Asks the active Livy server of ``urls`` (one, or an HA group) which sessions it holds, and in which state."""

    name = SOURCE
    required = False  # Livy down is the incident's normal state: a warning, and the other sources decide

    def __init__(self, urls: Sequence[str], *, auth: LivyAuth = LivyAuth(), timeout: float = 10.0,
                 retries: int = 2, verify: "bool | str" = True) -> None:
        self.urls = validate_urls(urls)
        self.auth_kind = auth.kind
        header = _authorization(auth)
        self._client_options: Dict[str, Any] = dict(
            timeout=timeout, retries=retries, verify=verify,
            headers={"Authorization": header} if header is not None else {}, params={},
            kerberos=auth.kind == "kerberos", refused=self._refused_message, name="Livy",
        )
        self._http = HttpClient(self.urls, **self._client_options)
        self._active: Optional[str] = None
        self._run = _LivyRun()

    @property
    def requests_made(self) -> int:
        return self._http.requests_made

    def lookup(self, query: AppQuery) -> Lookup:
        return self.lookup_many([query])[0]

    def lookup_many(self, queries: Sequence[AppQuery]) -> List[Lookup]:
        """One paged listing per session type and run; each answer from Livy's own state.

        :attr:`notes` (the cross-check with the store) and :attr:`facts`
        (``held``, ``only_in_store``, ``only_in_livy``, and ``unconfirmed``: ids
        Livy holds whose appId does not confirm they are the store's session)
        count every batch of the run.
        """
        run = self._run
        for session_type in {q.session_type for q in queries if q.session_type is not None} - run.listed.keys():
            run.listed[session_type] = dict(self._list(session_type))
        mine = [run.listed[q.session_type].get(q.session_id)
                if q.session_type is not None and q.session_id is not None else None for q in queries]
        answers = [NOT_HELD if h is None else answer_for(h, q) for h, q in zip(mine, queries)]
        run.asked_held.update((q.session_type, q.session_id) for h, q in zip(mine, queries) if h is not None)
        run.only_in_store += sum(1 for h in mine if h is None)
        run.unconfirmed += sum(1 for h, answer in zip(mine, answers) if h is not None and answer is NOT_HELD)
        return answers

    def start_run(self) -> None:
        self._run = _LivyRun()

    @property
    def facts(self) -> Mapping[str, int]:  # type: ignore[override]
        run = self._run
        if not run.listed:
            return {}
        held = len(run.asked_held)
        only_in_livy = sum(len(sessions) for sessions in run.listed.values()) - held
        return {"held": held, "only_in_store": run.only_in_store, "only_in_livy": only_in_livy,
                "unconfirmed": run.unconfirmed}

    @property
    def notes(self) -> Sequence[str]:  # type: ignore[override]
        facts = self.facts
        notes = []
        if facts.get("unconfirmed"):
            notes.append(f"Livy at {self._active} holds {facts['unconfirmed']:,} of the store's session ids with "
                         "another or no appId than the store's record: those are decided without Livy (is it the "
                         "Livy of this store?)")
        if facts.get("only_in_store"):
            notes.append(f"Livy at {self._active} does not hold {facts['only_in_store']:,} of the store's sessions "
                         "(it failed to recover them, or they were written after it started): it will load them at "
                         "its next restart")
        if facts.get("only_in_livy"):
            notes.append(f"Livy at {self._active} holds {facts['only_in_livy']:,} session(s) the store does not "
                         "have: it will forget them at its next restart")
        return notes

    # ------------------------------------------------------------------ the actuator (store.SessionActuator)

    def actuator(self) -> Optional["LivySource"]:
        """Itself, when Livy answered this run's listing: then prune deletes what it holds through it."""
        return self if self._active is not None and self.facts else None

    def holds(self, report: SessionReport) -> bool:
        return report.source == SOURCE

    def delete(self, selected: Sequence[SessionReport], backup: BackupWriter, *, progress: Optional[Progress],
               stop_requested: Callable[[], Optional[str]] = lambda: None) -> PruneResult:
        """Livy's own ``DELETE`` of each session, batch by batch, each backed up first.

        Just before its ``DELETE``, each session's state is asked again: one no
        longer terminal is kept (``skipped-live``: ``DELETE`` would kill its
        application), one Livy no longer holds is ``skipped-gone``. At most
        :data:`DELETES_IN_FLIGHT` sessions are handled at once. If Livy stops
        answering, the run stops there: the rest is ``not-attempted``.
        """
        outcomes: List[PruneOutcome] = []
        aborted: Optional[str] = None
        with ThreadPoolExecutor(max_workers=DELETES_IN_FLIGHT, thread_name_prefix="zkjanitor-livy") as pool:
            workers = [self._worker_client() for _ in range(DELETES_IN_FLIGHT)]
            try:
                for start in range(0, len(selected), DELETE_BATCH):
                    batch = list(selected[start:start + DELETE_BATCH])
                    aborted = aborted or stop_requested()
                    if aborted is None:
                        try:
                            backup.write(batch)
                        except ZkJanitorError as error:
                            aborted = f"backup write failed: {error}"
                    if aborted is not None:
                        settled = [PruneOutcome(report, Outcome.NOT_ATTEMPTED, aborted) for report in batch]
                    else:
                        settled = list(pool.map(lambda item: self._delete_one(workers[item[0] % len(workers)],
                                                                              item[1]), enumerate(batch)))
                        lost = next((o.detail for o in settled
                                     if o.result_unknown or o.action == Outcome.NOT_ATTEMPTED), None)
                        try:
                            backup.record_outcomes([(o.report.session.path, o.action, o.detail)
                                                    for o in settled if not o.result_unknown])
                        except ZkJanitorError as error:
                            aborted = f"backup write failed: {error}"
                        aborted = aborted or lost
                    outcomes.extend(settled)
                    if progress is not None:
                        progress(len(batch))
            finally:
                for worker in workers:
                    worker.close()
        return PruneResult(outcomes, aborted)

    def _worker_client(self) -> HttpClient:
        """An HTTP client of its own for one delete worker (a client keeps one connection per server)."""
        return HttpClient([self._active or ""], **self._client_options)

    def _delete_one(self, http: HttpClient, report: SessionReport) -> PruneOutcome:
        """Ask Livy the session's state again, then ``DELETE`` it only if it still reports it ended.

        Livy not answering the state is ``not-attempted`` (the session is intact); not answering the
        ``DELETE`` leaves its result unknown. Either stops the run (:meth:`delete`).
        """
        base = self._active or ""
        session = report.session
        path = f"{LIST_PATHS[session.type]}/{session.id}"
        try:
            now = http.get(base, f"{path}/state", {})
        except (RequestFailed, SourceUnavailable) as exc:
            return PruneOutcome(report, Outcome.NOT_ATTEMPTED, f"Livy stopped answering ({_reason(exc)})")
        if now.status_code == 404:
            return PruneOutcome(report, Outcome.SKIPPED_GONE, "Livy no longer holds it")
        state = _state_of(now)
        if state is None:
            return PruneOutcome(report, Outcome.FAILED, f"Livy's answer for its state is not one (HTTP "
                                                        f"{now.status_code}): not deleted")
        if state not in TERMINAL_STATES:
            return PruneOutcome(report, Outcome.SKIPPED_LIVE, f"Livy now reports it {state}")
        try:
            reply = http.request("DELETE", base, path, {}, headers={"X-Requested-By": "zkjanitor"})
        except (RequestFailed, SourceUnavailable) as exc:
            return PruneOutcome(report, Outcome.FAILED, f"Livy stopped answering ({_reason(exc)})", result_unknown=True)
        if reply.status_code == 200:
            return PruneOutcome(report, Outcome.DELETED_VIA_LIVY)
        if reply.status_code == 404:
            return PruneOutcome(report, Outcome.SKIPPED_GONE, "Livy no longer holds it")
        return PruneOutcome(report, Outcome.FAILED, f"Livy refused the DELETE: HTTP {reply.status_code} "
                                                    f"{_message(reply)}".rstrip())

    def check(self) -> List[Finding]:
        try:
            active = self.find_active()
        except SourceUnavailable as exc:
            return [Finding("error", SOURCE, ", ".join(self.urls), str(exc), "check --livy and the Livy auth options")]
        return [Finding("ok", SOURCE, active, "Livy answers", "")]

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ HTTP

    def find_active(self) -> str:
        """The first URL that answers a listing (not a passive HA member's 307); SourceUnavailable otherwise."""
        problems = []
        for base in self.urls:
            try:
                reply = self._http.get(base, LIST_PATHS[SessionType.BATCH], {"from": "0", "size": "0"})
            except RequestFailed as exc:
                problems.append(f"{base} ({exc.reason})")
                continue
            if reply.status_code == 200 and not _looks_like_a_listing(reply):
                problems.append(f"{base} (it answers, but not as Livy does: is it Livy's REST port?)")
            elif reply.status_code == 200:
                self._active = base
                log.info("using Livy %s", base)
                return base
            if reply.status_code == 307:
                problems.append(f"{base} (passive; it redirects to {self._redirect_base(reply)})")
            else:
                problems.append(f"{base} (HTTP {reply.status_code})")
        raise SourceUnavailable(f"no active Livy server: {', '.join(problems)}; check --livy (give every "
                                "server of an HA group)")

    def _redirect_base(self, reply: Reply) -> str:
        parts = urlsplit(reply.location or "")
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else "an unknown server"

    def _list(self, session_type: SessionType) -> List[Tuple[int, Held]]:
        """Every session of a type Livy holds, page by page."""
        base = self._active or self.find_active()
        path = LIST_PATHS[session_type]
        sessions: List[Tuple[int, Held]] = []
        start = 0
        for _ in range(MAX_PAGES):
            try:
                reply = self._http.get(base, path, {"from": str(start), "size": str(PAGE_SIZE)})
            except RequestFailed as exc:
                raise SourceUnavailable(f"Livy at {base} did not answer {path}: {exc.reason}") from None
            if reply.status_code == 307:  # the active one became passive since the probe
                self._active = None
                raise SourceUnavailable(f"Livy at {base} turned passive (it redirects to "
                                        f"{self._redirect_base(reply)}); run again")
            if reply.status_code != 200:
                raise SourceUnavailable(f"Livy at {base} answered HTTP {reply.status_code} to {path}")
            try:
                body = reply.json()
                page = body["sessions"]
                total = int(body["total"])
                sessions.extend((int(item["id"]), Held(str(item.get("state") or ""), item.get("appId")))
                                for item in page)
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceUnavailable(f"Livy at {base} sent a malformed reply to {path} "
                                        f"({type(exc).__name__}): is it Livy?") from None
            start += len(page)
            if not page or start >= total:
                return sessions
        raise SourceUnavailable(f"Livy at {base} kept paging {path} past {MAX_PAGES:,} pages")

    def _refused_message(self, base: str, status: int) -> str:
        if self.auth_kind == "none":
            return f"Livy requires authentication (HTTP {status}) at {base}: pass --livy-auth basic|kerberos"
        if self.auth_kind == "kerberos":
            return f"Livy refused the credentials (HTTP {status}) at {base}: check your Kerberos ticket (kinit)"
        return f"Livy refused the credentials (HTTP {status}) at {base}: check --livy-auth and --livy-user"
