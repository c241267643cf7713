"""``zkjanitor counter``: Livy's id counters against the sessions present; ``--repair`` sets them right."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import click

from zkjanitor.backup import check_new_backup_path, default_backup_path
from zkjanitor.cli.common import (
    GroupedCommand,
    Settings,
    abort_if_not_confirmed,
    command_examples,
    pass_settings,
    refuse_unconfirmed_apply,
    stdout_console,
    store_options_without_sessions,
)
from zkjanitor.counter import CounterStatus, check_only
from zkjanitor.counter import repair as repair_store
from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK, EXIT_PARTIAL_FAILURE, ConfigError
from zkjanitor.metrics import MetricSet
from zkjanitor.render import json as json_render
from zkjanitor.zk.store import ZooKeeperStore


@click.command(
    cls=GroupedCommand,
    epilog=command_examples(
        "zkjanitor counter --zk zk1:2181                      # each type's nextSessionId against its sessions",
        "zkjanitor counter --repair                           # dry run: what the repair would write",
        "zkjanitor counter --repair --apply --yes             # backs up, then writes only what needs it",
    )
)
@store_options_without_sessions
@click.option("--repair", is_flag=True,
              help="Set each counter that is missing, corrupt, or at or below the highest session id to the "
                   "highest id + 1 (dry run unless --apply).")
@click.option("--apply", "apply_changes", is_flag=True, help="With --repair: really write (default: dry run).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--backup", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="With --repair --apply: the file that keeps the counters as they were (default: "
                   "zkjanitor-counter-backup-<UTC time>.json here). Never overwritten.")
@pass_settings
def counter(settings: Settings, metrics: Optional[MetricSet], repair: bool, apply_changes: bool, yes: bool,
            backup: Optional[Path]) -> int:
    """Check Livy's id counters (v1/<type>/state, nextSessionId) against the highest session id.

    A counter that is missing, corrupt, or at or below the highest session id
    makes Livy reuse ids and overwrite sessions (or fail new ones). --repair
    sets it to the highest id + 1 (one already above is left alone): a dry run
    unless --apply, which holds the prune lock, backs the counters up and
    writes each only if unchanged since it was read. The only command that
    writes a state znode. Exit 0 when every counter is fine (or was repaired),
    1 when one needs a repair (read-only runs), 3 when ZooKeeper is
    unreachable, 4 when a write failed or a counter changed meanwhile, 5 when
    another prune holds the lock.
    """
    if apply_changes and not repair:
        raise ConfigError("--apply writes only with --repair: zkjanitor counter --repair --apply")
    if apply_changes:
        refuse_unconfirmed_apply(yes)
        backup = backup or default_backup_path(Path.cwd(), datetime.now(timezone.utc), kind="counter-backup",
                                               suffix=".json")
        check_new_backup_path(backup)

    def confirm(to_write: List[CounterStatus]) -> None:
        changes = ", ".join(f"{c.type.value} {'missing' if c.value is None else c.value} -> {c.repair_to}"
                            for c in to_write)
        abort_if_not_confirmed(f"Write nextSessionId under /{settings.prefix} on {settings.zk.connect}: {changes}? "
                               f"(backup: {backup})", yes)

    with ZooKeeperStore.open(settings.zk, settings.prefix, read_method=settings.read_method) as store:
        if repair:
            report = repair_store(store, settings.types, apply=apply_changes, backup=backup,
                                  now_ms=int(time.time() * 1000), confirm=confirm)
        else:
            report = check_only(store, settings.types)
    if metrics is not None:
        metrics.gauge("counter_problems", "Id counters that need a repair (after this run's repair, if any).",
                      sum(1 for c in report.counters if c.problem is not None and c.action != "set"))
    if settings.output_format == "json":
        click.echo(json_render.dumps(json_render.counter_json(report)))
    else:
        from zkjanitor.render.oncall import render_counter  # rich: only for tables

        render_counter(stdout_console(), report)
    if report.failed:
        return EXIT_PARTIAL_FAILURE
    return EXIT_OK if report.ok else EXIT_LIMIT_EXCEEDED

