"""``zkjanitor prune``: delete stale sessions; a dry run unless --apply."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Optional

import click

from zkjanitor.backup import BackupWriter, check_new_backup_path, default_backup_path
from zkjanitor.cli.common import (
    DURATION,
    EXIT_TERMINATED,
    Settings,
    StopRequest,
    abort_if_not_confirmed,
    command_examples,
    pass_settings,
    progress_bar,
    refuse_unconfirmed_apply,
    say,
    sigterm_at_batch_boundaries,
    stdout_console,
    store_options,
    warn,
)
from zkjanitor.cli.scan import run_scan, scan_warnings
from zkjanitor.errors import EXIT_OK, EXIT_PARTIAL_FAILURE, ConfigError, SourceUnavailable
from zkjanitor.metrics import MetricSet, add_prune_metrics, add_store_metrics
from zkjanitor.model import Verdict
from zkjanitor.prune import Outcome, PruneOutcome, PruneResult, apply_prune, plan_prune, select_for_prune
from zkjanitor.render import iso_utc
from zkjanitor.render import json as json_render
from zkjanitor.scan import ScanResult, summarize
from zkjanitor.units import format_duration
from zkjanitor.zk.client import connected
from zkjanitor.zk.lock import default_identifier, prune_lock

ROWS_SHOWN = 20


@click.command(
    epilog=command_examples(
        "zkjanitor prune --zk zk1:2181 --yarn http://rm1:8088 --older-than 1d   # dry run: what would go",
        "zkjanitor prune --older-than 1d --apply          # asks, then deletes with a backup",
        "zkjanitor prune --older-than 1d --apply --yes    # cron: no question; backup in the working directory",
        "zkjanitor prune --older-than 2w --limit 5000 --pause 0.5 --apply --yes   # a gentle first pass",
    )
)
@store_options
@click.option("--older-than", required=True, type=DURATION, metavar="DURATION",
              help="Only stale sessions at least this old: 90m, 12h, 1d, 2w.")
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
@click.option("--utc", is_flag=True, help="Show times in UTC instead of the local time zone.")
@pass_settings
def prune(
    settings: Settings,
    metrics: Optional[MetricSet],
    older_than: float,
    limit: Optional[int],
    include_corrupt: bool,
    allow_young_sessions: bool,
    apply_changes: bool,
    yes: bool,
    backup: Optional[Path],
    batch_size: int,
    pause_seconds: float,
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
    if not settings.yarn_urls:
        raise ConfigError("prune needs an application-state source to know what is stale: pass --yarn http://<rm>:8088")
    if apply_changes:
        refuse_unconfirmed_apply(yes)
        backup = backup or default_backup_path(Path.cwd(), datetime.now(timezone.utc))
        check_new_backup_path(backup)  # like --metrics-file: checked before anything is read or deleted
    with connected(settings.zk) as client:
        lock = (
            prune_lock(client, settings.prefix, identifier=default_identifier())
            if apply_changes
            else contextlib.nullcontext()
        )
        with lock:
            scan_result = run_scan(settings, client)
            if scan_result.source_error:  # the error line says it all: no warning repeating it
                raise SourceUnavailable(f"{scan_result.source_error}; nothing was deleted")
            for message in scan_warnings(settings, scan_result):
                warn(message)
            selected = select_for_prune(
                scan_result.reports,
                older_than_seconds=older_than,
                types=settings.types,
                limit=limit,
                include_corrupt=include_corrupt,
                created_before_ms=(None if allow_young_sessions else
                                   scan_result.now_ms - int(settings.app_lookup_timeout_seconds * 1000)),
            )
            backup_path = None
            stop: Optional[StopRequest] = None
            if not apply_changes or not selected:
                result = plan_prune(selected)
            else:
                backup_path = backup
                abort_if_not_confirmed(
                    f"Delete {len(selected):,} session znode(s) under /{settings.prefix} on {settings.zk.connect}? "
                    f"(backup: {backup_path})",
                    yes,
                )
                counters = {t.value: p.counter for t, p in scan_result.inventory.parents.items()}
                assert backup_path is not None  # resolved and checked before connecting, with --apply
                with BackupWriter(backup_path, zookeeper=settings.zk.connect, prefix=settings.prefix,
                                  counters=counters) as writer, \
                        progress_bar("deleting") as progress:
                    done = [0]

                    def advance(increment: int) -> None:
                        done[0] += increment
                        if progress is not None:
                            progress(done[0], len(selected))

                    try:
                        with sigterm_at_batch_boundaries() as stop:
                            result = apply_prune(client, selected, writer, batch_size=batch_size,
                                                 pause_seconds=pause_seconds, progress=advance,
                                                 stop_requested=stop.reason)
                    except KeyboardInterrupt:
                        say(f"interrupted: every znode deleted so far is in {backup_path}; "
                            f"undo with: zkjanitor restore {backup_path} --apply")
                        raise
    if metrics is not None:
        add_store_metrics(metrics, scan_result, summarize(scan_result, settings.types))
        add_prune_metrics(metrics, result.counts, Outcome.ALL)
    mode = "apply" if apply_changes else "dry-run"
    if settings.output_format == "json":
        json_render.print_document(_prune_json(settings, scan_result, result, mode, older_than, backup_path))
    else:
        _render_table(settings, scan_result, result, mode, older_than, backup_path, utc)
    if stop is not None and stop.requested:
        say(f"stopped by SIGTERM at a batch boundary: every znode deleted is in {backup_path}; "
            f"undo with: zkjanitor restore {backup_path} --apply")
        return EXIT_TERMINATED
    if result.aborted:
        warn(f"prune stopped early: {result.aborted}")
    failed = result.counts[Outcome.FAILED]
    return EXIT_PARTIAL_FAILURE if failed or result.aborted else EXIT_OK


def _prune_json(settings: Settings, scan_result: ScanResult, result: PruneResult, mode: str, older_than: float,
                backup_path: Optional[Path]) -> Dict[str, Any]:
    counts = result.counts
    return {
        "generated_at": iso_utc(scan_result.now_ms),
        "zookeeper": settings.zk.connect,
        "prefix": settings.prefix,
        "mode": mode,
        "older_than_seconds": older_than,
        "selected": len(result.outcomes),
        "deleted": counts[Outcome.DELETED],
        "counts": counts,
        "backup": str(backup_path) if backup_path else None,
        "aborted": result.aborted,
        "summary": json_render.summary_json(summarize(scan_result, settings.types)),
        "sessions": json_render.EncodedArray(map(_outcome_line, result.outcomes)),
    }


def _outcome_line(outcome: PruneOutcome) -> str:
    """One selected session's JSON object with its action (and why, when there is more to say)."""
    extra = {"action": outcome.action}
    if outcome.detail:
        extra["detail"] = outcome.detail
    return json_render.session_line(outcome.report, extra)


