"""Give each decoded session its verdict (docs/contract.md, Verdicts).

``classify`` is a pure function of the session, the evidence (one
:class:`~zkjanitor.model.Lookup`, in any source's words: a phase, never a
source's own state names), the clock and the policy, so every rule can be
tested by table, and a new source changes no rule here.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

from zkjanitor.model import REASONS, AppPhase, Classification, Lookup, Session, Verdict, from_all_fields
from zkjanitor.units import format_duration


class Policy(NamedTuple):
    """Tunables of classification.

    ``grace_seconds``: a session younger than this (by znode ctime) whose
    application the source cannot find is still live: spark-submit may not have
    reached the ResourceManager yet. The default, 600 s, is well past Livy's own
    120 s app-lookup timeout and matches its app-leakage check timeout, the
    longest Livy itself waits for a late application to appear.
    """

    grace_seconds: float = 600.0


def grace_warning(policy: Policy, app_lookup_timeout_seconds: float) -> Optional[str]:
    """The warning for a grace shorter than Livy's own wait for a session's application, else None.

    Livy looks for a new session's application for up to
    ``livy.server.yarn.app-lookup-timeout`` (120 s by default); a session
    younger than that may still be being submitted, so ``prune`` never selects
    one stale by absence (:func:`zkjanitor.prune.select_for_prune`'s
    ``created_before_ms``) unless told to.
    """
    if policy.grace_seconds >= app_lookup_timeout_seconds:
        return None
    return (f"--grace {format_duration(policy.grace_seconds)} is below Livy's livy.server.yarn.app-lookup-timeout "
            f"({format_duration(app_lookup_timeout_seconds)}): a younger session may still be being submitted; "
            "prune never deletes one (--allow-young-sessions overrides)")


_classification = from_all_fields(Classification)  # runs for every session of a scan


def classify(
    session: Session, lookup: Optional[Lookup], now_ms: int, policy: Policy
) -> Classification:
    """The verdict and reason for one session, with its age in seconds (never negative: clocks may be skewed).

    ``lookup`` is None when no application source is configured. The age counts
    from the application's finish time when the source reports one, else from
    the znode's creation (ctime): Livy rewrites every session it recovers at
    each start, so mtime would make a restart loop's dead sessions look new.
    """
    age_since_created = max(0.0, (now_ms - session.ctime_ms) / 1000.0)
    if session.corrupt is not None:
        return _classification((Verdict.CORRUPT, session.corrupt, age_since_created, None))
    if lookup is None:
        return _classification((Verdict.UNKNOWN, "no-source", age_since_created, None))

    phase, record, detail, _, authoritative = lookup
    if phase is AppPhase.ACTIVE:  # a source may name its own reason (Livy's livy-active)
        reason = detail if detail in REASONS[Verdict.LIVE] else "app-active"
        return _classification((Verdict.LIVE, reason, age_since_created, None))
    if phase is AppPhase.FINISHED:
        # YARN reports finishedTime 0 for an app that has not finished.
        finished_ms = (record.finished_ms if record is not None else None) or None
        age = age_since_created if finished_ms is None else max(0.0, (now_ms - finished_ms) / 1000.0)
        reason = detail if detail in REASONS[Verdict.STALE] else "app-finished"
        return _classification((Verdict.STALE, reason, age, finished_ms))
    if phase is AppPhase.NOT_FOUND:
        if now_ms - session.ctime_ms < policy.grace_seconds * 1000.0:
            return _classification((Verdict.LIVE, "within-grace", age_since_created, None))
        if authoritative:
            reason = "app-forgotten" if session.app_id else "never-submitted"
            return _classification((Verdict.STALE, reason, age_since_created, None))
    # UNKNOWN, or a "not found" its source cannot vouch for: no evidence either way.
    if detail in REASONS[Verdict.UNKNOWN]:
        reason = detail
    else:
        reason = "no-evidence" if phase is AppPhase.NOT_FOUND else "source-error"
    return _classification((Verdict.UNKNOWN, reason, age_since_created, None))
