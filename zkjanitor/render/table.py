"""Human output (``--format table``) with rich: summaries first, details on request."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Mapping, Optional, Sequence, Tuple

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from zkjanitor.advice import Finding
from zkjanitor.growth import Growth
from zkjanitor.janitor import CheckResult
from zkjanitor.model import REASONS, SessionReport, SessionType, Verdict
from zkjanitor.outlook import Outlook
from zkjanitor.prune import Outcome, PruneOutcome
from zkjanitor.render import PruneReport, RestoreReport
from zkjanitor.render.oncall import print_verdict_line, render_by_day, render_by_owner, top_leaker_line
from zkjanitor.restore import RestoreAction
from zkjanitor.retention import LivyRules
from zkjanitor.scan import ScanResult, Summary
from zkjanitor.spool import keys_of
from zkjanitor.units import format_duration, format_size

VERDICT_STYLE = {
    Verdict.LIVE: "green",
    Verdict.STALE: "yellow",
    Verdict.UNKNOWN: "magenta",
    Verdict.CORRUPT: "red",
}


def plain(value: object) -> Text:
    """Data for a table cell: never read as rich markup, printable whatever its code points.

    Znode data is hostile input: an owner named ``[red]`` must print as itself,
    and a lone surrogate (valid JSON escape, not encodable as UTF-8) as ``\\ud800``.
    """
    text = "-" if value is None else str(value)
    return Text(text.encode("utf-8", "backslashreplace").decode("utf-8"))


def timestamp(ms: Optional[int], utc: bool) -> str:
    """A znode or app time for people: local time zone unless ``utc``."""
    if ms is None:
        return "-"
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if not utc:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def summary_table(summary: Summary, title: Optional[str] = None) -> Table:
    """Sessions by type and verdict, with bytes."""
    table = Table(title=title, title_justify="left", show_footer=len(summary.by_type_verdict) > 1,
                  caption=(f"and {summary.unreadable:,} session znode(s) that could not be read (ACL)"
                           if summary.unreadable else None), caption_justify="left", caption_style="red")
    table.add_column("type", footer="total")
    for verdict in Verdict:
        table.add_column(
            verdict.value,
            justify="right",
            style=VERDICT_STYLE[verdict],
            footer=f"{summary.by_verdict[verdict]:,}",
        )
    table.add_column("sessions", justify="right", footer=f"{summary.sessions:,}")
    table.add_column("bytes", justify="right", footer=format_size(summary.bytes))
    for session_type, counts in summary.by_type_verdict.items():
        table.add_row(
            session_type.value,
            *(f"{counts[v]:,}" for v in Verdict),
            f"{sum(counts.values()):,}",
            format_size(summary.bytes_by_type[session_type]),
        )
    return table


def sessions_table(reports: Sequence[SessionReport], *, utc: bool, action_of=None) -> Table:
    """One row per session; ``action_of(report)`` adds an action column (prune)."""
    table = Table(show_edge=False, pad_edge=False)
    if action_of is not None:
        table.add_column("action")
    for name in ("type", "id", "verdict", "reason", "app id", "app state", "age", "created", "modified", "owner"):
        table.add_column(name, justify="right" if name in ("id", "age") else "left", no_wrap=name != "owner")
    for report in reports:
        session = report.session
        row = [
            session.type.value,
            str(session.id),
            Text(report.verdict.value, style=VERDICT_STYLE[report.verdict]),
            _reason(report),
            plain(session.app_id),
            plain(report.app.state if report.app is not None else None),
            format_duration(report.age_seconds),
            timestamp(session.ctime_ms, utc),
            timestamp(session.mtime_ms, utc),
            plain(session.owner),
        ]
        if action_of is not None:
            row.insert(0, action_of(report))
        table.add_row(*row)
    return table


def render_scan(
    console: Console,
    result: ScanResult,
    summary: Summary,
    *,
    zookeeper: str,
    shown: Sequence[SessionReport],
    show_requested: bool,
    utc: bool,
    livy_rules: Optional[LivyRules] = None,
    outlook: Optional[Outlook] = None,
    growth: Optional[Growth] = None,
    by: str = "none",
) -> None:
    """The scan report for a person at a terminal: the verdict line first, ``growth`` by ``day`` or ``owner``."""
    inventory = result.inventory
    print_verdict_line(console, outlook)
    console.print(
        f"Livy state store [bold]/{escape(inventory.prefix)}[/bold] on {escape(zookeeper)}: "
        f"{summary.sessions:,} sessions, {format_size(summary.bytes)}"
    )
    console.print(summary_table(summary))
    counters = []
    for session_type in SessionType:
        parent = inventory.parents.get(session_type)
        if parent is not None and parent.exists:
            counter = "missing" if parent.counter is None else parent.counter
            counters.append(f"{session_type.value} nextSessionId={counter}")
    if counters:
        console.print("counters: " + ", ".join(counters))
    if summary.oldest_stale_seconds is not None:
        console.print(f"oldest stale session: {format_duration(summary.oldest_stale_seconds)} old")
    if livy_rules is not None:
        ttl = ("" if livy_rules.ttl_seconds is None else
               f"; {livy_rules.interactive_past_ttl:,} interactive session(s) are past livy.server.session.ttl "
               f"({format_duration(livy_rules.ttl_seconds)})")
        console.print(f"by livy.conf, Livy would already have dropped {livy_rules.finished_past_retention:,} finished "
                      f"session(s) (state-retain {format_duration(livy_rules.state_retain_seconds)}){ttl}: "
                      "zkjanitor prune --older-than livy-retention")
    livy = result.source_facts.get("livy")
    if livy:
        console.print(f"Livy holds {livy['held']:,} of the store's sessions; {livy['only_in_store']:,} only in the "
                      f"store (Livy loads them at its next restart); {livy['only_in_livy']:,} only in Livy "
                      "(it forgets them at its next restart)")
    if result.tally.sessions:
        console.print(reasons_table(result.tally.by_reason))
    if growth is not None and by == "day":
        render_by_day(console, growth)
        top_leaker_line(console, growth)
    elif growth is not None and by == "owner":
        render_by_owner(console, growth)
    if show_requested:
        if shown:
            console.print(sessions_table(shown, utc=utc))
        else:
            console.print("no sessions match --show")
    elif summary.by_verdict[Verdict.STALE]:
        suggestion = None if outlook is None else outlook.suggestion
        console.print("list them with [bold]--show stale[/bold]" + (
            "" if suggestion is None else
            f"; preview a prune with [bold]zkjanitor prune --older-than {suggestion.older_than}[/bold]"))


def _reason(report: SessionReport) -> str:
    """The reason, with the source that decided: ``app-finished (yarn)``."""
    return report.reason if report.source is None else f"{report.reason} ({report.source})"


def reasons_table(counts: Mapping[Tuple[Verdict, str, Optional[str]], int]) -> Table:
    """Why sessions got their verdicts: one row per (verdict, reason, deciding source), with what it means.

    ``counts`` is :attr:`zkjanitor.scan.Tally.by_reason`.
    """
    per_reason: Counter = Counter()
    for (verdict, reason, _), count in counts.items():
        per_reason[verdict, reason] += count
    order = list(Verdict)
    table = Table("verdict", "reason", "sessions", "meaning", show_edge=False, pad_edge=False)
    # By verdict, the commonest reason first, its sources together (the commonest first).
    for (verdict, reason, source), count in sorted(
            counts.items(), key=lambda item: (order.index(item[0][0]), -per_reason[item[0][:2]], item[0][1],
                                              -item[1], item[0][2] or "")):
        shown = reason if source is None else f"{reason} ({source})"
        table.add_row(f"[{VERDICT_STYLE[verdict]}]{verdict.value}[/]", shown, f"{count:,}",
                      REASONS[verdict].get(reason, ""))
    return table


ROWS_SHOWN = 20
"""Selected sessions a prune table lists; JSON lists them all."""


def render_prune(console: Console, report: PruneReport, *, utc: bool, outlook: Optional[Outlook] = None) -> None:
    """The prune report: the verdict line (dry run), the selection (first rows), what happened, how to undo it."""
    if report.mode == "dry-run":
        print_verdict_line(console, outlook)
    result = report.result
    shown = result.outcomes[:ROWS_SHOWN]  # the rest stay where they are (a spool, at a million)
    selected = len(result.outcomes)
    if shown:
        actions = {id(o.report): _action_shown(o) for o in shown}
        console.print(sessions_table([o.report for o in shown], utc=utc, action_of=lambda r: actions[id(r)]))
        if selected > ROWS_SHOWN:
            console.print(f"... and {selected - ROWS_SHOWN:,} more (--format json lists them all)")
    summary = report.summary
    counts = {action: n for action, n in result.counts.items() if n}
    kept = ", ".join(f"{summary.by_verdict[v]:,} {v.value}" for v in Verdict if summary.by_verdict[v])
    corrupt = sum(1 for key in keys_of(report.plan.selected) if key.verdict is Verdict.CORRUPT)
    what = (f"{selected:,} session(s) ({selected - corrupt:,} stale, {corrupt:,} corrupt)" if corrupt
            else f"{selected:,} stale session(s)")
    older_than = format_duration(report.plan.criteria.older_than_seconds)
    console.print(f"selected {what} older than {older_than} of {summary.sessions:,} ({kept})")
    if report.mode == "dry-run":
        if selected:
            console.print("[bold]dry run[/bold]: nothing was deleted; add --apply to delete them")
        return
    console.print("result: " + (", ".join(f"{action} {n:,}" for action, n in counts.items()) or "nothing to delete"))
    if report.backup is not None:
        console.print(plain(f"backup: {report.backup}  (undo with: zkjanitor restore {report.backup} --apply)"))


def _action_shown(outcome: PruneOutcome) -> str:
    """The action column: with why, for a session that was not deleted for a reason the operator must see."""
    if outcome.detail and outcome.action in (Outcome.FAILED, Outcome.NOT_ATTEMPTED, Outcome.SKIPPED_LIVE):
        return f"{outcome.action}: {outcome.detail}"
    return outcome.action


def render_check(console: Console, result: CheckResult, outlook: Optional[Outlook] = None) -> None:
    """The verdict line, the summary, each limit against its measure, and the verdict."""
    print_verdict_line(console, outlook)
    console.print(summary_table(result.summary))
    table = Table("limit", "value", "threshold", "result", show_edge=False)
    for limit in result.limits:
        show = format_size if limit.limit == "max-bytes" else "{:,}".format
        table.add_row(limit.limit, show(limit.value), show(limit.threshold),
                      "[red]FAIL[/]" if limit.exceeded else "[green]ok[/]")
    console.print(table)
    console.print("[red]limit exceeded[/]" if result.violations else "[green]within every limit[/]")


def render_restore(console: Console, report: RestoreReport) -> None:
    """Counts by action, the failures (first rows), and the dry run's hint."""
    counts = report.counts
    console.print(plain(f"{len(report.backup.entries):,} znode(s) in {report.backup_file}: "
                        + ", ".join(f"{action} {n:,}" for action, n in counts.items() if n)))
    for outcome in [o for o in report.outcomes if o.action == RestoreAction.FAILED][:ROWS_SHOWN]:
        console.print(Text("failed ", style="red") + plain(f"{outcome.entry.path}: {outcome.detail}"))
    if not report.apply and counts[RestoreAction.WOULD_RESTORE]:
        console.print("[bold]dry run[/bold]: nothing was written; add --apply to restore")


SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan", "ok": "green"}


def render_doctor(console: Console, findings: Sequence[Finding]) -> None:
    """One row per finding: severity, what was checked, the value, the finding and what to do."""
    table = Table("", "setting or check", "value", "finding", "recommendation", show_edge=False, pad_edge=False)
    for finding in findings:
        table.add_row(Text(finding.severity, style=SEVERITY_STYLE.get(finding.severity, "")),
                      plain(finding.setting), plain(finding.value), plain(finding.problem),
                      plain(finding.recommendation or ""))
    console.print(table)