def _action_shown(outcome: PruneOutcome) -> str:
    """The action column: with why, for a session that was not deleted for a reason the operator must see."""
    if outcome.detail and outcome.action in (Outcome.FAILED, Outcome.NOT_ATTEMPTED):
        return f"{outcome.action}: {outcome.detail}"
    return outcome.action


def _render_table(settings: Settings, scan_result: ScanResult, result: PruneResult, mode: str, older_than: float,
                  backup_path: Optional[Path], utc: bool) -> None:
    from zkjanitor.render.table import plain, sessions_table  # rich: only for tables

    console = stdout_console()
    actions = {id(o.report): _action_shown(o) for o in result.outcomes}
    reports = [o.report for o in result.outcomes]
    if reports:
        console.print(sessions_table(reports[:ROWS_SHOWN], utc=utc, action_of=lambda r: actions[id(r)]))
        if len(reports) > ROWS_SHOWN:
            console.print(f"... and {len(reports) - ROWS_SHOWN:,} more (--format json lists them all)")
    summary = summarize(scan_result, settings.types)
    counts = {action: n for action, n in result.counts.items() if n}
    kept = ", ".join(f"{summary.by_verdict[v]:,} {v.value}" for v in Verdict if summary.by_verdict[v])
    corrupt = sum(1 for report in reports if report.verdict is Verdict.CORRUPT)
    what = (f"{len(reports):,} session(s) ({len(reports) - corrupt:,} stale, {corrupt:,} corrupt)" if corrupt
            else f"{len(reports):,} stale session(s)")
    console.print(f"selected {what} older than {format_duration(older_than)} of {summary.sessions:,} ({kept})")
    if mode == "dry-run":
        if reports:
            console.print("[bold]dry run[/bold]: nothing was deleted; add --apply to delete them")
        return
    console.print("result: " + (", ".join(f"{action} {n:,}" for action, n in counts.items()) or "nothing to delete"))
    if backup_path is not None:
        console.print(plain(f"backup: {backup_path}  (undo with: zkjanitor restore {backup_path} --apply)"))
