"""The data zkjanitor passes between its modules.

Every record is an immutable ``NamedTuple``: cheap enough to hold hundreds of
thousands of them, and safe to share between threads.
"""

from __future__ import annotations

from enum import Enum
from functools import partial
from typing import Any, Callable, NamedTuple, Optional, Tuple, Type, TypeVar


class SessionType(str, Enum):
    """Livy's two session kinds; the value is the znode directory name."""

    BATCH = "batch"
    INTERACTIVE = "interactive"


class Verdict(str, Enum):
    """What zkjanitor concludes about one session znode (see docs/contract.md)."""

    LIVE = "live"
    STALE = "stale"
    UNKNOWN = "unknown"
    CORRUPT = "corrupt"


class Znode(NamedTuple):
    """One znode as read from ZooKeeper: its data and the parts of its stat zkjanitor uses."""

    path: str
    data: bytes
    version: int
    ctime_ms: int
    mtime_ms: int
    ephemeral_owner: int = 0
    """The session id of the owner of an ephemeral znode; 0 for a persistent one (all Livy writes)."""
    num_children: int = 0

    @classmethod
    def from_stat(cls, path: str, data: Optional[bytes], stat: Any) -> "Znode":
        """From kazoo's ``get`` answer: ``data`` (None reads as ``b""``) and its ``ZnodeStat``."""
        return cls(path, data or b"", stat.version, stat.ctime, stat.mtime, stat.ephemeralOwner, stat.numChildren)

    @property
    def not_a_session(self) -> Optional[str]:
        """Why a session-named znode cannot be Livy's (``ephemeral``, ``has-children``), else None."""
        if self.ephemeral_owner:
            return "ephemeral"
        return "has-children" if self.num_children else None


class Session(NamedTuple):
    """A session znode, decoded. ``corrupt`` names why decoding failed, else is None.

    ``data`` is the znode's raw bytes (prune backs them up verbatim; never print
    them: they may hold secrets). Fields after ``mtime_ms`` are None when the
    znode is corrupt or the field is absent/null in Livy's JSON.
    """

    type: SessionType
    id: int
    path: str
    data: bytes
    version: int
    ctime_ms: int
    mtime_ms: int
    app_id: Optional[str] = None
    app_tag: Optional[str] = None
    owner: Optional[str] = None
    proxy_user: Optional[str] = None
    name: Optional[str] = None
    kind: Optional[str] = None
    livy_version: Optional[str] = None
    corrupt: Optional[str] = None
    driver_uri: Optional[str] = None  # interactive rscDriverUri, already redacted (no secret)

    @property
    def size(self) -> int:
        return len(self.data)


class AppRecord(NamedTuple):
    """What an application-state source knows about one application."""

    app_id: str
    state: str
    final_status: Optional[str] = None
    tags: Tuple[str, ...] = ()
    started_ms: Optional[int] = None
    finished_ms: Optional[int] = None


class AppPhase(str, Enum):
    """Where a session's application is in its life, in any source's words."""

    ACTIVE = "active"
    FINISHED = "finished"
    NOT_FOUND = "not-found"
    UNKNOWN = "unknown"


class Lookup(NamedTuple):
    """One source's answer for one session (the contract is in zkjanitor/sources/base.py).

    ``record`` is what the source knows of the application (its raw state for
    display, its finish time); ``detail`` is a short machine-friendly reason:
    why the answer is ``UNKNOWN``, or why a ``NOT_FOUND`` is not
    ``authoritative`` (the source cannot vouch that it would know the
    application, e.g. ``rm-cannot-vouch``). ``source`` names who said it.
    """

    phase: AppPhase
    record: Optional[AppRecord] = None
    detail: Optional[str] = None
    source: Optional[str] = None
    authoritative: bool = True

    @property
    def settled(self) -> bool:
        """The answer is positive evidence (the app runs, or it ended): no other source need be asked."""
        return self.phase is AppPhase.ACTIVE or self.phase is AppPhase.FINISHED


