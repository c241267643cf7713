"""Entry point of the ``zkjanitor`` process: ``python -m zkjanitor`` and the console script.

A run builds one large set of long-lived, acyclic objects (every session of the
store) and keeps it to the end. The cyclic garbage collector would traverse it
again and again (~10% of a scan, and ~10% of the imports before it), so it is
off from the first line; reference counting still frees everything that is
not a cycle. The interpreter's own shutdown (tearing down every module) is
skipped: the process ends with ``os._exit`` once stdout and stderr are
flushed; every file zkjanitor writes (backups, metrics) is closed, and
fsynced, before its command returns. Under a tracer (coverage, a debugger) or
with ``ZKJANITOR_DEBUG`` set, the process exits normally instead, so atexit
handlers (coverage's data file among them) run.
"""

import gc

gc.disable()

import os  # noqa: E402  (after gc.disable, on purpose)
import sys  # noqa: E402
from typing import NoReturn  # noqa: E402

from zkjanitor.cli import main as run_cli  # noqa: E402


def main() -> NoReturn:
    """Run the command line, then end the process with its exit status."""
    try:
        run_cli()
        status: object = 0
    except SystemExit as done:
        status = done.code
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # sys.exit("message"), as the interpreter would show it
        print(status, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # the reader went away: nothing more can be shown
            pass
    if sys.gettrace() is not None or "coverage" in sys.modules or os.environ.get("ZKJANITOR_DEBUG"):
        sys.exit(code)  # a normal exit: atexit handlers (coverage's, a debugger's) run
    os._exit(code)


if __name__ == "__main__":
    main()
