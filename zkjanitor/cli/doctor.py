"""``zkjanitor doctor``: check Livy's settings, ZooKeeper and YARN; advise in plain words."""

from __future__ import annotations

from functools import partial
from typing import Optional

import click

from zkjanitor.advice import has_problems, review_livy_conf
from zkjanitor.cli.common import (
    GroupedCommand,
    Settings,
    command_examples,
    pass_settings,
    stdout_console,
    store_options,
)
from zkjanitor.doctor import check_sessions, check_source, check_store
from zkjanitor.errors import EXIT_LIMIT_EXCEEDED, EXIT_OK
from zkjanitor.metrics import MetricSet
from zkjanitor.render import json as json_render
from zkjanitor.zk.store import ZooKeeperStore


@click.command(
    cls=GroupedCommand,
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
    open_store = partial(ZooKeeperStore.open, settings.zk, settings.prefix, read_method=settings.read_method)
    findings = review_livy_conf(settings.livy_conf) if settings.livy_conf is not None else []
    findings += check_store(open_store, settings.zk.connect, settings.types)
    source = settings.app_source()
    try:
        source_findings = check_source(source)
        findings += source_findings
        # A chain is asked when any of its sources answers (check_sessions reports the failing ones too).
        usable = source if source is not None and any(f.severity == "ok" for f in source_findings) else None
        findings += check_sessions(open_store, settings.types, usable)
    finally:
        if source is not None:
            source.close()
    if settings.output_format == "json":
        click.echo(json_render.dumps(json_render.doctor_json(findings)))
    else:
        from zkjanitor.render.table import render_doctor  # rich: only for tables

        render_doctor(stdout_console(), findings)
    return EXIT_LIMIT_EXCEEDED if has_problems(findings) else EXIT_OK
