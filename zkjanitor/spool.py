"""Session reports kept in a temporary file instead of memory: what a prune selects, at any store size.

A prune of a million stale sessions would hold a million reports in memory
(about 670 bytes each, plus the record's bytes: over a gigabyte).
:class:`ReportSpool` holds the first :data:`IN_MEMORY_REPORTS` in memory; past
that, it writes each report to an unnamed temporary file (in ``$TMPDIR``) as
the scan streams it past, and reads it back when asked; in memory it keeps its
offset and the fields a prune's selection filters and sorts on
(:class:`SelectionKey`): about 35 bytes a report. Records are
flattened to tuples of plain values and written with :mod:`marshal` (C fast:
under 2 µs a report each way); ``_flat`` and ``_unflat`` are the one place
that knows the records' field order, and tests/unit/test_spool.py round-trips
every field.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from array import array
from typing import (
    IO,
    Any,
    Callable,
    Iterable,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from zkjanitor.model import AppRecord, Session, SessionReport, SessionType, Verdict, from_all_fields

T = TypeVar("T")


class SelectionKey(NamedTuple):
    """What prune's selection (:func:`zkjanitor.prune.select_for_prune`) looks at in a report."""

    verdict: Verdict
    type: SessionType
    session_id: int
    age_seconds: float
    ctime_ms: int
    has_app: bool
    """A source knew the application (it answered with a record)."""


def selection_key(report: SessionReport) -> SelectionKey:
    session = report.session
    return SelectionKey(report.verdict, session.type, session.id, report.age_seconds, session.ctime_ms,
                        report.app is not None)


_SESSION_FIELDS = len(Session._fields)
_TYPES = list(SessionType)
_VERDICTS = list(Verdict)
_session = from_all_fields(Session)
_report = from_all_fields(SessionReport)
_app = from_all_fields(AppRecord)


def _flat(report: SessionReport) -> Tuple[Any, ...]:
    """The report as a tuple of values marshal writes: the enums by position, the records as tuples."""
    session = report.session
    app = report.app
    return (_TYPES.index(session.type), *session[1:], _VERDICTS.index(report.verdict), report.reason,
            report.age_seconds, None if app is None else tuple(app), report.finished_ms, report.source)


def _unflat(flat: Tuple[Any, ...]) -> SessionReport:
    session = _session((_TYPES[flat[0]], *flat[1:_SESSION_FIELDS]))
    verdict, reason, age, app, finished_ms, source = flat[_SESSION_FIELDS:]
    return _report((session, _VERDICTS[verdict], reason, age, None if app is None else _app(app), finished_ms,
                    source))


class LazySequence(Sequence[T]):
    """A sequence whose items are made when asked for: a subclass gives ``__len__`` and ``_item(index)``."""

    def _item(self, index: int) -> T:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> List[T]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[T, List[T]]:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._item(index)


IN_MEMORY_REPORTS = 50_000
"""Reports a spool holds in memory before it moves them all to its file: a store of the incident's size (40,000
sessions) never touches the disk, and a million selected sessions never hold more than this in memory."""


class ReportSpool(LazySequence[SessionReport]):
    """The reports ``keep`` accepts, in the order added, on disk past :data:`IN_MEMORY_REPORTS` (a ``ReportSink``)."""

    def __init__(self, keep: Callable[[SessionReport], bool] = lambda report: True) -> None:
        self.keep = keep
        self._memory: Optional[List[SessionReport]] = []
        """The reports while there are few; None once they are in the file."""
        self._file: Optional[IO[bytes]] = None
        self._unflushed = False
        self._ends = array("q")
        """Where each record in the file ends."""
        self._verdicts = array("b")
        self._types = array("b")
        self._ids = array("q")
        self._ages = array("d")
        self._ctimes = array("q")
        self._has_app = array("b")

    def extend(self, reports: Iterable[SessionReport]) -> None:
        kept = [report for report in reports if self.keep(report)]
        for report in kept:
            session = report.session
            self._verdicts.append(_VERDICTS.index(report.verdict))
            self._types.append(_TYPES.index(session.type))
            self._ids.append(session.id)
            self._ages.append(report.age_seconds)
            self._ctimes.append(session.ctime_ms)
            self._has_app.append(report.app is not None)
        if self._memory is not None:
            self._memory.extend(kept)
            if len(self._memory) <= IN_MEMORY_REPORTS:
                return
            kept, self._memory = self._memory, None
        self._write(kept)

    def _write(self, reports: List[SessionReport]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="zkjanitor-spool-")
        records = [marshal.dumps(_flat(report)) for report in reports]
        end = self._ends[-1] if self._ends else 0
        for record in records:
            end += len(record)
            self._ends.append(end)
        self._file.write(b"".join(records))
        self._unflushed = True

    def clear(self) -> None:
        self._memory = []
        if self._file is not None:
            self._file.seek(0)
            self._file.truncate()
        for column in (self._ends, self._verdicts, self._types, self._ids, self._ages, self._ctimes, self._has_app):
            del column[:]

    def __len__(self) -> int:
        return len(self._verdicts)

    def _item(self, index: int) -> SessionReport:
        if self._memory is not None:
            return self._memory[index]
        assert self._file is not None
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        start = self._ends[index - 1] if index else 0
        # pread, not a memory map: mapped pages read would count in the process's resident memory.
        return _unflat(marshal.loads(os.pread(self._file.fileno(), self._ends[index] - start, start)))

    def key(self, index: int) -> SelectionKey:
        """The report's :class:`SelectionKey`, from memory (nothing is read back)."""
        return SelectionKey(_VERDICTS[self._verdicts[index]], _TYPES[self._types[index]], self._ids[index],
                            self._ages[index], self._ctimes[index], bool(self._has_app[index]))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class SpoolView(LazySequence[SessionReport]):
    """Some of a spool's reports, in the order of ``indexes`` (8 bytes each)."""

    def __init__(self, spool: ReportSpool, indexes: Iterable[int]) -> None:
        self.spool = spool
        self.indexes = array("q", indexes)

    def __len__(self) -> int:
        return len(self.indexes)

    def _item(self, index: int) -> SessionReport:
        return self.spool[self.indexes[index]]


def keys_of(reports: Sequence[SessionReport]) -> Iterator[SelectionKey]:
    """The reports' selection keys, in order: from a spool's memory, else from each report."""
    if isinstance(reports, ReportSpool):
        return map(reports.key, range(len(reports)))
    if isinstance(reports, SpoolView):
        return map(reports.spool.key, reports.indexes)
    return map(selection_key, reports)


def subset(reports: Sequence[SessionReport], indexes: Iterable[int]) -> Sequence[SessionReport]:
    """``reports[i]`` for each i, as a view of a spool (nothing read back) or a list."""
    if isinstance(reports, ReportSpool):
        return SpoolView(reports, indexes)
    if isinstance(reports, SpoolView):
        return SpoolView(reports.spool, (reports.indexes[index] for index in indexes))
    return [reports[index] for index in indexes]
