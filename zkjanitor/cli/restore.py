"""``zkjanitor restore``: re-create znodes from a prune backup; a dry run unless --apply."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

import click
from rich.text import Text

from zkjanitor.backup import read_backup, store_of
from zkjanitor.cli.common import (
    Settings,
    abort_if_not_confirmed,
    command_examples,
    pass_settings,
    progress_bar,
    refuse_unconfirmed_apply,
    stdout_console,
    store_options_without_sessions,
    warn,
)
from zkjanitor.errors import EXIT_OK, EXIT_PARTIAL_FAILURE
from zkjanitor.metrics import MetricSet
from zkjanitor.render import json as json_render
from zkjanitor.render.table import plain
from zkjanitor.restore import RestoreAction, confine, counter_warnings, restore_backup
from zkjanitor.zk.client import connected
from zkjanitor.zk.lock import default_identifier, prune_lock


@click.command(
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
    entries = confine(backup, target_store=store_of(settings.zk.connect, settings.prefix),
                      target_prefix=settings.prefix, into_other_store=into_other_store)
    restorable = sum(1 for entry in entries if entry.deleted_by_prune)
    with connected(settings.zk) as client:
        lock = (
            prune_lock(client, settings.prefix, identifier=default_identifier())
            if apply_changes
            else contextlib.nullcontext()
        )
        with lock:
            if apply_changes:
                abort_if_not_confirmed(
                    f"Re-create up to {restorable:,} znode(s) from {backup_file} on {settings.zk.connect}?", yes)
            with progress_bar("restoring" if apply_changes else "checking") as progress:
                done = [0]

                def advance(increment: int) -> None:
                    done[0] += increment
                    if progress is not None:
                        progress(done[0], len(backup.entries))

                outcomes = restore_backup(client, entries, apply=apply_changes, progress=advance)
            recorded = backup.header.get("counters")
            for message in counter_warnings(client, settings.prefix, entries,
                                            recorded if isinstance(recorded, dict) else {}):
                warn(message)
    counts = dict.fromkeys(RestoreAction.ALL, 0)
    for outcome in outcomes:
        counts[outcome.action] += 1
    if metrics is not None:
        for action in RestoreAction.ALL:
            metrics.gauge("restore_znodes", "Znodes handled by the last restore, by action.", counts[action],
                          {"action": action})
    if settings.output_format == "json":
        document = {
            "mode": "apply" if apply_changes else "dry-run",
            "backup": str(backup_file),
            "zookeeper": settings.zk.connect,
            "entries": len(backup.entries),
            "counts": counts,
            "znodes": [
                {"path": o.entry.path, "action": o.action, **({"detail": o.detail} if o.detail else {})}
                for o in outcomes
            ],
        }
        click.echo(json_render.dumps(document))
    else:
        console = stdout_console()
        console.print(plain(f"{len(backup.entries):,} znode(s) in {backup_file}: "
                            + ", ".join(f"{action} {n:,}" for action, n in counts.items() if n)))
        for outcome in [o for o in outcomes if o.action == RestoreAction.FAILED][:20]:
            console.print(Text("failed ", style="red") + plain(f"{outcome.entry.path}: {outcome.detail}"))
        if not apply_changes and counts[RestoreAction.WOULD_RESTORE]:
            console.print("[bold]dry run[/bold]: nothing was written; add --apply to restore")
    return EXIT_PARTIAL_FAILURE if counts[RestoreAction.FAILED] else EXIT_OK