class Classification(NamedTuple):
    verdict: Verdict
    reason: str
    age_seconds: float
    finished_ms: Optional[int] = None


class SessionReport(NamedTuple):
    """One session with its verdict: the unit every command reports on."""

    session: Session
    verdict: Verdict
    reason: str
    age_seconds: float
    app: Optional[AppRecord] = None
    finished_ms: Optional[int] = None
    source: Optional[str] = None
    """Which evidence source decided (``yarn``); None when none was asked (corrupt, no source)."""


_Record = TypeVar("_Record", bound=tuple)


def from_all_fields(cls: Type[_Record]) -> Callable[[Tuple[Any, ...]], _Record]:
    """``cls`` built from a tuple of ALL its fields, in declaration order, without NamedTuple's ``__new__``.

    The one fast path of record construction: a third of the cost of ``cls(...)``,
    for the records made once per session of a scan (``Znode``, ``Session``,
    ``Classification``, ``SessionReport``) or read back from prune's spool
    (those and ``AppRecord``: zkjanitor/spool.py). Nothing checks the tuple: a field
    added, removed or moved must be added, removed or moved in every caller;
    tests/unit/test_model.py pins each such record's field order so that a change
    there fails until the callers are looked at. Everywhere else, build records
    by keyword.
    """
    return partial(tuple.__new__, cls)


# The reasons behind each verdict. Users and scripts see these strings.
REASONS = {
    Verdict.LIVE: {
        "app-active": "the application is known and not finished (YARN: NEW ... RUNNING)",
        "within-grace": "no application found yet, but the session is younger than the grace period",
        "livy-active": "Livy holds the session and reports it not finished (starting, running, idle, busy, ...)",
    },
    Verdict.STALE: {
        "app-finished": "the application ended (YARN: FINISHED, FAILED or KILLED; Spark History Server: its event "
                        "log is complete)",
        "app-forgotten": "the ResourceManager, which knows the store's other applications, has no record of the appId",
        "never-submitted": "appId is null and no application carries the session's tag (the RM vouches as above)",
        "livy-finished": "Livy holds the session and reports it ended (success, dead or killed)",
    },
    Verdict.UNKNOWN: {
        "no-source": "no application-state source is configured (pass --yarn)",
        "source-unreachable": "the application-state source could not be reached",
        "source-error": "the source answered with an error for this application",
        "no-evidence": "no source knows the application, and none can vouch that it is gone",
        "not-a-yarn-app": "the appId is not a YARN id (e.g. a Kubernetes app)",
        "unrecognised-app-state": "the source reported a state zkjanitor does not know",
        "rm-cannot-vouch": "the ResourceManager knows none of the store's applications: is it Livy's cluster?",
        "app-newer-than-rm": "the appId is newer than every given ResourceManager's start: another cluster's, "
                             "or an RM of the HA pair is missing from --yarn",
        "history-in-progress": "the Spark History Server has the application's event log still in progress: it runs, "
                               "or its driver died without closing the log; not enough on its own",
        "history-cannot-vouch": "the Spark History Server does not list the application (log not scanned yet, "
                                "written elsewhere or cleaned up): that proves nothing",
        "timeline-cannot-vouch": "the YARN Timeline server does not list the application (it keeps 10,000 "
                                 "applications for 7 days by default): that proves nothing",
        "no-app-id": "the appId is null, and the source can look an application up only by its id "
                     "(the Spark History Server)",
    },
    Verdict.CORRUPT: {
        "empty": "the znode has no data",
        "not-utf8": "the data is not UTF-8",
        "bad-json": "the data is not valid JSON",
        "not-an-object": "the JSON is not an object",
        "missing-id": "the record has no integer id",
        "id-mismatch": "the record's id differs from the znode name",
        "missing-app-tag": "the record has no appTag string",
        "bad-field": "a known field has the wrong JSON type",
    },
}
