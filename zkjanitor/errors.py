"""Errors a user can act on, each with the exit code docs/contract.md assigns."""

from __future__ import annotations

EXIT_OK = 0
EXIT_LIMIT_EXCEEDED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_PARTIAL_FAILURE = 4
EXIT_LOCKED = 5


class ZkJanitorError(Exception):
    """Base class: the message is one line that says what went wrong and what to do."""

    exit_code = EXIT_USAGE


class ConfigError(ZkJanitorError):
    """Bad option, file or setting."""

    exit_code = EXIT_USAGE


class ZooKeeperUnavailable(ZkJanitorError):
    """ZooKeeper cannot be reached, or refuses our credentials."""

    exit_code = EXIT_UNREACHABLE


class SourceUnavailable(ZkJanitorError):
    """The application-state source (e.g. YARN) cannot be reached or answer."""

    exit_code = EXIT_UNREACHABLE


class StoreNotFound(ZkJanitorError):
    """The Livy prefix does not exist in ZooKeeper."""

    exit_code = EXIT_USAGE


class LockHeld(ZkJanitorError):
    """Another prune holds the lock for this state store."""

    exit_code = EXIT_LOCKED


class CounterChanged(ZkJanitorError):
    """The id counter changed (or appeared, or went) since it was read: nothing was written."""

    exit_code = EXIT_PARTIAL_FAILURE


class WriteFailed(ZkJanitorError):
    """A write the user asked for failed (e.g. NoAuth)."""

    exit_code = EXIT_PARTIAL_FAILURE
