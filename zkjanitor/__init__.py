"""zkjanitor: find and safely prune dead Apache Livy sessions in ZooKeeper's recovery store.

The library's front door is :class:`zkjanitor.janitor.Janitor` (docs/dev/architecture.md);
``from zkjanitor import Janitor, PruneCriteria`` imports it on first use, so the command
line's start-up does not pay for it.
"""

from typing import Any

__version__ = "0.1.0"

_LAZY = {"Janitor": "zkjanitor.janitor", "PruneCriteria": "zkjanitor.janitor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zkjanitor' has no attribute {name!r}")
