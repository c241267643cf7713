"""A reviewable prune plan, the terraform way: ``prune --plan-out FILE``, then ``prune --apply --plan FILE``.

The file holds a dry run's exact selection: each session's path, version,
creation and modification times, a hash of its bytes, its verdict, reason and
deciding source; the store's identity; the criteria; when it was made; and a
checksum over all of it, so an edited plan is refused. Applying a plan deletes
only sessions that are in it *and* selected again now, each unchanged since the
plan (same version, creation time and bytes): a plan can only narrow a prune,
never widen it. It is refused for another store, or when older than
``--plan-max-age`` (default one hour).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, NamedTuple, Sequence

from zkjanitor.backup import write_new_json
from zkjanitor.errors import ConfigError
from zkjanitor.model import Session, SessionReport
from zkjanitor.render import iso_utc

FORMAT = "zkjanitor-plan"
FORMAT_VERSION = 1
DEFAULT_MAX_AGE_SECONDS = 3600.0


class PlannedSession(NamedTuple):
    """One session as the plan saw it."""

    path: str
    version: int
    ctime_ms: int
    sha256: str

    def matches(self, session: Session) -> bool:
        """The session now is the one planned: not rewritten, not re-created, same bytes."""
        return (session.path, session.version, session.ctime_ms) == (self.path, self.version, self.ctime_ms) \
            and hashlib.sha256(session.data).hexdigest() == self.sha256


class Plan(NamedTuple):
    """A plan read back: what it selected, under which criteria, for which store, and when."""

    store: str
    criteria: Dict[str, Any]
    created_ms: int
    sessions: Dict[str, PlannedSession]


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def write_plan(path: Path, *, store: str, criteria: Mapping[str, Any], selected: Sequence[SessionReport],
               now_ms: int) -> None:
    """Write the plan to a new file ``path`` (never overwritten; mode 0600: it names the store's sessions)."""
    body = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": iso_utc(now_ms),
        "created_ms": now_ms,
        "store": store,
        "criteria": dict(criteria),
        "sessions": [
            {"path": r.session.path, "type": r.session.type.value, "id": r.session.id,
             "version": r.session.version, "ctime": r.session.ctime_ms, "mtime": r.session.mtime_ms,
             "sha256": hashlib.sha256(r.session.data).hexdigest(), "verdict": r.verdict.value, "reason": r.reason,
             "source": r.source}
            for r in selected
        ],
    }
    document = {**body, "checksum": _checksum(body)}
    write_new_json(path, document, what="plan file", hint="choose another --plan-out path")


def read_plan(path: Path, *, store: str, max_age_seconds: float, now_ms: int = 0) -> Plan:
    """The plan in ``path``; ConfigError (one line) when it is unreadable, edited, another store's, or too old."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"plan file not found: {path}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"plan file {path} is not a zkjanitor plan: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ConfigError(f"plan file {path} is not a zkjanitor plan (made by prune --plan-out)")
    if document.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"plan file {path} has format version {document.get('format_version')!r}, "
                          f"not {FORMAT_VERSION}: make a new plan")
    body = {key: value for key, value in document.items() if key != "checksum"}
    if document.get("checksum") != _checksum(body):
        raise ConfigError(f"plan file {path} was changed after it was made (its checksum does not match): "
                          "make a new plan")
    if document.get("store") != store:
        raise ConfigError(f"plan file {path} is for the store {document.get('store')}, not {store}")
    created_ms = int(document["created_ms"])
    age = ((now_ms or int(time.time() * 1000)) - created_ms) / 1000.0
    if age > max_age_seconds:
        raise ConfigError(f"plan file {path} was made {age / 60:.0f} minutes ago, more than --plan-max-age allows: "
                          "review a new plan")
    sessions: List[PlannedSession] = [
        PlannedSession(str(s["path"]), int(s["version"]), int(s["ctime"]), str(s["sha256"]))
        for s in document["sessions"]
    ]
    return Plan(str(document["store"]), dict(document["criteria"]), created_ms, {s.path: s for s in sessions})
