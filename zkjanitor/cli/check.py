"""``zkjanitor check``: a CI/cron gate on the state store's size and health."""

from __future__ import annotations

from typing import Any, Optional

import click

from zkjanitor.check import Limits, evaluate
from zkjanitor.cli.common import Settings, command_examples, pass_settings, stdout_console, store_options, warn
from zkjanitor.cli.scan import run_scan, scan_warnings
from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK, ConfigError, SourceUnavailable, ZooKeeperUnavailable
from zkjanitor.metrics import MetricSet, add_store_metrics
from zkjanitor.render import json as json_render
from zkjanitor.scan import CHILDREN_REPLY_WARN_BYTES, summarize
from zkjanitor.units import format_size, parse_size
from zkjanitor.zk.client import connected


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
    if limits.needs_source and not settings.yarn_urls:
        raise ConfigError("--max-stale needs an application-state source: pass --yarn http://<rm>:8088")
    with connected(settings.zk) as client:
        result = run_scan(settings, client)
    summary = summarize(result, settings.types)
    if metrics is not None:
        add_store_metrics(metrics, result, summary)
    warnings = scan_warnings(settings, result, warn_children_bytes)
    for message in warnings:
        warn(message)
    if result.source_error and limits.needs_source:
        raise SourceUnavailable(f"{result.source_error}; cannot evaluate --max-stale")
    if result.inventory.unreadable and not allow_unreadable:
        path, error = result.inventory.unreadable[0]
        raise ZooKeeperUnavailable(
            f"{len(result.inventory.unreadable):,} session znode(s) could not be read (first: {path}: {error}), "
            "so the limits cannot be judged: check the ACLs and --zk-auth, or pass --allow-unreadable")
    results = evaluate(summary, limits)
    violations = [r for r in results if r.exceeded]
    if metrics is not None:
        metrics.gauge("check_violations", "Limits exceeded in the last check.", len(violations))
    if settings.output_format == "json":
        document = {
            "ok": not violations,
            "summary": json_render.summary_json(summary),
            "violations": [{"limit": v.limit, "value": v.value, "threshold": v.threshold} for v in violations],
            "limits": {name.replace("_", "-"): value for name, value in limits._asdict().items()},
            "warnings": warnings,
        }
        click.echo(json_render.dumps(document))
    else:
        from rich.table import Table  # only for tables

        from zkjanitor.render.table import summary_table

        console = stdout_console()
        console.print(summary_table(summary))
        table = Table("limit", "value", "threshold", "result", show_edge=False)
        for result_row in results:
            show = format_size if result_row.limit == "max-bytes" else "{:,}".format
            table.add_row(result_row.limit, show(result_row.value), show(result_row.threshold),
                          "[red]FAIL[/]" if result_row.exceeded else "[green]ok[/]")
        console.print(table)
        console.print("[red]limit exceeded[/]" if violations else "[green]within every limit[/]")
    return EXIT_LIMIT_EXCEEDED if violations else EXIT_OK
