"""What a send did: each report's outcome for its recipients, and the run's result.

:class:`MessageOutcome` per report (school, district) or reminder: which recipients
accepted it, refused it, already had it, have an older version, may have it (an
unknown outcome), were not tried because the batch stopped. :class:`DeliveryResult`
holds them with the run's warnings and why it stopped, as lines for a terminal
(:func:`summary_lines`, saying what was actually sent or written) or as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

__all__ = ["FAILING", "DeliveryResult", "Kind", "MessageOutcome", "Status", "summary_lines"]

Kind = Literal["school", "unit", "reminder"]
Status = Literal[
    "sent",
    "skipped_already_sent",
    "changed_not_sent",
    "unknown",
    "stale",
    "failed",
    "dry_run",
    "no_recipients",
    "past_deadline",
]
FAILING = ("failed", "unknown", "stale")


@dataclass
class MessageOutcome:
    """What happened to one report (school, district) or reminder for its recipients."""

    kind: Kind
    target_id: str
    name: str
    status: Status
    accepted: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # the message may have arrived: not resent without force (recipient -> why)
    unknown: dict[str, str] = field(default_factory=dict)
    # accepted by the server, but the sent log could not record it
    unrecorded: list[str] = field(default_factory=list)
    # not attempted because the batch stopped
    not_sent: list[str] = field(default_factory=list)
    error: str | None = None
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class DeliveryResult:
    date: date
    outcomes: list[MessageOutcome]
    mail_dir: Path | None = None  # set for a dry run
    written: list[Path] = field(default_factory=list)  # .eml files this run wrote
    stopped: str | None = None  # why the batch stopped early
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[MessageOutcome]:
        """Reports not delivered as they should be: failed, stale or of unknown outcome."""
        return [o for o in self.outcomes if o.status in FAILING]

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None

    def by_target(self, kind: str, target_id: str) -> MessageOutcome:
        for o in self.outcomes:
            if o.kind == kind and o.target_id == target_id:
                return o
        raise KeyError(f"no outcome for {kind} {target_id}")

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole run (``reportkit send --json``)."""
        return {
            "date": self.date.isoformat(),
            "dry_run": self.mail_dir is not None,
            "ok": self.ok,
            "stopped": self.stopped,
            "warnings": list(self.warnings),
            "counts": self.counts(),
            "messages_accepted": sum(len(o.accepted) for o in self.outcomes),
            "mail_dir": str(self.mail_dir) if self.mail_dir is not None else None,
            "written": [str(p) for p in self.written],
            "outcomes": [asdict(o) for o in self.outcomes],
        }


def summary_lines(result: DeliveryResult) -> list[str]:
    """One line per report for the terminal, failures with their reasons, then totals."""
    lines = [f"warning: {w}" for w in result.warnings]
    for o in result.outcomes:
        parts = [f"{o.kind} {o.target_id} {o.name}: {o.status}"]
        if o.accepted:
            parts.append(f"{len(o.accepted)} accepted")
        if o.refused:
            parts.append("refused " + ", ".join(f"{r} ({e})" for r, e in o.refused.items()))
        if o.unknown:
            parts.append(
                "outcome unknown for "
                + ", ".join(f"{r} ({e})" for r, e in o.unknown.items())
                + "; not resent without --force (check with the recipient first)"
            )
        if o.unrecorded:
            parts.append(
                "accepted but not recorded in the sent log: "
                + ", ".join(o.unrecorded)
                + " (a rerun reports them as unknown)"
            )
        if o.skipped:
            parts.append(f"{len(o.skipped)} already sent")
        if o.changed:
            parts.append(f"changed since sent to {len(o.changed)} (use --force to resend)")
        if o.not_sent:
            parts.append(f"not sent to {len(o.not_sent)}")
        if o.error:
            parts.append(o.error)
        lines.append("; ".join(parts))
    if result.stopped:
        lines.append(f"STOPPED: {result.stopped}; nothing more was sent")
    if result.mail_dir is not None:
        n = len(result.written)
        lines.append(
            f"dry run: {n} message{'s' if n != 1 else ''} written to {result.mail_dir}"
            if n
            else "dry run: nothing written"
        )
    else:
        n = sum(len(o.accepted) for o in result.outcomes)
        lines.append(f"{n} message{'s' if n != 1 else ''} sent" if n else "nothing sent")
    total = ", ".join(f"{n} {s}" for s, n in result.counts().items()) or "nothing to send"
    lines.append(f"{result.date.isoformat()}: {total}")
    return lines
