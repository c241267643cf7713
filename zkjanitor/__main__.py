"""Entry point of the ``zkjanitor`` process: ``python -m zkjanitor`` and the console script.

A run builds one large set of long-lived, acyclic objects (every session of the
store) and keeps it to the end, which the cyclic garbage collector would
traverse again and again: ~10% of a scan, and ~10% of the imports before it.
It is off from the first line of the short-lived process; reference counting
still frees everything that is not a cycle.
"""

import gc

gc.disable()

from zkjanitor.cli import main  # noqa: E402  (after gc.disable, on purpose)

if __name__ == "__main__":
    main()
