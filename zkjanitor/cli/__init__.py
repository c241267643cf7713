"""The ``zkjanitor`` command line: thin click commands over the library modules.

Every failure a user can act on ends as one line on stderr and the contract's
exit code; a traceback is shown only with ``ZKJANITOR_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, MutableMapping, Optional

import click
from kazoo.exceptions import KazooException, SessionClosedRequireSaslError

from zkjanitor import __version__
from zkjanitor.cli.common import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    command_examples,
    default_map_for,
    load_config_file,
    raise_terminated,
)
from zkjanitor.errors import EXIT_UNREACHABLE, EXIT_USAGE, ZkJanitorError
from zkjanitor.zk.client import describe


class OneLineUsageError(click.ClickException):
    """A usage error (bad option value, unknown option...) shown on one line of stderr, exit 2."""

    exit_code = EXIT_USAGE

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(" ".join(error.format_message().split()))
        self.command_path = error.ctx.command_path if error.ctx is not None else "zkjanitor"

    def show(self, file: Optional[IO[Any]] = None) -> None:
        click.echo(f"zkjanitor: error: {self.format_message()} (see: {self.command_path} --help)", err=True)


def _one_line(error: click.UsageError) -> click.ClickException:
    """``error`` as one line; no arguments at all still shows the help (click >= 8.2)."""
    if isinstance(error, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return error
    return OneLineUsageError(error)


COMMAND_MODULES = {
    "scan": "zkjanitor.cli.scan",
    "prune": "zkjanitor.cli.prune",
    "check": "zkjanitor.cli.check",
    "restore": "zkjanitor.cli.restore",
    "doctor": "zkjanitor.cli.doctor",
    "counter": "zkjanitor.cli.counter",
}
"""Each subcommand and the module defining it (a function of the same name), in the order of the docs."""


class LazyCommands(MutableMapping[str, click.Command]):
    """Subcommands by name, each module imported on first use: a run loads only the command it runs.

    Listing names (``--help``'s command list aside) imports nothing; looking a
    command up imports its module. Cheaper start-up is part of every command's
    run time (a scan of 40k sessions takes well under a second).
    """

    def __init__(self, modules: Dict[str, str]) -> None:
        self._modules = dict(modules)
        self._loaded: Dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module = importlib.import_module(self._modules[name])
            self._loaded[name] = getattr(module, name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self._modules.pop(name, None)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        yield from self._modules
        yield from (name for name in self._loaded if name not in self._modules)

    def __len__(self) -> int:
        return len(self._modules.keys() | self._loaded.keys())

    def __contains__(self, name: object) -> bool:
        return name in self._modules or name in self._loaded


class ZkJanitorGroup(click.Group):
    """Loads ``--config`` into click's default_map, maps errors to one line and an exit code.

    Its subcommands are :data:`COMMAND_MODULES`, imported when used (:class:`LazyCommands`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(COMMAND_MODULES)

    def make_context(self, info_name: Optional[str], args: List[str], parent: Optional[click.Context] = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.NoSuchOption as error:
            command = next((arg for arg in args if arg in COMMAND_MODULES), None)
            if command is not None:  # `zkjanitor --zk X scan`: the contract puts options after the command
                hint = f" (options go after the command: zkjanitor {command} {error.option_name} ...)"
                raise _one_line(click.UsageError(error.format_message() + hint, ctx=error.ctx)) from None
            raise _one_line(error) from None
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        previous_sigterm = signal.signal(signal.SIGTERM, raise_terminated)
        try:
            path = ctx.params.get("config")
            if path is not None:
                ctx.default_map = default_map_for(load_config_file(path), self.commands, path)
            code = super().invoke(ctx)
        except click.exceptions.Abort:
            click.echo("zkjanitor: aborted; nothing was changed", err=True)
            code = EXIT_USAGE
        except Terminated:
            click.echo("zkjanitor: terminated (SIGTERM)", err=True)
            code = EXIT_TERMINATED
        except KeyboardInterrupt:
            click.echo("zkjanitor: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except BrokenPipeError:
            # `zkjanitor scan | head`: the reader has what it wanted. No message; nothing more goes to stdout.
            _discard_stdout()
            code = EXIT_STDOUT_CLOSED
        except ZkJanitorError as exc:
            click.echo(f"zkjanitor: error: {exc}", err=True)
            code = exc.exit_code
        except SessionClosedRequireSaslError as exc:
            click.echo(f"zkjanitor: error: ZooKeeper requires SASL authentication and closed the session "
                       f"({describe(exc)}): pass --zk-sasl GSSAPI (Kerberos) or DIGEST-MD5", err=True)
            code = EXIT_UNREACHABLE
        except KazooException as exc:
            click.echo(f"zkjanitor: error: lost ZooKeeper during the run ({describe(exc)}); "
                       "check the ensemble and run again", err=True)
            code = EXIT_UNREACHABLE
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # the last line of defence: never a bare traceback
            if os.environ.get("ZKJANITOR_DEBUG"):
                raise
            click.echo(f"zkjanitor: internal error: {describe(exc)} "
                       "(set ZKJANITOR_DEBUG=1 for a traceback, and please report it)", err=True)
            code = EXIT_INTERNAL
        finally:
            signal.signal(signal.SIGTERM, previous_sigterm)
        ctx.exit(code or 0)


EXIT_STDOUT_CLOSED = 141  # the shell's convention for SIGPIPE: whatever read stdout has closed it


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is still buffered cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # not a real file (e.g. a test's buffer): nothing to redirect
        pass


GROUP_EPILOG = command_examples(
    "zkjanitor scan --zk zk1:2181 --yarn http://rm1:8088",
    "zkjanitor prune --zk zk1:2181 --yarn http://rm1:8088 --older-than 1d",
    "zkjanitor scan --help",
    "zkjanitor --version",
) + (
    "\n\n\b\nSet ZKJANITOR_ZK and ZKJANITOR_YARN to leave out --zk and --yarn.\n"
    "Shell completion: add this line to ~/.bashrc (zsh: zsh_source in ~/.zshrc):\n"
    '  eval "$(_ZKJANITOR_COMPLETE=bash_source zkjanitor)"'
)


@click.group(cls=ZkJanitorGroup, epilog=GROUP_EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="zkjanitor")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), envvar="ZKJANITOR_CONFIG",
              metavar="FILE", help="TOML file with default option values (see docs/configuration.md).")
def cli(config: Optional[Path]) -> None:
    """Keep Apache Livy's ZooKeeper session-recovery store clean.

    zkjanitor decodes every Livy session znode, asks YARN whether its application
    is still alive, and classifies it live, stale, unknown or corrupt. `scan`
    reports, `prune` deletes stale sessions (dry run unless --apply, with a
    backup), `restore` undoes a prune, `check` gates CI and cron,
    `doctor` checks the setup and Livy's livy.conf, and `counter` checks (and
    repairs) Livy's id counters.
    """


def main() -> None:
    """Run the command line (``zkjanitor/__main__.py`` is the process's entry point)."""
    cli(prog_name="zkjanitor")
