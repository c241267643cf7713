"""Prometheus text-format metrics for node_exporter's textfile collector.

The file is replaced atomically (temp file in the same directory, fsync,
rename), so the collector never reads half a file. Give each cron job its own
file: the collector merges every ``*.prom`` file in its directory, and every
series carries the ``command`` that wrote it, so two jobs' files never hold the
same series (node_exporter would drop one of them and log an error at every
scrape).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK, ConfigError
from zkjanitor.model import Verdict
from zkjanitor.scan import ScanResult, Summary

Labels = Mapping[str, str]

# A run "succeeds" when it did its job: exit 0, or 1 for check and doctor (they ran and found something).
# Not exit 5: a prune that keeps finding the lock held is not pruning.
SUCCESS_EXIT_CODES = (EXIT_OK, EXIT_LIMIT_EXCEEDED)
_LAST_SUCCESS = "last_success_timestamp_seconds"
_LAST_SUCCESS_HELP = ("When this command last succeeded (Unix time): exit 0, or 1 for check and doctor; "
                      "kept from the previous file by a run that fails.")
_LAST_SUCCESS_SAMPLE = re.compile(rf"^zkjanitor_{_LAST_SUCCESS}(\{{[^\n]*\}})? [-+0-9.eE]+$")


class MetricSet:
    """Gauges grouped by name, rendered with one HELP/TYPE header each."""

    def __init__(self) -> None:
        self._help: Dict[str, str] = {}
        self._samples: Dict[str, List[Tuple[Labels, float]]] = {}

    def gauge(self, name: str, help_text: str, value: float, labels: Optional[Labels] = None) -> None:
        full = f"zkjanitor_{name}"
        self._help.setdefault(full, help_text)
        self._samples.setdefault(full, []).append((dict(labels or {}), value))

    def label_all(self, key: str, value: str) -> None:
        """Give every sample that does not have label ``key`` yet the label ``key=value``."""
        for samples in self._samples.values():
            samples[:] = [(labels if key in labels else {**labels, key: value}, number)
                          for labels, number in samples]

    def render(self) -> str:
        lines: List[str] = []
        for name, samples in self._samples.items():
            lines.append(f"# HELP {name} {self._help[name]}")
            lines.append(f"# TYPE {name} gauge")
            for labels, value in samples:
                lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in sorted(labels.items())) + "}"


def _escape(value: str) -> str:
    """Label-value escaping of the text format: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def add_store_metrics(metrics: MetricSet, result: ScanResult, summary: Summary) -> None:
    """Session counts by type and verdict, bytes, counters, parent sizes, oldest stale age."""
    for session_type, counts in summary.by_type_verdict.items():
        for verdict in Verdict:
            metrics.gauge("sessions", "Livy session znodes by type and verdict.", counts[verdict],
                          {"type": session_type.value, "verdict": verdict.value})
    for session_type, size in summary.bytes_by_type.items():
        metrics.gauge("session_bytes", "Bytes of session znode data by type.", size, {"type": session_type.value})
    for session_type, parent in result.inventory.parents.items():
        labels = {"type": session_type.value}
        if parent.counter is not None:
            metrics.gauge("next_session_id", "Livy's nextSessionId counter by type.", parent.counter, labels)
        metrics.gauge("parent_children", "Children of /<prefix>/v1/<type>.", parent.num_children, labels)
        metrics.gauge("children_reply_bytes", "Size of the getChildren reply of /<prefix>/v1/<type> "
                      "(Java clients fail at 1 MB).", parent.children_reply_bytes, labels)
    metrics.gauge("unreadable_session_znodes", "Session znodes zkjanitor could not read (e.g. NoAuth); "
                  "in no other count.", summary.unreadable)
    if summary.oldest_stale_seconds is not None:
        metrics.gauge("oldest_stale_age_seconds", "Age of the oldest stale session.", summary.oldest_stale_seconds)
    metrics.gauge("source_up", "1 when the application-state source answered and could vouch for its answers, else 0.",
                  0 if result.source_error else 1)
    for source, facts in result.source_facts.items():
        for kind, count in facts.items():
            metrics.gauge("source_sessions", "What a source reports of the store's sessions (Livy: held, "
                          "only_in_store, only_in_livy).", count, {"source": source, "kind": kind})


def add_run_metrics(metrics: MetricSet, command: str, *, finished_at: float, duration: float, exit_code: int) -> None:
    """The run's own gauges; then every series of the set is labelled with ``command`` (see the module doc)."""
    labels = {"command": command}
    metrics.gauge("last_run_timestamp_seconds", "When zkjanitor last finished (Unix time).", finished_at, labels)
    metrics.gauge("last_run_duration_seconds", "How long the last run took.", duration, labels)
    metrics.gauge("last_run_exit_code", "Exit code of the last run (0 is success).", exit_code, labels)
    if exit_code in SUCCESS_EXIT_CODES:
        metrics.gauge(_LAST_SUCCESS, _LAST_SUCCESS_HELP, finished_at, labels)
    metrics.label_all("command", command)


def add_prune_metrics(metrics: MetricSet, counts: Mapping[str, int], actions: Sequence[str]) -> None:
    for action in actions:
        metrics.gauge("prune_sessions", "Sessions handled by the last prune, by action.", counts.get(action, 0),
                      {"action": action})


def check_writable(path: Path) -> None:
    """Raise ConfigError now if :func:`write_atomically` could not write ``path`` (before a run changes anything)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write metrics file {path}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(temp_name)


def _with_last_success_kept(path: Path, text: str) -> str:
    """``text`` plus the last-success samples of the file at ``path`` that ``text`` does not replace.

    A failed run writes no last-success sample; keeping the previous one lets an
    alert ask "when did prune last succeed?" however many runs failed since.
    """
    try:
        old = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return text  # no previous file (or not one of ours): nothing to keep
    lines = text.splitlines()
    present = [i for i, line in enumerate(lines) if _LAST_SUCCESS_SAMPLE.match(line)]
    replaced = {lines[i].rsplit(" ", 1)[0] for i in present}
    kept = [line for line in old.splitlines()
            if _LAST_SUCCESS_SAMPLE.match(line) and line.rsplit(" ", 1)[0] not in replaced]
    if not kept:
        return text
    if present:  # the samples of one metric stay together
        lines[present[-1] + 1:present[-1] + 1] = kept
    else:
        name = f"zkjanitor_{_LAST_SUCCESS}"
        lines += [f"# HELP {name} {_LAST_SUCCESS_HELP}", f"# TYPE {name} gauge", *kept]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file, never a mix.

    The previous file's ``zkjanitor_last_success_timestamp_seconds`` samples that
    ``text`` has no value for are kept (see :func:`_with_last_success_kept`).
    """
    text = _with_last_success_kept(path, text)
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"cannot write metrics file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise ConfigError(f"cannot write metrics file {path}: {exc.strerror}") from None
