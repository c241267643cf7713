"""The prune backup: a JSON Lines file holding every znode prune is about to delete.

Line 1 is a header::

    {"format": "zkjanitor-backup", "format_version": 2, "created": "...Z",
     "zookeeper": "zk1:2181/apps", "prefix": "livy", "store": "/apps/livy",
     "counters": {"batch": 36250, "interactive": null}, "tool_version": "0.1.0"}

``store`` is the store's absolute path (the connect string's chroot and the
prefix): restore writes only into that store. ``counters`` are Livy's
``nextSessionId`` per type as the prune read them (null: missing or unusable).
Backups written before these two fields existed are read too (restore derives
the store from ``zookeeper`` and ``prefix``).

Each further line is one of two kinds of record:

* an **entry**, one znode as it was read: ``path``, ``type``, ``id``,
  ``data_b64`` (the raw bytes, base64), ``ctime`` and ``mtime`` (ms since the
  epoch), ``created`` and ``modified`` (the same instants in ISO-8601),
  ``version`` (the znode's data version), ``verdict`` and ``reason``;
* an **outcome** (format version 2), what the prune did with an entry written
  before it: ``{"path": ..., "outcome": "deleted" | "skipped-changed" |
  "skipped-gone" | "failed"}``, plus ``detail`` when there is one.

A prune writes and fsyncs a batch's entries before it sends that batch's
deletes, then the batch's outcomes once ZooKeeper has answered. An entry with
no outcome is one whose delete may have happened (the prune was killed
mid-batch, or lost ZooKeeper before it could tell): restore treats it as
deleted. An entry whose outcome is not ``deleted`` was left alone by the prune
(Livy changed or deleted it itself, or the delete failed), and restoring it
would resurrect a session Livy no longer wants: restore skips it.

Version 1 files (entries only, written by zkjanitor before outcome records
existed) are still read; all their entries count as deleted.

The file is created with mode 0600 (the data may hold secrets) and never
overwrites an existing file. A prune killed mid-write can leave a torn last
line, but that line never describes a deleted znode: :func:`read_backup`
ignores it with a warning.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import time
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii as _json_string
from pathlib import Path
from types import TracebackType
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Type, TypeVar

import zkjanitor
from zkjanitor.errors import ConfigError
from zkjanitor.model import SessionReport
from zkjanitor.redact import redact_url_credentials
from zkjanitor.render import iso_utc

FORMAT = "zkjanitor-backup"
FORMAT_VERSION = 2
READABLE_FORMAT_VERSIONS = (1, 2)
FILE_MODE = 0o600
REQUIRED_ENTRY_FIELDS = ("path", "data_b64", "ctime", "mtime", "version")
"""The fields docs/contract.md promises; on read type, id, verdict and reason are optional."""

DELETED = "deleted"
DELETED_VIA_LIVY = "deleted-via-livy"
RECORDED_OUTCOMES = (DELETED, DELETED_VIA_LIVY, "skipped-changed", "skipped-gone", "skipped-live", "failed",
                     "not-attempted")
"""The prune actions an outcome record may hold (those of :class:`zkjanitor.prune.Outcome`
that settle a znode); only ``deleted`` and ``deleted-via-livy`` mean the znode is to be restored."""


class BackupEntry(NamedTuple):
    """One znode as recorded in a backup. ``data`` is the exact bytes it held."""

    path: str
    data: bytes
    ctime_ms: int
    mtime_ms: int
    version: int
    type: Optional[str] = None
    id: Optional[int] = None
    verdict: Optional[str] = None
    reason: Optional[str] = None
    outcome: Optional[str] = None
    """What the prune recorded it did with this znode; None when nothing was recorded."""

    @property
    def deleted_by_prune(self) -> bool:
        """The prune deleted this znode, or may have (no outcome recorded): restore it."""
        return self.outcome is None or self.outcome in (DELETED, DELETED_VIA_LIVY)


class Backup(NamedTuple):
    """A parsed backup: its header, its znodes in file order, and warnings for the user."""

    header: Dict[str, Any]
    entries: List[BackupEntry]
    warnings: List[str]


def store_of(connect: str, prefix: str) -> str:
    """A store's absolute path, its connect string's chroot and prefix: ``zk1:2181/apps``, ``livy``: ``/apps/livy``."""
    chroot = connect.partition("/")[2].strip("/")
    return "/" + "/".join(part for part in (chroot, prefix.strip("/")) if part)


def default_backup_path(directory: Path, now: datetime, *, kind: str = "backup", suffix: str = ".jsonl") -> Path:
    """``directory/zkjanitor-<kind>-YYYYmmddTHHMMSS.mmmZ-<pid><suffix>`` for ``now`` (converted to UTC).

    Sorts by time; the milliseconds and the process id keep two prunes started
    in the same second (two cron jobs, two stores) from colliding.
    """
    moment = now.astimezone(timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f".{moment.microsecond // 1000:03d}Z"
    return directory / f"zkjanitor-{kind}-{stamp}-{os.getpid()}{suffix}"


def write_new_json(path: Path, document: Any, *, what: str, hint: str) -> None:
    """Write ``document`` to a new file (mode 0600, never overwriting one) and sync it to disk.

    ConfigError names ``what`` it is and ends with ``hint`` (e.g. the option to change).
    """
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        raise ConfigError(f"cannot write {what} {path}: it already exists (never overwritten); {hint}") from None
    except OSError as error:
        raise ConfigError(f"cannot write {what} {path}: {error.strerror}; {hint}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _already_exists(path: Path) -> str:
    return (
        f"cannot write backup {path}: it already exists "
        "(zkjanitor never overwrites a backup); choose another --backup path"
    )


def check_new_backup_path(path: Path) -> None:
    """Raise :class:`ConfigError` now if a backup cannot be created at ``path``.

    For a prune to refuse before it scans, asks or deletes anything: ``path``
    must not exist and its directory must. :class:`BackupWriter` still creates
    the file exclusively, so a file that appears in between is not overwritten.
    """
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise ConfigError(_already_exists(path))
    if not path.parent.is_dir():
        raise ConfigError(
            f"cannot write backup {path}: directory {path.parent} does not exist; "
            "choose another --backup path"
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot write backup {path}: directory {path.parent} is not writable; "
            "choose another --backup path"
        )


def _entry_line(report: SessionReport) -> bytes:
    """The entry's compact JSON line, exactly as ``json.dumps(entry, separators=(",", ":"))``.

    Formatted directly: building a dict and encoding it costs three times as
    much, once for every znode a prune deletes.
    """
    session = report.session
    return (
        f'{{"path":{_json_string(session.path)},"type":{_json_string(session.type.value)},"id":{session.id},'
        f'"data_b64":"{base64.b64encode(session.data).decode("ascii")}",'
        f'"ctime":{session.ctime_ms},"mtime":{session.mtime_ms},'
        f'"created":"{iso_utc(session.ctime_ms)}","modified":"{iso_utc(session.mtime_ms)}",'
        f'"version":{session.version},"verdict":{_json_string(report.verdict.value)},'
        f'"reason":{_json_string(report.reason)}}}\n'
    ).encode("ascii")


_Writer = TypeVar("_Writer", bound="BackupWriter")


class BackupWriter:
    """Creates a new backup file and appends znodes to it, durably.

    Raises :class:`ConfigError` (one line, naming the file) when the file cannot
    be created or written; after a failed write every later write fails too, so
    the file never has a torn line followed by more lines.
    """

    def __init__(self, path: Path, *, zookeeper: str, prefix: str,
                 counters: Optional[Dict[str, Optional[int]]] = None) -> None:
        self.path = Path(path)
        self._failure: Optional[str] = None
        try:
            descriptor = os.open(
                self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, FILE_MODE
            )
        except FileExistsError:
            raise ConfigError(_already_exists(self.path)) from None
        except OSError as error:
            raise ConfigError(self._message(error)) from None
        self._file = os.fdopen(descriptor, "wb")
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created": iso_utc(int(time.time() * 1000)),
            "zookeeper": redact_url_credentials(zookeeper),
            "prefix": prefix,
            "store": store_of(zookeeper, prefix),
            "counters": dict(counters or {}),
            "tool_version": zkjanitor.__version__,
        }
        try:
            # The umask may only have narrowed the mode; make it exactly 0600.
            os.fchmod(descriptor, FILE_MODE)
            self._append(json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n")
            self._sync_directory()
        except (ConfigError, OSError) as error:
            # Nothing was deleted yet and O_EXCL made the file ours: remove the stub.
            self._file.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
            if isinstance(error, ConfigError):
                raise
            raise ConfigError(self._message(error)) from None

    def _message(self, error: OSError) -> str:
        reason = error.strerror or type(error).__name__
        return f"cannot write backup {self.path}: {reason}; choose another --backup path"

    def _append(self, payload: bytes) -> None:
        """Write, flush and fsync ``payload``; remember a failure and refuse later writes."""
        if self._failure is not None:
            raise ConfigError(self._failure)
        try:
            self._file.write(payload)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as error:
            self._failure = self._message(error)
            raise ConfigError(self._failure) from None

    def _sync_directory(self) -> None:
        """Make the new file's directory entry durable too."""
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def write(self, reports: Sequence[SessionReport]) -> None:
        """Append one entry per report's znode; returns only once they are on disk."""
        self._append(b"".join(_entry_line(report) for report in reports))

    def record_outcomes(self, outcomes: Sequence[Tuple[str, str, Optional[str]]]) -> None:
        """Append ``(path, outcome, detail)`` records for written entries; returns once on disk.

        Record only outcomes that are known: leave out a znode whose delete may
        or may not have been applied, so that restore still restores it.
        """
        lines = []
        for path, outcome, detail in outcomes:
            if outcome not in RECORDED_OUTCOMES:
                raise ValueError(f"{outcome!r} is not a recordable outcome {RECORDED_OUTCOMES}")
            line = f'{{"path":{_json_string(path)},"outcome":{_json_string(outcome)}'
            if detail:
                line += f',"detail":{_json_string(detail)}'
            lines.append(f"{line}}}\n".encode("ascii"))
        if lines:
            self._append(b"".join(lines))

    def close(self) -> None:
        """Flush, fsync and close the file; idempotent."""
        if self._file.closed:
            return
        try:
            if self._failure is None:
                self._file.flush()
                os.fsync(self._file.fileno())
        except OSError as error:
            raise ConfigError(self._message(error)) from None
        finally:
            self._file.close()

    def __enter__(self: _Writer) -> _Writer:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> None:
        self.close()


