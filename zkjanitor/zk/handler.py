"""kazoo's threading handler with a select that costs one system call.

kazoo's connection thread calls its handler's ``select`` two to four times per
request and per response. kazoo's own (``kazoo.handlers.utils.selector_select``)
builds an epoll selector each time: create, register, wait, close, plus the
bookkeeping in Python. That is most of kazoo's per-request cost, which is what
bounds the pipelined read on ZooKeeper < 3.6: measured here, 20k pipelined gets
took 2.2-2.8 s of CPU with it and 1.1 s with :func:`poll_select`.

kazoo lets a client bring its own handler (``KazooClient(handler=...)``), and
the handler interface defines ``select`` as "Python's select.select API": this
module implements exactly that, with ``select.poll`` (no limit on descriptor
numbers, unlike ``select.select``).
"""

from __future__ import annotations

import errno
import os
import select
from typing import Any, Dict, List, Optional, Sequence, Tuple

from kazoo.handlers.threading import SequentialThreadingHandler

_READ = select.POLLIN | select.POLLPRI
_WRITE = select.POLLOUT

Selected = Tuple[List[Any], List[Any], List[Any]]


def _fileno(fileobj: Any) -> int:
    fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
    if fd < 0:
        raise ValueError(f"invalid file descriptor {fd}")
    return fd


def poll_select(rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any],
                timeout: Optional[float] = None) -> Selected:
    """``select.select(rlist, wlist, xlist, timeout)`` with one ``poll`` call.

    Objects are sockets (anything with ``fileno()``) or descriptors; the ready
    ones are returned as given. As with the selectors kazoo uses, a hang-up or
    error counts as ready for reading and for writing (the next ``recv`` or
    ``send`` reports it), and ``xlist`` is never reported. A closed descriptor
    raises ``OSError(EBADF)``, like ``select.select``.
    """
    if timeout is not None:
        if not isinstance(timeout, (int, float)):
            raise TypeError("timeout must be a number")
        if timeout < 0:
            raise ValueError("timeout must be non-negative")
    reads = [(fileobj, _fileno(fileobj)) for fileobj in rlist]
    writes = [(fileobj, _fileno(fileobj)) for fileobj in wlist]
    wanted: Dict[int, int] = {}
    for _, fd in reads:
        wanted[fd] = wanted.get(fd, 0) | _READ
    for _, fd in writes:
        wanted[fd] = wanted.get(fd, 0) | _WRITE
    poller = select.poll()
    for fd, events in wanted.items():
        poller.register(fd, events)
    ready = dict(poller.poll(None if timeout is None else timeout * 1000.0))
    if any(events & select.POLLNVAL for events in ready.values()):
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    readable = [fileobj for fileobj, fd in reads if ready.get(fd, 0) & ~_WRITE]
    writable = [fileobj for fileobj, fd in writes if ready.get(fd, 0) & ~_READ]
    return readable, writable, []


class PollingHandler(SequentialThreadingHandler):
    """kazoo's default handler, with :func:`poll_select` as its ``select``."""

    def select(self, rlist: Sequence[Any], wlist: Sequence[Any], xlist: Sequence[Any],
               timeout: Optional[float] = None) -> Selected:
        return poll_select(rlist, wlist, xlist, timeout)
