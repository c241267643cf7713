"""``zkjanitor doctor``: check Livy's settings, ZooKeeper and YARN; advise in plain words."""

from __future__ import annotations

from typing import Optional

import click
from rich.table import Table
from rich.text import Text

from zkjanitor.advice import review_livy_conf
from zkjanitor.cli.common import Settings, command_examples, pass_settings, stdout_console, store_options
from zkjanitor.doctor import check_sessions, check_yarn, check_zookeeper, has_problems
from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK
from zkjanitor.metrics import MetricSet
from zkjanitor.render import json as json_render
from zkjanitor.render.table import plain

SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan", "ok": "green"}


@click.command(
    epilog=command_examples(
        "zkjanitor doctor --livy-conf /etc/livy/conf/livy.conf --yarn http://rm1:8088",
        "zkjanitor doctor --zk zk1:2181/spark --prefix livy --format json",
    )
)
@store_options
@pass_settings
def doctor(settings: Settings, metrics: Optional[MetricSet]) -> int:
    """Find what makes stale sessions pile up, and what would stop zkjanitor.

    Reviews Livy's livy.conf (with --livy-conf) for settings that let dead
    sessions accumulate, then checks ZooKeeper, the state store and YARN.
    Never writes anything. Exit 0 when nothing needs attention, 1 when an
    error or warning was found.
    """
    findings = review_livy_conf(settings.livy_conf) if settings.livy_conf is not None else []
    findings += check_zookeeper(settings.zk, settings.prefix, settings.types)
    source = settings.app_source()
    try:
        findings += check_yarn(source)
        usable = source if source is not None and not has_problems(findings[-1:]) else None
        findings += check_sessions(settings.zk, settings.prefix, settings.types, usable)
    finally:
        if source is not None:
            source.close()
    if settings.output_format == "json":
        document = {"ok": not has_problems(findings), "findings": [f._asdict() for f in findings]}
        click.echo(json_render.dumps(document))
    else:
        table = Table("", "setting or check", "value", "finding", "recommendation", show_edge=False, pad_edge=False)
        for finding in findings:
            style = SEVERITY_STYLE.get(finding.severity, "")
            table.add_row(Text(finding.severity, style=style), plain(finding.setting), plain(finding.value),
                          plain(finding.problem), plain(finding.recommendation or ""))
        stdout_console().print(table)
    return EXIT_LIMIT_EXCEEDED if has_problems(findings) else EXIT_OK
