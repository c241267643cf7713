"""What the harness's local servers share (ZooKeeper, the MIT KDC): a child process, its log, its directory."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import BinaryIO, Optional, TypeVar

S = TypeVar("S", bound="LocalServer")


class LocalServer:
    """A server the harness runs as a child process; a context manager that always stops it and cleans up.

    A subclass starts it (:meth:`start`, setting ``_process`` and ``_log``, the
    file its output goes to) and stops it (:meth:`stop`); ``_own_dir`` is the
    directory it made for itself, removed by :meth:`cleanup` (None when the
    caller gave one).
    """

    LOG_TAIL_LINES = 30

    def __init__(self, own_dir: Optional[Path]) -> None:
        self._own_dir = own_dir
        self._process: Optional[subprocess.Popen] = None
        self._log: Optional[BinaryIO] = None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def start(self: S, timeout: float = 60.0) -> S:
        raise NotImplementedError

    def stop(self, timeout: float = 15.0) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: Optional[int] = None) -> str:
        try:
            tail = self.log_path.read_text(errors="replace").splitlines()[-(lines or self.LOG_TAIL_LINES):]
        except OSError:
            return "(no log)"
        return "\n".join(tail)

    def cleanup(self) -> None:
        """Stop the server and remove its directory if it made it."""
        self.stop()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
