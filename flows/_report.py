"""What a flow run leaves behind for people: a markdown report of its steps, and events for automations."""

from __future__ import annotations

from typing import Any, Iterable

from prefect.artifacts import acreate_markdown_artifact
from prefect.events import emit_event

from prefect_windows_nodes.tasks import StepFailed, StepResult, artifact_key

_MARK = {"changed": "changed", "unchanged": "unchanged", "planned": "would change", "failed": "FAILED",
         "skipped": "skipped"}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_report(title: str, steps: Iterable[StepResult], *, outcome: str) -> str:
    """A markdown report: one table row per step (status, changes, duration, key facts), then the changes, then
    every failed check with what was seen and the fix."""
    steps = list(steps)
    lines = [f"# {title}", "", f"**Outcome:** {outcome}", "",
             "| step | status | changes | duration | key facts |", "|---|---|---|---|---|"]
    for s in steps:
        facts = ", ".join(f"{k}={v}" for k, v in list(s.facts.items())[:6])
        lines.append(f"| {s.step} | {_MARK.get(s.status, s.status)} | {len(s.changes)} | {s.duration_s:.1f} s "
                     f"| {_cell(facts)} |")
    changed = [s for s in steps if s.changes]
    if changed:
        lines += ["", "## Changes" if not any(s.status == "planned" for s in steps) else "## Planned changes"]
        for s in changed:
            lines += [f"- **{s.step}**: {_cell(c)}" for c in s.changes]
    failed = [(s, c) for s in steps for c in s.checks if not c.ok]
    if failed:
        lines += ["", "## Failed checks", "", "| step | check | observed | expected | fix |", "|---|---|---|---|---|"]
        for s, c in failed:
            lines.append(f"| {s.step} | {_cell(c.name)} | {_cell(c.observed)} | {_cell(c.expected)} | "
                         f"{_cell(c.fix)} |")
    return "\n".join(lines) + "\n"


async def publish_report(prefix: str, target: str, title: str, steps: Iterable[StepResult], outcome: str) -> None:
    """Create the run's markdown artifact (awaited: the sync name silently creates nothing in async code)."""
    await acreate_markdown_artifact(markdown=render_report(title, steps, outcome=outcome),
                                    key=artifact_key(prefix, target), description=title)


def node_resource(node: str, address: str | None = None) -> dict[str, str]:
    """The Prefect event resource that stands for a Windows node."""
    res = {"prefect.resource.id": f"windows-node.{node}", "prefect.resource.name": node}
    if address:
        res["windows-node.address"] = address
    return res


def emit(event: str, node: str, address: str | None = None, payload: dict[str, Any] | None = None) -> None:
    """Emit a `windows-node.*` event about `node`. Payloads carry step names and statuses, never secrets."""
    emit_event(event=event, resource=node_resource(node, address), payload=payload or {})


class RunReport:
    """The steps of one flow run and what the run leaves behind: a markdown artifact `<kind>-<subject>` and
    `windows-node.<kind>.completed|failed` events. `subject` starts as the host and becomes the node name once
    a step has discovered it."""

    def __init__(self, kind: str, subject: str, address: str | None = None) -> None:
        self.kind = kind
        self.subject = subject
        self.address = address
        self.steps: list[StepResult] = []

    @property
    def title(self) -> str:
        """`Join of k8s-ww`: the report's heading."""
        return f"{self.kind.capitalize()} of {self.subject}"

    def started(self, payload: dict[str, Any] | None = None) -> None:
        """Emit `windows-node.<kind>.started`."""
        emit(f"windows-node.{self.kind}.started", self.subject, self.address, payload)

    async def step(self, call) -> StepResult:
        """Await one step and keep its result — also the result a StepFailed carries, before re-raising it."""
        try:
            result = await call
        except StepFailed as exc:
            self.steps.append(exc.result)
            raise
        self.steps.append(result)
        return result

    async def failed(self, exc: BaseException) -> None:
        """Publish the report and emit `.failed`: the failed step and its failed checks, or the error's type."""
        if isinstance(exc, StepFailed):
            payload = {"step": exc.result.step, "checks": [c.name for c in exc.result.failed_checks]}
        else:
            payload = {"error": type(exc).__name__}
        await publish_report(self.kind, self.subject, self.title, self.steps,
                             "failed" if isinstance(exc, StepFailed) else f"failed: {type(exc).__name__}")
        emit(f"windows-node.{self.kind}.failed", self.subject, self.address, payload)

    async def completed(self, outcome: str) -> None:
        """Publish the report and emit `.completed` with the outcome and each step's status."""
        await publish_report(self.kind, self.subject, self.title, self.steps, outcome)
        emit(f"windows-node.{self.kind}.completed", self.subject, self.address,
             {"outcome": outcome, "steps": {r.step: r.status for r in self.steps}})
