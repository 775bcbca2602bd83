"""The result model every task returns, the exception for a failed check, and a recorder that times a step.

A task builds its result with a `StepRecorder`:

    rec = StepRecorder("calico_reconfigure", target="cluster https://10.0.0.1:6443")
    rec.check("felix-vxlan-vni", ok=vni >= 4096, observed=str(vni), expected=">= 4096", fix="...")
    rec.change("IPPool default-ipv4-ippool: ipipMode Always → Never")
    rec.fact("datastore", "kubernetes")
    rec.raise_if_failed()          # StepFailed carrying the result, when a check failed
    return rec.result()            # status "changed" / "unchanged" (or "planned" with plan=True)
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["changed", "unchanged", "planned", "failed", "skipped"]


class Check(BaseModel):
    """One verified condition: what was observed, what was expected, and how to fix it when it failed."""

    name: str
    ok: bool
    observed: str
    expected: str = ""
    fix: str = ""

    def describe(self) -> str:
        """One line for a report: `name: ok` or `name: FAILED (observed ...; expected ...). Fix: ...`."""
        if self.ok:
            return f"{self.name}: ok ({self.observed})"
        text = f"{self.name}: FAILED (observed {self.observed}"
        if self.expected:
            text += f"; expected {self.expected}"
        text += ")"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


class StepResult(BaseModel):
    """What one step checked, what it changed (or would change, in plan mode), what it learned, and how long it took."""

    step: str
    target: str
    status: Status
    changes: list[str] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)
    facts: dict[str, str] = Field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def failed_checks(self) -> list[Check]:
        """The checks that did not pass, in order."""
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        """A short human line: `step on target: status (N changes, M failed checks)`."""
        failed = len(self.failed_checks)
        text = f"{self.step} on {self.target}: {self.status} ({len(self.changes)} change(s)"
        if failed:
            text += f", {failed} failed check(s)"
        return text + f", {self.duration_s:.2f}s)"


class StepFailed(Exception):
    """A step stopped on a failed check. Never retried; `result` carries the diagnosis (failed checks with fixes)."""

    def __init__(self, result: StepResult) -> None:
        self.result = result
        lines = [f"{result.step} failed on {result.target}"]
        lines += [c.describe() for c in result.failed_checks]
        super().__init__("\n  ".join(lines))

    def __reduce__(self):  # keep `result` through pickling (Prefect persists exceptions in states)
        return (type(self), (self.result,))


class StepRecorder:
    """Collects checks, changes and facts for one step and times it from construction to `result()`."""

    def __init__(self, step: str, target: str, *, plan: bool = False) -> None:
        self.step = step
        self.target = target
        self.plan = plan
        self.checks: list[Check] = []
        self.changes: list[str] = []
        self.facts: dict[str, str] = {}
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        """Seconds since the step started."""
        return time.monotonic() - self._started

    def check(self, name: str, ok: bool, observed: str, expected: str = "", fix: str = "") -> Check:
        """Record a check and return it."""
        c = Check(name=name, ok=bool(ok), observed=observed, expected=expected, fix=fix if not ok else "")
        self.checks.append(c)
        return c

    def change(self, description: str) -> None:
        """Record one change made (or, in plan mode, one that would be made)."""
        self.changes.append(description)

    def fact(self, key: str, value: object) -> None:
        """Record a discovered fact (stored as text; None becomes "")."""
        self.facts[key] = "" if value is None else str(value)

    def result(self, status: Status | None = None) -> StepResult:
        """The StepResult so far.

        Status, unless given: "failed" when a check failed, else "unchanged" when there are no changes, else
        "planned" in plan mode and "changed" otherwise.
        """
        if status is None:
            if any(not c.ok for c in self.checks):
                status = "failed"
            elif not self.changes:
                status = "unchanged"
            else:
                status = "planned" if self.plan else "changed"
        return StepResult(step=self.step, target=self.target, status=status, changes=list(self.changes),
                          checks=list(self.checks), facts=dict(self.facts), duration_s=round(self.elapsed, 3))

    def raise_if_failed(self) -> None:
        """Raise StepFailed (status "failed") when any recorded check failed."""
        if any(not c.ok for c in self.checks):
            raise StepFailed(self.result("failed"))
