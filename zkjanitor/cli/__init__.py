"""The ``zkjanitor`` command line: thin click commands over the library modules."""

from __future__ import annotations

import click

from zkjanitor import __version__


@click.group()
@click.version_option(__version__, prog_name="zkjanitor")
def main() -> None:
    """Keep Apache Livy's ZooKeeper session-recovery store clean."""
