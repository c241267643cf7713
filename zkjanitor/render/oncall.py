"""The on-call view for people: the verdict line, the growth chart, who leaks, and the id counters.

The chart is plain ASCII (one character per verdict, colour only on a
terminal), so a pipe, a cron log or a 200-column page reads the same.
"""

from __future__ import annotations

from typing import List, Optional

from rich.console import Console
from rich.table import Table
from rich.text import Text

from zkjanitor.counter import Action, CounterReport
from zkjanitor.growth import Groups, Growth, Row
from zkjanitor.model import Verdict
from zkjanitor.outlook import Outlook

BAR_CHAR = {Verdict.STALE: "#", Verdict.LIVE: "=", Verdict.UNKNOWN: "?", Verdict.CORRUPT: "!"}
BAR_STYLE = {Verdict.LIVE: "green", Verdict.STALE: "yellow", Verdict.UNKNOWN: "magenta", Verdict.CORRUPT: "red"}
BAR_ORDER = (Verdict.STALE, Verdict.UNKNOWN, Verdict.CORRUPT, Verdict.LIVE)
BAR_WIDTH = 60
DAYS_SHOWN = 45
"""Days the chart draws one by one; older days are added up in one ``earlier`` row."""
OWNERS_SHOWN = 10


def print_verdict_line(console: Console, outlook: Optional[Outlook]) -> None:
    if outlook is not None:
        console.print(Text(outlook.text, style="bold"))


def _bar(counts: dict, scale: float) -> Text:
    bar = Text()
    for verdict in BAR_ORDER:
        n = counts[verdict]
        if n:
            bar.append(BAR_CHAR[verdict] * max(1, round(n * scale)), style=BAR_STYLE[verdict])
    return bar


def _sum_rows(rows: List[Row], key: str) -> Row:
    total = dict.fromkeys(Verdict, 0)
    for row in rows:
        for verdict, n in row.counts.items():
            total[verdict] += n
    return Row((key,), total)


def render_by_day(console: Console, growth: Growth) -> None:
    """Sessions by creation day (UTC), one bar per day stacked by verdict, and the first stale day."""
    rows = list(growth.by_day)
    if not rows:
        return
    if len(rows) > DAYS_SHOWN:
        rows = [_sum_rows(rows[:-DAYS_SHOWN], f"earlier ({len(rows) - DAYS_SHOWN} days)")] + rows[-DAYS_SHOWN:]
    widest = max(row.sessions for row in rows)
    scale = BAR_WIDTH / widest if widest else 0.0
    label_width = max(len(str(row.key[0])) for row in rows)
    count_width = len(f"{widest:,}")
    console.print("sessions by creation day (UTC, znode ctime): "
                  + "  ".join(f"{BAR_CHAR[v]} {v.value}" for v in BAR_ORDER))
    for row in rows:
        line = Text(f"{str(row.key[0]):<{label_width}} {row.sessions:>{count_width},} ")
        line.append_text(_bar(row.counts, scale))
        if row.stale:
            line.append(f" {row.stale:,} stale")
        console.print(line, no_wrap=True, overflow="ellipsis")
    first = growth.first_stale_day
    if first is not None:
        console.print(f"first day with a session now stale: {first}")


def _group_table(groups: Groups, columns: List[str], limit: int) -> Table:
    table = Table(*columns, show_edge=False, pad_edge=False)
    for name in ("sessions", "stale", "live", "unknown", "corrupt"):
        table.add_column(name, justify="right")
    for row in groups.rows[:limit]:
        table.add_row(*(Text("-" if part is None else str(part)) for part in row.key),
                      f"{row.sessions:,}", f"{row.stale:,}", f"{row.counts[Verdict.LIVE]:,}",
                      f"{row.counts[Verdict.UNKNOWN]:,}", f"{row.counts[Verdict.CORRUPT]:,}")
    return table


def render_by_owner(console: Console, growth: Growth) -> None:
    """Who leaks: owners (and proxy users) by stale sessions; name patterns when one account owns them all."""
    if not growth.by_owner.rows:
        return
    console.print("sessions by owner / proxy user, most stale first:")
    console.print(_group_table(growth.by_owner, ["owner", "proxy user"], OWNERS_SHOWN))
    hidden = len(growth.by_owner.rows) - OWNERS_SHOWN + (1 if growth.by_owner.others else 0)
    if hidden > 0:
        console.print(f"... and more owners (--format json lists the top {len(growth.by_owner.rows)})")
    if growth.one_owner:
        console.print("one account owns every session: by session name (digits as #), most stale first:")
        console.print(_group_table(growth.by_name, ["name pattern"], OWNERS_SHOWN))
    top_leaker_line(console, growth)


def top_leaker_line(console: Console, growth: Growth) -> None:
    top = growth.top_leaker
    if top is None:
        return
    if growth.one_owner:
        who = f"sessions named {top.key[0]!r}" if top.key[0] is not None else "sessions without a name"
    else:
        owner, proxy = top.key
        who = f"owner {owner or '-'}" + (f" (proxy user {proxy})" if proxy else "")
    console.print(Text(f"top leaker: {who}: {top.stale:,} stale of {top.sessions:,}"))


def render_counter(console: Console, report: CounterReport) -> None:
    """Each type's nextSessionId against the highest session id, the problem in words, and the repair."""
    table = Table("type", "nextSessionId", "highest id", "sessions", "problem", "action", show_edge=False,
                  pad_edge=False)
    for c in report.counters:
        action = "-" if report.mode == "check" and c.action == Action.WOULD_SET else c.action
        if c.repair_to is not None and c.action in (Action.WOULD_SET, Action.SET):
            action = f"{c.action} {c.repair_to:,}" if report.mode != "check" else f"repair to {c.repair_to:,}"
        table.add_row(c.type.value, "-" if c.value is None else f"{c.value:,}",
                      "-" if c.highest_id is None else f"{c.highest_id:,}", f"{c.sessions:,}",
                      Text(c.problem or "ok", style="red" if c.problem else "green"), Text(action))
    console.print(table)
    for c in report.counters:
        console.print(Text(f"{c.path}: {c.explanation}"))
        if c.detail:
            console.print(Text(f"  failed: {c.detail}", style="red"))
    if report.mode == "check" and any(c.repair_to is not None for c in report.counters):
        console.print("repair (dry run first): zkjanitor counter --repair")
    elif report.mode == "dry-run" and any(c.action == Action.WOULD_SET for c in report.counters):
        console.print("[bold]dry run[/bold]: nothing was written; add --apply to write")
    if report.backup is not None:
        console.print(Text(f"backup of the counters as they were: {report.backup}"))
