"""``zkjanitor prune``: delete stale sessions; a dry run unless --apply."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Union

import click

from zkjanitor.backup import check_new_backup_path, default_backup_path, store_of
from zkjanitor.cli.common import (
    DURATION,
    EXIT_TERMINATED,
    OLDER_THAN,
    GroupedCommand,
    Settings,
    StopRequest,
    abort_if_not_confirmed,
    command_examples,
    open_janitor,
    pass_settings,
    progress_bar,
    progress_counter,
    refuse_unconfirmed_apply,
    say,
    sigterm_at_batch_boundaries,
    stdout_console,
    store_options,
    warn,
)
from zkjanitor.cli.scan import scan_warnings
from zkjanitor.errors import EXIT_OK, EXIT_PARTIAL_FAILURE, ConfigError
from zkjanitor.janitor import PruneCriteria
from zkjanitor.metrics import MetricSet, add_prune_metrics, add_store_metrics
from zkjanitor.outlook import planned_outlook
from zkjanitor.plan_file import read_plan, write_plan
from zkjanitor.prune import Outcome, PruneResult
from zkjanitor.render import PruneReport, describe_selection
from zkjanitor.render import json as json_render
from zkjanitor.retention import LIVY_RETENTION, retention_seconds


@click.command(
    cls=GroupedCommand,
    epilog=command_examples(
        "zkjanitor prune --zk zk1:2181 --yarn http://rm1:8088 --older-than 1d   # dry run: what would go",
        "zkjanitor prune --older-than 1d --apply          # asks, then deletes with a backup",
        "zkjanitor prune --older-than 1d --apply --yes    # cron: no question; backup in the working directory",
        "zkjanitor prune --older-than 2w --limit 5000 --pause 0.5 --apply --yes   # a gentle first pass",
        "zkjanitor prune --livy-conf /etc/livy/conf/livy.conf --older-than livy-retention   # what Livy would drop",
        "zkjanitor prune --older-than 1d --plan-out plan.json   # review it; then prune --apply --plan plan.json",
    )
)
@store_options
@click.option("--older-than", type=OLDER_THAN, metavar="DURATION",
              help="Only stale sessions at least this old: 90m, 12h, 1d, 2w; or livy-retention: as long as Livy "
                   "itself keeps a finished session (livy.conf's livy.server.session.state-retain.sec).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Delete at most N sessions (oldest first).")
@click.option("--include-corrupt", is_flag=True,
              help="Also delete corrupt znodes (undecodable; Livy never cleans them) older than --older-than.")
@click.option("--allow-young-sessions", is_flag=True,
              help="Also delete stale sessions younger than Livy's own wait for YARN "
                   "(livy.server.yarn.app-lookup-timeout, 120s): they may still be being submitted.")
@click.option("--apply", "apply_changes", is_flag=True, help="Really delete (default: dry run).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for cron).")
@click.option("--backup", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Backup file to create (default: zkjanitor-backup-<UTC time>.jsonl here). Never overwritten.")
@click.option("--batch-size", type=click.IntRange(min=1, max=1000), default=1000, show_default=True, metavar="N",
              help="Deletes per ZooKeeper transaction.")
@click.option("--pause", "pause_seconds", type=click.FloatRange(min=0, max=60), default=0.0, show_default=True,
              metavar="SECONDS", help="Pause between transactions, to go easy on a busy ensemble.")
@click.option("--plan-out", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Dry run: also write its exact selection to FILE, to review and then apply with --plan.")
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Delete only what the reviewed plan FILE (from --plan-out) selected and is still selected, "
                   "unchanged; its criteria replace --older-than and the other selection options.")
@click.option("--plan-max-age", type=DURATION, default="1h", show_default=True, metavar="DURATION",
              help="Refuse a --plan older than this.")
@click.option("--utc", is_flag=True, help="Show times in UTC instead of the local time zone.")
@pass_settings
def prune(
    settings: Settings,
    metrics: Optional[MetricSet],
    older_than: Union[float, str],
    limit: Optional[int],
    include_corrupt: bool,
    allow_young_sessions: bool,
    apply_changes: bool,
    yes: bool,
    backup: Optional[Path],
    batch_size: int,
    pause_seconds: float,
    plan_out: Optional[Path],
    plan_file: Optional[Path],
    plan_max_age: float,
    utc: bool,
) -> int:
    """Delete stale Livy sessions older than --older-than; dry run unless --apply.

    Only `stale` sessions are ever selected (and `corrupt` ones with
    --include-corrupt); live and unknown sessions, the `state` counters and
    anything that is not a session are never touched. Each delete is
    version-checked, so a session Livy changed since it was read is skipped.
    Every deleted znode is in the backup first; `zkjanitor restore` undoes a
    prune. Exit 0 on success, 3 when ZooKeeper or YARN is unreachable (nothing
    deleted), 4 when some deletions failed, 5 when another prune is running.
    """
    if plan_out is not None and apply_changes:
        raise ConfigError("--plan-out writes a dry run's plan: run without --apply, review it, then --apply --plan")
    reviewed = None
    if plan_file is not None:
        if older_than is not None or limit is not None or include_corrupt or allow_young_sessions:
            raise ConfigError("--plan carries its own selection: leave out --older-than, --limit, --include-corrupt "
                              "and --allow-young-sessions")
        reviewed = read_plan(plan_file, store=store_of(settings.zk.connect, settings.prefix),
                             max_age_seconds=plan_max_age)
        criteria = PruneCriteria(**reviewed.criteria)
    elif older_than is None:
        raise ConfigError("prune needs --older-than DURATION (or --plan FILE)")
    else:
        if older_than == LIVY_RETENTION:
            if settings.livy_conf is None:
                raise ConfigError("--older-than livy-retention reads livy.server.session.state-retain.sec: "
                                  "pass --livy-conf")
            older_than = retention_seconds(settings.livy_conf)
        assert isinstance(older_than, float)
        criteria = PruneCriteria(older_than, limit, include_corrupt, allow_young_sessions)
    if not settings.has_source:
        raise ConfigError("prune needs an application-state source to know what is stale: pass --yarn http://<rm>:8088")
    if apply_changes:
        refuse_unconfirmed_apply(yes)
        backup = backup or default_backup_path(Path.cwd(), datetime.now(timezone.utc))
        check_new_backup_path(backup)  # like --metrics-file: checked before anything is read or deleted
    backup_path = None
    stop: Optional[StopRequest] = None
    with open_janitor(settings) as janitor, (janitor.locked() if apply_changes else contextlib.nullcontext()):
        with progress_bar("reading session znodes") as reading:
            plan = janitor.plan_prune(criteria, progress=reading,
                                      planned=None if reviewed is None else reviewed.sessions)
        for message in scan_warnings(settings, janitor, plan.scan):
            warn(message)
        if plan.left_out:
            path, why = plan.left_out[0]
            warn(f"{len(plan.left_out):,} session(s) of the plan are left out (first: {path}: {why})")
        if plan_out is not None:
            write_plan(plan_out, store=janitor.store.identity, criteria=criteria._asdict(), selected=plan.selected,
                       now_ms=plan.scan.now_ms)
            say(f"plan of {len(plan.selected):,} session(s) written to {plan_out}; apply it with: "
                f"zkjanitor prune --apply --plan {plan_out}")
        result: Optional[PruneResult] = None
        if apply_changes and plan.selected:
            assert backup is not None  # resolved and checked before connecting, with --apply
            backup_path = backup
            if not yes:  # describing a million sessions reads them all back: only for a person to read
                abort_if_not_confirmed(
                    f"Delete {describe_selection(plan.selected)} under /{settings.prefix} on {settings.zk.connect}? "
                    f"(backup: {backup_path})",
                    yes,
                )
            with progress_counter("deleting", len(plan.selected)) as advance:
                try:
                    with sigterm_at_batch_boundaries() as stop:
                        result = janitor.apply(plan, backup_path, batch_size=batch_size, pause_seconds=pause_seconds,
                                               progress=advance, stop_requested=stop.reason)
                except KeyboardInterrupt:
                    say(f"interrupted: every znode deleted so far is in {backup_path}; "
                        f"undo with: zkjanitor restore {backup_path} --apply")
                    raise
    if result is None:
        result = plan.dry_run
    summary = janitor.summarize(plan.scan)
    if metrics is not None:
        add_store_metrics(metrics, plan.scan, summary)
        add_prune_metrics(metrics, result.counts, Outcome.ALL)
    report = PruneReport(plan, result, summary, mode="apply" if apply_changes else "dry-run",
                         zookeeper=settings.zk.connect, prefix=settings.prefix, backup=backup_path)
    outlook = None if apply_changes else planned_outlook(plan.scan.tally, plan.selected,
                                                           criteria.older_than_seconds)
    if settings.output_format == "json":
        json_render.print_document(json_render.prune_json(report, outlook))
    else:
        from zkjanitor.render.table import render_prune  # rich: only for tables

        render_prune(stdout_console(), report, utc=utc, outlook=outlook)
    if stop is not None and stop.requested:
        say(f"stopped by SIGTERM at a batch boundary: every znode deleted is in {backup_path}; "
            f"undo with: zkjanitor restore {backup_path} --apply")
        return EXIT_TERMINATED
    if result.aborted:
        warn(f"prune stopped early: {result.aborted}")
    failed = result.counts[Outcome.FAILED]
    return EXIT_PARTIAL_FAILURE if failed or result.aborted else EXIT_OK
