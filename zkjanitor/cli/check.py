"""``zkjanitor check``: a CI/cron gate on the state store's size and health."""

from __future__ import annotations

from typing import Any, Optional

import click

from zkjanitor.check import Limits
from zkjanitor.cli.common import (
    GroupedCommand,
    Settings,
    command_examples,
    open_janitor,
    pass_settings,
    stdout_console,
    store_options,
    warn,
)
from zkjanitor.cli.scan import scan_warnings, scan_with_progress
from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK, ConfigError
from zkjanitor.metrics import MetricSet, add_store_metrics
from zkjanitor.outlook import compute_outlook
from zkjanitor.render import json as json_render
from zkjanitor.scan import CHILDREN_REPLY_WARN_BYTES, Kept
from zkjanitor.units import parse_size


class SizeType(click.ParamType):
    """``50MB``, ``512KiB``, ``1000`` -> bytes."""

    name = "size"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command(
    cls=GroupedCommand,
    epilog=command_examples(
        "zkjanitor check --zk zk1:2181 --yarn http://rm1:8088 --max-sessions 5000 --max-stale 500 --max-bytes 50MB",
        "zkjanitor check --max-stale 0 --format json   # exit 1 when any session is stale",
        "zkjanitor check --max-sessions 5000 --metrics-file /var/lib/node_exporter/textfile/zkjanitor_check.prom",
        "zkjanitor --config /etc/zkjanitor.toml check   # limits from the [check] table",
    )
)
@store_options
@click.option("--max-sessions", type=click.IntRange(min=0), metavar="N", help="Fail when there are more sessions.")
@click.option("--max-stale", type=click.IntRange(min=0), metavar="N",
              help="Fail when more sessions are stale (needs --yarn).")
@click.option("--max-bytes", type=SizeType(), metavar="SIZE", help="Fail when session data exceeds SIZE, e.g. 50MB.")
@click.option("--allow-unreadable", is_flag=True,
              help="Judge the limits even when some session znodes could not be read (default: exit 3).")
@click.option("--warn-children-bytes", type=SizeType(), default=CHILDREN_REPLY_WARN_BYTES, show_default=True,
              metavar="SIZE", help="Warn when a parent's getChildren reply reaches SIZE (Java clients fail at 1 MB).")
@pass_settings
def check(
    settings: Settings,
    metrics: Optional[MetricSet],
    max_sessions: Optional[int],
    max_stale: Optional[int],
    max_bytes: Optional[int],
    allow_unreadable: bool,
    warn_children_bytes: int,
) -> int:
    """Exit 1 when the Livy state store exceeds a limit, 0 when within all of them.

    Never writes to ZooKeeper. Exit 3 when ZooKeeper, or YARN while --max-stale
    is set, cannot be reached, and when session znodes cannot be read (unless
    --allow-unreadable). Unreadable znodes count toward --max-sessions.
    """
    limits = Limits(max_sessions, max_stale, max_bytes)
    if not limits.any:
        raise ConfigError("no limits given: pass --max-sessions, --max-stale or --max-bytes "
                          "(or set them in the [check] table of the config file)")
    if limits.needs_source and not settings.has_source:
        raise ConfigError("--max-stale needs an application-state source: pass --yarn http://<rm>:8088")
    with open_janitor(settings) as janitor:
        scanned = scan_with_progress(janitor, Kept(lambda report: False))  # counted, none kept
    if metrics is not None:
        add_store_metrics(metrics, scanned, janitor.summarize(scanned))
    warnings = scan_warnings(settings, janitor, scanned, children_warn_bytes=warn_children_bytes)
    for message in warnings:
        warn(message)
    result = janitor.check(limits, allow_unreadable=allow_unreadable, scanned=scanned)
    if metrics is not None:
        metrics.gauge("check_violations", "Limits exceeded in the last check.", len(result.violations))
    if settings.output_format == "json":
        click.echo(json_render.dumps(json_render.check_json(result, warnings, compute_outlook(scanned.tally))))
    else:
        from zkjanitor.render.table import render_check  # rich: only for tables

        render_check(stdout_console(), result, compute_outlook(scanned.tally))
    return EXIT_LIMIT_EXCEEDED if result.violations else EXIT_OK