class _LineError(Exception):
    """A problem with one line of a backup; ``read_backup`` adds the file and line number."""


def _validate_path(path: Any) -> str:
    if not isinstance(path, str):
        raise _LineError("path is not a string")
    parts = path.split("/")
    if (
        not path.startswith("/")
        or path == "/"
        or "\x00" in path
        or any(part in ("", ".", "..") for part in parts[1:])
    ):
        raise _LineError(f"path {path!r} is not an absolute ZooKeeper path like /livy/v1/batch/12")
    return path


def _integer(record: Dict[str, Any], field: str) -> int:
    value = record[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _LineError(f"{field} is not a non-negative integer")
    return value


def _optional(record: Dict[str, Any], field: str, kind: type) -> Any:
    value = record.get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
        raise _LineError(f"{field} is not a {kind.__name__}")
    return value


def _parse_entry(record: Any) -> BackupEntry:
    if not isinstance(record, dict):
        raise _LineError("not a JSON object")
    missing = [field for field in REQUIRED_ENTRY_FIELDS if field not in record]
    if missing:
        raise _LineError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    path = _validate_path(record["path"])
    encoded = record["data_b64"]
    if not isinstance(encoded, str):
        raise _LineError("data_b64 is not a string")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _LineError("data_b64 is not valid base64") from None
    return BackupEntry(
        path=path,
        data=data,
        ctime_ms=_integer(record, "ctime"),
        mtime_ms=_integer(record, "mtime"),
        version=_integer(record, "version"),
        type=_optional(record, "type", str),
        id=_optional(record, "id", int),
        verdict=_optional(record, "verdict", str),
        reason=_optional(record, "reason", str),
    )


def _parse_outcome(record: Dict[str, Any]) -> Tuple[str, str]:
    """An outcome record's path and outcome."""
    path = _validate_path(record.get("path"))
    outcome = record["outcome"]
    if not isinstance(outcome, str) or outcome not in RECORDED_OUTCOMES:
        raise _LineError(f"outcome {outcome!r} is not one of {', '.join(RECORDED_OUTCOMES)}")
    _optional(record, "detail", str)
    return path, outcome


def _parse_header(record: Any) -> Dict[str, Any]:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise _LineError(f'not a zkjanitor backup header (expected "format": "{FORMAT}")')
    version = record.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS or isinstance(version, bool):
        readable = " and ".join(str(v) for v in READABLE_FORMAT_VERSIONS)
        raise _LineError(
            f"format_version {version!r} is not supported (this zkjanitor reads versions {readable})"
        )
    return record


def _json(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise _LineError("not UTF-8") from None
    except ValueError as error:
        raise _LineError(f"not valid JSON ({error})") from None


def read_backup(path: Path) -> Backup:
    """Read and strictly validate a backup written by :class:`BackupWriter`.

    Each entry carries the outcome recorded for it, if any. Raises
    :class:`ConfigError` naming the file and line for a missing file, a
    missing or foreign header, a line that is not a JSON object, a missing or
    ill-typed field, bad base64, a path that is not absolute, a path listed
    twice, an unknown outcome, or an outcome with no entry before it or
    recorded twice. Blank lines are ignored. A last line with no newline that
    is not valid JSON is a write torn by a killed prune; it is ignored with a
    warning, because prune deletes a znode only after its entry is complete on
    disk (a torn outcome leaves its entry without one: restorable).
    """
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(
            f"cannot read backup {path}: {error.strerror or type(error).__name__}"
        ) from None
    lines = content.split(b"\n")
    # A file written completely ends with a newline, so its last element is b"".
    torn_candidate = len(lines) if lines[-1].strip() else None

    header: Optional[Dict[str, Any]] = None
    entries: List[BackupEntry] = []
    warnings: List[str] = []
    first_line_of: Dict[str, int] = {}
    index_of: Dict[str, int] = {}
    outcome_line_of: Dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            try:
                record = _json(line)
            except _LineError:
                if number == torn_candidate and header is not None:
                    warnings.append(
                        f"{path} line {number} is incomplete "
                        "(a prune was interrupted while writing it); "
                        "ignored: prune never deletes a znode before its backup line is complete"
                    )
                    continue
                raise
            if header is None:
                header = _parse_header(record)
                continue
            if header["format_version"] >= 2 and isinstance(record, dict) and "outcome" in record:
                outcome_path, outcome = _parse_outcome(record)
                if outcome_path not in index_of:
                    raise _LineError(f"outcome for {outcome_path}, which has no entry before it")
                if outcome_path in outcome_line_of:
                    raise _LineError(
                        f"second outcome for {outcome_path} "
                        f"(first on line {outcome_line_of[outcome_path]})"
                    )
                outcome_line_of[outcome_path] = number
                index = index_of[outcome_path]
                entries[index] = entries[index]._replace(outcome=outcome)
                continue
            entry = _parse_entry(record)
            if entry.path in first_line_of:
                raise _LineError(
                    f"duplicate path {entry.path} (first on line {first_line_of[entry.path]})"
                )
            first_line_of[entry.path] = number
            index_of[entry.path] = len(entries)
            entries.append(entry)
        except _LineError as error:
            raise ConfigError(f"{path} line {number}: {error}") from None
    if header is None:
        raise ConfigError(f"{path} is empty: not a zkjanitor backup")
    return Backup(header, entries, warnings)
