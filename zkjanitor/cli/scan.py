"""``zkjanitor scan``: report on every session; never writes to ZooKeeper."""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

import click

from zkjanitor.advice import PROBLEM_SEVERITIES, review_livy_conf
from zkjanitor.cli.common import (
    GroupedCommand,
    Settings,
    command_examples,
    open_janitor,
    pass_settings,
    progress_bar,
    stdout_console,
    store_options,
    warn,
)
from zkjanitor.errors import EXIT_OK, EXIT_UNREACHABLE
from zkjanitor.growth import compute_growth
from zkjanitor.janitor import Janitor
from zkjanitor.metrics import MetricSet, add_store_metrics
from zkjanitor.model import SessionReport, Verdict
from zkjanitor.outlook import compute_outlook
from zkjanitor.render import json as json_render
from zkjanitor.retention import livy_rules
from zkjanitor.scan import Kept, ReportSink, ScanResult

SHOW_CHOICES = [v.value for v in Verdict] + ["all"]


def scan_warnings(settings: Settings, janitor: Janitor, result: ScanResult, **options: int) -> List[str]:
    """What the operator should know: the janitor's warnings (``options`` as there), then livy.conf's risks."""
    warnings = janitor.warnings(result, **options)
    if settings.livy_conf is not None:
        warnings += [
            f"livy.conf: {f.setting} = {'(not set)' if f.value is None else f.value}: {f.problem} "
            f"Fix: {f.recommendation}"
            for f in review_livy_conf(settings.livy_conf)
            if f.severity in PROBLEM_SEVERITIES
        ]
    return warnings


def scan_with_progress(janitor: Janitor, sink: ReportSink) -> ScanResult:
    """``janitor.scan(sink=sink)`` with a progress bar on a terminal."""
    with progress_bar("reading session znodes") as progress:
        return janitor.scan(progress=progress, sink=sink)


def shown_verdicts(show: Tuple[str, ...], output_format: str) -> Set[Verdict]:
    """The verdicts whose sessions are listed: --show's, else all for JSON and none for a table."""
    if "all" in show or (not show and output_format == "json"):
        return set(Verdict)
    return {Verdict(v) for v in show}


@click.command(
    cls=GroupedCommand,
    epilog=command_examples(
        "zkjanitor scan --zk zk1:2181 --yarn http://rm1:8088 --yarn http://rm2:8088   # an HA pair",
        "zkjanitor scan --livy-conf /etc/livy/conf/livy.conf --yarn http://rm1:8088 --show stale --utc",
        "zkjanitor scan --format json | jq '.summary'",
        "zkjanitor scan --by owner   # who leaks: sessions by owner / proxy user, most stale first",
    )
)
@store_options
@click.option("--show", "show", multiple=True, type=click.Choice(SHOW_CHOICES),
              help="List the sessions with this verdict (repeatable; 'all' for every one). "
                   "JSON lists all sessions unless --show narrows them.")
@click.option("--utc", is_flag=True, help="Show times in UTC instead of the local time zone.")
@click.option("--by", "by", type=click.Choice(["day", "owner", "none"]), default=None,
              help="Table: chart sessions by creation day, or list them by owner / proxy user (and name "
                   "pattern), each split by verdict. Default: day when some are stale, else none. "
                   "JSON always carries both in 'growth'.")
@pass_settings
def scan(settings: Settings, metrics: Optional[MetricSet], show: Tuple[str, ...], utc: bool,
         by: Optional[str]) -> int:
    """Decode and classify every Livy session znode; print a report.

    Each session is live, stale, unknown or corrupt (see docs/concepts.md).
    Exit 0 on success, 3 when ZooKeeper or YARN cannot be reached.
    """
    wanted = shown_verdicts(show, settings.output_format)

    def listed(report: SessionReport) -> bool:
        return report.verdict in wanted

    # The sessions to list, in (type, id) order, as read; the others are only counted.
    lines = json_render.SessionLines(listed) if settings.output_format == "json" else None
    shown = Kept(listed)
    with open_janitor(settings) as janitor:
        result = scan_with_progress(janitor, shown if lines is None else lines)
        warnings = scan_warnings(settings, janitor, result)
    summary = janitor.summarize(result)
    if metrics is not None:
        add_store_metrics(metrics, result, summary)
    for message in warnings:
        warn(message)
    rules = None if settings.livy_conf is None else livy_rules(result, settings.livy_conf)
    outlook = compute_outlook(result.tally)
    growth = compute_growth(result.tally)
    if lines is not None:
        document = json_render.scan_json(result, summary, zookeeper=settings.zk.connect, sessions=lines,
                                         warnings=warnings, livy_rules=rules, outlook=outlook, growth=growth)
        json_render.print_document(document)
    else:
        from zkjanitor.render.table import render_scan  # rich: only for tables

        render_scan(stdout_console(), result, summary, zookeeper=settings.zk.connect, shown=shown,
                    show_requested=bool(show), utc=utc, livy_rules=rules, outlook=outlook, growth=growth,
                    by=by or ("day" if outlook.stale else "none"))
    return EXIT_UNREACHABLE if result.source_error or result.source_errors else EXIT_OK
