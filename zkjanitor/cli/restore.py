"""``zkjanitor restore``: re-create znodes from a prune backup; a dry run unless --apply."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from zkjanitor.backup import read_backup
from zkjanitor.cli.common import (
    GroupedCommand,
    Settings,
    abort_if_not_confirmed,
    command_examples,
    open_janitor,
    pass_settings,
    progress_counter,
    refuse_unconfirmed_apply,
    stdout_console,
    store_options_without_sessions,
    warn,
)
from zkjanitor.errors import EXIT_OK, EXIT_PARTIAL_FAILURE
from zkjanitor.metrics import MetricSet
from zkjanitor.render import RestoreReport
from zkjanitor.render import json as json_render
from zkjanitor.restore import RestoreAction


@click.command(
    cls=GroupedCommand,
    epilog=command_examples(
        "zkjanitor restore zkjanitor-backup-20261123T031500Z.jsonl            # dry run",
        "zkjanitor restore zkjanitor-backup-20261123T031500Z.jsonl --apply",
    )
)
@click.argument("backup_file", metavar="BACKUP", type=click.Path(dir_okay=False, path_type=Path))
@store_options_without_sessions
@click.option("--apply", "apply_changes", is_flag=True, help="Really re-create the znodes (default: dry run).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--into-other-store", is_flag=True,
              help="Restore into the store --zk and --prefix name even when the backup was taken from another "
                   "(the sessions move under this --prefix).")
@pass_settings
def restore(settings: Settings, metrics: Optional[MetricSet], backup_file: Path, apply_changes: bool,
            yes: bool, into_other_store: bool) -> int:
    """Re-create the znodes a prune deleted, from its backup file.

    Never overwrites a znode that exists (it is reported already-present), so
    running it twice is safe. Znodes the prune recorded as not deleted (Livy
    changed or removed them itself) are left alone (not-deleted). Missing
    parents are created empty, as Livy does. With --apply it holds the prune
    lock. It writes only session znodes of the store the backup was taken
    from (chroot and prefix; --into-other-store for another), never an id
    counter or any other path: a backup holding one is refused whole. Exit 0
    on success, 2 for such a backup, 4 when some znodes could not be
    restored, 5 when a prune is running.
    """
    if apply_changes:
        refuse_unconfirmed_apply(yes)
    backup = read_backup(backup_file)
    for message in backup.warnings:
        warn(message)
    source = backup.header.get("zookeeper")
    if source and source != settings.zk.connect:
        warn(f"the backup was taken from {source}; restoring into {settings.zk.connect}")
    def confirm(count: int) -> None:
        abort_if_not_confirmed(f"Re-create up to {count:,} znode(s) from {backup_file} on {settings.zk.connect}?", yes)

    with open_janitor(settings, with_source=False) as janitor, \
            progress_counter("restoring" if apply_changes else "checking", len(backup.entries)) as advance:
        restored = janitor.restore(backup, apply=apply_changes, into_other_store=into_other_store,
                                   progress=advance, confirm=confirm)
    for message in restored.warnings:
        warn(message)
    report = RestoreReport(backup_file, backup, restored.outcomes, apply_changes, settings.zk.connect)
    counts = report.counts
    if metrics is not None:
        for action in RestoreAction.ALL:
            metrics.gauge("restore_znodes", "Znodes handled by the last restore, by action.", counts[action],
                          {"action": action})
    if settings.output_format == "json":
        click.echo(json_render.dumps(json_render.restore_json(report)))
    else:
        from zkjanitor.render.table import render_restore  # rich: only for tables

        render_restore(stdout_console(), report)
    return EXIT_PARTIAL_FAILURE if counts[RestoreAction.FAILED] else EXIT_OK
